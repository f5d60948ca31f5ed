// Dense-layer products with their elementwise neighbours fused in, so the layered path needs three
// dispatches per layer instead of six:
//   dense_forward          z = x·Wᵀ + b and a = f(z)                      (matmul + bias + activation)
//   dense_backward_input   d_prev = (δ·W) ⊙ f′(z_prev, a_prev)            (matmul + activation backward)
//   dense_backward_weight  dW = δᵀ·x and db = Σ_rows δ                     (matmul + bias gradient)
// Each invocation computes a 4×4 block of its output in registers, like matmul_blocked; 8×8 invocations
// cover 32×32 outputs. Rows and columns past the edge are clamped on load and never stored. Every sum runs
// in a fixed order, so results are identical run to run.

struct DenseParams {
    m: u32,      // rows of the batch
    k: u32,      // the layer's fan-in
    n: u32,      // the layer's fan-out
    act: u32,    // activation code (activation.wgsl): this layer's (forward) or the previous layer's (backward)
    alpha: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: DenseParams;

// The activations (act_forward, act_grad) are the prelude's, shaders/maths.wgsl.

// ---- dense_forward: z[m,n] = x[m,k]·W[n,k]ᵀ + b[n]; a = f(z) ----
@group(0) @binding(1) var<storage, read> fx: array<f32>;          // [m, k]
@group(0) @binding(2) var<storage, read> fw: array<f32>;          // [n, k]
@group(0) @binding(3) var<storage, read> fb: array<f32>;          // [n]
@group(0) @binding(4) var<storage, read_write> fz: array<f32>;    // [m, n] overwritten
@group(0) @binding(5) var<storage, read_write> fa: array<f32>;    // [m, n] overwritten

@compute @workgroup_size(8, 8)
fn dense_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.y * 4u;
    let j0 = gid.x * 4u;
    if (i0 >= p.m || j0 >= p.n) {
        return;
    }
    var xr: vec4<u32>;
    var wr: vec4<u32>;
    for (var r = 0u; r < 4u; r++) {
        xr[r] = min(i0 + r, p.m - 1u) * p.k;
        wr[r] = min(j0 + r, p.n - 1u) * p.k;
    }
    var acc: array<vec4<f32>, 4>;
    for (var q = 0u; q < p.k; q++) {
        let wv = vec4<f32>(fw[wr.x + q], fw[wr.y + q], fw[wr.z + q], fw[wr.w + q]);
        for (var r = 0u; r < 4u; r++) {
            acc[r] += fx[xr[r] + q] * wv;
        }
    }
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if (i >= p.m) {
            break;
        }
        for (var s = 0u; s < 4u; s++) {
            let j = j0 + s;
            if (j < p.n) {
                let z = acc[r][s] + fb[j];
                fz[i * p.n + j] = z;
                fa[i * p.n + j] = act_forward(z, p.act, p.alpha);
            }
        }
    }
}

// ---- dense_backward_input: d_prev[m,k] = (δ[m,n]·W[n,k]) ⊙ f′(z_prev, a_prev), f the previous layer's ----
@group(0) @binding(1) var<storage, read> id: array<f32>;          // [m, n] δ of this layer
@group(0) @binding(2) var<storage, read> iw: array<f32>;          // [n, k]
@group(0) @binding(3) var<storage, read> iz: array<f32>;          // [m, k] the previous layer's activation input
@group(0) @binding(4) var<storage, read> ia: array<f32>;          // [m, k] the previous layer's activation output
@group(0) @binding(5) var<storage, read_write> iout: array<f32>;  // [m, k] overwritten

@compute @workgroup_size(8, 8)
fn dense_backward_input(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.y * 4u;
    let c0 = gid.x * 4u;
    if (i0 >= p.m || c0 >= p.k) {
        return;
    }
    var dr: vec4<u32>;
    var cc: vec4<u32>;
    for (var r = 0u; r < 4u; r++) {
        dr[r] = min(i0 + r, p.m - 1u) * p.n;
        cc[r] = min(c0 + r, p.k - 1u);
    }
    var acc: array<vec4<f32>, 4>;
    for (var j = 0u; j < p.n; j++) {
        let wrow = j * p.k;
        let wv = vec4<f32>(iw[wrow + cc.x], iw[wrow + cc.y], iw[wrow + cc.z], iw[wrow + cc.w]);
        for (var r = 0u; r < 4u; r++) {
            acc[r] += id[dr[r] + j] * wv;
        }
    }
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if (i >= p.m) {
            break;
        }
        for (var s = 0u; s < 4u; s++) {
            let c = c0 + s;
            if (c < p.k) {
                let o = i * p.k + c;
                iout[o] = acc[r][s] * act_grad(iz[o], ia[o], p.act, p.alpha);
            }
        }
    }
}

// ---- dense_backward_weight: dW[n,k] = δ[m,n]ᵀ·x[m,k]; the invocations of the first column block also
//      write db[n] = Σ_rows δ, summed in the same loop ----
@group(0) @binding(1) var<storage, read> wd: array<f32>;           // [m, n] δ
@group(0) @binding(2) var<storage, read> wx: array<f32>;           // [m, k] the layer's input
@group(0) @binding(3) var<storage, read_write> wdw: array<f32>;    // [n, k] overwritten
@group(0) @binding(4) var<storage, read_write> wdb: array<f32>;    // [n] overwritten

@compute @workgroup_size(8, 8)
fn dense_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j0 = gid.y * 4u;
    let c0 = gid.x * 4u;
    if (j0 >= p.n || c0 >= p.k) {
        return;
    }
    var jj: vec4<u32>;
    var cc: vec4<u32>;
    for (var r = 0u; r < 4u; r++) {
        jj[r] = min(j0 + r, p.n - 1u);
        cc[r] = min(c0 + r, p.k - 1u);
    }
    var acc: array<vec4<f32>, 4>;
    var dsum = vec4<f32>(0.0);
    for (var i = 0u; i < p.m; i++) {
        let drow = i * p.n;
        let xrow = i * p.k;
        let dv = vec4<f32>(wd[drow + jj.x], wd[drow + jj.y], wd[drow + jj.z], wd[drow + jj.w]);
        let xv = vec4<f32>(wx[xrow + cc.x], wx[xrow + cc.y], wx[xrow + cc.z], wx[xrow + cc.w]);
        dsum += dv;
        for (var r = 0u; r < 4u; r++) {
            acc[r] += dv[r] * xv;
        }
    }
    for (var r = 0u; r < 4u; r++) {
        let j = j0 + r;
        if (j >= p.n) {
            break;
        }
        for (var s = 0u; s < 4u; s++) {
            let c = c0 + s;
            if (c < p.k) {
                wdw[j * p.k + c] = acc[r][s];
            }
        }
        if (gid.x == 0u) {
            wdb[j] = dsum[r];
        }
    }
}
