// Elementwise activations: the fused bias + activation forward and the activation backward.
// Activation codes (src/model.rs `Activation::code`): 0 identity, 1 sigmoid, 2 tanh, 3 relu,
// 4 leaky_relu(alpha), 5 elu(alpha), 6 gelu (tanh form), 7 silu.
// Invocation index = gid.x + gid.y · nwg.x · 256, so more than 65535 workgroups spread over y.

struct ActParams {
    m: u32,        // rows (batch)
    n: u32,        // columns (units)
    act: u32,
    has_bias: u32, // forward only: 1 adds bias[n] to z first
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const GELU_C: f32 = 0.7978845608028654; // √(2/π)
const GELU_A: f32 = 0.044715;

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

// Some drivers compute tanh as a ratio of exponentials and return NaN for large |z|; tanh(±15)
// already rounds to ±1 in f32, so clamping changes nothing else.
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
        default: { return z; }
    }
}

// f′ from whichever saved tensor is cheapest and exact: the output a for sigmoid (a(1−a)), tanh
// (1−a²) and elu (a + alpha for z ≤ 0); the input z for the rest. ReLU′(0) = 0.
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
        default: { return 1.0; }
    }
}

@group(0) @binding(0) var<uniform> p: ActParams;

// ---- bias_activation_forward: z += bias (in place, when has_bias); a = f(z) ----
@group(0) @binding(1) var<storage, read_write> fz: array<f32>;   // [m, n] pre-activation, updated in place
@group(0) @binding(2) var<storage, read> fbias: array<f32>;      // [n] (ignored unless has_bias)
@group(0) @binding(3) var<storage, read_write> fa: array<f32>;   // [m, n] output

@compute @workgroup_size(256)
fn bias_activation_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= p.m * p.n) {
        return;
    }
    var z = fz[idx];
    if (p.has_bias == 1u) {
        z += fbias[idx % p.n];
        fz[idx] = z;
    }
    fa[idx] = act_forward(z, p.act, p.alpha);
}

// ---- activation_backward: dz = da ⊙ f′ ----
@group(0) @binding(1) var<storage, read> bda: array<f32>;        // [m, n] dL/da
@group(0) @binding(2) var<storage, read> bz: array<f32>;         // [m, n] pre-activation
@group(0) @binding(3) var<storage, read> ba: array<f32>;         // [m, n] activation output
@group(0) @binding(4) var<storage, read_write> bdz: array<f32>;  // [m, n] dL/dz, overwritten

@compute @workgroup_size(256)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= p.m * p.n) {
        return;
    }
    bdz[idx] = bda[idx] * act_grad(bz[idx], ba[idx], p.act, p.alpha);
}
