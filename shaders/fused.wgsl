// The fused executor: whole training steps, probes and evaluations of narrow MLPs (every width ≤ 64),
// one model at a time per workgroup, for a batch of models that may differ in depth,
// widths, activations, normalisation, skips, optimiser, data and epoch order. Each model has a descriptor
// (`ModelDesc`: where its data, parameters, state and scratch live) and a layer table, so nothing
// about a model is compiled in: one pipeline per kernel class (the workgroup width, and whether the
// parameters are cached in workgroup memory) serves every model of that class. The maths
// (activations, losses, optimiser updates) comes from the prelude, shaders/maths.wgsl.
//
// `fused_run` does one of four things to every model (`Run.mode`):
//   0 train — `count` steps of the epoch from step `first`: gather, forward (batch norm with batch
//             statistics, running statistics updated; layer norm per row), loss, backward and the
//             optimiser step;
//   1 probe — forward and backward over the whole training split in training mode, updating
//             nothing; `fused_stats`, dispatched next, reduces the per-layer statistics a probe
//             reports into `probes`;
//   2, 3    — evaluate the training or the test split: forward with running statistics and the loss;
// or, mode 4, both halves of a batch at once: the first half of the table trains (mode 0) while the
// second, each model's *twin* — a descriptor of the same model whose parameters and running statistics
// are a copy taken just before, with gradients and scratch of its own — is measured: evaluated (with
// `Run.evaluate`) and probed. A batch of few models leaves most of a GPU idle during its steps (and one of
// lavapipe's two threads); so the measurement of one epoch's end runs beside the next epoch's steps.
// A call of the training loop — the measurement of where the last call left the models, then a chunk
// of steps — goes into one command buffer; the host reads the results once.
//
// Work is split three ways among the workgroup's invocations:
//   rows     — one row per invocation: the forward pass, layer norm, the loss, dA = δ·W and f′; an
//              invocation always owns the same rows (row r is invocation r mod WG's), so these phases
//              need no barrier between them;
//   features — one unit per invocation (in chunks of WG units where a layer is wider than the
//              workgroup): batch-norm statistics, the normalisations' backward sums, dead units;
//   entries  — parameters: dW = δᵀ·A and db in 2×4 blocks per invocation, then the optimiser update of
//              every parameter, one per invocation, after the whole backward pass.
// storageBarrier() separates phases whose data cross those lines. Every sum runs in a fixed order, so
// results are identical run to run and a model's results do not depend on the others in its batch.
// Gradient rule: parameter gradients are overwritten by each backward pass and kept in the arena's
// gradient slice, so a step or a probe can be checked against the reference.
//
// Every heavy loop runs in uniform control flow: all invocations take the same trip count, and only
// stores are guarded. CPU drivers (llvmpipe) run invocations as SIMD lanes; inside a loop whose bound
// depends on the invocation they turn every load into a per-lane loop, several times slower. So
// the row loops step over whole chunks of WG rows (scratch holds `row_cap` rows, a multiple of 2·WG;
// rows past the batch are padding, computed but never summed), and the unit and entry phases run
// every invocation the same number of times, those past the end repeating the last unit or entry and
// storing nothing.

// The workgroup's width, set at pipeline creation: the batch's width class (8, 16, 32 or 64), or on a CPU
// driver one SIMD group (`workgroup_width` in fused.rs).
override WG: u32 = 64u;

// Floats of workgroup memory that hold a model's parameters: every row and unit phase reads the
// weights. Set from the adapter's workgroup storage for the pipeline of the models whose parameters
// fit it, and to 1 (no cache: read from the arena) for the others.
override WSH: u32 = 1u;

var<workgroup> wsh: array<f32, WSH>;

// What the batch's models use, set at pipeline creation (1: some model does): the code for batch norm,
// layer norm, skip connections and clipping is compiled only into pipelines whose batch needs it, since
// CPU drivers' compile time grows faster than the kernel.
override BATCH_NORM: u32 = 1u;
override LAYER_NORM: u32 = 1u;
override SKIPS: u32 = 1u;
override CLIP: u32 = 1u;

struct Run {
    mode: u32,   // 0 train, 1 probe, 2 evaluate train, 3 evaluate test, 4 train the models beside their twins' measurement
    first: u32,  // train: the first step's index in the epoch
    count: u32,  // train: steps in this dispatch
    after_probe: u32, // evaluate train: a probe just ran, so models without batch norm copy its totals
    slot: u32,   // this dispatch's counter in `queue`
    base: u32,   // the table entry of the dispatch's first model (fused_stats of the twins: the batch's size)
    evaluate: u32, // mode 4: the twins are evaluated before they are probed
}

