//! The tiled kernels (`shaders/tiled.wgsl`): a batch's models of any width, each phase of a step one
//! dispatch per layer over every model (the model is the grid's z), each dense layer's products in
//! 32×32 tiles over many workgroups. The executor (`executor.rs`) owns the batch's buffers; this file
//! turns the batch's shapes into the dispatch lists of a training step, a probe and the evaluations,
//! built once and recorded as often as the work asks.
//!
//! Which layer and mode a dispatch concerns is a `Pass` record in one uniform buffer, bound at a dynamic
//! offset, so one bind group serves every dispatch; the training step in flight is a counter on the GPU
//! (`tiled_step`), so a submit's many steps need nothing from the host between them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::batch::{MODE_EVAL_TEST, MODE_EVAL_TRAIN, MODE_PROBE, MODE_TRAIN};
use super::executor::Buffers;
use super::{Gpu, GpuError, Shader};
use crate::model::{MlpSpec, Norm};

/// The queue slot of the step counter, after the fused kernel's five claim counters, and the slots the
/// queue holds.
pub const STEP_SLOT: usize = 5;
pub const QUEUE_SLOTS: usize = 6;

/// Outputs per side of a product's tile (`TILE / 4` invocations per side, each a 4×4 block), and
/// invocations per workgroup of the one-dimensional phases: tiled.wgsl's workgroup sizes.
pub const TILE: usize = 32;
pub const GROUP: usize = 64;

/// `Pass` in tiled.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Pass {
    layer: u32,
    mode: u32,
    _pad: [u32; 2],
}

/// The entry points, in `Pipelines` order.
const ENTRIES: [&str; 11] = [
    "tiled_step",
    "tiled_forward",
    "tiled_norm",
    "tiled_loss",
    "tiled_loss_sum",
    "tiled_grad",
    "tiled_back",
    "tiled_norm_back",
    "tiled_clip",
    "tiled_optimise",
    "tiled_stats",
];

#[derive(Clone, Copy)]
enum Entry {
    Step,
    Forward,
    Norm,
    Loss,
    LossSum,
    Grad,
    Back,
    NormBack,
    Clip,
    Optimise,
    Stats,
}

/// One launch: which kernel, at which `Pass` record (a byte offset), over which grid.
struct Launch {
    pipeline: Arc<wgpu::ComputePipeline>,
    offset: u32,
    groups: [u32; 3],
}

/// What the dispatch lists depend on: each model's spec and whether it clips its gradients, and the
/// rows of each pass (the models of a batch share a batch size and a training split).
pub struct TiledShapes<'a> {
    pub specs: Vec<&'a MlpSpec>,
    pub clip: bool,
    pub batch: usize,
    pub rows: usize,
    pub test_rows: usize,
    /// The batch's layer table is a storage buffer (more layers than `MAX_LAYERS`): `Shader::TiledDeep`.
    pub deep_table: bool,
}

/// The tiled dispatches of one batch.
pub struct TiledKernels {
    bind_group: wgpu::BindGroup,
    /// The `Pass` records (kept alive for the bind group).
    _passes: wgpu::Buffer,
    /// A training step, a probe (forward, backward, statistics), and the evaluations of the training
    /// and the test split.
    step: Vec<Launch>,
    probe: Vec<Launch>,
    eval: [Vec<Launch>; 2],
    counter: Arc<std::sync::atomic::AtomicU64>,
    queue: super::Tensor,
}

fn groups(n: usize, per: usize) -> u32 {
    n.div_ceil(per).max(1) as u32
}

impl TiledKernels {
    pub fn new(gpu: &Gpu, bufs: &Buffers, shapes: &TiledShapes<'_>) -> Result<Self, GpuError> {
        let wanted: Vec<(&'static str, &[(&'static str, u32)])> = ENTRIES.iter().map(|&e| (e, &[][..])).collect();
        let shader = if shapes.deep_table { Shader::TiledDeep } else { Shader::Tiled };
        gpu.prepare_pipelines(shader, &wanted)?;
        let pipelines = ENTRIES.iter().map(|&e| gpu.pipeline(shader, e, &[])).collect::<Result<Vec<_>, _>>()?;
        let depth = shapes.specs.iter().map(|s| s.num_layers()).max().unwrap_or(1);
        let stride = gpu.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        // Records: mode × layer.
        let records = 4 * depth;
        let mut bytes = vec![0u8; records * stride];
        for mode in 0..4 {
            for layer in 0..depth {
                let pass = Pass { layer: layer as u32, mode, _pad: [0; 2] };
                let at = (mode as usize * depth + layer) * stride;
                bytes[at..at + 16].copy_from_slice(bytemuck::bytes_of(&pass));
            }
        }
        let passes = gpu.scoped(|| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("tiled passes"),
                size: bytes.len() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        gpu.queue.write_buffer(&passes, 0, &bytes);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &passes,
                offset: 0,
                size: std::num::NonZeroU64::new(16),
            }),
        }];
        for (i, t) in bufs.bindings().iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: 1 + i as u32, resource: t.binding() });
        }
        let bind_group = gpu.scoped(|| {
            gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("tiled"),
                layout: &gpu.tiled_layout(shapes.deep_table).0,
                entries: &entries,
            })
        })?;
        let lists = Lists {
            pipelines: &pipelines,
            shapes,
            depth,
            stride,
            max_groups: gpu.limits.max_compute_workgroups_per_dimension,
        };
        Ok(TiledKernels {
            step: lists.build(MODE_TRAIN, shapes.batch.min(shapes.rows))?,
            probe: lists.build(MODE_PROBE, shapes.rows)?,
            eval: [lists.build(MODE_EVAL_TRAIN, shapes.rows)?, lists.build(MODE_EVAL_TEST, shapes.test_rows)?],
            bind_group,
            _passes: passes,
            counter: gpu.dispatches.clone(),
            queue: bufs.queue.clone(),
        })
    }

    pub fn begin(&self, gpu: &Gpu) -> wgpu::CommandEncoder {
        gpu.device.create_command_encoder(&Default::default())
    }

    fn record(&self, encoder: &mut wgpu::CommandEncoder, launches: &[Launch], times: usize) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for _ in 0..times {
            for l in launches {
                pass.set_pipeline(&l.pipeline);
                pass.set_bind_group(0, &self.bind_group, &[l.offset]);
                pass.dispatch_workgroups(l.groups[0], l.groups[1], l.groups[2]);
            }
        }
        self.counter.fetch_add((times * launches.len()) as u64, Ordering::Relaxed);
    }

    /// Records `count` steps from step `first`: the step counter is set (a queue write, ordered before
    /// the submit) to the step before `first`, which each step's first kernel advances.
    pub fn record_steps(&self, gpu: &Gpu, encoder: &mut wgpu::CommandEncoder, first: usize, count: usize) {
        let before = (first as u32).wrapping_sub(1);
        gpu.write(&self.queue.slice(STEP_SLOT, 1), &[before]);
        self.record(encoder, &self.step, count);
    }

    pub fn record_probe(&self, encoder: &mut wgpu::CommandEncoder) {
        self.record(encoder, &self.probe, 1);
    }

    pub fn record_eval(&self, encoder: &mut wgpu::CommandEncoder, test: bool) {
        self.record(encoder, &self.eval[test as usize], 1);
    }

    /// Dispatches in one training step of the batch, whatever its number of models.
    pub fn dispatches_per_step(&self) -> usize {
        self.step.len()
    }
}

