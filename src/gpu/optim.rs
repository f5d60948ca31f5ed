//! Launchers for `shaders/optim.wgsl`: one dispatch updates the whole parameter arena.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::engine::Optimizer;

/// An optimiser's constants as every kernel that takes a step reads them: a run of six floats in its
/// params (SGD's momentum; Adam's betas, eps and 1 − beta, the latter rounded from f64; the other
/// optimiser's fields zero).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct OptimConsts {
    pub(super) momentum: f32,
    pub(super) beta1: f32,
    pub(super) beta2: f32,
    pub(super) eps: f32,
    pub(super) one_minus_beta1: f32,
    pub(super) one_minus_beta2: f32,
}

impl OptimConsts {
    pub(super) fn of(opt: &Optimizer) -> Self {
        match *opt {
            Optimizer::Sgd { momentum, .. } => OptimConsts { momentum: momentum as f32, ..Zeroable::zeroed() },
            Optimizer::Adam { beta1, beta2, eps, .. } => OptimConsts {
                momentum: 0.0,
                beta1: beta1 as f32,
                beta2: beta2 as f32,
                eps: eps as f32,
                one_minus_beta1: (1.0 - beta1) as f32,
                one_minus_beta2: (1.0 - beta2) as f32,
            },
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct OptParams {
    len: u32,
    lr: f32,
    consts: OptimConsts,
    decay: f32,
    _pad: [u32; 3],
}

/// The state arenas an optimiser step updates, each the parameter arena's size.
pub struct OptimState<'a> {
    pub params: &'a Tensor,
    pub grads: &'a Tensor,
    /// SGD's velocity, or Adam's first moment.
    pub m: &'a Tensor,
    /// Adam's second moment (unused by SGD).
    pub v: &'a Tensor,
    /// The step counter (see `step.rs`): Adam reads the step in the epoch from it ...
    pub state: &'a Tensor,
    /// ... to index this table of step sizes (`Optimizer::schedule`).
    pub schedule: &'a Tensor,
    /// With weight decay, 1 for each dense weight and 0 elsewhere (`weight_mask`); a single 0 without.
    pub weights: &'a Tensor,
    /// λ/n, the weight decay per training row (0: none).
    pub decay: f64,
}

/// The arena's dense weights as 1 and everything else as 0, for the weight decay of `optimizer_step`.
pub fn weight_mask(layout: &crate::model::ParamLayout) -> Vec<f32> {
    let mut mask = vec![0.0; layout.param_len];
    for slot in layout.params.iter().filter(|s| s.kind == crate::model::ParamKind::Weight) {
        mask[slot.range()].fill(1.0);
    }
    mask
}

pub fn optimizer_step(gpu: &Gpu, opt: &Optimizer, s: &OptimState<'_>) -> Result<Dispatch, GpuError> {
    let len = s.params.len();
    let groups = gpu.groups_1d(len, 256);
    let p = OptParams {
        len: len as u32,
        lr: opt.lr() as f32,
        consts: OptimConsts::of(opt),
        decay: s.decay as f32,
        _pad: [0; 3],
    };
    match opt {
        Optimizer::Sgd { .. } => {
            gpu.dispatch(Shader::Optim, "sgd_step", Some(&p), &[s.params, s.grads, s.m, s.weights], groups)
        }
        Optimizer::Adam { .. } => {
            let bufs = [s.params, s.grads, s.m, s.v, s.state, s.schedule, s.weights];
            gpu.dispatch(Shader::Optim, "adam_step", Some(&p), &bufs, groups)
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ClipParams {
    len: u32,
    max_norm: f32,
    _pad: [u32; 2],
}

/// PyTorch's `clip_grad_norm_` on the gradient arena: `grads *= min(1, max/(‖g‖ + 1e-6))`, with `sq[0]`
/// holding Σg² (a `reduce::segment_stats` over the arena just before), and the norm before clipping
/// written to `norms[step in epoch]` (the step from `state`).
pub fn clip_grads(
    gpu: &Gpu,
    grads: &Tensor,
    sq: &Tensor,
    state: &Tensor,
    norms: &Tensor,
    max_norm: f64,
) -> Result<Dispatch, GpuError> {
    let len = grads.len();
    let p = ClipParams { len: len as u32, max_norm: max_norm as f32, _pad: [0; 2] };
    gpu.dispatch(Shader::Optim, "clip_grads", Some(&p), &[grads, sq, state, norms], gpu.groups_1d(len, 256))
}