@group(0) @binding(0) var<uniform> run: Run;

var<workgroup> claimed: u32;

// The next model of the batch nobody has claimed, the same for the whole workgroup (the batch's size or
// more once all are taken). Workgroups take models as they free up, heaviest first (the table's order),
// instead of one fixed model each: CPU drivers give each thread an equal run of a dispatch's workgroups,
// so with fixed models a thread whose run was lighter idled while the other finished, whatever order
// the host chose (the work of a probe or of batch norm's phases is not the steps'). A model's numbers do
// not depend on which workgroup trains it.
fn claim(lid: u32) -> u32 {
    if (lid == 0u) {
        claimed = atomicAdd(&queue[run.slot], 1u);
    }
    return workgroupUniformLoad(&claimed);
}

fn weight(md: ModelDesc, i: u32) -> f32 {
    if (WSH > 1u) {
        return wsh[i];
    }
    return arena[md.po + i];
}

// Orders writes to the cached weights before the next reads (storageBarrier() does not cover
// workgroup memory).
fn weights_barrier() {
    if (WSH > 1u) {
        workgroupBarrier();
    }
}

// The optimiser on parameter k of the model, with gradient g and step size alpha. SGD's velocity and
// Adam's m share the first moment slot and its loads and stores (one memory access on a CPU driver is
// a branch per SIMD lane, so the kernel keeps few of them).
fn update(md: ModelDesc, k: u32, g: f32, alpha: f32) {
    let adam = md.optimizer == 1u;
    let m0 = arena[md.mo + k];
    let m = select(sgd_velocity(m0, g, md.momentum), adam_m(m0, g, md.beta1, md.one_minus_beta1), adam);
    arena[md.mo + k] = m;
    var delta = alpha * m;
    if (adam) {
        let v = adam_v(arena[md.vo + k], g, md.beta2, md.one_minus_beta2);
        arena[md.vo + k] = v;
        delta = adam_delta(alpha, m, v, md.eps);
    }
    let p = arena[md.po + k] - delta;
    arena[md.po + k] = p;
    if (WSH > 1u) {
        wsh[k] = p;
    }
}

// Copies `rows` rows into the first layer's input and their labels into scratch: training steps take
// rows `order[start ..]`, probes and evaluations the split in its own order.
fn gather(md: ModelDesc, lid: u32, rows: u32, start: u32, mode: u32) {
    let l0 = layers[md.lt];
    let so = md.so;
    for (var base = 0u; base < rows; base += WG) {
        let r = base + lid;
        let rr = min(r, rows - 1u);
        var src = 0u;
        var xo = md.x;
        var yo = md.y;
        if (mode == MODE_TRAIN) {
            src = labels[md.order + start + rr];
        } else {
            src = rr;
            if (mode == MODE_EVAL_TEST) {
                xo = md.tx;
                yo = md.ty;
            }
        }
        for (var k = 0u; k < md.input; k++) {
            scratch[so + l0.x + r * md.input + k] = xs[xo + src * md.input + k];
        }
        scratch[so + md.scratch_loss + r] = f32(labels[yo + src]);
    }
}

