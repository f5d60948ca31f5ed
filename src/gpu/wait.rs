//! Where the native build waits for the device, and where the web build awaits instead. WebGPU in a browser
//! never lets a thread wait: a submit is followed by an awaited map of the readback buffer, which the
//! browser resolves from its event loop. Here a readback is a `Readback`, whose `done` future works
//! on both: natively, polling it waits for the device; on the web, it resolves when the map does.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::context::Gpu;
use super::error::GpuError;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::engine::block_on;

impl Gpu {
    /// Blocks until the queue is idle, then reports any error wgpu raised outside a scope. (On the
    /// web the device cannot be waited for; errors arrive through the uncaptured-error sink.)
    pub fn wait(&self) -> Result<(), GpuError> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Wgpu(e.to_string()))?;
        self.check_errors()
    }

    /// Maps a `MAP_READ` buffer whose copies are already submitted, waits, and returns its bytes.
    pub(crate) fn map_read(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
        #[cfg(target_arch = "wasm32")]
        return Err(cannot_wait(staging));
        #[cfg(not(target_arch = "wasm32"))]
        {
            block_on(MapFuture::start(self, staging))?;
            let bytes = staging.get_mapped_range(..).map_err(|e| GpuError::Readback(e.to_string()))?.to_vec();
            staging.unmap();
            Ok(bytes)
        }
    }

    /// Runs `f` inside out-of-memory and validation error scopes, turning a wgpu error into
    /// `GpuError::OutOfMemory` or `GpuError::Wgpu`. On the web a scope's answer comes from the event
    /// loop, so there `f`'s errors are reported by the next `check_errors` instead.
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        #[cfg(target_arch = "wasm32")]
        {
            let value = f();
            self.check_errors()?;
            Ok(value)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let value = f();
            let invalid = block_on(validation.pop());
            let out_of_memory = block_on(memory.pop());
            if (invalid.is_some() || out_of_memory.is_some())
                && let Some(lost) = self.lost()
            {
                return Err(GpuError::DeviceLost(lost));
            }
            match (out_of_memory, invalid) {
                (Some(e), _) => Err(GpuError::OutOfMemory(e.to_string())),
                (None, Some(e)) => Err(GpuError::Wgpu(e.to_string())),
                (None, None) => Ok(value),
            }
        }
    }
}

/// The state a buffer map's callback shares with the future that awaits it.
#[derive(Default)]
struct MapState {
    result: Option<Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

/// A buffer map in flight. Natively, polling it waits for the device (the callback runs inside that
/// wait); on the web, the browser runs the callback, which wakes the task.
struct MapFuture<'g> {
    gpu: &'g Gpu,
    state: Arc<Mutex<MapState>>,
}

impl<'g> MapFuture<'g> {
    fn start(gpu: &'g Gpu, staging: &wgpu::Buffer) -> Self {
        let state = Arc::new(Mutex::new(MapState::default()));
        let shared = state.clone();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let mut s = shared.lock().expect("map state");
            s.result = Some(r);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        });
        MapFuture { gpu, state }
    }
}

impl Future for MapFuture<'_> {
    type Output = Result<(), GpuError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[cfg(not(target_arch = "wasm32"))]
        if let Err(e) = self.gpu.device.poll(wgpu::PollType::wait_indefinitely()) {
            return Poll::Ready(Err(GpuError::Wgpu(e.to_string())));
        }
        let mut s = self.state.lock().expect("map state");
        match s.result.take() {
            Some(r) => {
                drop(s);
                self.gpu.check_errors()?;
                Poll::Ready(r.map_err(|e| GpuError::Readback(e.to_string())))
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Tensors being read back: their copies are submitted and the staging buffer's map requested.
/// `wait` (native) or `done` (anywhere) gives their values.
pub struct Readback<'g> {
    gpu: &'g Gpu,
    /// `None` when there is nothing to read.
    staging: Option<wgpu::Buffer>,
    lens: Vec<usize>,
}

impl<'g> Readback<'g> {
    /// A readback of tensors of `lens` floats from `staging`, whose copies are submitted.
    pub(super) fn new(gpu: &'g Gpu, staging: Option<wgpu::Buffer>, lens: Vec<usize>) -> Self {
        Readback { gpu, staging, lens }
    }
}

impl Readback<'_> {
    /// The tensors' values, once the GPU has written them.
    pub async fn done(self) -> Result<Vec<Vec<f32>>, GpuError> {
        let Some(staging) = self.staging else {
            return Ok(self.lens.iter().map(|_| Vec::new()).collect());
        };
        MapFuture::start(self.gpu, &staging).await?;
        let words: Vec<f32> = {
            let view = staging.get_mapped_range(..).map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        staging.unmap();
        let mut out = Vec::with_capacity(self.lens.len());
        let mut at = 0;
        for len in self.lens {
            out.push(words[at..at + len].to_vec());
            at += len;
        }
        Ok(out)
    }

    /// `done`, waited for here (natively; a web page cannot wait, and gets an error saying so).
    pub fn wait(self) -> Result<Vec<Vec<f32>>, GpuError> {
        #[cfg(target_arch = "wasm32")]
        return Err(cannot_wait(&()));
        #[cfg(not(target_arch = "wasm32"))]
        block_on(self.done())
    }
}

/// The error of a blocking readback in a browser: a bug in the caller, named rather than a hang.
#[cfg(target_arch = "wasm32")]
fn cannot_wait<T>(_: &T) -> GpuError {
    GpuError::Readback("a blocking readback was asked for in a web page, which cannot wait; this path awaits".into())
}
