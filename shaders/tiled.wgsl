// The tiled kernels: a batch of models of any width trained, probed and evaluated together, one dispatch
// per phase and layer for every model of the batch (the model is the grid's z). The batch's tables,
// arena, scratch and results are the fused kernels' (batch.wgsl, src/gpu/batch.rs); what differs is the
// work split: here each dense layer's products are tiles of 32×32 outputs over many workgroups, staged
// through workgroup memory with a 4×4 block per invocation (`product`), where fused.wgsl gives a whole
// model to one workgroup.
//
// A training step is, for every model at once:
//   tiled_step                      the step counter (queue[STEP_SLOT]) moves on
//   tiled_forward, tiled_norm       per layer from the input: z = x·Wᵀ + b, then f (or the norm, then f);
//                                     the first layer reads the step's rows of the features through the
//                                     epoch's order, so the data is never copied
//   tiled_loss, tiled_loss_sum      dlogits into the output layer's δ; the mean loss and correct count
//   tiled_grad, tiled_back,         per layer from the output: dW and db; δ·W through the layer below's f′
//   tiled_norm_back                   (and skip); the layer below's norm backward
//   tiled_clip, tiled_optimise      with --clip-grad-norm the gradients scaled; the optimiser step
// A probe or an evaluation is the same without the step counter and the update, over a whole split, and
// a probe ends with `tiled_stats`. `Pass` (a uniform read at a dynamic offset, one record per mode and
// layer) says which layer and mode a dispatch is; backward phases count layers from the output, so models
// of different depths share every dispatch. A model a dispatch does not concern (a layer it does not
// have, a tile past its edge) leaves at once.
//
// Every sum runs in a fixed order, so a model's numbers do not depend on the other models of its batch
// nor on the driver's scheduling. Gradient rule: parameter gradients are overwritten by each backward
// pass, as in fused.wgsl.

struct Pass {
    layer: u32, // forward phases: the layer; backward phases: how far below the output layer
    mode: u32,  // MODE_TRAIN, MODE_PROBE, MODE_EVAL_TRAIN or MODE_EVAL_TEST (batch.wgsl)
    _pad0: u32,
    _pad1: u32,
}

// No index: an `Operand` without a column of ones, a pass whose rows are not reordered.
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> ps: Pass;

var<workgroup> step_wg: u32;

// The training step in flight, the same for every invocation of the workgroup (so control flow that
// depends on it stays uniform around barriers). Call from uniform control flow; `t` is the local index.
fn current_step(t: u32) -> u32 {
    if (t == 0u) {
        step_wg = atomicLoad(&queue[STEP_SLOT]);
    }
    return workgroupUniformLoad(&step_wg);
}

// A pass's rows for one model: how many (0: nothing to do, a step past the model's epoch or an empty
// split), where their features and labels are, and where the training step's order of them starts in
// `labels` (NONE: row r is the split's row r).
struct Rows {
    n: u32,
    x: u32,
    y: u32,
    order: u32,
}

fn pass_rows(md: ModelDesc, step: u32) -> Rows {
    switch ps.mode {
        case MODE_TRAIN: {
            if (step >= md.steps) {
                return Rows(0u, md.x, md.y, NONE);
            }
            let start = step * md.batch;
            return Rows(min(md.batch, md.rows - start), md.x, md.y, md.order + start);
        }
        case MODE_EVAL_TEST: {
            return Rows(md.test_rows, md.tx, md.ty, NONE);
        }
        default: {
            return Rows(md.rows, md.x, md.y, NONE);
        }
    }
}

// The split's row that is the pass's row `r`.
fn source_row(rs: Rows, r: u32) -> u32 {
    return select(labels[rs.order + r], r, rs.order == NONE);
}

// Forward layers count from the input; backward ones from the output (`ps.layer` steps below it).
fn back_layer(md: ModelDesc) -> u32 {
    return md.layers - 1u - ps.layer;
}

@compute @workgroup_size(1)
fn tiled_step() {
    atomicAdd(&queue[STEP_SLOT], 1u);
}

