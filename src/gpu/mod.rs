//! The GPU side: the wgpu context, tensors, the executor that trains batches of models, and one
//! launcher per WGSL kernel family. All direct wgpu calls live in this module.

mod backend;
mod context;
mod dispatch;
mod error;
mod shaders;
mod tensor;
mod wait;

pub mod activation;
pub mod batch;
pub mod batchnorm;
pub mod dense;
pub mod executor;
pub mod fused;
pub mod histogram;
pub mod layered;
pub mod layernorm;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub mod step;
pub mod tiled;
pub mod timing;

pub use backend::{GpuBackend, Plan, TrainPath, plan, single_engine};
#[cfg(not(target_arch = "wasm32"))]
pub use context::list_adapters;
pub use context::{AdapterSummary, DeviceRequest, Gpu};
pub use dispatch::Dispatch;
pub use error::GpuError;
pub use executor::{Executor, KernelClass, Refusal};
pub use layered::{LayeredEngine, TrainTiming};
pub use shaders::{BATCH, BATCH_FILE, PRELUDE, PRELUDE_FILE, STORAGE_LAYERS, Shader, UNIFORM_LAYERS, shared_constants};
pub use tensor::Tensor;