// Forward through every layer for `rows` rows. Batch norm uses the batch's statistics in training
// and probes (training updates the running statistics) and the running statistics in evaluations.
fn forward(md: ModelDesc, lid: u32, rows: u32, mode: u32) {
    let so = md.so;
    let mf = f32(rows);
    for (var li = 0u; li < md.layers; li++) {
        let l = layers[md.lt + li];
        // rows: z = x·Wᵀ + b, and a = f(z) when there is no normalisation. The row is read from scratch
        // at each use, not copied into a private array: CPU drivers turn a private array indexed by a
        // loop counter into a ladder of compares over every element at each access.
        // Two rows per invocation (r and r + WG), so each weight is read once for both, and four units at
        // a time, so each input read serves four sums (units past the layer's width repeat its last one
        // and are not stored). Each sum still adds its terms in k order.
        let last = l.fan_out - 1u;
        for (var base = 0u; base < rows; base += 2u * WG) {
            let r0 = base + lid;
            let r1 = r0 + WG;
            let x0 = so + l.x + r0 * l.fan_in;
            let x1 = so + l.x + r1 * l.fan_in;
            for (var jb = 0u; jb < l.fan_out; jb += 4u) {
                let ja = min(jb + 1u, last);
                let jc = min(jb + 2u, last);
                let jd = min(jb + 3u, last);
                var s0 = array<f32, 4>(
                    weight(md, l.b + jb), weight(md, l.b + ja), weight(md, l.b + jc), weight(md, l.b + jd),
                );
                var s1 = s0;
                for (var k = 0u; k < l.fan_in; k++) {
                    let xa = scratch[x0 + k];
                    let xb = scratch[x1 + k];
                    let w0 = weight(md, l.w + jb * l.fan_in + k);
                    let w1 = weight(md, l.w + ja * l.fan_in + k);
                    let w2 = weight(md, l.w + jc * l.fan_in + k);
                    let w3 = weight(md, l.w + jd * l.fan_in + k);
                    s0 = array<f32, 4>(s0[0] + w0 * xa, s0[1] + w1 * xa, s0[2] + w2 * xa, s0[3] + w3 * xa);
                    s1 = array<f32, 4>(s1[0] + w0 * xb, s1[1] + w1 * xb, s1[2] + w2 * xb, s1[3] + w3 * xb);
                }
                for (var q = 0u; q < 4u; q++) {
                    let j = jb + q;
                    if (j >= l.fan_out) {
                        break;
                    }
                    let acc0 = s0[q];
                    let acc1 = s1[q];
                    let o0 = so + r0 * l.fan_out + j;
                    let o1 = so + r1 * l.fan_out + j;
                    scratch[o0 + l.z] = acc0;
                    scratch[o1 + l.z] = acc1;
                    if (l.norm == 0u) {
                        let a0 = act_forward(acc0, l.act, l.alpha);
                        let a1 = act_forward(acc1, l.act, l.alpha);
                        scratch[o0 + l.a] = a0;
                        scratch[o1 + l.a] = a1;
                        if (SKIPS == 1u && l.res != 0.0) {
                            // fan_in = fan_out behind a skip, so unit j's input is x[j]
                            scratch[o0 + l.o] = scratch[x0 + j] + l.res * a0;
                            scratch[o1 + l.o] = scratch[x1 + j] + l.res * a1;
                        }
                    }
                }
            }
        }
        if (LAYER_NORM == 1u && l.norm == 2u) {
            // rows: each row's mean and biased variance over its units (two passes, as batch norm's),
            // then y = γ·(z − mean)·rstd + β and a = f(y); the invocation that wrote the row's z reads it
            let rs = so + l.stats + 4u * l.fan_out;
            for (var base = 0u; base < rows; base += WG) {
                let r = base + lid;
                let stats = ln_row_stats(md, l, r);
                let mean = stats.x;
                let rstd = stats.y;
                scratch[rs + r] = mean;
                scratch[rs + md.row_cap + r] = rstd;
                for (var j = 0u; j < l.fan_out; j++) {
                    let o = so + r * l.fan_out + j;
                    let yv = norm_forward(scratch[o + l.z], mean, rstd, weight(md, l.gamma + j), weight(md, l.beta + j));
                    scratch[o + l.y] = yv;
                    let av = act_forward(yv, l.act, l.alpha);
                    scratch[o + l.a] = av;
                    if (SKIPS == 1u && l.res != 0.0) {
                        scratch[o + l.o] = scratch[so + l.x + r * l.fan_in + j] + l.res * av;
                    }
                }
            }
        }
        if (BATCH_NORM == 1u && l.norm == 1u) {
            storageBarrier(); // every row's z is written before the statistics read them
            // features: the batch mean and biased variance (two passes), or the running statistics
            for (var ub = 0u; ub < l.fan_out; ub += WG) {
                let u = ub + lid;
                let j = min(u, l.fan_out - 1u);
                let stats = bn_unit_stats(md, l, j, rows, mode, u < l.fan_out);
                if (u < l.fan_out) {
                    scratch[so + l.stats + j] = stats.x;
                    scratch[so + l.stats + l.fan_out + j] = stats.y;
                }
            }
            storageBarrier(); // the statistics are written before the rows use them
            // rows: y = γ·(z − mean)·rstd + β, a = f(y), unit by unit: a unit's statistics and parameters
            // are read once for all the invocation's rows (a probe's are dozens)
            for (var j = 0u; j < l.fan_out; j++) {
                let mean = scratch[so + l.stats + j];
                let rstd = scratch[so + l.stats + l.fan_out + j];
                let gamma = weight(md, l.gamma + j);
                let beta = weight(md, l.beta + j);
                for (var base = 0u; base < rows; base += WG) {
                    let r = base + lid;
                    let o = so + r * l.fan_out + j;
                    let yv = norm_forward(scratch[o + l.z], mean, rstd, gamma, beta);
                    scratch[o + l.y] = yv;
                    let av = act_forward(yv, l.act, l.alpha);
                    scratch[o + l.a] = av;
                    if (SKIPS == 1u && l.res != 0.0) {
                        scratch[o + l.o] = scratch[so + l.x + r * l.fan_in + j] + l.res * av;
                    }
                }
            }
        }
    }
}

