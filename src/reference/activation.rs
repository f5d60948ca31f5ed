//! Elementwise nonlinearities and their derivatives, f64: the CPU twins of `shaders/activation.wgsl`.
//! ReLU′(0) = 0 (PyTorch, JAX and the fixtures agree); leaky ReLU and ELU take their slope from
//! `Activation::alpha` (an f32, widened exactly, so both engines use the same number).

use crate::model::{Activation, SELU_ALPHA, SELU_LAMBDA};

/// The logistic function, in the form that never overflows: e^{−|z|} ≤ 1 on both branches.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// √(2/π) and the cubic coefficient of GELU's tanh approximation.
const GELU_C: f64 = 0.797_884_560_802_865_4;
const GELU_A: f64 = 0.044715;

/// f(z) for a scalar z.
pub fn activation(z: f64, act: Activation) -> f64 {
    let alpha = act.alpha() as f64;
    match act {
        Activation::Identity => z,
        Activation::Sigmoid => sigmoid(z),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu(_) => {
            if z > 0.0 {
                z
            } else {
                alpha * z
            }
        }
        Activation::Elu(_) => {
            if z > 0.0 {
                z
            } else {
                alpha * z.exp_m1()
            }
        }
        Activation::Gelu => 0.5 * z * (1.0 + (GELU_C * (z + GELU_A * z * z * z)).tanh()),
        Activation::Silu => z * sigmoid(z),
        Activation::Selu => {
            if z > 0.0 {
                SELU_LAMBDA * z
            } else {
                SELU_LAMBDA * SELU_ALPHA * z.exp_m1()
            }
        }
    }
}

/// f′(z) for a scalar z (the derivative of exactly the `activation` above).
pub fn activation_grad(z: f64, act: Activation) -> f64 {
    let alpha = act.alpha() as f64;
    match act {
        Activation::Identity => 1.0,
        Activation::Sigmoid => {
            let s = sigmoid(z);
            s * (1.0 - s)
        }
        Activation::Tanh => {
            let t = z.tanh();
            1.0 - t * t
        }
        Activation::Relu => {
            if z > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu(_) => {
            if z > 0.0 {
                1.0
            } else {
                alpha
            }
        }
        Activation::Elu(_) => {
            if z > 0.0 {
                1.0
            } else {
                alpha * z.exp()
            }
        }
        Activation::Gelu => {
            // u = c(z + a·z³), f = ½z(1 + tanh u), f′ = ½(1 + tanh u) + ½z(1 − tanh²u)·c(1 + 3a·z²)
            let t = (GELU_C * (z + GELU_A * z * z * z)).tanh();
            0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * z * z)
        }
        Activation::Silu => {
            let s = sigmoid(z);
            s * (1.0 + z * (1.0 - s))
        }
        Activation::Selu => {
            if z > 0.0 {
                SELU_LAMBDA
            } else {
                SELU_LAMBDA * SELU_ALPHA * z.exp()
            }
        }
    }
}

/// z[m,n] += bias[n] (if Some), then a = f(z): the fused bias + activation forward.
/// z keeps the biased pre-activation, which the backward pass needs.
pub fn bias_activation_forward(
    z: &mut [f64],
    a: &mut [f64],
    bias: Option<&[f64]>,
    m: usize,
    n: usize,
    act: Activation,
) {
    assert_eq!(z.len(), m * n, "z is [m,n]");
    assert_eq!(a.len(), m * n, "a is [m,n]");
    for i in 0..m {
        for j in 0..n {
            if let Some(bias) = bias {
                z[i * n + j] += bias[j];
            }
            a[i * n + j] = activation(z[i * n + j], act);
        }
    }
}

/// dz = da ⊙ f'(z), all [m*n]
pub fn activation_backward(dz: &mut [f64], da: &[f64], z: &[f64], act: Activation) {
    assert_eq!(dz.len(), da.len());
    assert_eq!(dz.len(), z.len());
    for i in 0..dz.len() {
        dz[i] = da[i] * activation_grad(z[i], act);
    }
}

/// db[n] = Σ_rows dz[m,n]
pub fn bias_backward(db: &mut [f64], dz: &[f64], m: usize, n: usize) {
    assert_eq!(db.len(), n, "db is [n]");
    assert_eq!(dz.len(), m * n, "dz is [m,n]");
    for j in 0..n {
        let mut sum = 0.0;
        for i in 0..m {
            sum += dz[i * n + j];
        }
        db[j] = sum;
    }
}
