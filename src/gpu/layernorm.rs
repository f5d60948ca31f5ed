//! Launchers for `shaders/layernorm.wgsl`: forward (saving each row's mean and 1/σ), the input's
//! gradient, and γ's and β's gradients.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LnParams {
    m: u32,
    n: u32,
    eps: f32,
    _pad: u32,
}

fn params(m: usize, n: usize, eps: f64) -> LnParams {
    LnParams { m: m as u32, n: n as u32, eps: eps as f32, _pad: 0 }
}

/// What one layer norm's forward and backward share: `[m, n]` input, `[n]` γ, `[m]` row statistics.
pub struct LnTensors<'a> {
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    /// Each row's mean and 1/√(var + eps): written by the forward, read by the backward.
    pub mean: &'a Tensor,
    pub rstd: &'a Tensor,
}

/// Forward over `[m, n]` into `y` with shift `beta[n]`, one workgroup per row.
pub fn layernorm_forward(
    gpu: &Gpu,
    y: &Tensor,
    t: &LnTensors<'_>,
    beta: &Tensor,
    (m, n): (usize, usize),
    eps: f64,
) -> Result<Dispatch, GpuError> {
    let bufs = [t.x, t.gamma, beta, y, t.mean, t.rstd];
    gpu.dispatch(Shader::LayerNorm, "layernorm_forward", Some(&params(m, n, eps)), &bufs, gpu.groups_1d(m, 1))
}

/// Backward: `dx[m,n]` from `dy[m,n]`, one workgroup per row; and `dgamma[n]`, `dbeta[n]`, one per
/// unit (all overwritten).
pub fn layernorm_backward(
    gpu: &Gpu,
    (dx, dgamma, dbeta): (&Tensor, &Tensor, &Tensor),
    dy: &Tensor,
    t: &LnTensors<'_>,
    (m, n): (usize, usize),
) -> Result<[Dispatch; 2], GpuError> {
    let p = params(m, n, 0.0);
    let rows = [dy, t.x, t.mean, t.rstd, t.gamma, dx];
    let units = [dy, t.x, t.mean, t.rstd, dgamma, dbeta];
    Ok([
        gpu.dispatch(Shader::LayerNorm, "layernorm_backward", Some(&p), &rows, gpu.groups_1d(m, 1))?,
        gpu.dispatch(Shader::LayerNorm, "layernorm_param_grads", Some(&p), &units, [n as u32, 1, 1])?,
    ])
}
