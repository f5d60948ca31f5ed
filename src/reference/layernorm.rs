//! Layer normalisation over each row's units, f64: the CPU twins of `shaders/layernorm.wgsl`.
//! As PyTorch's `nn.LayerNorm(n)`: each row of `x[m, n]` is normalised with its own mean and biased
//! variance, `y = γ·(x − mean)·rstd + β` with `rstd = 1/√(var + eps)`; γ and β are per unit `[n]`.
//! There are no running statistics: training and evaluation compute the same.

/// Forward. x[m,n] → y[m,n]; saves each row's mean[m] and rstd[m] for the backward pass.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    y: &mut [f64],
    mean: &mut [f64],
    rstd: &mut [f64],
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    m: usize,
    n: usize,
    eps: f64,
) {
    assert_eq!(x.len(), m * n, "x is [m,n]");
    assert_eq!(y.len(), m * n, "y is [m,n]");
    assert_eq!((mean.len(), rstd.len()), (m, m), "mean and rstd are [m]");
    for i in 0..m {
        let row = &x[i * n..(i + 1) * n];
        let mu = row.iter().sum::<f64>() / n as f64;
        // two passes (mean, then squared deviations) rather than E[x²] − E[x]², which cancels
        let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n as f64;
        let r = 1.0 / (var + eps).sqrt();
        for j in 0..n {
            y[i * n + j] = gamma[j] * (row[j] - mu) * r + beta[j];
        }
        mean[i] = mu;
        rstd[i] = r;
    }
}

/// Backward, with x̂ = (x − mean)·rstd per row and g = dy·γ:
/// dx = rstd/n · (n·g − Σⱼ g − x̂·Σⱼ g·x̂) per row; dγ = Σᵢ dy·x̂ and dβ = Σᵢ dy per unit.
/// dx[m,n], dgamma[n], dbeta[n] are overwritten.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
    dx: &mut [f64],
    dgamma: &mut [f64],
    dbeta: &mut [f64],
    dy: &[f64],
    x: &[f64],
    mean: &[f64],
    rstd: &[f64],
    gamma: &[f64],
    m: usize,
    n: usize,
) {
    assert_eq!(dy.len(), m * n, "dy is [m,n]");
    assert_eq!(dx.len(), m * n, "dx is [m,n]");
    dgamma.fill(0.0);
    dbeta.fill(0.0);
    let nf = n as f64;
    for i in 0..m {
        let xhat = |j: usize| (x[i * n + j] - mean[i]) * rstd[i];
        let (mut sg, mut sgx) = (0.0, 0.0);
        for j in 0..n {
            let g = dy[i * n + j] * gamma[j];
            sg += g;
            sgx += g * xhat(j);
            dgamma[j] += dy[i * n + j] * xhat(j);
            dbeta[j] += dy[i * n + j];
        }
        for j in 0..n {
            let g = dy[i * n + j] * gamma[j];
            dx[i * n + j] = rstd[i] / nf * (nf * g - sg - xhat(j) * sgx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng};
    use rand::Rng;

    /// A scalar loss L = Σ c·y of the forward's output, for finite differences.
    fn loss(x: &[f64], gamma: &[f64], beta: &[f64], c: &[f64], m: usize, n: usize) -> f64 {
        let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; m], vec![0.0; m]);
        layernorm_forward(&mut y, &mut mean, &mut rstd, x, gamma, beta, m, n, 1e-5);
        y.iter().zip(c).map(|(y, c)| y * c).sum()
    }

    #[test]
    fn backward_matches_central_differences() {
        let mut r = rng(3, Stream::Test);
        for (m, n) in [(1, 2), (3, 5), (4, 1), (2, 9)] {
            let mut draw = |k: usize| (0..k).map(|_| r.random_range(-2.0..2.0)).collect::<Vec<f64>>();
            let (x, gamma, beta, c) = (draw(m * n), draw(n), draw(n), draw(m * n));
            let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; m], vec![0.0; m]);
            layernorm_forward(&mut y, &mut mean, &mut rstd, &x, &gamma, &beta, m, n, 1e-5);
            let (mut dx, mut dg, mut db) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
            layernorm_backward(&mut dx, &mut dg, &mut db, &c, &x, &mean, &rstd, &gamma, m, n);
            let h = 1e-6;
            let fd = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
            for k in 0..m * n {
                let num = fd(&|e| {
                    let mut xe = x.clone();
                    xe[k] += e;
                    loss(&xe, &gamma, &beta, &c, m, n)
                });
                assert!((num - dx[k]).abs() < 1e-5 * (1.0 + num.abs()), "dx[{k}] {} vs {num} ({m}x{n})", dx[k]);
            }
            for j in 0..n {
                let num = fd(&|e| {
                    let mut ge = gamma.clone();
                    ge[j] += e;
                    loss(&x, &ge, &beta, &c, m, n)
                });
                assert!((num - dg[j]).abs() < 1e-5 * (1.0 + num.abs()), "dgamma[{j}] {} vs {num}", dg[j]);
                let num = fd(&|e| {
                    let mut be = beta.clone();
                    be[j] += e;
                    loss(&x, &gamma, &be, &c, m, n)
                });
                assert!((num - db[j]).abs() < 1e-6 * (1.0 + num.abs()), "dbeta[{j}] {} vs {num}", db[j]);
            }
        }
    }

    #[test]
    fn rows_are_normalised_to_the_gain_and_bias() {
        let (m, n) = (3, 4);
        let x: Vec<f64> = (0..m * n).map(|k| (k * k) as f64 * 0.3 - 2.0).collect();
        let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; m], vec![0.0; m]);
        layernorm_forward(&mut y, &mut mean, &mut rstd, &x, &[1.0; 4], &[0.0; 4], m, n, 0.0);
        for row in y.chunks(n) {
            let mu = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n as f64;
            assert!(mu.abs() < 1e-12 && (var - 1.0).abs() < 1e-12, "row mean {mu}, var {var}");
        }
    }
}
