//! The CPU reference in f64, written to be read: the oracle for every kernel and for training.
//!
//! One file per kernel family, named after the WGSL file it mirrors; each function has the same name,
//! argument order (outputs first) and semantics as its kernel. Arrays are row-major `[rows, cols]`.

// Index loops are the point here: they read like the kernels they specify.
#![allow(clippy::needless_range_loop)]

pub mod activation;
pub mod batchnorm;
pub mod engine;
pub mod layernorm;
pub mod loss;
pub mod matmul;
pub mod mlp;
pub mod optim;
pub mod reduce;

pub use activation::{activation, activation_backward, activation_grad, bias_activation_forward, bias_backward};
pub use batchnorm::{batchnorm_backward, batchnorm_forward, batchnorm_forward_eval, batchnorm_update_running};
pub use engine::{CpuBackend, CpuEngine};
pub use layernorm::{layernorm_backward, layernorm_forward};
pub use loss::{bce_with_logits, output_loss, sigmoid_cross_entropy, softmax_cross_entropy};
pub use matmul::{dense_backward, dense_forward, matmul};
pub use mlp::{Forward, Gradients, LayerForward, NormForward, forward_backward, forward_eval};
pub use optim::{adam_step, sgd_step};
pub use reduce::{ActivationStats, activation_stats, segment_stats};
