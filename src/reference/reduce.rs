//! Reductions for the metrics, f64: the CPU twins of `shaders/reduce.wgsl` — per-tensor gradient
//! norms over an arena, and how a layer's activations are spread, saturated or dead.

use super::activation::activation_grad;
use crate::model::Activation;

/// per segment (offset, len) of `data`: (sum of squares, max |x|)
/// (the sum of squares, not the norm, so partial sums from several workgroups simply add.)
pub fn segment_stats(data: &[f64], segments: &[(usize, usize)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(segments.len());
    for &(offset, len) in segments {
        let mut sum_sq = 0.0;
        let mut max_abs: f64 = 0.0;
        for &x in &data[offset..offset + len] {
            sum_sq += x * x;
            max_abs = max_abs.max(x.abs());
        }
        out.push((sum_sq, max_abs));
    }
    out
}

/// How one layer's activations look over a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationStats {
    /// Mean of the activation output over all m·n values.
    pub mean: f64,
    /// Population standard deviation (divide by m·n) of the same values.
    pub std: f64,
    /// Fraction of the m·n values whose f′(z) is below 1% of f′'s maximum.
    pub saturated: f64,
    /// Fraction of the n units that output exactly 0 on every row.
    pub dead: f64,
    /// E[f′(z)²] over the m·n values: the factor this layer's activation contributes to the variance
    /// of the backward signal (the χ of mean-field theory, with n·Var[W]).
    pub mean_grad_sq: f64,
}

/// a[m,n] (post-activation), z[m,n] (pre-activation): mean and population std of a over all m·n values;
/// saturated = fraction of the m·n values whose f'(z) < 1% of max f' (only for act.max_derivative() = Some; else 0);
/// dead = fraction of the n units whose output a is exactly 0 on every row (only for Relu; else 0).
pub fn activation_stats(a: &[f64], z: &[f64], m: usize, n: usize, act: Activation) -> ActivationStats {
    assert_eq!(a.len(), m * n, "a is [m,n]");
    assert_eq!(z.len(), m * n, "z is [m,n]");
    assert!(m * n > 0, "statistics of an empty layer are undefined");
    let count = (m * n) as f64;

    let mut sum = 0.0;
    for &v in a {
        sum += v;
    }
    let mean = sum / count;
    let mut sq = 0.0;
    for &v in a {
        sq += (v - mean) * (v - mean);
    }
    let std = (sq / count).sqrt();

    let mut saturated = 0.0;
    if let Some(max_grad) = act.max_derivative() {
        let mut below = 0;
        for &v in z {
            if activation_grad(v, act) < 0.01 * max_grad {
                below += 1;
            }
        }
        saturated = below as f64 / count;
    }

    let mut dead = 0.0;
    if act == Activation::Relu {
        let mut dead_units = 0;
        for j in 0..n {
            let mut all_zero = true;
            for i in 0..m {
                if a[i * n + j] != 0.0 {
                    all_zero = false;
                }
            }
            if all_zero {
                dead_units += 1;
            }
        }
        dead = dead_units as f64 / n as f64;
    }

    let mut grad_sq = 0.0;
    for &v in z {
        grad_sq += activation_grad(v, act).powi(2);
    }
    let mean_grad_sq = grad_sq / count;

    ActivationStats { mean, std, saturated, dead, mean_grad_sq }
}
