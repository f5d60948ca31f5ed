// Activations: the fused bias + activation forward, the activation backward, and per-layer
// activation statistics (which need f′ too, so they live beside it). The functions themselves
// (act_forward, act_grad, the activation codes) are the prelude's, shaders/maths.wgsl.
// Invocation index = gid.x + gid.y · nwg.x · 256, so more than 65535 workgroups spread over y.

struct ActParams {
    m: u32,        // rows (batch)
    n: u32,        // columns (units)
    act: u32,
    has_bias: u32, // forward only: 1 adds bias[n] to z first
    alpha: f32,
    scale: f32,    // skip_forward, skip_backward: the skip connection's α
    _pad1: u32,
    _pad2: u32,
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

// ---- skip_forward: a residual block's output, x + α·a ----
@group(0) @binding(1) var<storage, read> rx: array<f32>;         // [m, n] the block's input
@group(0) @binding(2) var<storage, read> ra: array<f32>;         // [m, n] its activation output
@group(0) @binding(3) var<storage, read_write> rout: array<f32>; // [m, n] output

@compute @workgroup_size(256)
fn skip_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= p.m * p.n) {
        return;
    }
    rout[idx] = rx[idx] + p.scale * ra[idx];
}

// ---- skip_backward: a layer's output gradient g = δ·W of the layer above (in kg) plus, when the
//      layer above has a skip (has_bias = 1), that layer's own output gradient; g is kept in kg for
//      the skip of this layer; then dz = α·g ⊙ f′ (α = 1 without a skip here) ----
@group(0) @binding(1) var<storage, read_write> kg: array<f32>;   // [m, n] in: δ·W; out: g
@group(0) @binding(2) var<storage, read> kskip: array<f32>;      // [m, n] the layer above's g
@group(0) @binding(3) var<storage, read> kz: array<f32>;         // [m, n] pre-activation
@group(0) @binding(4) var<storage, read> ka: array<f32>;         // [m, n] activation output
@group(0) @binding(5) var<storage, read_write> kdz: array<f32>;  // [m, n] dL/d(pre-activation)

@compute @workgroup_size(256)
fn skip_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= p.m * p.n) {
        return;
    }
    var g = kg[idx];
    if (p.has_bias == 1u) {
        g += kskip[idx];
        kg[idx] = g;
    }
    kdz[idx] = p.scale * g * act_grad(kz[idx], ka[idx], p.act, p.alpha);
}

// ---- activation_stats: over a [m, n] (output) and z [m, n] (input), into out[5·slot ..]:
//      mean and std of a; the fraction of values whose f′ is under 1% of its maximum (sigmoid, tanh);
//      the fraction of units that output exactly 0 on every row (ReLU); and E[f′(z)²], the factor
//      the layer contributes to the backward signal's variance. One workgroup, fixed-order reductions. ----

const SWG: u32 = 64u;

struct StatParams {
    m: u32,
    n: u32,
    act: u32,
    slot: u32,
    alpha: f32,
    scale: f32,    // skip_forward, skip_backward: the skip connection's α
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> sp: StatParams;
@group(0) @binding(1) var<storage, read> sz: array<f32>;          // [m, n] activation input
@group(0) @binding(2) var<storage, read> sa: array<f32>;          // [m, n] activation output
@group(0) @binding(3) var<storage, read_write> sout: array<f32>;  // [5·slots]

var<workgroup> sred: array<f32, SWG>;

// Sums sred across the workgroup and returns the total to every invocation.
fn stat_sum(lid: u32, v: f32) -> f32 {
    workgroupBarrier(); // earlier readers of sred are done
    sred[lid] = v;
    for (var s = SWG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier(); // the previous level's writes must land before they are read
        if (lid < s) {
            sred[lid] += sred[lid + s];
        }
    }
    workgroupBarrier(); // the total in slot 0 is visible to all
    return sred[0];
}

@compute @workgroup_size(SWG)
fn activation_stats(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let len = sp.m * sp.n;
    let max_grad = act_max_grad(sp.act);
    var s = 0.0;
    var sat = 0.0;
    var g2 = 0.0;
    for (var i = lid; i < len; i += SWG) {
        let a = sa[i];
        let g = act_grad(sz[i], a, sp.act, sp.alpha);
        s += a;
        g2 += g * g;
        if (max_grad > 0.0 && g < 0.01 * max_grad) {
            sat += 1.0;
        }
    }
    let mean = stat_sum(lid, s) / f32(len);
    // Two passes for the std: E[a²] − E[a]² cancels in f32.
    var d2 = 0.0;
    for (var i = lid; i < len; i += SWG) {
        let d = sa[i] - mean;
        d2 += d * d;
    }
    let sd = sqrt(stat_sum(lid, d2) / f32(len));
    var dead = 0.0;
    if (sp.act == 3u) {
        for (var j = lid; j < sp.n; j += SWG) {
            var alive = false;
            for (var i = 0u; i < sp.m; i++) {
                alive = alive || sa[i * sp.n + j] != 0.0;
            }
            dead += select(1.0, 0.0, alive);
        }
    }
    let saturated = stat_sum(lid, sat) / f32(len);
    let dead_frac = stat_sum(lid, dead) / f32(sp.n);
    let mean_g2 = stat_sum(lid, g2) / f32(len);
    if (lid == 0u) {
        sout[5u * sp.slot] = mean;
        sout[5u * sp.slot + 1u] = sd;
        sout[5u * sp.slot + 2u] = saturated;
        sout[5u * sp.slot + 3u] = dead_frac;
        sout[5u * sp.slot + 4u] = mean_g2;
    }
}
