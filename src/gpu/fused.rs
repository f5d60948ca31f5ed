//! Launcher for `shaders/fused.wgsl`: the whole training step of a narrow MLP (every width ≤ 64) in one
//! workgroup, looping over many steps per dispatch; models of one shape train side by side, one per
//! workgroup, each with its own layer table (so their activations may differ). Plans the per-model
//! scratch layout and the layer tables the kernel walks.

use bytemuck::{Pod, Zeroable};

use super::fused_lanes::{LanesPlan, lanes_fit};
use super::optim::OptimConsts;
use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::engine::Optimizer;
use crate::model::MlpSpec;

/// The widest layer (input and output included) the fused kernel accepts: an invocation loops over a
/// row's units, so the cost per step grows with width², and wide layers belong to the layered path.
pub const FUSED_MAX_WIDTH: usize = 64;

/// Storage buffers the fused kernel binds (the WebGPU default limit is 8).
const FUSED_STORAGE_BUFFERS: u32 = 11;

/// Steps one dispatch may loop over, so a long epoch does not become one very long dispatch (drivers
/// reset a GPU that runs one command for seconds).
pub const FUSED_MAX_STEPS_PER_DISPATCH: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FusedParams {
    models: u32,
    layers: u32,
    rows_total: u32,
    batch: u32,
    first: u32,
    count: u32,
    input: u32,
    classes: u32,
    param_stride: u32,
    running_stride: u32,
    scratch_stride: u32,
    metrics_stride: u32,
    optimizer: u32,
    consts: OptimConsts,
    bn_eps: f32,
    bn_momentum: f32,
    scratch_loss: u32,
    row_cap: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
struct LayerDesc {
    fan_in: u32,
    fan_out: u32,
    act: u32,
    bn: u32,
    w: u32,
    b: u32,
    gamma: u32,
    beta: u32,
    rmean: u32,
    rvar: u32,
    x: u32,
    z: u32,
    y: u32,
    a: u32,
    d: u32,
    dy: u32,
    stats: u32,
    alpha: f32,
}

/// Whether two specs can train in one fused dispatch: the same layers, batch norm, output and
/// parameter layout; activations and initialisation may differ.
pub fn same_shape(a: &MlpSpec, b: &MlpSpec) -> bool {
    a.layout() == b.layout()
        && a.input == b.input
        && a.hidden == b.hidden
        && a.output == b.output
        && a.batch_norm == b.batch_norm
        && a.bn_eps == b.bn_eps
        && a.bn_momentum == b.bn_momentum
}

/// Why `spec` cannot take the fused path on `gpu`, or `Ok`.
pub fn fused_fits(gpu: &Gpu, spec: &MlpSpec) -> Result<(), String> {
    if spec.max_width() > FUSED_MAX_WIDTH {
        return Err(format!(
            "a layer is {} wide; the fused path takes widths up to {FUSED_MAX_WIDTH}",
            spec.max_width()
        ));
    }
    let have = gpu.limits.max_storage_buffers_per_shader_stage;
    if have < FUSED_STORAGE_BUFFERS {
        return Err(format!(
            "the fused kernel binds {FUSED_STORAGE_BUFFERS} storage buffers; this adapter allows {have}"
        ));
    }
    Ok(())
}

/// The kernel's workgroup size for `spec`: the widest layer rounded up to a multiple of 8 (the SIMD
/// width CPU drivers run invocations at), so each unit phase is one pass of the workgroup.
fn workgroup_size(spec: &MlpSpec) -> usize {
    spec.max_width().next_multiple_of(8)
}

/// The floats of workgroup memory the kernel caches a model's parameters in: all of them when they
/// fit the adapter's workgroup storage, else 1 (no cache: the kernel reads `params`).
fn weight_cache(gpu: &Gpu, param_len: usize) -> usize {
    let fits = param_len * 4 <= gpu.limits.max_compute_workgroup_storage_size as usize;
    if fits && param_len > 1 { param_len } else { 1 }
}

/// The layer table and the floats of scratch one model needs, its per-row buffers holding `row_cap`
/// rows (the batch rounded up to whole workgroups, so row loops run without a guard).
fn plan(spec: &MlpSpec, row_cap: usize) -> (Vec<LayerDesc>, usize, usize) {
    let layout = spec.layout();
    let mut at = 0usize;
    let mut take = |len: usize| {
        let start = at;
        at += len;
        start as u32
    };
    let mut x = take(row_cap * spec.input);
    let mut descs = Vec::new();
    for i in 0..spec.num_layers() {
        let (fan_in, fan_out) = spec.layer_dims(i);
        let bn = spec.has_bn(i);
        let act = spec.activation(i);
        let rows = row_cap * fan_out;
        let mut d = LayerDesc {
            fan_in: fan_in as u32,
            fan_out: fan_out as u32,
            act: act.code(),
            bn: bn as u32,
            w: layout.weight(i).offset as u32,
            b: layout.bias(i).offset as u32,
            x,
            z: take(rows),
            a: take(rows),
            d: take(rows),
            alpha: act.alpha(),
            ..Default::default()
        };
        if bn {
            d.gamma = layout.gamma(i).expect("bn layer").offset as u32;
            d.beta = layout.beta(i).expect("bn layer").offset as u32;
            d.rmean = layout.running_mean(i).expect("bn layer").offset as u32;
            d.rvar = layout.running_var(i).expect("bn layer").offset as u32;
            d.y = take(rows);
            d.dy = take(rows);
            d.stats = take(5 * fan_out);
        }
        x = d.a;
        descs.push(d);
    }
    let loss = take(2 * row_cap) as usize;
    (descs, at, loss)
}

/// The buffers the fused kernel reads and updates; arenas hold `models` copies back to back.
pub struct FusedBuffers<'a> {
    /// `[N, input]` and `[N]` u32: the training set.
    pub x: &'a Tensor,
    pub y: &'a Tensor,
    /// `[models, N]` u32: each model's epoch order.
    pub order: &'a Tensor,
    /// `[steps per epoch]`: step sizes (`Optimizer::schedule`).
    pub schedule: &'a Tensor,
    pub params: &'a Tensor,
    pub grads: &'a Tensor,
    /// `[2, models·param_len]`: SGD's velocity or Adam's m, then Adam's v.
    pub opt: &'a Tensor,
    pub running: &'a Tensor,
    /// `[models, 2·steps per epoch]`: each step's mean loss and correct count.
    pub metrics: &'a Tensor,
}

