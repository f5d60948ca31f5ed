//! `Tensor`: a run of 4-byte words (f32, or u32 for labels and indices) in a GPU buffer, and the one
//! path for moving data in (upload) and out (copy → map → poll → read → unmap).

use std::num::NonZeroU64;
use std::sync::Arc;

use super::context::Gpu;
use super::error::GpuError;
use super::wait::Readback;

/// A view of `len` words starting `offset` words into a storage buffer. Views of one arena share its
/// buffer; an offset that is bound on its own must be a multiple of 64 words (256 bytes), which
/// `ParamLayout` guarantees.
#[derive(Clone, Debug)]
pub struct Tensor {
    buffer: Arc<wgpu::Buffer>,
    offset: usize,
    len: usize,
}

impl Tensor {
    /// A view of all of `buffer`.
    pub(crate) fn whole(buffer: wgpu::Buffer) -> Tensor {
        let len = (buffer.size() / 4) as usize;
        Tensor { buffer: Arc::new(buffer), offset: 0, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sub-view `[offset, offset + len)` of this view.
    pub fn slice(&self, offset: usize, len: usize) -> Tensor {
        assert!(offset + len <= self.len, "slice {offset}+{len} outside a tensor of {}", self.len);
        Tensor { buffer: self.buffer.clone(), offset: self.offset + offset, len }
    }

    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: (self.offset * 4) as u64,
            size: NonZeroU64::new((self.len.max(1) * 4) as u64),
        })
    }

    /// Records zeroing this view into `encoder`, ordered with the commands around it.
    pub(crate) fn record_clear(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.clear_buffer(&self.buffer, self.byte_offset(), Some((self.len * 4) as u64));
    }

    /// Records copying this view into `to` (as long) into `encoder`.
    pub(crate) fn record_copy_to(&self, encoder: &mut wgpu::CommandEncoder, to: &Tensor) {
        assert_eq!(self.len, to.len, "a copy between views of different lengths");
        encoder.copy_buffer_to_buffer(
            &self.buffer,
            self.byte_offset(),
            &to.buffer,
            to.byte_offset(),
            (self.len * 4) as u64,
        );
    }

    pub(crate) fn byte_offset(&self) -> u64 {
        (self.offset * 4) as u64
    }
}

impl Gpu {
    /// Checks that `words` 4-byte values fit one storage binding and one buffer on this adapter.
    pub fn check_size(&self, what: &str, words: usize) -> Result<(), GpuError> {
        let bytes = (words as u64).saturating_mul(4);
        let checks = [
            ("max_storage_buffer_binding_size", self.limits.max_storage_buffer_binding_size),
            ("max_buffer_size", self.limits.max_buffer_size),
        ];
        for (limit_name, limit) in checks {
            if bytes > limit {
                return Err(GpuError::TooLarge { what: what.to_string(), requested: bytes, limit_name, limit });
            }
        }
        Ok(())
    }

