//! The GPU side: the wgpu context, tensors, and one launcher per WGSL kernel family. All direct wgpu
//! calls live in this module.

mod context;
mod dispatch;
mod error;
mod shaders;
mod tensor;

pub mod activation;
pub mod batch;
pub mod batchnorm;
pub mod dense;
pub mod engine;
pub mod fused;
pub mod fused_lanes;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub mod step;
pub mod timing;

pub use batch::ModelBatch;
pub use context::{AdapterSummary, DeviceRequest, Gpu, list_adapters};
pub use dispatch::Dispatch;
pub use engine::{GpuEngine, TrainPath, TrainTiming, fused_by_default};
pub use error::GpuError;
pub use shaders::Shader;
pub use tensor::Tensor;
