//! Launchers for `shaders/batchnorm.wgsl`: training forward (saving mean and 1/σ, optionally folding
//! the batch into the running statistics), evaluation forward, and backward.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BnParams {
    m: u32,
    n: u32,
    eps: f32,
    momentum: f32,
    update_running: u32,
    _pad: [u32; 3],
}

fn params(m: usize, n: usize, eps: f64, momentum: f64, update_running: bool) -> BnParams {
    BnParams {
        m: m as u32,
        n: n as u32,
        eps: eps as f32,
        momentum: momentum as f32,
        update_running: update_running as u32,
        _pad: [0; 3],
    }
}

/// The buffers of one batch-norm layer's training forward.
pub struct BnForward<'a> {
    /// `[m, n]` output.
    pub y: &'a Tensor,
    /// `[n]` batch mean and 1/√(var + eps), saved for the backward pass.
    pub mean: &'a Tensor,
    pub rstd: &'a Tensor,
    /// `[n]` running statistics, updated when `momentum` is given.
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    /// `[m, n]` input.
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
}

/// Training-mode forward over `[m, n]`; `momentum: Some(μ)` also updates the running statistics.
pub fn batchnorm_forward(
    gpu: &Gpu,
    b: &BnForward<'_>,
    (m, n): (usize, usize),
    eps: f64,
    momentum: Option<f64>,
) -> Result<Dispatch, GpuError> {
    let p = params(m, n, eps, momentum.unwrap_or(0.0), momentum.is_some());
    let bufs = [b.x, b.gamma, b.beta, b.y, b.mean, b.rstd, b.running_mean, b.running_var];
    gpu.dispatch(Shader::BatchNorm, "batchnorm_forward", Some(&p), &bufs, [n as u32, 1, 1])
}

/// Evaluation-mode forward with the running statistics: `y[m,n]`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    gpu: &Gpu,
    y: &Tensor,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    (m, n): (usize, usize),
    eps: f64,
) -> Result<Dispatch, GpuError> {
    let p = params(m, n, eps, 0.0, false);
    let bufs = [x, gamma, beta, running_mean, running_var, y];
    gpu.dispatch(Shader::BatchNorm, "batchnorm_forward_eval", Some(&p), &bufs, gpu.groups_1d(m * n, 256))
}

/// Training-mode backward: `dx[m,n]`, `dgamma[n]`, `dbeta[n]` (all overwritten) from `dy[m,n]`, the
/// forward's input `x` and its saved `mean` and `rstd`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    gpu: &Gpu,
    dx: &Tensor,
    dgamma: &Tensor,
    dbeta: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    mean: &Tensor,
    rstd: &Tensor,
    gamma: &Tensor,
    (m, n): (usize, usize),
) -> Result<Dispatch, GpuError> {
    let p = params(m, n, 0.0, 0.0, false);
    let bufs = [dy, x, mean, rstd, gamma, dx, dgamma, dbeta];
    gpu.dispatch(Shader::BatchNorm, "batchnorm_backward", Some(&p), &bufs, [n as u32, 1, 1])
}
