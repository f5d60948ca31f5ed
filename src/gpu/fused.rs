//! The fused kernels (`shaders/fused.wgsl`): a batch's narrow models (every hidden and output width
//! ≤ 64), one workgroup per model, each claiming models until none is left, whose steps, probes and
//! evaluations are each one dispatch. A batch of up to `BESIDE_MAX_MODELS` measures beside its steps
//! (twins). The executor (`executor.rs`) owns the batch's buffers; this file owns the dispatches.

use super::batch::{MODE_BESIDE, MODE_EVAL_TEST, MODE_EVAL_TRAIN, MODE_PROBE, MODE_TRAIN, REDUCTION_FLOATS};
use super::executor::{Buffers, KernelFeatures};
use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::model::MlpSpec;

/// The widest layer (its units: hidden and output widths) the fused kernel takes: an invocation loops
/// over a row's units, so the cost per step grows with width², and wide layers belong to the tiled
/// kernels. The input may be any width: it is only read, row by row.
pub const FUSED_MAX_WIDTH: usize = 64;

// The workgroup's sums (`wg_sums`) take one partial sum per invocation of the widest workgroup.
const _: () = assert!(super::batch::REDUCTION_LANES >= FUSED_MAX_WIDTH);

/// The most floats of workgroup memory the weight cache takes, whatever the adapter allows: a real
/// GPU shares its workgroup memory among the workgroups resident on a core.
const WEIGHT_CACHE_MAX: usize = 8192;

/// Floats of workgroup memory the kernel's other variables take (`claimed` in fused.wgsl; `red`, the
/// reduction array, is `REDUCTION_FLOATS`), as WebGPU
/// counts them: every workgroup variable rounded up to 16 bytes.
const OTHER_WORKGROUP_FLOATS: usize = 4;

/// Batches of up to this many models measure each chunk's end beside the next chunk's steps
/// (`MODE_BESIDE`), each model's twin holding a copy of its parameters: so few models leave most of a
/// GPU idle during their steps — and, for one model, one of lavapipe's two threads. Larger batches
/// fill the device with their own models and keep the memory.
pub const BESIDE_MAX_MODELS: usize = 16;

/// Counters in the queue buffer: one for each dispatch a command buffer records (steps, probe,
/// statistics, the two evaluations).
const SLOT_TRAIN: u32 = 0;
const SLOT_PROBE: u32 = 1;
const SLOT_STATS: u32 = 2;
const SLOT_EVAL_TRAIN: u32 = 3;
const SLOT_EVAL_TEST: u32 = 4;

/// The fused kernel's shape: the width class (the widest layer rounded up to a power of two from 8
/// to 64, which sets the workgroup's width) and whether the parameters are cached in workgroup memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct FusedShape {
    pub width: u32,
    pub cached: bool,
}

/// `spec`'s fused shape on `gpu`, or `None` where a layer is wider than `FUSED_MAX_WIDTH`.
pub fn fused_shape(gpu: &Gpu, spec: &MlpSpec) -> Option<FusedShape> {
    let w = spec.max_units();
    if w > FUSED_MAX_WIDTH {
        return None;
    }
    let cache = weight_cache(gpu);
    Some(FusedShape {
        width: w.max(8).next_power_of_two() as u32,
        cached: cache > 1 && spec.layout().param_len <= cache,
    })
}

/// The floats of workgroup memory the kernel may cache parameters in on `gpu`: what its workgroup
/// storage holds beside the reduction array and `claimed`, up to `WEIGHT_CACHE_MAX`; 1 means no cache.
fn weight_cache(gpu: &Gpu) -> usize {
    weight_cache_for(gpu.limits.max_compute_workgroup_storage_size)
}

fn weight_cache_for(workgroup_bytes: u32) -> usize {
    let floats = workgroup_bytes as usize / 4;
    (floats.saturating_sub(REDUCTION_FLOATS + OTHER_WORKGROUP_FLOATS) & !3).clamp(1, WEIGHT_CACHE_MAX)
}

