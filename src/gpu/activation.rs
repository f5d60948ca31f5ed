//! Launchers for `shaders/activation.wgsl`: the fused bias + activation forward, the activation
//! backward and per-layer activation statistics.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::model::Activation;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ActParams {
    m: u32,
    n: u32,
    act: u32,
    has_bias: u32,
    alpha: f32,
    scale: f32,
    _pad: [u32; 2],
}

fn params(m: usize, n: usize, act: Activation, has_bias: bool) -> ActParams {
    ActParams {
        m: m as u32,
        n: n as u32,
        act: act.code(),
        has_bias: has_bias as u32,
        alpha: act.alpha(),
        scale: 1.0,
        _pad: [0; 2],
    }
}

/// `z[m,n] += bias[n]` (in place, when `bias` is given), then `a = f(z)`.
pub fn bias_activation_forward(
    gpu: &Gpu,
    z: &Tensor,
    a: &Tensor,
    bias: Option<&Tensor>,
    (m, n): (usize, usize),
    act: Activation,
) -> Result<Dispatch, GpuError> {
    let p = params(m, n, act, bias.is_some());
    let bias = bias.unwrap_or(&gpu.dummy);
    gpu.dispatch(Shader::Activation, "bias_activation_forward", Some(&p), &[z, bias, a], gpu.groups_1d(m * n, 256))
}

/// `dz = da ⊙ f′`, from the saved pre-activation `z` and output `a`; all `[m, n]`.
pub fn activation_backward(
    gpu: &Gpu,
    dz: &Tensor,
    da: &Tensor,
    z: &Tensor,
    a: &Tensor,
    (m, n): (usize, usize),
    act: Activation,
) -> Result<Dispatch, GpuError> {
    let p = params(m, n, act, false);
    gpu.dispatch(Shader::Activation, "activation_backward", Some(&p), &[da, z, a, dz], gpu.groups_1d(m * n, 256))
}

/// A residual block's output `out = x + scale·a`, all `[m, n]`.
pub fn skip_forward(
    gpu: &Gpu,
    out: &Tensor,
    x: &Tensor,
    a: &Tensor,
    (m, n): (usize, usize),
    scale: f64,
) -> Result<Dispatch, GpuError> {
    let p = ActParams { scale: scale as f32, ..params(m, n, Activation::Identity, false) };
    gpu.dispatch(Shader::Activation, "skip_forward", Some(&p), &[x, a, out], gpu.groups_1d(m * n, 256))
}

/// A layer's output gradient `g` (in: δ·W of the layer above; out: plus `skip`, the layer above's own
/// output gradient, when it has a skip connection), then `dz = scale·g ⊙ f′(z)`; all `[m, n]`.
#[allow(clippy::too_many_arguments)]
pub fn skip_backward(
    gpu: &Gpu,
    dz: &Tensor,
    g: &Tensor,
    skip: Option<&Tensor>,
    z: &Tensor,
    a: &Tensor,
    (m, n): (usize, usize),
    act: Activation,
    scale: f64,
) -> Result<Dispatch, GpuError> {
    let p = ActParams { scale: scale as f32, ..params(m, n, act, skip.is_some()) };
    let skip = skip.unwrap_or(&gpu.dummy);
    gpu.dispatch(Shader::Activation, "skip_backward", Some(&p), &[g, skip, z, a, dz], gpu.groups_1d(m * n, 256))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StatParams {
    m: u32,
    n: u32,
    act: u32,
    slot: u32,
    alpha: f32,
    _pad: [u32; 3],
}

/// Words per layer written by `activation_stats`: mean, std, saturated, dead, E[f′(z)²].
pub const STATS_PER_LAYER: usize = 5;

/// Statistics of layer output `a[m, n]` and input `z[m, n]` into `out[5·slot ..]` (see
/// `reference::activation_stats`).
pub fn activation_stats(
    gpu: &Gpu,
    out: &Tensor,
    slot: usize,
    z: &Tensor,
    a: &Tensor,
    (m, n): (usize, usize),
    act: Activation,
) -> Result<Dispatch, GpuError> {
    assert!(out.len() >= STATS_PER_LAYER * (slot + 1));
    let p =
        StatParams { m: m as u32, n: n as u32, act: act.code(), slot: slot as u32, alpha: act.alpha(), _pad: [0; 3] };
    gpu.dispatch(Shader::Activation, "activation_stats", Some(&p), &[z, a, out], [1, 1, 1])
}