/// A built fused dispatch: the workgroup kernel with its scratch, or the per-lane one.
pub enum FusedPlan {
    Workgroup(WorkgroupPlan),
    Lanes(LanesPlan),
}

/// The workgroup kernel's dispatch, its params and the buffers its bind group names.
pub struct WorkgroupPlan {
    dispatch: Dispatch,
    params: FusedParams,
    _scratch: Tensor,
    _layers: Tensor,
}

/// The kernel that runs the fused path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedKernel {
    /// `fused.wgsl`: one workgroup per model, its rows and units split across the invocations. Any
    /// narrow model; compiles in a second or two.
    Workgroup,
    /// `fused_lanes.wgsl`, generated for the model's shape: one model per invocation (SIMD lane), the
    /// fast kernel on CPU adapters. No batch norm; compiles in seconds to tens of seconds.
    Lanes,
}

impl FusedKernel {
    pub fn name(self) -> &'static str {
        match self {
            FusedKernel::Workgroup => "workgroup",
            FusedKernel::Lanes => "per-lane",
        }
    }
}

/// Model-steps (models × optimiser steps) from which the per-lane kernel is worth its compile time
/// on a CPU adapter. On lavapipe the notebook's model compiles in ~10 s and then saves ~0.25 ms per
/// model-step over the workgroup kernel: the saving passes the compile time at ~40,000. (Mesa caches
/// compiled shaders on disk, so later runs of the same shape pay nothing.)
pub const LANES_MIN_MODEL_STEPS: u64 = 40_000;

/// Why `kernel` cannot train `spec` on `gpu`, or `Ok`: the fused path's limits, and the per-lane
/// kernel's own.
pub fn kernel_fits(gpu: &Gpu, spec: &MlpSpec, kernel: FusedKernel) -> Result<(), String> {
    fused_fits(gpu, spec)?;
    match kernel {
        FusedKernel::Workgroup => Ok(()),
        FusedKernel::Lanes => lanes_fit(spec),
    }
}

/// The kernel the fused path uses for `spec` by default, given the model-steps the caller expects
/// to train: the per-lane kernel on CPU adapters when the model fits it and the work repays its
/// compile time; the workgroup kernel otherwise (on GPUs, a model per invocation leaves the device
/// idle and spills every weight to memory).
pub fn auto_kernel(gpu: &Gpu, spec: &MlpSpec, model_steps: u64) -> FusedKernel {
    let cpu = gpu.adapter.device_type == format!("{:?}", wgpu::DeviceType::Cpu);
    if cpu && kernel_fits(gpu, spec, FusedKernel::Lanes).is_ok() && model_steps >= LANES_MIN_MODEL_STEPS {
        FusedKernel::Lanes
    } else {
        FusedKernel::Workgroup
    }
}

