//! Matrix products and the dense layer, row-major, f64: the CPU twins of `shaders/matmul.wgsl`.
//! A dense layer's weight is `[out, in]` (PyTorch's `nn.Linear`), so `Z = X·Wᵀ + b`.

use super::activation::bias_backward;

/// C[m,n] = op(A)·op(B); op(A) is A stored [m,k] or, if trans_a, Aᵀ with A stored [k,m];
/// op(B) is B stored [k,n] or, if trans_b, Bᵀ with B stored [n,k]. Overwrites c.
#[allow(clippy::too_many_arguments)] // the kernel's own parameter list, kept flat on purpose
pub fn matmul(c: &mut [f64], a: &[f64], b: &[f64], m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool) {
    assert_eq!(c.len(), m * n, "c is [m,n]");
    assert_eq!(a.len(), m * k, "a holds m·k values");
    assert_eq!(b.len(), k * n, "b holds k·n values");
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0;
            for p in 0..k {
                let a_ip = if trans_a { a[p * m + i] } else { a[i * k + p] };
                let b_pj = if trans_b { b[j * k + p] } else { b[p * n + j] };
                sum += a_ip * b_pj;
            }
            c[i * n + j] = sum;
        }
    }
}

/// z[m,n] = x[m,k]·wᵀ + b, w is [n,k] (dense layer forward; the `Z = X·Wᵀ` form)
pub fn dense_forward(z: &mut [f64], x: &[f64], w: &[f64], b: &[f64], m: usize, k: usize, n: usize) {
    assert_eq!(b.len(), n, "b is [n]");
    matmul(z, x, w, m, k, n, false, true);
    for i in 0..m {
        for j in 0..n {
            z[i * n + j] += b[j];
        }
    }
}

/// from dz[m,n]: dx[m,k] = dz·w (if Some), dw[n,k] = dzᵀ·x, db[n] = column sums of dz. Overwrites.
/// x is the layer's input [m,k], w its weight [n,k]. `dx` is None for the first layer, whose input
/// is data and needs no gradient.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    dx: Option<&mut [f64]>,
    dw: &mut [f64],
    db: &mut [f64],
    dz: &[f64],
    x: &[f64],
    w: &[f64],
    m: usize,
    k: usize,
    n: usize,
) {
    if let Some(dx) = dx {
        // dx[m,k] = dz[m,n]·w[n,k]
        matmul(dx, dz, w, m, n, k, false, false);
    }
    // dw[n,k] = dzᵀ·x: dz is stored [m,n], i.e. the transposed operand stored [inner=m, rows=n]
    matmul(dw, dz, x, n, m, k, true, false);
    bias_backward(db, dz, m, n);
}
