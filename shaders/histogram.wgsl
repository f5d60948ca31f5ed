// Per-layer histograms at a probe (Glorot & Bengio's figures): the pre-activations, activations,
// back-propagated δ and dW of every layer, each counted into HIST_BINS fixed bins on the GPU. The CPU twin
// is `histogram::group` in src/histogram.rs.
//
// A histogram's bins must be comparable across a model's layers (the point of the figures is that δ
// narrows towards the input), so the hidden layers of one model and quantity — a *group* of segments —
// share one range (the output layer is a group of its own: logits live on another scale), in two
// dispatches:
//   hist_stats  each segment's min, max, Σx² and count, one workgroup per segment;
//   hist_bin    each segment's group range from those, then its counts, one workgroup per segment.
// The range is [max(min, −R), min(max, R)] with R = HIST_RANGE_RMS · the largest RMS of the group: the
// whole data when it has no far outliers, the bulk when it has (a few huge values would squash every
// curve into the middle bins); what falls outside is counted below and above. An empty range (every value
// equal) becomes a unit one around the value.
//
// The data of a dispatch is one buffer (a batch's scratch or arena, a layered model's tensor); segments of
// one group may sit in several buffers and dispatches, which is why the statistics go through `hstats`.
// Sums use a fixed tree order and the counts integer atomics, so results do not depend on scheduling.
// HIST_BINS and HIST_RANGE_RMS come from the constants Rust shares (`shared_constants`).

const WG: u32 = 64u;

struct Segment {
    offset: u32, // first value in `data`
    len: u32,    // values
    slot: u32,   // its statistics' and histogram's index
    group: u32,  // the first slot of its group (the group's slots are consecutive)
    count: u32,  // slots in the group
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Words of `hout` per slot: the range's lo and hi (f32 bits), the counts below and above it, the bins.
const HIST_WORDS: u32 = HIST_BINS + 4u;

@group(0) @binding(0) var<storage, read> segs: array<Segment>;
@group(0) @binding(1) var<storage, read> data: array<f32>;
@group(0) @binding(2) var<storage, read_write> hstats: array<vec4<f32>>; // per slot: min, max, Σx², count
@group(0) @binding(3) var<storage, read_write> hout: array<u32>;         // per slot: HIST_WORDS

var<workgroup> lo_wg: array<f32, WG>;
var<workgroup> hi_wg: array<f32, WG>;
var<workgroup> sq_wg: array<f32, WG>;
var<workgroup> bins: array<atomic<u32>, HIST_WORDS>;

@compute @workgroup_size(WG)
fn hist_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    _ = hout[0];
    let s = segs[wid.x];
    let lid = lid3.x;
    var lo = 3.0e38;
    var hi = -3.0e38;
    var sq = 0.0;
    for (var i = lid; i < s.len; i += WG) {
        let x = data[s.offset + i];
        lo = min(lo, x);
        hi = max(hi, x);
        sq += x * x;
    }
    lo_wg[lid] = lo;
    hi_wg[lid] = hi;
    sq_wg[lid] = sq;
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        workgroupBarrier(); // the previous level's writes land before they are read
        if (lid < h) {
            lo_wg[lid] = min(lo_wg[lid], lo_wg[lid + h]);
            hi_wg[lid] = max(hi_wg[lid], hi_wg[lid + h]);
            sq_wg[lid] += sq_wg[lid + h];
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        hstats[s.slot] = vec4<f32>(lo_wg[0], hi_wg[0], sq_wg[0], f32(s.len));
    }
}

// The range segment `s` shares with its group, as (lo, hi).
fn group_range(s: Segment) -> vec2<f32> {
    var lo = 3.0e38;
    var hi = -3.0e38;
    var rms = 0.0;
    for (var k = 0u; k < s.count; k++) {
        let t = hstats[s.group + k];
        if (t.w > 0.0) {
            lo = min(lo, t.x);
            hi = max(hi, t.y);
            rms = max(rms, sqrt(t.z / t.w));
        }
    }
    let r = f32(HIST_RANGE_RMS) * rms;
    lo = max(lo, -r);
    hi = min(hi, r);
    if (!(hi > lo)) {
        let c = select(0.0, lo, abs(lo) < 3.0e38);
        lo = c - 0.5;
        hi = c + 0.5;
    }
    return vec2<f32>(lo, hi);
}

@compute @workgroup_size(WG)
fn hist_bin(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let s = segs[wid.x];
    let lid = lid3.x;
    for (var i = lid; i < HIST_WORDS; i += WG) {
        atomicStore(&bins[i], 0u);
    }
    workgroupBarrier();
    let r = group_range(s);
    let scale = f32(HIST_BINS) / (r.y - r.x);
    for (var i = lid; i < s.len; i += WG) {
        let x = data[s.offset + i];
        var b = 2u; // below
        if (x > r.y) {
            b = 3u; // above
        } else if (x >= r.x) {
            b = 4u + min(u32((x - r.x) * scale), HIST_BINS - 1u);
        }
        atomicAdd(&bins[b], 1u);
    }
    workgroupBarrier();
    let at = s.slot * HIST_WORDS;
    for (var i = lid; i < HIST_WORDS; i += WG) {
        var v = atomicLoad(&bins[i]);
        if (i == 0u) {
            v = bitcast<u32>(r.x);
        } else if (i == 1u) {
            v = bitcast<u32>(r.y);
        }
        hout[at + i] = v;
    }
}
