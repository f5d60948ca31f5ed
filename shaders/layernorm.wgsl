// Layer normalisation over each row of x [m, n] (PyTorch's nn.LayerNorm(n)): every row is normalised
// with its own mean and biased variance, y = γ·(x − mean)·rstd + β with rstd = 1/√(var + eps); γ and β
// are per unit. No running statistics: training and evaluation compute the same.
// The row kernels take one row per workgroup (a 2-D grid when m passes the per-dimension limit); the
// parameter gradients one unit (column) per workgroup. Reductions go through workgroup memory in a fixed tree order, so results are identical
// run to run.

const WG: u32 = 64u;

struct LnParams {
    m: u32,
    n: u32,
    eps: f32,
    _pad: u32,
}

var<workgroup> red0: array<f32, WG>;
var<workgroup> red1: array<f32, WG>;

// Sums red0 and red1 across the workgroup; the totals end in slot 0.
fn reduce2(lid: u32) {
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier(); // the previous level's writes must land before they are read
        if (lid < s) {
            red0[lid] += red0[lid + s];
            red1[lid] += red1[lid + s];
        }
    }
    workgroupBarrier(); // slot 0 holds the totals for every invocation to read
}

@group(0) @binding(0) var<uniform> p: LnParams;

// ---- layernorm_forward: y = γ·(x − mean)·rstd + β per row; saves each row's mean and rstd ----
@group(0) @binding(1) var<storage, read> fx: array<f32>;           // [m, n]
@group(0) @binding(2) var<storage, read> fgamma: array<f32>;       // [n]
@group(0) @binding(3) var<storage, read> fbeta: array<f32>;        // [n]
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;     // [m, n] output
@group(0) @binding(5) var<storage, read_write> fmean: array<f32>;  // [m] saved for backward
@group(0) @binding(6) var<storage, read_write> frstd: array<f32>;  // [m] saved for backward

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = wid.x + wid.y * nwg.x; // rows past the adapter's per-dimension limit wrap into y
    if (i >= p.m) {
        return; // the whole workgroup: its id is uniform
    }
    let lid = lid3.x;
    let row = i * p.n;
    // Two passes (mean, then squared deviations) rather than E[x²] − E[x]², which cancels in f32.
    var s = 0.0;
    for (var j = lid; j < p.n; j += WG) {
        s += fx[row + j];
    }
    red0[lid] = s;
    red1[lid] = 0.0;
    reduce2(lid);
    let mean = red0[0] / f32(p.n);
    workgroupBarrier(); // everyone has read the mean before red0 is reused
    var d2 = 0.0;
    for (var j = lid; j < p.n; j += WG) {
        let d = fx[row + j] - mean;
        d2 += d * d;
    }
    red0[lid] = d2;
    reduce2(lid);
    let rstd = norm_rstd(red0[0] / f32(p.n), p.eps);
    for (var j = lid; j < p.n; j += WG) {
        fy[row + j] = norm_forward(fx[row + j], mean, rstd, fgamma[j], fbeta[j]);
    }
    if (lid == 0u) {
        fmean[i] = mean;
        frstd[i] = rstd;
    }
}

// ---- layernorm_backward: with x̂ = (x − mean)·rstd and g = dy·γ, per row
//      dx = rstd/n · (n·g − Σⱼ g − x̂·Σⱼ g·x̂) ----
@group(0) @binding(1) var<storage, read> bdy: array<f32>;        // [m, n]
@group(0) @binding(2) var<storage, read> bx: array<f32>;         // [m, n] the forward's input
@group(0) @binding(3) var<storage, read> bmean: array<f32>;      // [m]
@group(0) @binding(4) var<storage, read> brstd: array<f32>;      // [m]
@group(0) @binding(5) var<storage, read> bgamma: array<f32>;     // [n]
@group(0) @binding(6) var<storage, read_write> bdx: array<f32>;  // [m, n] overwritten

@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = wid.x + wid.y * nwg.x; // rows past the adapter's per-dimension limit wrap into y
    if (i >= p.m) {
        return; // the whole workgroup: its id is uniform
    }
    let lid = lid3.x;
    let row = i * p.n;
    let mean = bmean[i];
    let rstd = brstd[i];
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = lid; j < p.n; j += WG) {
        let g = bdy[row + j] * bgamma[j];
        sg += g;
        sgx += g * norm_xhat(bx[row + j], mean, rstd);
    }
    red0[lid] = sg;
    red1[lid] = sgx;
    reduce2(lid);
    let sum_g = red0[0];
    let sum_gx = red1[0];
    let nf = f32(p.n);
    for (var j = lid; j < p.n; j += WG) {
        let xhat = norm_xhat(bx[row + j], mean, rstd);
        bdx[row + j] = norm_backward(bdy[row + j] * bgamma[j], xhat, sum_g, sum_gx, rstd, nf);
    }
}

// ---- layernorm_param_grads: dγ = Σᵢ dy·x̂ and dβ = Σᵢ dy, one unit per workgroup ----
@group(0) @binding(1) var<storage, read> pdy: array<f32>;            // [m, n]
@group(0) @binding(2) var<storage, read> px: array<f32>;             // [m, n] the forward's input
@group(0) @binding(3) var<storage, read> pmean: array<f32>;          // [m]
@group(0) @binding(4) var<storage, read> prstd: array<f32>;          // [m]
@group(0) @binding(5) var<storage, read_write> pdgamma: array<f32>;  // [n] overwritten
@group(0) @binding(6) var<storage, read_write> pdbeta: array<f32>;   // [n] overwritten

@compute @workgroup_size(WG)
fn layernorm_param_grads(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let j = wid.x;
    let lid = lid3.x;
    var sdy = 0.0;
    var sdyx = 0.0;
    for (var i = lid; i < p.m; i += WG) {
        let idx = i * p.n + j;
        let dy = pdy[idx];
        sdy += dy;
        sdyx += dy * norm_xhat(px[idx], pmean[i], prstd[i]);
    }
    red0[lid] = sdy;
    red1[lid] = sdyx;
    reduce2(lid);
    if (lid == 0u) {
        pdgamma[j] = red1[0];
        pdbeta[j] = red0[0];
    }
}
