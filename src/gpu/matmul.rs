//! Launcher for `shaders/matmul.wgsl`: `C[m,n] = op(A)·op(B)` in the naive and the blocked variant.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};

/// Which matmul kernel to run. `Blocked` is the default; `Naive` is the benchmark's reference point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// One output per invocation.
    Naive,
    /// A 4×4 register block of outputs per invocation.
    Blocked,
    /// A 4×8 block with vec4 loads, for untransposed operands with k a multiple of 4 and n of 8;
    /// other shapes run `Blocked`.
    Vec4,
}

impl MatmulVariant {
    pub const ALL: [MatmulVariant; 3] = [MatmulVariant::Naive, MatmulVariant::Blocked, MatmulVariant::Vec4];

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Naive => "naive",
            MatmulVariant::Blocked => "blocked",
            MatmulVariant::Vec4 => "vec4",
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    k: u32,
    n: u32,
    a_row: u32,
    a_col: u32,
    b_row: u32,
    b_col: u32,
    _pad: u32,
}

/// `c[m,n] = op(a)·op(b)`: `a` is `[m,k]`, or `[k,m]` when `trans_a`; `b` is `[k,n]`, or `[n,k]` when
/// `trans_b`. `c` is overwritten. The same contract as `reference::matmul`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    gpu: &Gpu,
    variant: MatmulVariant,
    c: &Tensor,
    a: &Tensor,
    b: &Tensor,
    (m, k, n): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
) -> Result<Dispatch, GpuError> {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul operands too small");
    let (a_row, a_col) = if trans_a { (1, m) } else { (k, 1) };
    let (b_row, b_col) = if trans_b { (1, k) } else { (n, 1) };
    let params = MatmulParams {
        m: m as u32,
        k: k as u32,
        n: n as u32,
        a_row: a_row as u32,
        a_col: a_col as u32,
        b_row: b_row as u32,
        b_col: b_col as u32,
        _pad: 0,
    };
    let vec4_fits = !trans_a && !trans_b && k % 4 == 0 && n % 8 == 0;
    let (entry, outputs_per_group) = match variant {
        MatmulVariant::Naive => ("matmul_naive", 16),
        MatmulVariant::Vec4 if vec4_fits => ("matmul_vec4", 0),
        MatmulVariant::Blocked | MatmulVariant::Vec4 => ("matmul_blocked", 32),
    };
    // An 8×8 workgroup covers 32×32 outputs (blocked), 16×16 (naive) or 32×64 (vec4, 4×8 per invocation).
    let groups = match outputs_per_group {
        0 => [n.div_ceil(64) as u32, m.div_ceil(32) as u32, 1],
        g => [n.div_ceil(g) as u32, m.div_ceil(g) as u32, 1],
    };
    gpu.dispatch(Shader::Matmul, entry, Some(&params), &[a, b, c], groups)
}
