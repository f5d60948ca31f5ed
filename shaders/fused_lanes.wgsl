// The fully fused training step with one model per invocation: the fused path's kernel for CPU
// adapters (llvmpipe, SwiftShader). `src/gpu/fused_lanes.rs` generates the parts marked `//%…%` for
// one model shape — every layer unrolled, every index a constant — and this file is the rest.
//
// Why a second fused kernel: CPU drivers run a workgroup's invocations as the lanes of one SIMD
// register, and a load or store whose address is not a compile-time constant becomes a loop over the
// lanes (llvmpipe: ~17 ns each). `fused.wgsl` splits a model's rows and units across invocations, so
// every weight and activation it touches is such an access. Here each invocation (SIMD lane) trains
// a model of its own: its weights, optimiser state and gradient sums live in private arrays (one per
// tensor), which the driver lays out one SIMD register per element, and inside a step every index is
// a constant, so a training step is straight-line vector arithmetic over the lanes. Only the copies in
// and out of the arenas (once per dispatch, as loops) and each row's input and label (once per row)
// are per-lane accesses. No lane waits for another, so the kernel has no barrier.
//
// The arithmetic is the same as `fused.wgsl`'s, summed in the same orders: z = b + Σ_k w·x in k order,
// dW and db summed over the batch rows in order, dA = Σ_j δ·w in j order, the loss summed over the
// rows in order.
//
// Lanes past the last model repeat it and store nothing.

struct LanesParams {
    models: u32,
    rows_total: u32,      // N, rows in the training set
    batch: u32,           // B, the full batch size
    first: u32,           // the first step's index in the epoch
    count: u32,           // steps in this dispatch
    param_stride: u32,    // floats per model in params, grads, opt (a multiple of 4)
    metrics_stride: u32,  // floats per model in metrics (2 per step of an epoch)
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    keep_loop: u32,       // 0, added to the copy loops' bounds so the driver keeps them loops
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: LanesParams;
@group(0) @binding(1) var<storage, read> acts: array<vec2<u32>>;    // [models, layers] (code, bitcast alpha)
@group(0) @binding(2) var<storage, read> xs: array<f32>;            // [N, input]
@group(0) @binding(3) var<storage, read> ys: array<u32>;            // [N]
@group(0) @binding(4) var<storage, read> order: array<u32>;         // [models, N] each model's epoch order
@group(0) @binding(5) var<storage, read> schedule: array<f32>;      // [steps per epoch] step sizes
@group(0) @binding(6) var<storage, read_write> params: array<f32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;
@group(0) @binding(8) var<storage, read_write> opt: array<f32>;  // [2, models·param_stride]: m (or velocity), v
@group(0) @binding(9) var<storage, read_write> metrics: array<f32>;

// ---- activations: the same functions as activation.wgsl (tests/shaders.rs checks the copies match) ----

const GELU_C: f32 = 0.7978845608028654; // √(2/π)
const GELU_A: f32 = 0.044715;

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

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

@compute @workgroup_size(8)
fn fused_lanes(@builtin(global_invocation_id) gid: vec3<u32>) {
    let lane_model = gid.x;
    let model = min(lane_model, p.models - 1u);
    let po = model * p.param_stride;            // this model's slice of params, grads and m
    let vo = po + p.models * p.param_stride;    // … and of v
    let b1 = p.beta1;
    let b2 = p.beta2;
    let nb1 = p.one_minus_beta1;
    let nb2 = p.one_minus_beta2;
    let eps = p.eps;
    let momentum = p.momentum;
    let keep_loop = p.keep_loop;
    _ = acts[0]; // bound even when every layer's activation is a constant
//%DECLS%
//%LOAD%
    for (var s = 0u; s < p.count; s++) {
        let step = p.first + s;
        let start = step * p.batch;
        let rows = min(p.batch, p.rows_total - start);
        let mf = f32(rows);
        let alpha = schedule[step];
        var loss_sum = 0.0;
        var hits = 0.0;
//%ZERO%
        for (var r = 0u; r < rows; r++) {
            let src = order[model * p.rows_total + start + r];
            let label = ys[src];
//%ROW%
        }
        if (lane_model < p.models) {
            metrics[model * p.metrics_stride + 2u * step] = loss_sum / mf;
            metrics[model * p.metrics_stride + 2u * step + 1u] = hits;
        }
//%UPDATE%
    }
    if (lane_model < p.models) {
//%STORE%
    }
}