    /// A zero-filled tensor of `len` words (at least one, so it can always be bound).
    pub fn tensor(&self, label: &str, len: usize) -> Result<Tensor, GpuError> {
        self.check_size(label, len)?;
        let buffer = self.scoped(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (len.max(1) * 4) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(Tensor { len, ..Tensor::whole(buffer) })
    }

    /// A tensor of `len` words whose contents are undefined until written: a buffer that a dropped
    /// executor handed back (`recycle`) where one is large enough, else a new one. A sweep's batches
    /// run one after another, so each takes over the buffers of the one before instead of having the
    /// driver allocate and zero new ones (time in which the device would sit idle). In
    /// debug builds every word starts as NaN, so a test sees any read of a word nothing wrote.
    pub(crate) fn reused_tensor(&self, label: &str, len: usize) -> Result<Tensor, GpuError> {
        let bytes = (len.max(1) * 4) as u64;
        let reused = {
            let mut free = self.recycled.lock().expect("recycled buffers");
            let best = (0..free.len()).filter(|&i| free[i].size() >= bytes).min_by_key(|&i| free[i].size());
            best.map(|i| free.swap_remove(i))
        };
        let t = match reused {
            Some(buffer) => Tensor { len, ..Tensor::whole(buffer) },
            None => self.tensor(label, len)?,
        };
        if cfg!(debug_assertions) && len > 0 {
            self.queue.write_buffer(&t.buffer, 0, bytemuck::cast_slice(&vec![f32::NAN; len]));
        }
        Ok(t)
    }

    /// Hands `t`'s buffer back for `reused_tensor`, where no other view of it is left (its owner is
    /// being dropped). Only the largest few are kept.
    pub(crate) fn recycle(&self, t: &Tensor) {
        const KEPT: usize = 16;
        if Arc::strong_count(&t.buffer) != 1 {
            return;
        }
        let mut free = self.recycled.lock().expect("recycled buffers");
        free.push((*t.buffer).clone());
        if free.len() > KEPT {
            free.sort_by_key(|b| std::cmp::Reverse(b.size()));
            free.truncate(KEPT);
        }
    }

    /// How many handed-back buffers wait to be reused.
    pub fn recycled_buffers(&self) -> usize {
        self.recycled.lock().expect("recycled buffers").len()
    }

    /// A tensor holding `data` (f32 or u32).
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<Tensor, GpuError> {
        assert_eq!(size_of::<T>(), 4, "tensors hold 4-byte words");
        let t = self.tensor(label, data.len())?;
        self.write(&t, data);
        Ok(t)
    }

    /// A uniform buffer holding `data` (f32 or u32), for small tables every invocation reads.
    pub fn upload_uniform<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<Tensor, GpuError> {
        assert_eq!(size_of::<T>(), 4, "tensors hold 4-byte words");
        let bytes = (data.len().max(4) * 4).next_multiple_of(16) as u64;
        let limit = self.limits.max_uniform_buffer_binding_size;
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what: label.to_string(),
                requested: bytes,
                limit_name: "max_uniform_buffer_binding_size",
                limit,
            });
        }
        let buffer = self.scoped(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let t = Tensor { len: data.len(), ..Tensor::whole(buffer) };
        self.write(&t, data);
        Ok(t)
    }

    /// Overwrites `t` with `data`, ordered before the next submit.
    pub fn write<T: bytemuck::Pod>(&self, t: &Tensor, data: &[T]) {
        assert_eq!(data.len(), t.len, "write of {} words into a tensor of {}", data.len(), t.len);
        if !data.is_empty() {
            self.queue.write_buffer(&t.buffer, t.byte_offset(), bytemuck::cast_slice(data));
        }
    }

    /// Reads one tensor back as f32.
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>, GpuError> {
        Ok(self.read_many(&[t])?.pop().unwrap_or_default())
    }

    /// Reads several tensors back with one copy submit and one map, waiting for them (natively; a web
    /// page awaits `start_read(…).done()` instead).
    pub fn read_many(&self, tensors: &[&Tensor]) -> Result<Vec<Vec<f32>>, GpuError> {
        self.start_read(tensors).wait()
    }

    /// Reads a tensor of u32 words back.
    pub fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>, GpuError> {
        Ok(self.read(t)?.into_iter().map(f32::to_bits).collect())
    }
}

impl Gpu {
    /// Copies `tensors` into one staging buffer, submits, and asks to map it: one submit and one map
    /// for any number of tensors.
    pub(crate) fn start_read(&self, tensors: &[&Tensor]) -> Readback<'_> {
        self.submit_and_read(self.device.create_command_encoder(&Default::default()), tensors)
    }

    /// Records copying `tensors` into one staging buffer at the end of `encoder`, submits it, and asks
    /// to map the staging buffer: a command buffer's work and its readback in one submit.
    pub(crate) fn submit_and_read(&self, mut encoder: wgpu::CommandEncoder, tensors: &[&Tensor]) -> Readback<'_> {
        let lens: Vec<usize> = tensors.iter().map(|t| t.len).collect();
        let total: usize = lens.iter().sum();
        if total == 0 {
            self.submit(encoder.finish());
            return Readback::new(self, None, lens);
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: (total * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut at = 0u64;
        for t in tensors {
            let bytes = (t.len * 4) as u64;
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(&t.buffer, t.byte_offset(), &staging, at, bytes);
            }
            at += bytes;
        }
        self.submit(encoder.finish());
        self.bytes_read_back.fetch_add((total * 4) as u64, std::sync::atomic::Ordering::Relaxed);
        Readback::new(self, Some(staging), lens)
    }
}
