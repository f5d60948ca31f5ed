// Matrix multiply C[m,n] = op(A)·op(B), the three forms a dense layer needs:
//   Z  = X·Wᵀ   (A = X  [m,k],          B = W [n,k], trans_b)
//   dX = dZ·W   (A = dZ [m,k=out],      B = W [k,n])
//   dW = dZᵀ·X  (A = dZ stored [k,m],   B = X [k,n], trans_a)
// Transposes travel as strides, so one loop serves every form without branches in the inner loop.
// C is overwritten. Correct for every size: rows and columns past the edge are clamped on load and
// never stored.

struct MatmulParams {
    m: u32,
    k: u32,
    n: u32,
    // Element (i, p) of op(A) is a[i * a_row + p * a_col]; element (p, j) of op(B) is b[p * b_row + j * b_col].
    a_row: u32,
    a_col: u32,
    b_row: u32,
    b_col: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // op(A): [m, k]
@group(0) @binding(2) var<storage, read> b: array<f32>;        // op(B): [k, n]
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // C: [m, n], overwritten

// One output per invocation: the reference point for the benchmark and the fallback for debugging.
@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y;
    let j = gid.x;
    if (i >= p.m || j >= p.n) {
        return;
    }
    var acc = 0.0;
    for (var q = 0u; q < p.k; q++) {
        acc += a[i * p.a_row + q * p.a_col] * b[q * p.b_row + j * p.b_col];
    }
    c[i * p.n + j] = acc;
}

// A 4×4 block of outputs per invocation, accumulated in registers: each loaded value of A is used
// four times and each of B four times. On lavapipe, whose workgroup memory is slow, this beats a
// workgroup-memory tile; 8×8 invocations cover a 32×32 block of C.
@compute @workgroup_size(8, 8)
fn matmul_blocked(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.y * 4u;
    let j0 = gid.x * 4u;
    if (i0 >= p.m || j0 >= p.n) {
        return;
    }
    // Rows and columns past the edge are clamped so loads stay in bounds; their sums are dropped below.
    var rows: vec4<u32>;
    var cols: vec4<u32>;
    for (var r = 0u; r < 4u; r++) {
        rows[r] = min(i0 + r, p.m - 1u) * p.a_row;
        cols[r] = min(j0 + r, p.n - 1u) * p.b_col;
    }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var q = 0u; q < p.k; q++) {
        let qa = q * p.a_col;
        let qb = q * p.b_row;
        let bv = vec4<f32>(b[qb + cols.x], b[qb + cols.y], b[qb + cols.z], b[qb + cols.w]);
        acc0 += a[rows.x + qa] * bv;
        acc1 += a[rows.y + qa] * bv;
        acc2 += a[rows.z + qa] * bv;
        acc3 += a[rows.w + qa] * bv;
    }
    let acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if (i >= p.m) {
            break;
        }
        for (var s = 0u; s < 4u; s++) {
            let j = j0 + s;
            if (j < p.n) {
                c[i * p.n + j] = acc[r][s];
            }
        }
    }
}

// ---- matmul_vec4: a 4×8 block per invocation with vec4 loads, for untransposed A and B whose k is a
//      multiple of 4 and n a multiple of 8 (the launcher falls back to matmul_blocked otherwise). A row's
//      four consecutive k values and B's eight consecutive columns arrive in three loads, each feeding
//      eight or four vector FMAs: load instructions are what limits lavapipe. ----
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;        // A: [m, k/4]
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;        // B: [k, n/4]
@group(0) @binding(3) var<storage, read_write> c4: array<vec4<f32>>;  // C: [m, n/4], overwritten

@compute @workgroup_size(8, 8)
fn matmul_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.y * 4u;
    let jv = gid.x * 2u; // two vec4 columns: 8 outputs per row
    let kv = p.k / 4u;
    let nv = p.n / 4u;
    if (i0 >= p.m || jv >= nv) {
        return;
    }
    // Rows past the edge are clamped so loads stay in bounds; their sums are dropped below.
    var rows: vec4<u32>;
    for (var r = 0u; r < 4u; r++) {
        rows[r] = min(i0 + r, p.m - 1u) * kv;
    }
    var lo: array<vec4<f32>, 4>;
    var hi: array<vec4<f32>, 4>;
    for (var r = 0u; r < 4u; r++) {
        lo[r] = vec4<f32>(0.0);
        hi[r] = vec4<f32>(0.0);
    }
    for (var q = 0u; q < kv; q++) {
        let bq = 4u * q * nv + jv;
        let b0l = b4[bq];
        let b0h = b4[bq + 1u];
        let b1l = b4[bq + nv];
        let b1h = b4[bq + nv + 1u];
        let b2l = b4[bq + 2u * nv];
        let b2h = b4[bq + 2u * nv + 1u];
        let b3l = b4[bq + 3u * nv];
        let b3h = b4[bq + 3u * nv + 1u];
        for (var r = 0u; r < 4u; r++) {
            let a = a4[rows[r] + q];
            lo[r] += a.x * b0l + a.y * b1l + a.z * b2l + a.w * b3l;
            hi[r] += a.x * b0h + a.y * b1h + a.z * b2h + a.w * b3h;
        }
    }
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if (i >= p.m) {
            break;
        }
        c4[i * nv + jv] = lo[r];
        c4[i * nv + jv + 1u] = hi[r];
    }
}