impl FusedPlan {
    /// Plans one model per entry of `specs` (one shape: `same_shape` holds) training on `rows_total`
    /// rows in batches of `batch`, on `kernel` (which must fit: `lanes_fit` for `Lanes`).
    pub fn new(
        gpu: &Gpu,
        kernel: FusedKernel,
        specs: &[MlpSpec],
        optimizer: &Optimizer,
        (rows_total, batch): (usize, usize),
        b: &FusedBuffers<'_>,
    ) -> Result<Self, GpuError> {
        let spec = &specs[0];
        debug_assert!(specs.iter().all(|s| same_shape(s, spec)));
        if kernel == FusedKernel::Lanes {
            return Ok(FusedPlan::Lanes(LanesPlan::new(gpu, specs, optimizer, (rows_total, batch), b)?));
        }
        let models = specs.len();
        let wg = workgroup_size(spec);
        let row_cap = batch.next_multiple_of(wg);
        let (_, scratch_stride, scratch_loss) = plan(spec, row_cap);
        let descs: Vec<LayerDesc> = specs.iter().flat_map(|s| plan(s, row_cap).0).collect();
        let layout = spec.layout();
        let steps = rows_total.div_ceil(batch);
        let params = FusedParams {
            models: models as u32,
            layers: spec.num_layers() as u32,
            rows_total: rows_total as u32,
            batch: batch as u32,
            first: 0,
            count: 0,
            input: spec.input as u32,
            classes: spec.output.width() as u32,
            param_stride: layout.param_len as u32,
            running_stride: layout.running_len as u32,
            scratch_stride: scratch_stride as u32,
            metrics_stride: (2 * steps) as u32,
            optimizer: matches!(optimizer, Optimizer::Adam { .. }) as u32,
            consts: OptimConsts::of(optimizer),
            bn_eps: spec.bn_eps as f32,
            bn_momentum: spec.bn_momentum as f32,
            scratch_loss: scratch_loss as u32,
            row_cap: row_cap as u32,
            _pad: 0,
        };
        let scratch = gpu.tensor("fused scratch", models * scratch_stride)?;
        let layers = gpu.upload("fused layers", bytemuck::cast_slice::<LayerDesc, u32>(&descs))?;
        let tensors =
            [&layers, b.x, b.y, b.order, b.schedule, b.params, b.grads, b.opt, b.running, &scratch, b.metrics];
        let dispatch = gpu.dispatch_specialised(
            Shader::Fused,
            "fused_train",
            &[("WG", wg as u32), ("WSH", weight_cache(gpu, layout.param_len) as u32)],
            Some(&params),
            &tensors,
            [models as u32, 1, 1],
        )?;
        Ok(FusedPlan::Workgroup(WorkgroupPlan { dispatch, params, _scratch: scratch, _layers: layers }))
    }

    /// Records steps `first .. first + count` of the epoch: one dispatch per
    /// `FUSED_MAX_STEPS_PER_DISPATCH` steps. A longer range needs its own uniform per dispatch, so it
    /// cannot share one queue write; it is encoded and submitted chunk by chunk here, and only the
    /// last chunk's command buffer is returned for the caller to submit.
    pub fn kernel(&self) -> FusedKernel {
        match self {
            FusedPlan::Workgroup(_) => FusedKernel::Workgroup,
            FusedPlan::Lanes(_) => FusedKernel::Lanes,
        }
    }

    pub fn encode(&self, gpu: &Gpu, first: usize, count: usize) -> Vec<wgpu::CommandBuffer> {
        let mut done = 0;
        let mut last = Vec::new();
        while done < count {
            let n = (count - done).min(FUSED_MAX_STEPS_PER_DISPATCH);
            if let Some(previous) = last.pop() {
                gpu.queue.submit([previous]);
            }
            // Queue writes land before the next submit: each dispatch sees its own range.
            let dispatch = match self {
                FusedPlan::Workgroup(plan) => {
                    let p = FusedParams { first: (first + done) as u32, count: n as u32, ..plan.params };
                    plan.dispatch.write_params(gpu, &p);
                    &plan.dispatch
                }
                FusedPlan::Lanes(plan) => plan.prepare(gpu, first + done, n),
            };
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                dispatch.record(&mut pass);
            }
            last.push(encoder.finish());
            done += n;
        }
        last
    }
}
