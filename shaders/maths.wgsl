// The maths every training kernel shares, written once: activations forward and backward, the losses
// from logits, and the optimiser updates. `Shader::source` puts this prelude before each kernel that
// uses it (the layered kernels and the fused executor), and tests/suite/shaders.rs validates every kernel
// as composed. The f64 twins are in src/reference/ (activation.rs, loss.rs, optim.rs).
//
// Activation codes (`Activation::code`): 0 identity, 1 sigmoid, 2 tanh, 3 ReLU, 4 leaky ReLU(α),
// 5 ELU(α), 6 GELU (tanh form), 7 SiLU, 8 SELU.

const GELU_C: f32 = 0.7978845608028654; // √(2/π)
const GELU_A: f32 = 0.044715;
// SELU's λ and λ·α (Klambauer et al. 2017; `SELU_LAMBDA`, `SELU_ALPHA` in src/model.rs).
const SELU_L: f32 = 1.0507009873554805;
const SELU_LA: f32 = 1.7580993408473766;

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

// tanh saturates to ±1 in f32 well before |z| = 15; clamping keeps exp() inside some drivers'
// tanh from overflowing into NaN.
fn safe_tanh(z: f32) -> f32 {
    return tanh(clamp(z, -15.0, 15.0));
}

fn act_forward(z: f32, act: u32, alpha: f32) -> f32 {
    switch act {
        case 1u: { return sigmoid(z); }
        case 2u: { return safe_tanh(z); }
        case 3u: { return max(z, 0.0); }
        case 4u: { return select(alpha * z, z, z > 0.0); }
        case 5u: { return select(alpha * (exp(z) - 1.0), z, z > 0.0); }
        case 6u: { return 0.5 * z * (1.0 + safe_tanh(GELU_C * (z + GELU_A * z * z * z))); }
        case 7u: { return z * sigmoid(z); }
        case 8u: { return select(SELU_LA * (exp(z) - 1.0), SELU_L * z, z > 0.0); }
        default: { return z; }
    }
}

// f′(z), given z and a = f(z) (sigmoid, tanh and ELU are cheaper from a).
fn act_grad(z: f32, a: f32, act: u32, alpha: f32) -> f32 {
    switch act {
        case 1u: { return a * (1.0 - a); }
        case 2u: { return 1.0 - a * a; }
        case 3u: { return select(0.0, 1.0, z > 0.0); }
        case 4u: { return select(alpha, 1.0, z > 0.0); }
        case 5u: { return select(a + alpha, 1.0, z > 0.0); }
        case 6u: {
            let t = safe_tanh(GELU_C * (z + GELU_A * z * z * z));
            return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * z * z);
        }
        case 7u: {
            let s = sigmoid(z);
            return s * (1.0 + z * (1.0 - s));
        }
        // λα·eᶻ = a + λα below zero.
        case 8u: { return select(a + SELU_LA, SELU_L, z > 0.0); }
        default: { return 1.0; }
    }
}

// The largest f′ of the activations that saturate (sigmoid ¼, tanh 1), 0 for the others: a value is
// saturated when its f′ is below 1% of this.
fn act_max_grad(act: u32) -> f32 {
    switch act {
        case 1u: { return 0.25; }
        case 2u: { return 1.0; }
        default: { return 0.0; }
    }
}

// Binary cross-entropy from one logit z and a label y ∈ {0, 1}, in the stable form
// max(z, 0) − y·z + ln(1 + e^−|z|); its gradient is σ(z) − y; a logit > 0 predicts class 1.
fn bce_loss(z: f32, y: f32) -> f32 {
    return max(z, 0.0) - y * z + log(1.0 + exp(-abs(z)));
}

fn bce_grad(z: f32, y: f32) -> f32 {
    return sigmoid(z) - y;
}

// log Σ exp(z) of a row of logits, from its largest z and Σ exp(z − zmax) (shifted, so no exp overflows).
fn log_sum_exp(zmax: f32, sum_shifted_exp: f32) -> f32 {
    return zmax + log(sum_shifted_exp);
}

// Softmax cross-entropy of one row, given its log-sum-exp: the loss is lse − z[label], and the
// gradient of logit c is softmax(z)[c] − [c = label].
fn softmax_grad(z: f32, lse: f32, is_label: bool) -> f32 {
    return exp(z - lse) - select(0.0, 1.0, is_label);
}

// PyTorch's SGD with momentum μ: v = μ·v + g (the new velocity; θ −= lr·v).
fn sgd_velocity(v: f32, g: f32, momentum: f32) -> f32 {
    return momentum * v + g;
}

// Keras's Adam moments: m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g² (1 − β rounded once from f64:
// in f32 it would lose ~1e-5 relative); the step is θ −= αₜ·m/(√v + eps).
fn adam_m(m: f32, g: f32, beta1: f32, one_minus_beta1: f32) -> f32 {
    return beta1 * m + one_minus_beta1 * g;
}

fn adam_v(v: f32, g: f32, beta2: f32, one_minus_beta2: f32) -> f32 {
    return beta2 * v + one_minus_beta2 * g * g;
}

fn adam_delta(alpha: f32, m: f32, v: f32, eps: f32) -> f32 {
    return alpha * m / (sqrt(v) + eps);
}

// Normalisation over n values (batch norm: a unit's rows; layer norm: a row's units), with the biased
// variance and eps inside the root: rstd = 1/√(var + eps), x̂ = (x − mean)·rstd, y = γ·x̂ + β.
fn norm_rstd(biased_var: f32, eps: f32) -> f32 {
    return inverseSqrt(biased_var + eps);
}

fn norm_xhat(x: f32, mean: f32, rstd: f32) -> f32 {
    return (x - mean) * rstd;
}

fn norm_forward(x: f32, mean: f32, rstd: f32, gamma: f32, beta: f32) -> f32 {
    return gamma * norm_xhat(x, mean, rstd) + beta;
}

// Its backward for one value: with g = dL/dx̂ (dy·γ), Σg and Σg·x̂ over the n values,
// dx = rstd/n · (n·g − Σg − x̂·Σg·x̂). Where γ is the same for the n values (batch norm's unit), g may be
// dy, with Σdy and Σdy·x̂, and `scale` γ·rstd; otherwise `scale` is rstd.
fn norm_backward(g: f32, xhat: f32, sum_g: f32, sum_gx: f32, scale: f32, n: f32) -> f32 {
    return scale / n * (n * g - sum_g - xhat * sum_gx);
}

// Batch norm's running statistics (PyTorch's convention): each moves `momentum` of the way to the
// batch's, the variance to the unbiased batch variance.
fn running_update(running: f32, batch: f32, momentum: f32) -> f32 {
    return (1.0 - momentum) * running + momentum * batch;
}

fn unbiased_var(biased_var: f32, m: u32) -> f32 {
    return select(biased_var, biased_var * f32(m) / f32(m - 1u), m > 1u);
}
