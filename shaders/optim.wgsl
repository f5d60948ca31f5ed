// Optimiser steps over the flat parameter arena: one dispatch updates every tensor. Padding between
// tensors has zero gradient and zero state, so it stays zero.
// Invocation index = gid.x + gid.y · nwg.x · 256.

struct OptParams {
    len: u32,
    lr: f32,
    momentum: f32, // SGD
    beta1: f32,    // Adam
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32, // 1 − β rounded once from f64: 1 − β in f32 would lose ~1e-5 relative
    one_minus_beta2: f32,
    decay: f32,           // --weight-decay λ/n (0: none): the gradient gains decay·w where `weights` is 1
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The same struct as in step.wgsl.
struct StepState {
    t: u32,
    step: u32,
    next: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: OptParams;

// Both steps see g + decay·w on the dense weights with --weight-decay (Nielsen's L2, inside the step and
// after clipping, as PyTorch's weight_decay): `weights` holds 1 for a dense weight, 0 elsewhere, or is
// a single 0 without decay.

// ---- sgd_step (PyTorch's form): v = momentum·v + g; θ −= lr·v ----
@group(0) @binding(1) var<storage, read_write> sparams: array<f32>;
@group(0) @binding(2) var<storage, read> sgrads: array<f32>;
@group(0) @binding(3) var<storage, read_write> svel: array<f32>;
@group(0) @binding(4) var<storage, read> sweights: array<f32>;

@compute @workgroup_size(256)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.len) {
        return;
    }
    var g = sgrads[i];
    if (p.decay != 0.0) {
        g += p.decay * sweights[i] * sparams[i];
    }
    let v = sgd_velocity(svel[i], g, p.momentum);
    svel[i] = v;
    sparams[i] -= p.lr * v;
}

// ---- adam_step (Keras's form) at step t:
//      m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; θ −= αₜ·m/(√v + eps), αₜ = lr·√(1−β2ᵗ)/(1−β1ᵗ).
//      αₜ comes from a table the host computes in f64 once per epoch, indexed by the step in the
//      epoch: in f32, 1 − βᵗ through pow() loses up to 1e-4 relative. ----
@group(0) @binding(1) var<storage, read_write> aparams: array<f32>;
@group(0) @binding(2) var<storage, read> agrads: array<f32>;
@group(0) @binding(3) var<storage, read_write> am: array<f32>;
@group(0) @binding(4) var<storage, read_write> av: array<f32>;
@group(0) @binding(5) var<storage, read> state: StepState;
@group(0) @binding(6) var<storage, read> schedule: array<f32>;  // [steps in epoch] αₜ
@group(0) @binding(7) var<storage, read> aweights: array<f32>;

@compute @workgroup_size(256)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= p.len) {
        return;
    }
    let alpha = schedule[state.step];
    var g = agrads[i];
    if (p.decay != 0.0) {
        g += p.decay * aweights[i] * aparams[i];
    }
    let m = adam_m(am[i], g, p.beta1, p.one_minus_beta1);
    let v = adam_v(av[i], g, p.beta2, p.one_minus_beta2);
    am[i] = m;
    av[i] = v;
    aparams[i] -= adam_delta(alpha, m, v, p.eps);
}

// ---- clip_grads (PyTorch's clip_grad_norm_): g *= min(1, max/(‖g‖ + 1e-6)), ‖g‖ from the arena's Σg²
//      (the reduction before this dispatch); the norm before clipping goes to norms[step in epoch] ----
struct ClipParams {
    len: u32,
    max_norm: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> cp: ClipParams;
@group(0) @binding(1) var<storage, read_write> cgrads: array<f32>;
@group(0) @binding(2) var<storage, read> csq: array<f32>;          // [Σg², max |g|]
@group(0) @binding(3) var<storage, read> cstate: StepState;
@group(0) @binding(4) var<storage, read_write> cnorms: array<f32>; // [steps in epoch]

@compute @workgroup_size(256)
fn clip_grads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let norm = sqrt(csq[0]);
    if (i == 0u) {
        cnorms[cstate.step] = norm;
    }
    if (i >= cp.len) {
        return;
    }
    cgrads[i] *= min(1.0, cp.max_norm / (norm + 1e-6));
}
