// Per-layer histograms at a probe (Glorot & Bengio's figures): the pre-activations, activations,
// back-propagated δ and dW of every layer, each counted into HIST_BINS fixed bins on the GPU. The CPU twin
// is `Histogram::layers` in src/histogram.rs.
//
// A histogram's bins must be comparable across a model's layers (the point of the figures is that δ
// narrows towards the input), so the hidden layers of one model and quantity — a *group* of segments —
// share one range (the output layer is a group of its own: logits live on another scale), in three
// dispatches per buffer, each workgroup one segment:
//   hist_stats  the segment's min, max, Σx² and count of its finite values;
//   hist_range  its group's range from the group's statistics, by the group's first segment only (so the
//               work grows linearly with the layers, however deep the model);
//   hist_bin    the segment's counts over its group's range.
// The range is [max(min, −R), min(max, R)] with R = HIST_RANGE_RMS · the largest RMS of the group: the
// whole data when it has no far outliers, the bulk when it has (a few huge values would squash every
// curve into the middle bins); what falls outside is counted below and above. An empty range (every value
// equal) becomes a unit one around the value. Values that are not finite take no part in the range: an
// infinity is counted below or above it, a NaN below.
//
// The data of a dispatch is one buffer (a batch's scratch or arena, a layered model's tensor); segments of
// one group may sit in several buffers and dispatches, which is why the statistics and ranges go through
// `hstats` and `hrange`. Sums use a fixed tree order and the counts integer atomics, so results do not
// depend on scheduling. HIST_BINS and HIST_RANGE_RMS come from the constants Rust shares
// (`shared_constants`).

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
@group(0) @binding(4) var<storage, read_write> hrange: array<vec2<f32>>; // per group's first slot: lo, hi

var<workgroup> lo_wg: array<f32, WG>;
var<workgroup> hi_wg: array<f32, WG>;
var<workgroup> sq_wg: array<f32, WG>;
var<workgroup> bins: array<atomic<u32>, HIST_WORDS>;

// The workgroup's min of lo_wg, max of hi_wg and sum of sq_wg into their slot 0, in a fixed tree order.
// Call from uniform control flow.
fn reduce_wg(lid: u32) {
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        workgroupBarrier(); // the previous level's writes land before they are read
        if (lid < h) {
            lo_wg[lid] = min(lo_wg[lid], lo_wg[lid + h]);
            hi_wg[lid] = max(hi_wg[lid], hi_wg[lid + h]);
            sq_wg[lid] += sq_wg[lid + h];
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(WG)
fn hist_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    _ = hout[0];
    _ = hrange[0];
    let s = segs[wid.x];
    let lid = lid3.x;
    var lo = 3.0e38;
    var hi = -3.0e38;
    var sq = 0.0;
    var n = 0.0;
    for (var i = lid; i < s.len; i += WG) {
        let x = data[s.offset + i];
        if ((bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u) { // finite: an exponent short of all ones
            lo = min(lo, x);
            hi = max(hi, x);
            sq += x * x;
            n += 1.0;
        }
    }
    lo_wg[lid] = lo;
    hi_wg[lid] = hi;
    sq_wg[lid] = sq;
    reduce_wg(lid);
    let bounds = vec3<f32>(lo_wg[0], hi_wg[0], sq_wg[0]);
    workgroupBarrier(); // every invocation has read slot 0 before it is overwritten
    sq_wg[lid] = n; // the count, for the RMS only (f32 is exact to 2^24 values, and close past them)
    reduce_wg(lid);
    if (lid == 0u) {
        hstats[s.slot] = vec4<f32>(bounds, sq_wg[0]);
    }
}

@compute @workgroup_size(WG)
fn hist_range(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    _ = data[0];
    _ = hout[0];
    let s = segs[wid.x];
    if (s.slot != s.group) {
        return; // uniform: the whole workgroup leaves
    }
    let lid = lid3.x;
    var lo = 3.0e38;
    var hi = -3.0e38;
    var rms = 0.0;
    for (var k = lid; k < s.count; k += WG) {
        let t = hstats[s.group + k];
        if (t.w > 0.0) {
            lo = min(lo, t.x);
            hi = max(hi, t.y);
            rms = max(rms, sqrt(t.z / t.w));
        }
    }
    lo_wg[lid] = lo;
    hi_wg[lid] = hi;
    sq_wg[lid] = 0.0;
    reduce_wg(lid);
    let bounds = vec2<f32>(lo_wg[0], hi_wg[0]);
    workgroupBarrier(); // every invocation has read slot 0 before it is overwritten
    hi_wg[lid] = rms; // the largest RMS, through the max
    reduce_wg(lid);
    let r = f32(HIST_RANGE_RMS) * hi_wg[0];
    var range = vec2<f32>(max(bounds.x, -r), min(bounds.y, r));
    if (!(range.y > range.x)) {
        let c = select(0.0, range.x, abs(range.x) < 3.0e38);
        range = vec2<f32>(c - 0.5, c + 0.5);
    }
    if (lid == 0u) {
        hrange[s.group] = range;
    }
}

@compute @workgroup_size(WG)
fn hist_bin(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    _ = hstats[0];
    let s = segs[wid.x];
    let lid = lid3.x;
    for (var i = lid; i < HIST_WORDS; i += WG) {
        atomicStore(&bins[i], 0u);
    }
    workgroupBarrier();
    let r = hrange[s.group];
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
