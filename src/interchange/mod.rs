//! Interchange through safetensors files: weights in and out of `vanish train`, batches and gradients
//! for `vanish grads`, with a manifest in every file vanish writes. Tensor names follow DESIGN.md
//! (`layers.{i}.weight` `[out, in]`, `layers.{i}.bias`, `layers.{i}.bn.gamma` …, `x`, `y`,
//! `grad.` + name). Any bad file — truncated, wrong dtype, shapes that do not chain, missing tensors —
//! is an `InterchangeError` naming the file, the tensor and what was expected, never a panic.

mod error;
mod gradients;
mod infer;
mod load;
mod manifest;
mod read;
mod write;

pub use error::InterchangeError;
pub use gradients::{
    BatchGradients, engine_gradients, gradient_norms, gradient_norms_metadata, gradient_tensors, reference_gradients,
};
pub use infer::{Batch, ModelFile, read_batch, read_model};
pub use load::load_params_for;
pub use manifest::{Manifest, RecordedSpec, SPEC_KEY, recorded_spec, spec_json};
pub use read::TensorFile;
pub use write::{NamedTensor, Precision, encode, params_tensors, save_params, write_tensors};