/// Builds the dispatch lists.
struct Lists<'a> {
    pipelines: &'a [Arc<wgpu::ComputePipeline>],
    shapes: &'a TiledShapes<'a>,
    depth: usize,
    stride: usize,
    max_groups: u32,
}

impl Lists<'_> {
    /// The launches of one pass in `mode` over `rows` rows: a step, a probe or an evaluation.
    fn build(&self, mode: u32, rows: usize) -> Result<Vec<Launch>, GpuError> {
        let specs = &self.shapes.specs;
        let models = specs.len() as u32;
        let mut out = Vec::new();
        let mut push = |entry: Entry, layer: usize, groups: [u32; 3]| -> Result<(), GpuError> {
            let name = ENTRIES[entry as usize];
            if let Some(&g) = groups.iter().find(|&&g| g > self.max_groups) {
                return Err(GpuError::TooManyWorkgroups {
                    what: name.into(),
                    requested: g as u64,
                    limit: self.max_groups,
                });
            }
            let offset = ((mode as usize * self.depth + layer) * self.stride) as u32;
            out.push(Launch { pipeline: self.pipelines[entry as usize].clone(), offset, groups });
            Ok(())
        };
        if mode == MODE_TRAIN {
            push(Entry::Step, 0, [1, 1, 1])?;
        }
        // Forward, from the input: layer f of every model that has one.
        for f in 0..self.depth {
            let present: Vec<&MlpSpec> = specs.iter().copied().filter(|s| s.num_layers() > f).collect();
            let fan_out = present.iter().map(|s| s.layer_dims(f).1).max().unwrap_or(1);
            push(Entry::Forward, f, [groups(fan_out, TILE), groups(rows, TILE), models])?;
            if present.iter().any(|s| s.norm_of(f) != Norm::None) {
                push(Entry::Norm, f, [groups(fan_out.max(rows), GROUP), 1, models])?;
            }
        }
        push(Entry::Loss, 0, [groups(rows, GROUP), 1, models])?;
        push(Entry::LossSum, 0, [1, 1, models])?;
        if mode == MODE_EVAL_TRAIN || mode == MODE_EVAL_TEST {
            return Ok(out);
        }
        // Backward, from the output: `b` layers below it.
        for b in 0..self.depth {
            let at = |s: &MlpSpec| s.num_layers() - 1 - b;
            let present: Vec<&MlpSpec> = specs.iter().copied().filter(|s| s.num_layers() > b).collect();
            let fan_in = present.iter().map(|s| s.layer_dims(at(s)).0).max().unwrap_or(1);
            let fan_out = present.iter().map(|s| s.layer_dims(at(s)).1).max().unwrap_or(1);
            push(Entry::Grad, b, [groups(fan_in + 1, TILE), groups(fan_out, TILE), models])?;
            let below: Vec<&MlpSpec> = present.iter().copied().filter(|s| s.num_layers() > b + 1).collect();
            if !below.is_empty() {
                let fan_in = below.iter().map(|s| s.layer_dims(at(s)).0).max().unwrap_or(1);
                push(Entry::Back, b, [groups(fan_in, TILE), groups(rows, TILE), models])?;
                if below.iter().any(|s| s.norm_of(at(s) - 1) != Norm::None) {
                    push(Entry::NormBack, b, [groups(fan_in.max(rows), GROUP), 1, models])?;
                }
            }
        }
        if mode == MODE_TRAIN {
            if self.shapes.clip {
                push(Entry::Clip, 0, [1, 1, models])?;
            }
            let params = specs.iter().map(|s| s.layout().param_len).max().unwrap_or(1);
            push(Entry::Optimise, 0, [groups(params, GROUP), 1, models])?;
        }
        if mode == MODE_PROBE {
            push(Entry::Stats, 0, [self.depth as u32, 1, models])?;
        }
        Ok(out)
    }
}