// ---- The tiled product, the one matmul of every dense layer's three products ----
//
// C[i, j] = Σ_k A(i, k)·B(j, k) over a 32×32 tile of C per workgroup: 8×8 invocations, each owning a 4×4
// block in registers, stage TK-deep slices of A's 32 rows and B's 32 rows in workgroup memory and sum
// them in k order (a fixed order: every model's numbers are the same alone or in any batch). The three
// products differ only in where their operands' elements are:
//   forward  z = x·Wᵀ       A(i, k) = x[i, k]            B(j, k) = W[j, k]
//   backward dA = δ·W       A(i, k) = δ[i, k]            B(j, k) = W[k, j]
//   gradient dW = δᵀ·x      A(i, k) = δ[k, i]            B(j, k) = x[k, j], and 1 at j = fan_in (db)

const TK: u32 = 16u;
const SRC_SCRATCH: u32 = 0u;
const SRC_ARENA: u32 = 1u;
const SRC_DATA: u32 = 2u; // the features in `xs`, rows through the pass's order

// Where an operand's element (i, k) is: `base + i·si + k·sk` in its buffer. Indices i ≥ n or k past the
// sum read 0 (the tile's edge); i = ones reads 1. A data operand's row (its i, or its k with `row_k`)
// goes through the pass's order first.
struct Operand {
    src: u32,
    base: u32,
    si: u32,
    sk: u32,
    n: u32,
    ones: u32,
    order: u32,
    row_k: bool,
}

fn element(op: Operand, i: u32, k: u32, kn: u32) -> f32 {
    if (i >= op.n || k >= kn) {
        return 0.0;
    }
    if (i == op.ones) {
        return 1.0;
    }
    switch op.src {
        case SRC_ARENA: {
            return arena[op.base + i * op.si + k * op.sk];
        }
        case SRC_DATA: {
            var ii = i;
            var kk = k;
            if (op.order != NONE) {
                if (op.row_k) {
                    kk = labels[op.order + k];
                } else {
                    ii = labels[op.order + i];
                }
            }
            return xs[op.base + ii * op.si + kk * op.sk];
        }
        default: {
            return scratch[op.base + i * op.si + k * op.sk];
        }
    }
}

// The staged slices, [k][i / 4] as vec4s of four consecutive i.
var<workgroup> ta: array<array<vec4<f32>, TILE / 4u>, TK>;
var<workgroup> tb: array<array<vec4<f32>, TILE / 4u>, TK>;

// Which element of a 32×TK slice invocation `t` loads at its `s`-th load, (i, k): consecutive
// invocations take consecutive addresses of the operand's contiguous index (k where sk = 1, else i).
fn stage_at(op: Operand, t: u32, s: u32) -> vec2<u32> {
    let e = t + (TILE / 4u) * (TILE / 4u) * s;
    if (op.sk == 1u) {
        return vec2<u32>(e / TK, e % TK);
    }
    return vec2<u32>(e % TILE, e / TILE);
}

// Adds invocation (lx, ly)'s 4×4 block of A·Bᵀ for the tile at rows i0 and columns j0 to `acc`
// (acc[q][s] is C[i0 + 4ly + q, j0 + 4lx + s]). Call from uniform control flow.
fn product(a: Operand, b: Operand, kn: u32, i0: u32, j0: u32, lx: u32, ly: u32, acc: ptr<function, array<vec4<f32>, 4>>) {
    let t = ly * (TILE / 4u) + lx;
    for (var k0 = 0u; k0 < kn; k0 += TK) {
        for (var s = 0u; s < TILE * TK / ((TILE / 4u) * (TILE / 4u)); s++) {
            let pa = stage_at(a, t, s);
            ta[pa.y][pa.x >> 2u][pa.x & 3u] = element(a, i0 + pa.x, k0 + pa.y, kn);
            let pb = stage_at(b, t, s);
            tb[pb.y][pb.x >> 2u][pb.x & 3u] = element(b, j0 + pb.x, k0 + pb.y, kn);
        }
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let av = ta[k][ly];
            let bv = tb[k][lx];
            (*acc)[0] += av.x * bv;
            (*acc)[1] += av.y * bv;
            (*acc)[2] += av.z * bv;
            (*acc)[3] += av.w * bv;
        }
        workgroupBarrier();
    }
}

