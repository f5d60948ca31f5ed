//! The only place the native build blocks. WebGPU in a browser never lets a thread wait: there a
//! submit is followed by an awaited map of the readback buffer. Everything else in `gpu/` submits and
//! then reads through `map_read`, so a web build replaces these three functions and nothing more.

use super::context::Gpu;
use super::error::GpuError;

/// Runs a wgpu future to completion on this thread (adapter and device requests, error scopes).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

impl Gpu {
    /// Blocks until the queue is idle, then reports any error wgpu raised outside a scope.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Wgpu(e.to_string()))?;
        self.check_errors()
    }

    /// Maps a `MAP_READ` buffer whose copies are already submitted, waits, and returns its bytes.
    pub(crate) fn map_read(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv().map_err(|e| GpuError::Readback(e.to_string()))?.map_err(|e| GpuError::Readback(e.to_string()))?;
        let bytes = staging.get_mapped_range(..).map_err(|e| GpuError::Readback(e.to_string()))?.to_vec();
        staging.unmap();
        Ok(bytes)
    }
}
