//! Launchers for `shaders/optim.wgsl`: one dispatch updates the whole parameter arena.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct OptParams {
    len: u32,
    lr: f32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
}

/// The optimiser and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Optimizer {
    /// PyTorch's SGD: `v = μ·v + g; θ −= lr·v` (μ = 0 is plain SGD).
    Sgd { lr: f64, momentum: f64 },
    /// Keras's Adam (defaults lr 1e-3, β1 0.9, β2 0.999, eps 1e-7).
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64 },
}

impl Optimizer {
    pub fn adam(lr: f64) -> Self {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7 }
    }

    pub fn sgd(lr: f64, momentum: f64) -> Self {
        Optimizer::Sgd { lr, momentum }
    }

    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// The step sizes of optimiser steps `t_first, t_first + 1, …` (1-based), `count` of them, in f64
    /// rounded once to f32: Adam's bias-corrected `lr·√(1−β2ᵗ)/(1−β1ᵗ)`, or SGD's constant lr. The
    /// trainer writes this table before each epoch; kernels index it by the step in the epoch.
    pub fn schedule(&self, t_first: u32, count: usize) -> Vec<f32> {
        (0..count as u32)
            .map(|i| match *self {
                Optimizer::Sgd { lr, .. } => lr as f32,
                Optimizer::Adam { lr, beta1, beta2, .. } => {
                    let t = (t_first + i) as i32;
                    (lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t))) as f32
                }
            })
            .collect()
    }
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
}

pub fn optimizer_step(gpu: &Gpu, opt: &Optimizer, s: &OptimState<'_>) -> Result<Dispatch, GpuError> {
    let len = s.params.len();
    let groups = gpu.groups_1d(len, 256);
    match *opt {
        Optimizer::Sgd { lr, momentum } => {
            let p = OptParams { len: len as u32, lr: lr as f32, momentum: momentum as f32, ..Zeroable::zeroed() };
            gpu.dispatch(Shader::Optim, "sgd_step", Some(&p), &[s.params, s.grads, s.m], groups)
        }
        Optimizer::Adam { lr, beta1, beta2, eps } => {
            let p = OptParams {
                len: len as u32,
                lr: lr as f32,
                beta1: beta1 as f32,
                beta2: beta2 as f32,
                eps: eps as f32,
                one_minus_beta1: (1.0 - beta1) as f32,
                one_minus_beta2: (1.0 - beta2) as f32,
                ..Zeroable::zeroed()
            };
            let bufs = [s.params, s.grads, s.m, s.v, s.state, s.schedule];
            gpu.dispatch(Shader::Optim, "adam_step", Some(&p), &bufs, groups)
        }
    }
}