/// Rows each per-row scratch buffer holds: the largest pass rounded up to whole pairs of workgroups
/// (the matmul phases take two rows per invocation).
pub fn fused_row_cap(largest_pass: usize, shape: FusedShape) -> usize {
    largest_pass.next_multiple_of(2 * shape.width as usize)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RunParams {
    mode: u32,
    first: u32,
    count: u32,
    /// Evaluations of the training split: models without batch norm take the probe's numbers (the
    /// same forward pass), when a probe ran just before.
    after_probe: u32,
    /// The dispatch's counter of claimed models in the queue buffer: one per dispatch of a command
    /// buffer, all zeroed at its start (`FusedKernels::begin`).
    slot: u32,
    /// The table entry of the dispatch's first model: the batch's size for the twins' statistics.
    base: u32,
    /// `MODE_BESIDE`: the twins are evaluated before they are probed.
    evaluate: u32,
}

impl RunParams {
    fn new(mode: u32, slot: u32) -> Self {
        RunParams { mode, first: 0, count: 0, after_probe: 0, slot, base: 0, evaluate: 0 }
    }
}

/// The twins of a small batch's models (`MODE_BESIDE` in fused.wgsl): table entries N..2N (the
/// executor places them), each a model's descriptor with parameters, running statistics, gradients and
/// scratch of its own, measured in the same dispatch as the models' next steps.
pub struct Twins {
    /// Each model's parameters and running statistics, copied to its twin's before `beside`:
    /// `(from, to, floats)` in the arena, through a staging buffer (a buffer is not copied into itself).
    pub copies: Vec<(usize, usize, usize)>,
}

struct TwinKernels {
    /// The models' steps and the twins' measurements, then the twins' probe statistics.
    beside: Dispatch,
    stats: Dispatch,
    copies: Vec<(usize, usize, usize)>,
    staging: Tensor,
}

/// The fused dispatches of one batch.
pub struct FusedKernels {
    train: Dispatch,
    /// The probe's forward and backward pass, then its statistics (`fused_stats`).
    probe: [Dispatch; 2],
    /// Evaluations of the training split (alone, and after a probe) and of the test split.
    eval_train: [Dispatch; 2],
    eval_test: Dispatch,
    twins: Option<TwinKernels>,
}

/// The kernel's workgroup width for `shape` on `gpu`: the class's width (an invocation per unit of its
/// widest layer in the unit phases, and the rows spread over as many lanes), except on a CPU driver,
/// where it is one SIMD group (the adapter's subgroup size, 4 floats at llvmpipe's 128 bits). A CPU
/// driver runs a workgroup's SIMD groups one after another on one thread, so more invocations bring no
/// parallelism, only a switch between groups at every barrier and idle lanes in the unit phases (a
/// width-10 class would run 16 lanes for 10 units). The unit phases step over units in chunks of the
/// workgroup.
fn workgroup_width(gpu: &Gpu, shape: FusedShape) -> u32 {
    let simd = gpu.adapter.subgroup_max_size;
    if gpu.adapter.is_cpu() && simd.is_power_of_two() && simd >= 4 { shape.width.min(simd) } else { shape.width }
}

/// The pipeline-overridable constants of the kernel for `shape` on `gpu` with `features`.
fn overrides(gpu: &Gpu, shape: FusedShape, features: KernelFeatures) -> [(&'static str, u32); 6] {
    let cache = if shape.cached { weight_cache(gpu) as u32 } else { 1 };
    [
        ("WG", workgroup_width(gpu, shape)),
        ("WSH", cache),
        ("BATCH_NORM", features.batch_norm.into()),
        ("LAYER_NORM", features.layer_norm.into()),
        ("SKIPS", features.skips.into()),
        ("CLIP", features.clip.into()),
    ]
}

/// Records `dispatch` into a compute pass of its own in `encoder`.
fn record(encoder: &mut wgpu::CommandEncoder, dispatch: &Dispatch) {
    let mut pass = encoder.begin_compute_pass(&Default::default());
    dispatch.record(&mut pass);
}

impl FusedKernels {
    /// The dispatches of a batch of `models` on `bufs`, compiled for `shape` with `features`; with
    /// `twins`, the batch measures beside its steps; with `deep_table`, the layer table is a storage
    /// buffer (`Shader::FusedDeep`, a model deeper than `MAX_LAYERS`).
    pub fn new(
        gpu: &Gpu,
        bufs: &Buffers,
        (models, deep_table): (u32, bool),
        shape: FusedShape,
        features: KernelFeatures,
        twins: Option<Twins>,
    ) -> Result<Self, GpuError> {
        let shader = if deep_table { Shader::FusedDeep } else { Shader::Fused };
        let tensors = bufs.bindings();
        let workgroups = [models, 1, 1];
        let k = overrides(gpu, shape, features);
        gpu.prepare_pipelines(shader, &[("fused_run", &k), ("fused_stats", &k)])?;
        let dispatch = |mode: u32, after_probe: u32, slot: u32| {
            let run = RunParams { after_probe, ..RunParams::new(mode, slot) };
            gpu.dispatch_specialised(shader, "fused_run", &k, Some(&run), &tensors, workgroups)
        };
        let run = RunParams::new(MODE_PROBE, SLOT_STATS);
        let stats = gpu.dispatch_specialised(shader, "fused_stats", &k, Some(&run), &tensors, workgroups)?;
        let twins = match twins {
            None => None,
            Some(t) => {
                let run = RunParams::new(MODE_BESIDE, SLOT_TRAIN);
                let beside =
                    gpu.dispatch_specialised(shader, "fused_run", &k, Some(&run), &tensors, [2 * models, 1, 1])?;
                let run = RunParams { base: models, ..RunParams::new(MODE_PROBE, SLOT_STATS) };
                let stats = gpu.dispatch_specialised(shader, "fused_stats", &k, Some(&run), &tensors, workgroups)?;
                let staging =
                    gpu.reused_tensor("fused twin staging", t.copies.iter().map(|c| c.2).sum::<usize>().max(1))?;
                Some(TwinKernels { beside, stats, copies: t.copies, staging })
            }
        };
        Ok(FusedKernels {
            train: dispatch(MODE_TRAIN, 0, SLOT_TRAIN)?,
            probe: [dispatch(MODE_PROBE, 0, SLOT_PROBE)?, stats],
            eval_train: [
                dispatch(MODE_EVAL_TRAIN, 0, SLOT_EVAL_TRAIN)?,
                dispatch(MODE_EVAL_TRAIN, 1, SLOT_EVAL_TRAIN)?,
            ],
            eval_test: dispatch(MODE_EVAL_TEST, 0, SLOT_EVAL_TEST)?,
            twins,
        })
    }

    /// Whether the batch has twins, so that a probe asked for before steps runs beside them.
    pub fn measures_beside(&self) -> bool {
        self.twins.is_some()
    }

    /// A command encoder whose first command zeroes the queue's counters, so that each dispatch
    /// recorded after it hands out the batch's models from the first.
    pub fn begin(&self, gpu: &Gpu, bufs: &Buffers) -> wgpu::CommandEncoder {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        bufs.queue.record_clear(&mut encoder);
        encoder
    }

    /// Records `count` steps from step `first` (one dispatch); `beside`: the twins are measured in the
    /// same dispatch (and evaluated first, with `Some(true)`).
    pub fn record_steps(
        &self,
        gpu: &Gpu,
        bufs: &Buffers,
        encoder: &mut wgpu::CommandEncoder,
        first: usize,
        count: usize,
        beside: Option<bool>,
    ) {
        let run = RunParams { first: first as u32, count: count as u32, ..RunParams::new(MODE_TRAIN, SLOT_TRAIN) };
        match (self.twins.as_ref(), beside) {
            (Some(twins), Some(evaluate)) => {
                twins.record_copies(encoder, &bufs.arena);
                let run = RunParams { mode: MODE_BESIDE, evaluate: evaluate.into(), ..run };
                twins.beside.write_params(gpu, &run);
                record(encoder, &twins.beside);
                record(encoder, &twins.stats);
            }
            _ => {
                self.train.write_params(gpu, &run);
                record(encoder, &self.train);
            }
        }
    }

    pub fn record_probe(&self, encoder: &mut wgpu::CommandEncoder) {
        record(encoder, &self.probe[0]);
        record(encoder, &self.probe[1]);
    }

    /// An evaluation of the training split (`after_probe`: a probe was recorded just before) or the
    /// test split.
    pub fn record_eval(&self, encoder: &mut wgpu::CommandEncoder, test: bool, after_probe: bool) {
        record(encoder, if test { &self.eval_test } else { &self.eval_train[after_probe as usize] });
    }

    pub fn recycle(&self, gpu: &Gpu) {
        if let Some(twins) = &self.twins {
            gpu.recycle(&twins.staging);
        }
    }
}

impl TwinKernels {
    fn record_copies(&self, encoder: &mut wgpu::CommandEncoder, arena: &Tensor) {
        let mut at = 0;
        for &(from, _, len) in &self.copies {
            arena.slice(from, len).record_copy_to(encoder, &self.staging.slice(at, len));
            at += len;
        }
        at = 0;
        for &(_, to, len) in &self.copies {
            self.staging.slice(at, len).record_copy_to(encoder, &arena.slice(to, len));
            at += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OTHER_WORKGROUP_FLOATS, REDUCTION_FLOATS, weight_cache_for};

    #[test]
    fn the_weight_cache_leaves_room_for_the_kernels_other_workgroup_variables() {
        // WebGPU counts each workgroup variable rounded up to 16 bytes: wsh, red and claimed.
        let round16 = |bytes: usize| bytes.next_multiple_of(16);
        for limit in [16384u32, 32768, 49152, 65536] {
            let wsh = weight_cache_for(limit);
            let used = round16(4 * wsh) + round16(4 * REDUCTION_FLOATS) + round16(4 * OTHER_WORKGROUP_FLOATS);
            assert!(used <= limit as usize, "{limit} bytes: {used} used");
            assert!(wsh > 1, "{limit} bytes leave room for a cache");
        }
        assert_eq!(weight_cache_for(1024), 1, "no room: no cache");
    }
}
