//! Everything that can go wrong on the GPU side, as one typed error with a message that says what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found. Install a Vulkan driver (on Debian/Ubuntu without a GPU: \
         `apt-get install mesa-vulkan-drivers libvulkan1`, Mesa's software driver lavapipe), \
         or use `--device cpu` for the CPU reference"
    )]
    NoAdapter,
    #[error("no adapter matches '{wanted}'; available: {}", available.join(", "))]
    NoMatchingAdapter { wanted: String, available: Vec<String> },
    #[error("could not open the GPU device: {0}")]
    Device(String),
    #[error(
        "{what} needs {requested} bytes, more than this adapter's {limit_name} ({limit} bytes); \
         use a smaller batch or model, or `--device cpu`"
    )]
    TooLarge { what: String, requested: u64, limit_name: &'static str, limit: u64 },
    /// A model the path cannot build on this host, and why.
    #[error("{0}")]
    TooDeep(String),
    #[error("{what} needs {requested} workgroups in one dimension; this adapter allows {limit}")]
    TooManyWorkgroups { what: String, requested: u64, limit: u32 },
    #[error("the GPU is out of memory ({0}); use a smaller model, batch or sweep, or `--device cpu`")]
    OutOfMemory(String),
    #[error("{0}; the driver may have reset or the GPU may have been removed; rerun, or use `--device cpu`")]
    DeviceLost(String),
    #[error("wgpu reported an error: {0}")]
    Wgpu(String),
    #[error("reading back from the GPU failed: {0}")]
    Readback(String),
}

impl From<GpuError> for crate::engine::EngineError {
    fn from(e: GpuError) -> Self {
        crate::engine::EngineError::Backend(Box::new(e))
    }
}