// A layer's input as an operand with i the row and k the input unit: the features for the first layer,
// else the layer below's output in scratch.
fn layer_input(md: ModelDesc, l: LayerDesc, li: u32, rs: Rows) -> Operand {
    if (li == 0u) {
        return Operand(SRC_DATA, rs.x, md.input, 1u, rs.n, NONE, rs.order, false);
    }
    return Operand(SRC_SCRATCH, md.so + l.x, l.fan_in, 1u, rs.n, NONE, NONE, false);
}

// z = x·Wᵀ + b for a 32×32 tile of rows × units; then, without a norm, a = f(z) and a skip's output
// x + α·a.
@compute @workgroup_size(TILE / 4u, TILE / 4u)
fn tiled_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let step = current_step(lid.y * (TILE / 4u) + lid.x);
    if (ps.layer >= md.layers) {
        return;
    }
    let l = layers[md.lt + ps.layer];
    let rs = pass_rows(md, step);
    let i0 = wid.y * TILE;
    let j0 = wid.x * TILE;
    if (i0 >= rs.n || j0 >= l.fan_out) {
        return;
    }
    let b = Operand(SRC_ARENA, md.po + l.w, l.fan_in, 1u, l.fan_out, NONE, NONE, false);
    var acc: array<vec4<f32>, 4>;
    product(layer_input(md, l, ps.layer, rs), b, l.fan_in, i0, j0, lid.x, lid.y, &acc);
    let so = md.so;
    for (var q = 0u; q < 4u; q++) {
        let i = i0 + lid.y * 4u + q;
        for (var s = 0u; s < 4u; s++) {
            let j = j0 + lid.x * 4u + s;
            if (i >= rs.n || j >= l.fan_out) {
                continue;
            }
            let o = so + i * l.fan_out + j;
            let z = acc[q][s] + arena[md.po + l.b + j];
            scratch[o + l.z] = z;
            if (l.norm == 0u) {
                let av = act_forward(z, l.act, l.alpha);
                scratch[o + l.a] = av;
                if (l.res != 0.0) {
                    // fan_in = fan_out behind a skip (never the first layer), so unit j's input is x[j]
                    scratch[o + l.o] = scratch[so + l.x + i * l.fan_in + j] + l.res * av;
                }
            }
        }
    }
}

// The layer's norm, then f and the skip: batch norm one unit per invocation (the batch's mean and
// biased variance in two passes — training updates the running statistics — or, in evaluations, the
// running statistics), layer norm one row per invocation.
@compute @workgroup_size(GROUP)
fn tiled_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    if (ps.layer >= md.layers) {
        return;
    }
    let l = layers[md.lt + ps.layer];
    let rows = pass_rows(md, atomicLoad(&queue[STEP_SLOT])).n;
    let so = md.so;
    let t = wid.x * GROUP + lid.x;
    if (l.norm == 1u && t < l.fan_out) {
        let j = t;
        let stats = bn_unit_stats(md, l, j, rows, ps.mode, true);
        let mean = stats.x;
        let rstd = stats.y;
        scratch[so + l.stats + j] = mean;
        scratch[so + l.stats + l.fan_out + j] = rstd;
        let gamma = arena[md.po + l.gamma + j];
        let beta = arena[md.po + l.beta + j];
        for (var r = 0u; r < rows; r++) {
            let o = so + r * l.fan_out + j;
            let yv = norm_forward(scratch[o + l.z], mean, rstd, gamma, beta);
            scratch[o + l.y] = yv;
            let av = act_forward(yv, l.act, l.alpha);
            scratch[o + l.a] = av;
            if (l.res != 0.0) {
                scratch[o + l.o] = scratch[so + l.x + r * l.fan_in + j] + l.res * av;
            }
        }
    }
    if (l.norm == 2u && t < rows) {
        let r = t;
        let stats = ln_row_stats(md, l, r);
        let mean = stats.x;
        let rstd = stats.y;
        let rs = so + l.stats + 4u * l.fan_out;
        scratch[rs + r] = mean;
        scratch[rs + md.row_cap + r] = rstd;
        for (var j = 0u; j < l.fan_out; j++) {
            let o = so + r * l.fan_out + j;
            let yv = norm_forward(scratch[o + l.z], mean, rstd, arena[md.po + l.gamma + j], arena[md.po + l.beta + j]);
            scratch[o + l.y] = yv;
            let av = act_forward(yv, l.act, l.alpha);
            scratch[o + l.a] = av;
            if (l.res != 0.0) {
                scratch[o + l.o] = scratch[so + l.x + r * l.fan_in + j] + l.res * av;
            }
        }
    }
}

