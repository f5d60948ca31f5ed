//! Launchers for `shaders/dense.wgsl`: a dense layer's three products with their elementwise
//! neighbours fused in (bias and activation; the previous layer's activation backward; the bias
//! gradient), so the layered path runs three dispatches per layer instead of six.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::model::Activation;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct DenseParams {
    m: u32,
    k: u32,
    n: u32,
    act: u32,
    alpha: f32,
    _pad: [u32; 3],
}

fn params((m, k, n): (usize, usize, usize), act: Activation) -> DenseParams {
    DenseParams { m: m as u32, k: k as u32, n: n as u32, act: act.code(), alpha: act.alpha(), _pad: [0; 3] }
}

/// Workgroups for a `[rows, cols]` output in 32×32 blocks.
fn groups(rows: usize, cols: usize) -> [u32; 3] {
    [cols.div_ceil(32) as u32, rows.div_ceil(32) as u32, 1]
}

/// `z[m,n] = x[m,k]·w[n,k]ᵀ + b[n]` and `a = f(z)`, both overwritten. The same contract as
/// `reference::dense_forward` followed by `reference::activation`.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    gpu: &Gpu,
    z: &Tensor,
    a: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    (m, k, n): (usize, usize, usize),
    act: Activation,
) -> Result<Dispatch, GpuError> {
    let p = params((m, k, n), act);
    gpu.dispatch(Shader::Dense, "dense_forward", Some(&p), &[x, w, b, z, a], groups(m, n))
}

/// `out[m,k] = (dz[m,n]·w[n,k]) ⊙ f′(z_prev, a_prev)`, with `f` the previous layer's activation and
/// `z_prev` its activation input (batch norm's output where it applies).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_input(
    gpu: &Gpu,
    out: &Tensor,
    dz: &Tensor,
    w: &Tensor,
    z_prev: &Tensor,
    a_prev: &Tensor,
    (m, k, n): (usize, usize, usize),
    prev_act: Activation,
) -> Result<Dispatch, GpuError> {
    let p = params((m, k, n), prev_act);
    gpu.dispatch(Shader::Dense, "dense_backward_input", Some(&p), &[dz, w, z_prev, a_prev, out], groups(m, k))
}

/// `dw[n,k] = dz[m,n]ᵀ·x[m,k]` and `db[n] = Σ_rows dz`, both overwritten.
pub fn dense_backward_weight(
    gpu: &Gpu,
    dw: &Tensor,
    db: &Tensor,
    dz: &Tensor,
    x: &Tensor,
    (m, k, n): (usize, usize, usize),
) -> Result<Dispatch, GpuError> {
    let p = params((m, k, n), Activation::Identity);
    gpu.dispatch(Shader::Dense, "dense_backward_weight", Some(&p), &[dz, x, dw, db], groups(n, k))
}
