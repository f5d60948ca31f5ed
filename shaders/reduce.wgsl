// Reductions, each in workgroup memory in a fixed tree order so results are identical run to run
// (no floating-point atomics): the bias gradient (column sums) and per-tensor norms over an arena.

const WG: u32 = 64u;

var<workgroup> red0: array<f32, WG>;
var<workgroup> red1: array<f32, WG>;

// Combines red0 by sum and red1 by max across the workgroup; the results end in slot 0.
fn reduce_sum_max(lid: u32) {
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier(); // the previous level's writes must land before they are read
        if (lid < s) {
            red0[lid] += red0[lid + s];
            red1[lid] = max(red1[lid], red1[lid + s]);
        }
    }
    workgroupBarrier(); // slot 0 holds the result for every invocation to read
}

struct ColParams {
    m: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

// ---- bias_backward: db[j] = Σᵢ dz[i, j]; one workgroup per column ----
@group(0) @binding(0) var<uniform> cp: ColParams;
@group(0) @binding(1) var<storage, read> cdz: array<f32>;        // [m, n]
@group(0) @binding(2) var<storage, read_write> cdb: array<f32>;  // [n] overwritten

@compute @workgroup_size(WG)
fn bias_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let j = wid.x;
    let lid = lid3.x;
    var s = 0.0;
    for (var i = lid; i < cp.m; i += WG) {
        s += cdz[i * cp.n + j];
    }
    red0[lid] = s;
    red1[lid] = 0.0;
    reduce_sum_max(lid);
    if (lid == 0u) {
        cdb[j] = red0[0];
    }
}

// ---- segment_stats: per segment (offset, len) of data, (Σ x², max |x|); one workgroup per segment ----
@group(0) @binding(0) var<storage, read> segments: array<vec2<u32>>;  // [segments] (offset, len)
@group(0) @binding(1) var<storage, read> sdata: array<f32>;
@group(0) @binding(2) var<storage, read_write> sout: array<f32>;     // [2·segments] overwritten

@compute @workgroup_size(WG)
fn segment_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let seg = segments[wid.x];
    let lid = lid3.x;
    var ss = 0.0;
    var mx = 0.0;
    for (var i = lid; i < seg.y; i += WG) {
        let x = sdata[seg.x + i];
        ss += x * x;
        mx = max(mx, abs(x));
    }
    red0[lid] = ss;
    red1[lid] = mx;
    reduce_sum_max(lid);
    if (lid == 0u) {
        sout[2u * wid.x] = red0[0];
        sout[2u * wid.x + 1u] = red1[0];
    }
}