// The loss of `rows` rows: dlogits into the output layer's δ, then the pass's totals (the mean loss and
// the correct count) into `out` at `at` (`totals_at`).
fn loss(md: ModelDesc, lid: u32, rows: u32, at: u32) {
    let so = md.so;
    let mf = f32(rows);
    let lo = layers[md.lt + md.layers - 1u];
    let k = md.classes;
    let lab = so + md.scratch_loss;
    for (var base = 0u; base < rows; base += WG) {
        let r = base + lid;
        let t = row_loss(md, lo, so + r * k, u32(scratch[lab + r]), mf);
        scratch[lab + md.row_cap + r] = t.loss;
        scratch[lab + 2u * md.row_cap + r] = t.correct;
    }
    storageBarrier(); // every row's loss and δ are written
    if (lid == 0u) {
        var total = 0.0;
        var hits = 0.0;
        for (var r = 0u; r < rows; r++) {
            total += scratch[lab + md.row_cap + r];
            hits += scratch[lab + 2u * md.row_cap + r];
        }
        store_totals(at, PassTotals(total / mf, hits));
    }
}

// Backward from the output layer's δ to every parameter's gradient, in the arena's gradient slice, for
// `rows` rows. Nothing is updated here: a training step's optimiser runs after it (`optimise`), so every
// phase reads the weights of the forward pass.
fn backward(md: ModelDesc, lid: u32, rows: u32) {
    let so = md.so;
    let mf = f32(rows);
    let last = md.layers - 1u;
    for (var step_back = 0u; step_back < md.layers; step_back++) {
        let li = last - step_back;
        let l = layers[md.lt + li];
        // The layer below (layer 0 itself for the first layer, then unused), read once for the phases
        // that follow.
        let pl = layers[md.lt + max(li, 1u) - 1u];
        // entries: dW[j, k] = Σ_r δ[r, j]·x[r, k] and, as column k = fan_in with x = 1, db[j] = Σ_r δ[r, j],
        // each summed over the rows in order. An invocation takes a 2×4 block of entries (units j, j + 1,
        // columns k .. k + 3), so each δ it reads serves four sums and each x two; the blocks keep every
        // invocation busy, where one unit per invocation left those past the layer's width idle.
        let cols = l.fan_in + 1u;
        let bj = (l.fan_out + 1u) / 2u;
        let bk = (cols + 3u) / 4u;
        let blocks = bj * bk;
        let xl = l.fan_in - 1u;
        for (var base = 0u; base < blocks; base += WG) {
            let blk = min(base + lid, blocks - 1u);
            let j0 = 2u * (blk / bk);
            let k0 = 4u * (blk % bk);
            let j1 = min(j0 + 1u, l.fan_out - 1u);
            var s0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
            var s1 = s0;
            for (var r = 0u; r < rows; r++) {
                let xr = so + l.x + r * l.fan_in;
                let dr = so + l.d + r * l.fan_out;
                let x0 = select(scratch[xr + min(k0, xl)], 1.0, k0 == l.fan_in);
                let x1 = select(scratch[xr + min(k0 + 1u, xl)], 1.0, k0 + 1u == l.fan_in);
                let x2 = select(scratch[xr + min(k0 + 2u, xl)], 1.0, k0 + 2u == l.fan_in);
                let x3 = select(scratch[xr + min(k0 + 3u, xl)], 1.0, k0 + 3u == l.fan_in);
                let d0 = scratch[dr + j0];
                let d1 = scratch[dr + j1];
                s0 = array<f32, 4>(s0[0] + d0 * x0, s0[1] + d0 * x1, s0[2] + d0 * x2, s0[3] + d0 * x3);
                s1 = array<f32, 4>(s1[0] + d1 * x0, s1[1] + d1 * x1, s1[2] + d1 * x2, s1[3] + d1 * x3);
            }
            if (base + lid < blocks) {
                let g0 = md.go + l.w + j0 * l.fan_in;
                let g1 = md.go + l.w + j1 * l.fan_in;
                for (var q = 0u; q < 4u; q++) {
                    let k = k0 + q;
                    if (k <= l.fan_in) {
                        arena[select(g0 + k, md.go + l.b + j0, k == l.fan_in)] = s0[q];
                        if (j0 + 1u < l.fan_out) {
                            arena[select(g1 + k, md.go + l.b + j1, k == l.fan_in)] = s1[q];
                        }
                    }
                }
            }
        }
        // rows: dA of the layer below = δ·W, through its activation (into its δ, or its dy with a norm)
        if (li > 0u) {
            // Two rows per invocation and four inputs at a time, as in the forward pass: each δ read
            // serves four sums, each still added in j order.
            let pre = select(pl.z, pl.y, pl.norm != 0u);
            let dst = select(pl.d, pl.dy, pl.norm != 0u);
            let last = l.fan_in - 1u;
            for (var base = 0u; base < rows; base += 2u * WG) {
                let r0 = base + lid;
                let r1 = r0 + WG;
                let d0 = so + l.d + r0 * l.fan_out;
                let d1 = so + l.d + r1 * l.fan_out;
                for (var kb = 0u; kb < l.fan_in; kb += 4u) {
                    let ka = min(kb + 1u, last);
                    let kc = min(kb + 2u, last);
                    let kd = min(kb + 3u, last);
                    var s0 = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
                    var s1 = s0;
                    for (var j = 0u; j < l.fan_out; j++) {
                        let da = scratch[d0 + j];
                        let db = scratch[d1 + j];
                        let wr = l.w + j * l.fan_in;
                        let w0 = weight(md, wr + kb);
                        let w1 = weight(md, wr + ka);
                        let w2 = weight(md, wr + kc);
                        let w3 = weight(md, wr + kd);
                        s0 = array<f32, 4>(s0[0] + da * w0, s0[1] + da * w1, s0[2] + da * w2, s0[3] + da * w3);
                        s1 = array<f32, 4>(s1[0] + db * w0, s1[1] + db * w1, s1[2] + db * w2, s1[3] + db * w3);
                    }
                    for (var q = 0u; q < 4u; q++) {
                        let k = kb + q;
                        if (k >= l.fan_in) {
                            break;
                        }
                        var da0 = s0[q];
                        var da1 = s1[q];
                        // Through f′ of the layer below's activation input: its z, or its norm's y (and then
                        // into dy, which the norm's backward turns into δ).
                        let o0 = so + r0 * pl.fan_out + k;
                        let o1 = so + r1 * pl.fan_out + k;
                        if (SKIPS == 1u && l.res != 0.0) {
                            // this layer's skip carries its output's gradient to its input, the layer below's output
                            da0 += scratch[so + l.g + r0 * l.fan_out + k];
                            da1 += scratch[so + l.g + r1 * l.fan_out + k];
                        }
                        if (SKIPS == 1u && pl.res != 0.0) {
                            // the layer below has a skip: keep its output's gradient for it, and its branch gets α·that
                            scratch[o0 + pl.g] = da0;
                            scratch[o1 + pl.g] = da1;
                            da0 *= pl.res;
                            da1 *= pl.res;
                        }
                        scratch[o0 + dst] = da0 * act_grad(scratch[o0 + pre], scratch[o0 + pl.a], pl.act, pl.alpha);
                        scratch[o1 + dst] = da1 * act_grad(scratch[o1 + pre], scratch[o1 + pl.a], pl.act, pl.alpha);
                    }
                }
            }
        }
        storageBarrier(); // the layer below's dy (or δ) is written for every row
        if (LAYER_NORM == 1u && li > 0u && pl.norm == 2u) {
            let rs = so + pl.stats + 4u * pl.fan_out;
            // features: Σ dy·x̂ and Σ dy over the rows give dγ and dβ
            for (var ub = 0u; ub < pl.fan_out; ub += WG) {
                let u = ub + lid;
                let j = min(u, pl.fan_out - 1u);
                var sdy = 0.0;
                var sdyx = 0.0;
                for (var r = 0u; r < rows; r++) {
                    let o = so + r * pl.fan_out + j;
                    let dy = scratch[o + pl.dy];
                    sdy += dy;
                    sdyx += dy * norm_xhat(scratch[o + pl.z], scratch[rs + r], scratch[rs + md.row_cap + r]);
                }
                if (u < pl.fan_out) {
                    arena[md.go + pl.gamma + j] = sdyx;
                    arena[md.go + pl.beta + j] = sdy;
                }
            }
            // rows: with g = dy·γ, dx = rstd/n · (n·g − Σg − x̂·Σg·x̂) over the row's units (the
            // invocation that owns the row wrote its dy, so no barrier)
            let nf = f32(pl.fan_out);
            for (var base = 0u; base < rows; base += WG) {
                let r = base + lid;
                let mean = scratch[rs + r];
                let rstd = scratch[rs + md.row_cap + r];
                let row = so + r * pl.fan_out;
                var sg = 0.0;
                var sgx = 0.0;
                for (var j = 0u; j < pl.fan_out; j++) {
                    let g = scratch[row + pl.dy + j] * weight(md, pl.gamma + j);
                    sg += g;
                    sgx += g * norm_xhat(scratch[row + pl.z + j], mean, rstd);
                }
                for (var j = 0u; j < pl.fan_out; j++) {
                    let xhat = norm_xhat(scratch[row + pl.z + j], mean, rstd);
                    let g = scratch[row + pl.dy + j] * weight(md, pl.gamma + j);
                    scratch[row + pl.d + j] = norm_backward(g, xhat, sg, sgx, rstd, nf);
                }
            }
        }
        if (BATCH_NORM == 1u && li > 0u && pl.norm == 1u) {
            // features: Σ dy and Σ dy·x̂ give dβ and dγ
            for (var ub = 0u; ub < pl.fan_out; ub += WG) {
                let u = ub + lid;
                let j = min(u, pl.fan_out - 1u);
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
                if (u < pl.fan_out) {
                    scratch[so + pl.stats + 2u * pl.fan_out + j] = sdy;
                    scratch[so + pl.stats + 3u * pl.fan_out + j] = sdyx;
                    arena[md.go + pl.gamma + j] = sdyx;
                    arena[md.go + pl.beta + j] = sdy;
                }
            }
            storageBarrier(); // the sums are written before the rows read them
            // rows: dx = γ·rstd/m · (m·dy − Σdy − x̂·Σdy·x̂), with x̂ = (z − mean)·rstd, unit by unit as
            // in the forward pass
            for (var j = 0u; j < pl.fan_out; j++) {
                let st = so + pl.stats + j;
                let mean = scratch[st];
                let rstd = scratch[st + pl.fan_out];
                let sdy = scratch[st + 2u * pl.fan_out];
                let sdyx = scratch[st + 3u * pl.fan_out];
                let gamma = weight(md, pl.gamma + j);
                for (var base = 0u; base < rows; base += WG) {
                    let r = base + lid;
                    let o = so + r * pl.fan_out + j;
                    let xhat = norm_xhat(scratch[o + pl.z], mean, rstd);
                    scratch[o + pl.d] = norm_backward(scratch[o + pl.dy], xhat, sdy, sdyx, gamma * rstd, mf);
                }
            }
        }
        storageBarrier(); // the layer below's δ is complete before its gradients are summed
    }
}

