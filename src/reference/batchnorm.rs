//! Batch normalisation over the batch dimension, f64: the CPU twins of `shaders/batchnorm.wgsl`.
//! Training mode normalises each feature with the batch mean and the biased batch variance,
//! `y = γ·(x − mean)·rstd + β` with `rstd = 1/√(var + eps)`; eval mode uses the running statistics.
//! Every array is `[m, n]` (batch, features) except the per-feature `[n]` vectors.

/// Training-mode forward. x[m,n] → y[m,n]; saves mean[n] and rstd[n] for the backward pass.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
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
    for j in 0..n {
        let mut sum = 0.0;
        for i in 0..m {
            sum += x[i * n + j];
        }
        let mu = sum / m as f64;
        // two passes (mean, then squared deviations) rather than E[x²] − E[x]², which cancels
        let mut sq = 0.0;
        for i in 0..m {
            let d = x[i * n + j] - mu;
            sq += d * d;
        }
        let var = sq / m as f64;
        let r = 1.0 / (var + eps).sqrt();
        for i in 0..m {
            y[i * n + j] = gamma[j] * (x[i * n + j] - mu) * r + beta[j];
        }
        mean[j] = mu;
        rstd[j] = r;
    }
}

/// running = (1 − momentum)·running + momentum·batch, using the UNBIASED batch variance var·m/(m−1)
/// for running_var (PyTorch's convention; with m == 1 use the biased one). Recovers var from rstd and
/// eps, since the forward pass saves rstd rather than var. mean, rstd and the running stats are [n].
pub fn batchnorm_update_running(
    running_mean: &mut [f64],
    running_var: &mut [f64],
    mean: &[f64],
    rstd: &[f64],
    m: usize,
    momentum: f64,
    eps: f64,
) {
    assert_eq!(running_mean.len(), mean.len());
    assert_eq!(running_var.len(), rstd.len());
    for j in 0..mean.len() {
        let var = 1.0 / (rstd[j] * rstd[j]) - eps;
        let unbiased = if m > 1 { var * m as f64 / (m - 1) as f64 } else { var };
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * mean[j];
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * unbiased;
    }
}

/// Eval-mode forward: x[m,n] → y[m,n] normalised with running_mean[n] and running_var[n].
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    y: &mut [f64],
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    m: usize,
    n: usize,
    eps: f64,
) {
    assert_eq!(x.len(), m * n, "x is [m,n]");
    assert_eq!(y.len(), m * n, "y is [m,n]");
    for j in 0..n {
        let r = 1.0 / (running_var[j] + eps).sqrt();
        for i in 0..m {
            y[i * n + j] = gamma[j] * (x[i * n + j] - running_mean[j]) * r + beta[j];
        }
    }
}

/// dx, dgamma, dbeta from dy, with the saved mean and rstd (training mode)
/// dy, x, dx are [m,n]; mean, rstd, gamma, dgamma, dbeta are [n]. With x̂ = (x − mean)·rstd:
/// dβ = Σ dy, dγ = Σ dy·x̂, and, because mean and var depend on every row,
/// dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) where dx̂ = γ·dy.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
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
    for j in 0..n {
        let mut sum_dy = 0.0;
        let mut sum_dy_xhat = 0.0;
        for i in 0..m {
            let xhat = (x[i * n + j] - mean[j]) * rstd[j];
            sum_dy += dy[i * n + j];
            sum_dy_xhat += dy[i * n + j] * xhat;
        }
        dbeta[j] = sum_dy;
        dgamma[j] = sum_dy_xhat;
        // mean(dx̂) = γ·Σdy/m and mean(dx̂·x̂) = γ·Σ(dy·x̂)/m
        let mean_dxhat = gamma[j] * sum_dy / m as f64;
        let mean_dxhat_xhat = gamma[j] * sum_dy_xhat / m as f64;
        for i in 0..m {
            let xhat = (x[i * n + j] - mean[j]) * rstd[j];
            let dxhat = gamma[j] * dy[i * n + j];
            dx[i * n + j] = rstd[j] * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
        }
    }
}
