//! Optimiser steps, elementwise over flat arenas of one layout, f64: the CPU twins of
//! `shaders/optim.wgsl`. Padding in the arenas has zero gradient, so it stays zero.

/// velocity = momentum·velocity + grad; param −= lr·velocity   (PyTorch's SGD; momentum 0 is plain SGD)
/// All four arrays have the arena's length.
pub fn sgd_step(params: &mut [f64], grads: &[f64], velocity: &mut [f64], lr: f64, momentum: f64) {
    assert_eq!(params.len(), grads.len());
    assert_eq!(params.len(), velocity.len());
    for i in 0..params.len() {
        velocity[i] = momentum * velocity[i] + grads[i];
        params[i] -= lr * velocity[i];
    }
}

/// Keras's Adam at step t (1-based): m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
/// alpha = lr·sqrt(1 − β2^t)/(1 − β1^t); param −= alpha·m/(sqrt(v) + eps)
/// Keras folds both bias corrections into alpha, so eps is added to √v rather than to √v̂ as in the
/// paper's Algorithm 1; the two forms differ only through eps.
/// All arrays have the arena's length.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    params: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: u32,
) {
    assert!(t >= 1, "Adam's step count is 1-based");
    assert_eq!(params.len(), grads.len());
    assert_eq!(params.len(), m.len());
    assert_eq!(params.len(), v.len());
    let t = t as i32;
    let alpha = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
    for i in 0..params.len() {
        let g = grads[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        params[i] -= alpha * m[i] / (v[i].sqrt() + eps);
    }
}