// A training step's optimiser, on every parameter of the model at once (padding holds zeros and stays
// zero), after the backward pass has written every gradient. With --clip-grad-norm, PyTorch's
// clip_grad_norm_ first: every gradient scaled by min(1, clip/(‖g‖ + 1e-6)), ‖g‖ over all the model's
// parameters, summed in a fixed order; the norm before clipping goes to out for the host. One call site
// of `update` for every kind of parameter: CPU drivers' compile time grows faster than the kernel.
fn optimise(md: ModelDesc, lid: u32, alpha: f32, step: u32) {
    storageBarrier(); // every gradient is in the arena
    var scale = 1.0;
    if (CLIP == 1u && md.clip > 0.0) {
        var part = 0.0;
        for (var e = lid; e < md.param_len; e += WG) {
            let g = arena[md.go + e];
            part += g * g;
        }
        // One sum, added in invocation order (wg_sums' ten would cost this kernel compile time).
        workgroupBarrier();
        red[lid] = part;
        workgroupBarrier();
        var total = 0.0;
        for (var j = 0u; j < WG; j++) {
            total += red[j];
        }
        workgroupBarrier(); // every invocation has read red before anyone reuses it
        let norm = sqrt(total);
        scale = min(1.0, md.clip / (norm + 1e-6));
        if (lid == 0u) {
            out[md.norms + step] = norm;
        }
    }
    weights_barrier(); // every row has read the cached weights before they change
    for (var base = 0u; base < md.param_len; base += WG) {
        let e = base + lid;
        if (e < md.param_len) {
            let g = arena[md.go + e] * scale;
            if (CLIP == 1u) {
                arena[md.go + e] = g; // the gradient kept is the clipped one, as the reference's
            }
            update(md, e, with_decay(md, e, g), alpha);
        }
    }
    storageBarrier();
    weights_barrier(); // the updated weights are in the cache before the next step reads them
}