// One row per invocation: its loss and hit into the loss rows, dlogits/rows into the output layer's δ.
@compute @workgroup_size(GROUP)
fn tiled_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let rs = pass_rows(md, atomicLoad(&queue[STEP_SLOT]));
    let r = wid.x * GROUP + lid.x;
    if (r >= rs.n) {
        return;
    }
    let so = md.so;
    let mf = f32(rs.n);
    let lo = layers[md.lt + md.layers - 1u];
    let k = md.classes;
    let lab = so + md.scratch_loss;
    let t = row_loss(md, lo, so + r * k, labels[rs.y + source_row(rs, r)], mf);
    scratch[lab + md.row_cap + r] = t.loss;
    scratch[lab + 2u * md.row_cap + r] = t.correct;
}

// The pass's mean loss and correct count, one workgroup per model: 64 strided partial sums, added in
// invocation order (a fixed order, whatever the driver's scheduling).
@compute @workgroup_size(GROUP)
fn tiled_loss_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let step = current_step(lid.x);
    let rows = pass_rows(md, step).n;
    let lab = md.so + md.scratch_loss;
    var total = 0.0;
    var hits = 0.0;
    for (var r = lid.x; r < rows; r += GROUP) {
        total += scratch[lab + md.row_cap + r];
        hits += scratch[lab + 2u * md.row_cap + r];
    }
    var v: array<f32, REDUCTION_SUMS>;
    v[0] = total;
    v[1] = hits;
    let sums = wg_sums(lid.x, GROUP, v);
    if (lid.x == 0u && rows > 0u) {
        let t = sums[0];
        let h = sums[1];
        store_totals(totals_at(md, ps.mode, step), PassTotals(t / f32(rows), h));
    }
}

// dW = δᵀ·x and, as input fan_in with x = 1, db = Σ_r δ[r, ·], for a 32×32 tile of units × inputs.
@compute @workgroup_size(TILE / 4u, TILE / 4u)
fn tiled_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let step = current_step(lid.y * (TILE / 4u) + lid.x);
    if (ps.layer >= md.layers) {
        return;
    }
    let li = back_layer(md);
    let l = layers[md.lt + li];
    let rs = pass_rows(md, step);
    let j0 = wid.y * TILE;
    let k0 = wid.x * TILE;
    if (rs.n == 0u || j0 >= l.fan_out || k0 > l.fan_in) {
        return;
    }
    let a = Operand(SRC_SCRATCH, md.so + l.d, 1u, l.fan_out, l.fan_out, NONE, NONE, false);
    var b = Operand(SRC_SCRATCH, md.so + l.x, 1u, l.fan_in, l.fan_in + 1u, l.fan_in, NONE, false);
    if (li == 0u) {
        b = Operand(SRC_DATA, rs.x, 1u, md.input, l.fan_in + 1u, l.fan_in, rs.order, true);
    }
    var acc: array<vec4<f32>, 4>;
    product(a, b, rs.n, j0, k0, lid.x, lid.y, &acc);
    for (var q = 0u; q < 4u; q++) {
        let j = j0 + lid.y * 4u + q;
        for (var s = 0u; s < 4u; s++) {
            let k = k0 + lid.x * 4u + s;
            if (j >= l.fan_out || k > l.fan_in) {
                continue;
            }
            arena[select(md.go + l.w + j * l.fan_in + k, md.go + l.b + j, k == l.fan_in)] = acc[q][s];
        }
    }
}

