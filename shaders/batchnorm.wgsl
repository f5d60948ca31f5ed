// Batch normalisation over the batch dimension of x [m, n], one feature (column) per workgroup.
// Training mode uses the batch mean and the biased batch variance; rstd = 1/√(var + eps).
// Reductions go through workgroup memory in a fixed tree order, so results are identical run to run.

const WG: u32 = 64u;

struct BnParams {
    m: u32,
    n: u32,
    eps: f32,
    momentum: f32,       // weight of the batch statistic in the running ones (PyTorch's 0.1)
    update_running: u32, // 1: fold this batch into running_mean / running_var
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

var<workgroup> red0: array<f32, WG>;
var<workgroup> red1: array<f32, WG>;

// Sums red0 (and red1) across the workgroup; the totals end in slot 0.
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

@group(0) @binding(0) var<uniform> p: BnParams;

// ---- batchnorm_forward (training): y = γ·(x − mean)·rstd + β; saves mean, rstd ----
@group(0) @binding(1) var<storage, read> fx: array<f32>;               // [m, n]
@group(0) @binding(2) var<storage, read> fgamma: array<f32>;           // [n]
@group(0) @binding(3) var<storage, read> fbeta: array<f32>;            // [n]
@group(0) @binding(4) var<storage, read_write> fy: array<f32>;         // [m, n] output
@group(0) @binding(5) var<storage, read_write> fmean: array<f32>;      // [n] saved for backward
@group(0) @binding(6) var<storage, read_write> frstd: array<f32>;      // [n] saved for backward
@group(0) @binding(7) var<storage, read_write> frun_mean: array<f32>;  // [n]
@group(0) @binding(8) var<storage, read_write> frun_var: array<f32>;   // [n]

@compute @workgroup_size(WG)
fn batchnorm_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let j = wid.x;
    let lid = lid3.x;
    // Two passes (mean, then squared deviations) rather than E[x²] − E[x]², which cancels in f32.
    var s = 0.0;
    for (var i = lid; i < p.m; i += WG) {
        s += fx[i * p.n + j];
    }
    red0[lid] = s;
    red1[lid] = 0.0;
    reduce2(lid);
    let mean = red0[0] / f32(p.m);
    workgroupBarrier(); // everyone has read the mean before red0 is reused
    var d2 = 0.0;
    for (var i = lid; i < p.m; i += WG) {
        let d = fx[i * p.n + j] - mean;
        d2 += d * d;
    }
    red0[lid] = d2;
    reduce2(lid);
    let var_b = red0[0] / f32(p.m);
    let rstd = norm_rstd(var_b, p.eps);
    let g = fgamma[j];
    let b = fbeta[j];
    for (var i = lid; i < p.m; i += WG) {
        let idx = i * p.n + j;
        fy[idx] = norm_forward(fx[idx], mean, rstd, g, b);
    }
    if (lid == 0u) {
        fmean[j] = mean;
        frstd[j] = rstd;
        if (p.update_running == 1u) {
            // PyTorch's convention: the running variance takes the unbiased batch variance.
            frun_mean[j] = running_update(frun_mean[j], mean, p.momentum);
            frun_var[j] = running_update(frun_var[j], unbiased_var(var_b, p.m), p.momentum);
        }
    }
}

// ---- batchnorm_forward_eval: y = γ·(x − running_mean)/√(running_var + eps) + β, elementwise ----
@group(0) @binding(1) var<storage, read> ex: array<f32>;          // [m, n]
@group(0) @binding(2) var<storage, read> egamma: array<f32>;      // [n]
@group(0) @binding(3) var<storage, read> ebeta: array<f32>;       // [n]
@group(0) @binding(4) var<storage, read> erun_mean: array<f32>;   // [n]
@group(0) @binding(5) var<storage, read> erun_var: array<f32>;    // [n]
@group(0) @binding(6) var<storage, read_write> ey: array<f32>;    // [m, n] output

@compute @workgroup_size(256)
fn batchnorm_forward_eval(@builtin(global_invocation_id) gid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= p.m * p.n) {
        return;
    }
    let j = idx % p.n;
    ey[idx] = norm_forward(ex[idx], erun_mean[j], norm_rstd(erun_var[j], p.eps), egamma[j], ebeta[j]);
}

// ---- batchnorm_backward (training): with x̂ = (x − mean)·rstd and g = dy·γ,
//      dβ = Σ dy, dγ = Σ dy·x̂, dx = rstd/m · (m·g − Σ g − x̂·Σ g·x̂) ----
@group(0) @binding(1) var<storage, read> bdy: array<f32>;               // [m, n]
@group(0) @binding(2) var<storage, read> bx: array<f32>;                // [m, n] the forward's input
@group(0) @binding(3) var<storage, read> bmean: array<f32>;             // [n]
@group(0) @binding(4) var<storage, read> brstd: array<f32>;             // [n]
@group(0) @binding(5) var<storage, read> bgamma: array<f32>;            // [n]
@group(0) @binding(6) var<storage, read_write> bdx: array<f32>;         // [m, n] overwritten
@group(0) @binding(7) var<storage, read_write> bdgamma: array<f32>;     // [n] overwritten
@group(0) @binding(8) var<storage, read_write> bdbeta: array<f32>;      // [n] overwritten

@compute @workgroup_size(WG)
fn batchnorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let j = wid.x;
    let lid = lid3.x;
    let mean = bmean[j];
    let rstd = brstd[j];
    var sdy = 0.0;
    var sdyx = 0.0;
    for (var i = lid; i < p.m; i += WG) {
        let idx = i * p.n + j;
        let dy = bdy[idx];
        sdy += dy;
        sdyx += dy * norm_xhat(bx[idx], mean, rstd);
    }
    red0[lid] = sdy;
    red1[lid] = sdyx;
    reduce2(lid);
    let sum_dy = red0[0];
    let sum_dyx = red1[0];
    let g = bgamma[j];
    let mf = f32(p.m);
    for (var i = lid; i < p.m; i += WG) {
        let idx = i * p.n + j;
        bdx[idx] = norm_backward(bdy[idx], norm_xhat(bx[idx], mean, rstd), sum_dy, sum_dyx, g * rstd, mf);
    }
    if (lid == 0u) {
        bdgamma[j] = sum_dyx;
        bdbeta[j] = sum_dy;
    }
}