// After a probe's backward pass (a dispatch of its own, `fused_stats`, so that the big kernel does not
// carry this code: llvmpipe's compile time grows faster than the code): each layer's statistics into
// `probes`, then the parameters become the previous probe's. Strided partial sums, added in a fixed order by `wg_sums`.
fn probe_stats(md: ModelDesc, lid: u32) {
    let so = md.so;
    let rows = md.rows;
    for (var li = 0u; li < md.layers; li++) {
        let l = layers[md.lt + li];
        let nw = l.fan_out * l.fan_in;
        var gw = 0.0;
        var ww = 0.0;
        var pw = 0.0;
        var dw = 0.0;
        for (var base = 0u; base < nw; base += WG) {
            let e = base + lid;
            if (e < nw) {
                let g = arena[md.go + l.w + e];
                let w = arena[md.po + l.w + e];
                let q = arena[md.wo + l.w + e];
                gw += g * g;
                ww += w * w;
                pw += q * q;
                dw += (w - q) * (w - q);
            }
        }
        var gb = 0.0;
        for (var ub = 0u; ub < l.fan_out; ub += WG) {
            let u = ub + lid;
            if (u < l.fan_out) {
                let g = arena[md.go + l.b + u];
                gb += g * g;
            }
        }
        let n = rows * l.fan_out;
        let count = f32(n);
        let pre = select(l.z, l.y, l.norm != 0u);
        let max_grad = act_max_grad(l.act);
        var d2 = 0.0;
        var s = 0.0;
        var sat = 0.0;
        var g2 = 0.0;
        for (var base = 0u; base < n; base += WG) {
            let e = base + lid;
            if (e < n) {
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
        }
        // features: a ReLU unit is dead when it outputs exactly 0 on every row
        var dead = 0.0;
        if (l.act == 3u) {
            for (var ub = 0u; ub < l.fan_out; ub += WG) {
                let u = ub + lid;
                let j = min(u, l.fan_out - 1u);
                var alive = false;
                for (var r = 0u; r < rows; r++) {
                    alive = alive || scratch[so + l.a + r * l.fan_out + j] != 0.0;
                }
                if (u < l.fan_out && !alive) {
                    dead += 1.0;
                }
            }
        }
        let t = wg_sums(lid, WG, array<f32, REDUCTION_SUMS>(gw, gb, ww, pw, dw, d2, s, sat, g2, dead));
        let mean = t[6] / count;
        // Two passes for the std: E[a²] − E[a]² cancels in f32.
        var c2 = 0.0;
        for (var base = 0u; base < n; base += WG) {
            let e = base + lid;
            if (e < n) {
                let c = scratch[so + l.a + e] - mean;
                c2 += c * c;
            }
        }
        let sd = sqrt(wg_sums(lid, WG, array<f32, REDUCTION_SUMS>(c2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))[0] / count);
        if (lid == 0u) {
            probes[md.probes + li] = LayerStats(
                t[0], t[1], t[5], t[2], t[3], t[4], mean, sd, t[7] / count, t[9] / f32(l.fan_out), t[8] / count, 0.0,
            );
        }
    }
    // The first layer's gradient, for the host.
    let l0 = layers[md.lt];
    let n0 = l0.fan_in * l0.fan_out;
    for (var base = 0u; base < n0; base += WG) {
        let e = base + lid;
        if (e < n0) {
            out[md.grad_w1 + e] = arena[md.go + l0.w + e];
        }
    }
    // The parameters now are the next probe's previous ones (read above, by every invocation).
    workgroupBarrier();
    let len = md.param_len;
    for (var base = 0u; base < len; base += WG) {
        let e = base + lid;
        if (e < len) {
            arena[md.wo + e] = arena[md.po + e];
        }
    }
}

@compute @workgroup_size(WG)
fn fused_run(@builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    _ = probes[0].grad_w_sq; // the probe's statistics are fused_stats', but the bind group is shared
    let lid = lid3.x;
    let beside = run.mode == MODE_BESIDE;
    let half = nwg.x / 2u;
    // One workgroup is dispatched per task, and each takes tasks until none is left. A task is one
    // pass over a model (`run_pass`), or, for a twin in mode 4, up to three: the evaluations before the
    // probe, whose scratch fused_stats reads next. One call site of `run_pass`: CPU drivers inline
    // every call, and their compile time grows faster than the code.
    for (var t = claim(lid); t < nwg.x; t = claim(lid)) {
        let md = models[run.base + t];
        let twin = beside && t >= half;
        var passes = array<u32, 3>(run.mode, 0u, 0u);
        var n = 1u;
        if (beside) {
            passes[0] = MODE_TRAIN;
        }
        if (twin) {
            n = 0u;
            if (run.evaluate == 1u) {
                passes[0] = MODE_EVAL_TEST;
                n = 1u;
                if (md.bn == 1u) {
                    passes[1] = MODE_EVAL_TRAIN;
                    n = 2u;
                }
            }
            passes[n] = MODE_PROBE;
            n += 1u;
        }
        for (var p = 0u; p < n; p++) {
            run_pass(md, lid, passes[p]);
        }
        if (twin && run.evaluate == 1u && md.bn == 0u && lid == 0u) {
            eval_train_from_probe(md);
        }
    }
}

// Without batch norm, evaluation mode is training mode: the training split's evaluation is the forward
// pass of the probe that just ran, whose loss and correct count it takes.
fn eval_train_from_probe(md: ModelDesc) {
    store_totals(totals_at(md, MODE_EVAL_TRAIN, 0u), load_totals(totals_at(md, MODE_PROBE, 0u)));
}

// One pass of `mode` (0-3) over one model: `run.count` training steps, or a probe or an evaluation.
fn run_pass(md: ModelDesc, lid: u32, mode: u32) {
    if (mode == MODE_EVAL_TRAIN && run.after_probe == 1u && md.bn == 0u) {
        if (lid == 0u) {
            eval_train_from_probe(md);
        }
        return;
    }
    if (WSH > 1u) {
        let len = md.param_len;
        for (var i = lid; i < len; i += WG) {
            wsh[i] = arena[md.po + i];
        }
    }
    workgroupBarrier(); // the cache is filled before any weight is read
    // One loop for every mode, so the passes below are compiled once: training runs `count` steps,
    // a probe or an evaluation one pass over its whole split.
    let train = mode == MODE_TRAIN;
    let count = select(1u, run.count, train);
    for (var s = 0u; s < count; s++) {
        var rows = md.rows;
        var start = 0u;
        var at = totals_at(md, mode, 0u);
        var alpha = 0.0;
        if (train) {
            let step = run.first + s;
            if (step >= md.steps) {
                break;
            }
            start = step * md.batch;
            rows = min(md.batch, md.rows - start);
            at = totals_at(md, mode, step);
            alpha = arena[md.sched + step];
        } else if (mode == MODE_EVAL_TEST) {
            rows = md.test_rows;
        }
        if (rows == 0u) {
            break;
        }
        gather(md, lid, rows, start, mode);
        forward(md, lid, rows, mode);
        loss(md, lid, rows, at);
        if (train || mode == MODE_PROBE) {
            backward(md, lid, rows);
            if (train) {
                optimise(md, lid, alpha, run.first + s);
            }
        }
    }
    workgroupBarrier(); // every read of the cached weights is done before the next pass's fill
}

// The statistics of the probe the previous dispatch ran, for every model from table entry `run.base`
// (the twins after mode 4), claimed as in fused_run.
@compute @workgroup_size(WG)
fn fused_stats(@builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    // The same bind group as fused_run: name the bindings this entry does not otherwise use.
    _ = xs[0];
    _ = labels[0];
    let lid = lid3.x;
    for (var m = claim(lid); m < nwg.x; m = claim(lid)) {
        let md = models[run.base + m];
        if (md.rows > 0u) {
            probe_stats(md, lid);
        }
    }
}