// dA of the layer below = δ·W for a 32×32 tile of rows × its units; then the skips (this layer's
// carries its output's gradient down; the layer below's keeps it and passes α·it to its branch) and f′
// of the layer below's activation input, into its δ — or its dy, with a norm.
@compute @workgroup_size(TILE / 4u, TILE / 4u)
fn tiled_back(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let step = current_step(lid.y * (TILE / 4u) + lid.x);
    if (ps.layer + 1u >= md.layers) {
        return; // beyond this model's depth, or its first layer (nothing below)
    }
    let li = back_layer(md);
    let l = layers[md.lt + li];
    let pl = layers[md.lt + li - 1u];
    let rows = pass_rows(md, step).n;
    let i0 = wid.y * TILE;
    let k0 = wid.x * TILE;
    if (i0 >= rows || k0 >= l.fan_in) {
        return;
    }
    let so = md.so;
    let a = Operand(SRC_SCRATCH, so + l.d, l.fan_out, 1u, rows, NONE, NONE, false);
    let b = Operand(SRC_ARENA, md.po + l.w, 1u, l.fan_in, l.fan_in, NONE, NONE, false);
    var acc: array<vec4<f32>, 4>;
    product(a, b, l.fan_out, i0, k0, lid.x, lid.y, &acc);
    let pre = select(pl.z, pl.y, pl.norm != 0u);
    let dst = select(pl.d, pl.dy, pl.norm != 0u);
    for (var q = 0u; q < 4u; q++) {
        let i = i0 + lid.y * 4u + q;
        for (var s = 0u; s < 4u; s++) {
            let k = k0 + lid.x * 4u + s;
            if (i >= rows || k >= l.fan_in) {
                continue;
            }
            var da = acc[q][s];
            let o = so + i * pl.fan_out + k;
            if (l.res != 0.0) {
                da += scratch[so + l.g + i * l.fan_out + k];
            }
            if (pl.res != 0.0) {
                scratch[o + pl.g] = da;
                da *= pl.res;
            }
            scratch[o + dst] = da * act_grad(scratch[o + pre], scratch[o + pl.a], pl.act, pl.alpha);
        }
    }
}

