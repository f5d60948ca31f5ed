//! Launchers for `shaders/step.wgsl`: the GPU-side step counter and the batch gather. The counter is
//! a 4-word tensor `[t, step, next, _]`: `step_begin` advances it at the start of every training step,
//! and the gather, the loss and Adam read it, so a whole epoch is recorded once and submitted without
//! any per-step upload or readback.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};

/// Words in the step-state tensor.
pub const STEP_STATE_LEN: usize = 4;

/// The host's view of the step state, written before a submit: `t` optimiser steps taken so far and
/// `next`, the index in the epoch of the first step to come.
pub fn step_state(t: u32, next: u32) -> [u32; STEP_STATE_LEN] {
    [t, next, next, 0]
}

pub fn step_begin(gpu: &Gpu, state: &Tensor) -> Result<Dispatch, GpuError> {
    gpu.dispatch::<[u32; 4]>(Shader::Step, "step_begin", None, &[state], [1, 1, 1])
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherParams {
    rows: u32,
    features: u32,
    batch_size: u32,
    _pad: u32,
}

/// The tensors of a batch gather.
pub struct Gather<'a> {
    /// `[N, features]` and `[N]`: the whole training set, uploaded once.
    pub x: &'a Tensor,
    pub y: &'a Tensor,
    /// `[N]` u32: this epoch's order.
    pub order: &'a Tensor,
    pub state: &'a Tensor,
    /// `[rows, features]` and `[rows]` outputs.
    pub xb: &'a Tensor,
    pub yb: &'a Tensor,
}

/// Copies rows `order[step·batch_size ..][..rows]` of `x` and `y` into `xb` and `yb`.
pub fn gather_rows(
    gpu: &Gpu,
    g: &Gather<'_>,
    rows: usize,
    features: usize,
    batch_size: usize,
) -> Result<Dispatch, GpuError> {
    let p = GatherParams { rows: rows as u32, features: features as u32, batch_size: batch_size as u32, _pad: 0 };
    gpu.dispatch(
        Shader::Step,
        "gather_rows",
        Some(&p),
        &[g.x, g.y, g.order, g.state, g.xb, g.yb],
        gpu.groups_1d(rows * features, 256),
    )
}
