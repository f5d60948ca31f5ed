//! Launchers for `shaders/reduce.wgsl`: the bias gradient, per-tensor norms over an arena, and
//! per-layer activation statistics.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::model::Activation;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ColParams {
    m: u32,
    n: u32,
    _pad: [u32; 2],
}

/// `db[n] = Σ_rows dz[m, n]` (overwritten).
pub fn bias_backward(gpu: &Gpu, db: &Tensor, dz: &Tensor, (m, n): (usize, usize)) -> Result<Dispatch, GpuError> {
    let p = ColParams { m: m as u32, n: n as u32, _pad: [0; 2] };
    gpu.dispatch(Shader::Reduce, "bias_backward", Some(&p), &[dz, db], [n as u32, 1, 1])
}

/// For each `(offset, len)` in `segments` (a tensor of u32 pairs), `out[2s] = Σ x²` and
/// `out[2s + 1] = max |x|` over that run of `data`.
pub fn segment_stats(
    gpu: &Gpu,
    out: &Tensor,
    data: &Tensor,
    segments: &Tensor,
    count: usize,
) -> Result<Dispatch, GpuError> {
    assert!(out.len() >= 2 * count && segments.len() >= 2 * count);
    gpu.dispatch::<ColParams>(Shader::Reduce, "segment_stats", None, &[segments, data, out], [count as u32, 1, 1])
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StatParams {
    m: u32,
    n: u32,
    act: u32,
    slot: u32,
}

/// Mean, std, saturated fraction and dead fraction of the activation output `a[m, n]` into
/// `out[4·slot ..]` (see `reference::activation_stats`).
pub fn activation_stats(
    gpu: &Gpu,
    out: &Tensor,
    slot: usize,
    a: &Tensor,
    (m, n): (usize, usize),
    act: Activation,
) -> Result<Dispatch, GpuError> {
    assert!(out.len() >= 4 * (slot + 1));
    let p = StatParams { m: m as u32, n: n as u32, act: act.code(), slot: slot as u32 };
    gpu.dispatch(Shader::Reduce, "activation_stats", Some(&p), &[a, out], [1, 1, 1])
}