// The norm backward of the layer below: batch norm one unit per invocation (Σdy and Σdy·x̂ give dβ and
// dγ, then every row's δ); layer norm's dγ and dβ one unit per invocation and its δ one row per
// invocation (independent: both read dy, each writes its own).
@compute @workgroup_size(GROUP)
fn tiled_norm_back(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    if (ps.layer + 1u >= md.layers) {
        return;
    }
    let pl = layers[md.lt + back_layer(md) - 1u];
    let rows = pass_rows(md, atomicLoad(&queue[STEP_SLOT])).n;
    let so = md.so;
    let mf = f32(rows);
    let t = wid.x * GROUP + lid.x;
    if (pl.norm == 1u && t < pl.fan_out) {
        let j = t;
        let mean = scratch[so + pl.stats + j];
        let rstd = scratch[so + pl.stats + pl.fan_out + j];
        var sdy = 0.0;
        var sdyx = 0.0;
        for (var r = 0u; r < rows; r++) {
            let o = so + r * pl.fan_out + j;
            let dy = scratch[o + pl.dy];
            sdy += dy;
            sdyx += dy * norm_xhat(scratch[o + pl.z], mean, rstd);
        }
        arena[md.go + pl.gamma + j] = sdyx;
        arena[md.go + pl.beta + j] = sdy;
        let gamma = arena[md.po + pl.gamma + j];
        for (var r = 0u; r < rows; r++) {
            let o = so + r * pl.fan_out + j;
            let xhat = norm_xhat(scratch[o + pl.z], mean, rstd);
            scratch[o + pl.d] = norm_backward(scratch[o + pl.dy], xhat, sdy, sdyx, gamma * rstd, mf);
        }
    }
    if (pl.norm == 2u) {
        let rs = so + pl.stats + 4u * pl.fan_out;
        if (t < pl.fan_out) {
            let j = t;
            var sdy = 0.0;
            var sdyx = 0.0;
            for (var r = 0u; r < rows; r++) {
                let o = so + r * pl.fan_out + j;
                let dy = scratch[o + pl.dy];
                sdy += dy;
                sdyx += dy * norm_xhat(scratch[o + pl.z], scratch[rs + r], scratch[rs + md.row_cap + r]);
            }
            arena[md.go + pl.gamma + j] = sdyx;
            arena[md.go + pl.beta + j] = sdy;
        }
        if (t < rows) {
            let r = t;
            let nf = f32(pl.fan_out);
            let mean = scratch[rs + r];
            let rstd = scratch[rs + md.row_cap + r];
            let row = so + r * pl.fan_out;
            var sg = 0.0;
            var sgx = 0.0;
            for (var j = 0u; j < pl.fan_out; j++) {
                let g = scratch[row + pl.dy + j] * arena[md.po + pl.gamma + j];
                sg += g;
                sgx += g * norm_xhat(scratch[row + pl.z + j], mean, rstd);
            }
            for (var j = 0u; j < pl.fan_out; j++) {
                let xhat = norm_xhat(scratch[row + pl.z + j], mean, rstd);
                let g = scratch[row + pl.dy + j] * arena[md.po + pl.gamma + j];
                scratch[row + pl.d + j] = norm_backward(g, xhat, sg, sgx, rstd, nf);
            }
        }
    }
}

// --clip-grad-norm, one workgroup per model: ‖g‖ over all its gradients (64 strided partial sums, added
// in invocation order), the norm to `out` for the host, then every gradient scaled by
// min(1, clip/(‖g‖ + 1e-6)) in place — the clipped gradient is the one kept, as the reference's.
@compute @workgroup_size(GROUP)
fn tiled_clip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let step = current_step(lid.x);
    if (md.clip <= 0.0 || step >= md.steps) {
        return;
    }
    var sq = 0.0;
    for (var e = lid.x; e < md.param_len; e += GROUP) {
        let g = arena[md.go + e];
        sq += g * g;
    }
    var v: array<f32, REDUCTION_SUMS>;
    v[0] = sq;
    let norm = sqrt(wg_sums(lid.x, GROUP, v)[0]);
    let scale = min(1.0, md.clip / (norm + 1e-6));
    if (lid.x == 0u) {
        out[md.norms + step] = norm;
    }
    for (var e = lid.x; e < md.param_len; e += GROUP) {
        arena[md.go + e] *= scale;
    }
}

// The optimiser step on every parameter of every model, one per invocation (padding holds zeros and
// stays zero); SGD's velocity and Adam's m share the first moment slot.
@compute @workgroup_size(GROUP)
fn tiled_optimise(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let md = models[wid.z];
    let step = atomicLoad(&queue[STEP_SLOT]);
    let e = wid.x * GROUP + lid.x;
    if (step >= md.steps || e >= md.param_len) {
        return;
    }
    let alpha = arena[md.sched + step];
    let g = with_decay(md, e, arena[md.go + e]);
    let adam = md.optimizer == 1u;
    let m0 = arena[md.mo + e];
    let m = select(sgd_velocity(m0, g, md.momentum), adam_m(m0, g, md.beta1, md.one_minus_beta1), adam);
    arena[md.mo + e] = m;
    var delta = alpha * m;
    if (adam) {
        let v = adam_v(arena[md.vo + e], g, md.beta2, md.one_minus_beta2);
        arena[md.vo + e] = v;
        delta = adam_delta(alpha, m, v, md.eps);
    }
    arena[md.po + e] -= delta;
}

