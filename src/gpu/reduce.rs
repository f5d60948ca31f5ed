//! Launchers for `shaders/reduce.wgsl`: the bias gradient and per-tensor norms over an arena.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};

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
