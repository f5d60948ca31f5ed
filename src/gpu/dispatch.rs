//! `Dispatch`: one kernel launch with its pipeline, bind group and workgroup count, built once and
//! recorded as often as needed. Launchers build them; trainers record many into one pass and submit.

use std::sync::Arc;

use super::context::Gpu;
use super::error::GpuError;
use super::shaders::Shader;
use super::tensor::Tensor;

pub struct Dispatch {
    pub entry: &'static str,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// The context's count of dispatches recorded.
    counter: Arc<std::sync::atomic::AtomicU64>,
    /// Keeps the params uniform alive as long as the bind group that names it.
    _params: Option<wgpu::Buffer>,
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups[0], self.workgroups[1], self.workgroups[2]);
        self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn workgroups(&self) -> [u32; 3] {
        self.workgroups
    }

    /// Replaces the params uniform; ordered before the next submit, like every queue write.
    pub fn write_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) {
        let buffer = self._params.as_ref().expect("a dispatch built with params");
        gpu.queue.write_buffer(buffer, 0, bytemuck::bytes_of(params));
    }
}

impl Gpu {
    /// Builds a dispatch of `entry` in `shader`. Binding 0 is `params` as a uniform (when given); the
    /// tensors follow in order from binding 1 (or 0 without params), matching the shader's declarations.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        shader: Shader,
        entry: &'static str,
        params: Option<&P>,
        tensors: &[&Tensor],
        workgroups: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        self.dispatch_specialised(shader, entry, &[], params, tensors, workgroups)
    }

    /// `dispatch` with the shader's pipeline-overridable constants set (`override NAME` in WGSL): a
    /// kernel specialised to one shape, such as the fused kernel's workgroup size.
    pub fn dispatch_specialised<P: bytemuck::Pod>(
        &self,
        shader: Shader,
        entry: &'static str,
        overrides: &[(&'static str, u32)],
        params: Option<&P>,
        tensors: &[&Tensor],
        workgroups: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        let pipeline = self.pipeline(shader, entry, overrides)?;
        self.dispatch_on(pipeline, entry, params, tensors, workgroups)
    }

    fn dispatch_on<P: bytemuck::Pod>(
        &self,
        pipeline: Arc<wgpu::ComputePipeline>,
        entry: &'static str,
        params: Option<&P>,
        tensors: &[&Tensor],
        workgroups: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        if let Some(&w) = workgroups.iter().find(|&&w| w > max) {
            return Err(GpuError::TooManyWorkgroups { what: entry.to_string(), requested: w as u64, limit: max });
        }
        let uniform = params.map(|p| {
            let bytes = bytemuck::bytes_of(p);
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(entry),
                size: bytes.len().next_multiple_of(16) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.queue.write_buffer(&buffer, 0, bytes);
            buffer
        });
        let mut entries = Vec::new();
        if let Some(u) = &uniform {
            entries.push(wgpu::BindGroupEntry { binding: 0, resource: u.as_entire_binding() });
        }
        let first = entries.len() as u32;
        for (i, t) in tensors.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: first + i as u32, resource: t.binding() });
        }
        let bind_group = self.scoped(|| {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(entry),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        })?;
        Ok(Dispatch { entry, pipeline, bind_group, workgroups, counter: self.dispatches.clone(), _params: uniform })
    }

    /// Records `dispatches` in order into one compute pass, submits, and waits. wgpu orders the
    /// dispatches of a pass, so each sees the writes of the ones before it.
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<(), GpuError> {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        self.submit(encoder.finish());
        self.wait()
    }

    /// Workgroups for `threads` invocations in groups of `group`, spread over x and y when x alone
    /// would pass the adapter's limit. Shaders recover the index as `gid.x + gid.y · nwg.x · group`.
    pub fn groups_1d(&self, threads: usize, group: usize) -> [u32; 3] {
        let groups = threads.div_ceil(group).max(1) as u64;
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let x = groups.min(max);
        [x as u32, groups.div_ceil(x) as u32, 1]
    }
}