// After a probe: one workgroup per layer and model reduces the layer's statistics into `probes` (as
// fused.wgsl's `probe_stats`), then makes the layer's parameters the next probe's previous ones; layer
// 0's also copies its gradient out for the host.
@compute @workgroup_size(GROUP)
fn tiled_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let md = models[wid.z];
    let li = wid.x;
    if (li >= md.layers || md.rows == 0u) {
        return;
    }
    let lid = lid3.x;
    let l = layers[md.lt + li];
    let so = md.so;
    let rows = md.rows;
    let nw = l.fan_out * l.fan_in;
    var gw = 0.0;
    var ww = 0.0;
    var pw = 0.0;
    var dw = 0.0;
    for (var e = lid; e < nw; e += GROUP) {
        let g = arena[md.go + l.w + e];
        let w = arena[md.po + l.w + e];
        let q = arena[md.wo + l.w + e];
        gw += g * g;
        ww += w * w;
        pw += q * q;
        dw += (w - q) * (w - q);
    }
    var gb = 0.0;
    for (var u = lid; u < l.fan_out; u += GROUP) {
        let g = arena[md.go + l.b + u];
        gb += g * g;
    }
    let n = rows * l.fan_out;
    let count = f32(n);
    let pre = select(l.z, l.y, l.norm != 0u);
    let max_grad = act_max_grad(l.act);
    var d2 = 0.0;
    var s = 0.0;
    var sat = 0.0;
    var g2 = 0.0;
    for (var e = lid; e < n; e += GROUP) {
        let dv = scratch[so + l.d + e];
        let a = scratch[so + l.a + e];
        let g = act_grad(scratch[so + pre + e], a, l.act, l.alpha);
        d2 += dv * dv;
        s += a;
        g2 += g * g;
        if (max_grad > 0.0 && g < 0.01 * max_grad) {
            sat += 1.0;
        }
    }
    var dead = 0.0;
    if (l.act == 3u) {
        for (var u = lid; u < l.fan_out; u += GROUP) {
            var alive = false;
            for (var r = 0u; r < rows; r++) {
                alive = alive || scratch[so + l.a + r * l.fan_out + u] != 0.0;
            }
            if (!alive) {
                dead += 1.0;
            }
        }
    }
    let t = wg_sums(lid, GROUP, array<f32, REDUCTION_SUMS>(gw, gb, ww, pw, dw, d2, s, sat, g2, dead));
    let mean = t[6] / count;
    var c2 = 0.0;
    for (var e = lid; e < n; e += GROUP) {
        let c = scratch[so + l.a + e] - mean;
        c2 += c * c;
    }
    var c: array<f32, REDUCTION_SUMS>;
    c[0] = c2;
    let sd = sqrt(wg_sums(lid, GROUP, c)[0] / count);
    if (lid == 0u) {
        probes[md.probes + li] = LayerStats(
            t[0], t[1], t[5], t[2], t[3], t[4], mean, sd, t[7] / count, t[9] / f32(l.fan_out), t[8] / count, 0.0,
        );
    }
    if (li == 0u) {
        for (var e = lid; e < nw; e += GROUP) {
            out[md.grad_w1 + e] = arena[md.go + l.w + e];
        }
    }
    // This layer's parameters become the previous probe's (every invocation has read them above).
    workgroupBarrier();
    for (var e = lid; e < nw; e += GROUP) {
        arena[md.wo + l.w + e] = arena[md.po + l.w + e];
    }
    for (var u = lid; u < l.fan_out; u += GROUP) {
        arena[md.wo + l.b + u] = arena[md.po + l.b + u];
        if (l.norm != 0u) {
            arena[md.wo + l.gamma + u] = arena[md.po + l.gamma + u];
            arena[md.wo + l.beta + u] = arena[md.po + l.beta + u];
        }
    }
}
