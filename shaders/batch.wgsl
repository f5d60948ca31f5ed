// What a batch of models is, shared by the executor's two kernel families (fused.wgsl: one workgroup
// per model; tiled.wgsl: one dispatch per layer over every model): where each model lives (`ModelDesc`),
// each dense layer's tensors (`LayerDesc`), what a probe reports of a layer (`LayerStats`), and the
// workgroup's fixed-order sums. Each struct is a `#[repr(C)]` struct of the same name in
// src/gpu/batch.rs. `Shader::source` puts this file after the maths prelude and the constants Rust and
// WGSL share, which it writes from the Rust constants of the same names (`shared_constants` in
// src/gpu/shaders.rs): MAX_MODELS and MAX_LAYERS (the tables' sizes: uniform buffers of 64 KiB, WebGPU's
// default binding limit), the MODE_* of a pass (`Run.mode` in fused.wgsl, `Pass.mode` in tiled.wgsl),
// REDUCTION_SUMS and REDUCTION_FLOATS, the tiled kernels' TILE, GROUP and STEP_SLOT. The tables are
// uniform buffers because CPU drivers read a storage buffer at an address that differs between
// invocations (and the workgroup id counts as differing) with a branch per SIMD lane, a uniform buffer
// with straight-line loads, and these tables are read everywhere.

// Where one model lives. Offsets are in floats (or words) of the buffer named.
struct ModelDesc {
    layers: u32,       // dense layers, the output layer included
    lt: u32,           // layers: this model's first layer entry
    input: u32,        // features
    classes: u32,      // logits per row (1 for the binary head)
    rows: u32,         // rows of the training split
    test_rows: u32,    // rows of the test split
    batch: u32,        // the full batch size
    steps: u32,        // steps per epoch
    x: u32,            // xs: [rows, input] training features
    y: u32,            // labels: [rows] training labels
    tx: u32,           // xs: [test_rows, input]
    ty: u32,           // labels: [test_rows]
    order: u32,        // labels: [rows] this epoch's order
    sched: u32,        // arena: [steps] step sizes (`Optimizer::schedule`)
    metrics: u32,      // out: [steps, 2] each step's mean loss and correct count
    totals: u32,       // out: [3, 2] loss and correct count of the last probe, train and test evaluation
    probes: u32,       // probes: [layers] this model's first layer statistics
    grad_w1: u32,      // out: [out, in] the first layer's gradient at the last probe
    po: u32,           // arena: parameters
    go: u32,           // arena: gradients (same layout)
    mo: u32,           // arena: SGD's velocity or Adam's m
    vo: u32,           // arena: Adam's v
    ro: u32,           // arena: running statistics
    wo: u32,           // arena: the parameters at the previous probe (update ratios)
    param_len: u32,    // floats in each of the model's parameter-shaped slices
    so: u32,           // scratch: this model's part
    row_cap: u32,      // rows each per-row scratch buffer holds: the largest pass rounded up to WG
    scratch_loss: u32, // scratch (from so): [3, row_cap] labels, per-row loss, per-row hit
    optimizer: u32,    // 0 SGD, 1 Adam
    bn: u32,           // 1: the hidden layers have batch norm
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    bn_eps: f32,
    bn_momentum: f32,
    clip: f32,         // --clip-grad-norm (0: none): the global norm the gradients are scaled to at most
    norms: u32,        // out: [steps] each step's gradient norm before clipping (with clip)
    loss: u32,         // the head: LOSS_BINARY, LOSS_SOFTMAX or LOSS_SIGMOID_CE
    decay: f32,        // --weight-decay λ/n (0: none), added times each dense weight to its gradient
    _pad0: u32,        // a uniform buffer's array elements are 16-byte aligned
    _pad1: u32,
}

// One dense layer: where its tensors live, relative to its model's bases (po for parameters, ro for
// running statistics, so for scratch).
struct LayerDesc {
    fan_in: u32,
    fan_out: u32,
    act: u32,      // activation code (maths.wgsl); the output layer is 0, identity
    norm: u32,     // 0 none, 1 Dense → BatchNorm → activation, 2 Dense → LayerNorm → activation
    w: u32,        // parameters: [out, in]
    b: u32,        // parameters: [out]
    gamma: u32,    // parameters: [out] (norm)
    beta: u32,     // parameters: [out] (norm)
    rmean: u32,    // running: [out] (bn)
    rvar: u32,     // running: [out] (bn)
    x: u32,        // scratch: [rows, in] this layer's input (the gathered rows, or the previous layer's a)
    z: u32,        // scratch: [rows, out] dense output, bias included
    y: u32,        // scratch: [rows, out] the normalisation's output (norm)
    a: u32,        // scratch: [rows, out] activation output (the logits for the output layer)
    d: u32,        // scratch: [rows, out] δ = dL/dz
    dy: u32,       // scratch: [rows, out] dL/dy (norm)
    stats: u32,    // scratch: [4, out] mean, rstd, Σdy, Σdy·x̂ (norm); layer norm
                   // then [2, row_cap]: each row's mean and rstd
    alpha: f32,
    res: f32,      // a skip connection's α (0: none): the layer's output is x + α·a
    o: u32,        // scratch: [rows, out] the layer's output, the next layer's x (= a without a skip)
    g: u32,        // scratch: [rows, out] dL/d(output) (skip layers), which the skip passes down
    _pad0: u32,    // a uniform buffer's array elements are 16-byte aligned
    _pad1: u32,
    _pad2: u32,
}

// What a probe reports of one layer (`LayerStats` in src/gpu/fused.rs).
struct LayerStats {
    grad_w_sq: f32,   // ‖dW‖²
    grad_b_sq: f32,   // ‖db‖²
    delta_sq: f32,    // ‖δ‖² over the split
    weight_sq: f32,   // ‖W‖²
    prev_sq: f32,     // ‖W_prev‖², W at the previous probe
    diff_sq: f32,     // ‖W − W_prev‖²
    act_mean: f32,    // the activation output's mean and population std over rows × units
    act_std: f32,
    saturated: f32,   // fraction of values with f′ under 1% of its maximum (sigmoid, tanh)
    dead: f32,        // fraction of units that output exactly 0 on every row (ReLU)
    mean_grad_sq: f32, // E[f′(pre-activation)²]
    _pad: f32,
}


// A pass's mean loss and correct count (`PassTotals` in src/gpu/batch.rs). A model's block of `out`
// holds one per training step of the epoch from `metrics`, then, from `totals`, one each for the last
// probe, the training split's evaluation and the test split's (`Totals`), then the first layer's gradient
// at the last probe and, with clipping, each step's gradient norm.
struct PassTotals {
    loss: f32,
    correct: f32,
}

// One row's loss against its label, the output layer's logits at `scratch[row + lo.z ..]` (`classes` of
// them, or one for a binary model): writes dL/dlogits, divided by the pass's row count `mf`, into the
// output layer's δ and returns the row's loss and whether the row was classified correctly (1 or 0).
fn row_loss(md: ModelDesc, lo: LayerDesc, row: u32, label: u32, mf: f32) -> PassTotals {
    let k = md.classes;
    if (md.loss == LOSS_SIGMOID_CE) {
        // k sigmoid outputs, each binary cross-entropy against the one-hot label, summed
        var loss = 0.0;
        var zmax = scratch[row + lo.z];
        var arg = 0u;
        for (var c = 0u; c < k; c++) {
            let z = scratch[row + lo.z + c];
            let yc = select(0.0, 1.0, c == label);
            loss += bce_loss(z, yc);
            scratch[row + lo.d + c] = bce_grad(z, yc) / mf;
            if (z > zmax) {
                zmax = z;
                arg = c;
            }
        }
        return PassTotals(loss, select(0.0, 1.0, arg == label));
    }
    if (md.loss == LOSS_BINARY) {
        let z = scratch[row + lo.z];
        let yv = f32(label);
        scratch[row + lo.d] = bce_grad(z, yv) / mf;
        return PassTotals(bce_loss(z, yv), select(0.0, 1.0, (z > 0.0) == (label == 1u)));
    }
    var zmax = scratch[row + lo.z];
    var arg = 0u;
    for (var c = 1u; c < k; c++) {
        let z = scratch[row + lo.z + c];
        if (z > zmax) {
            zmax = z;
            arg = c;
        }
    }
    var sum = 0.0;
    for (var c = 0u; c < k; c++) {
        sum += exp(scratch[row + lo.z + c] - zmax);
    }
    let lse = log_sum_exp(zmax, sum);
    for (var c = 0u; c < k; c++) {
        scratch[row + lo.d + c] = softmax_grad(scratch[row + lo.z + c], lse, c == label) / mf;
    }
    return PassTotals(lse - scratch[row + lo.z + label], select(0.0, 1.0, arg == label));
}

// A gradient as the optimiser sees it: with --weight-decay, a dense weight's gains (λ/n)·w (Nielsen's L2
// form, after clipping; biases and normalisation parameters are not decayed).
fn with_decay(md: ModelDesc, e: u32, g: f32) -> f32 {
    if (md.decay == 0.0 || !is_weight(md, e)) {
        return g;
    }
    return g + md.decay * arena[md.po + e];
}

// Whether arena element `e` (relative to po) is a dense layer's weight: the layers lie in arena order,
// so a binary search finds the last one starting at or before e.
fn is_weight(md: ModelDesc, e: u32) -> bool {
    var lo = 0u;
    var hi = md.layers;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (layers[md.lt + mid].w <= e) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let l = layers[md.lt + lo];
    return e >= l.w && e - l.w < l.fan_in * l.fan_out;
}

// Batch norm's statistics of unit `j` of layer `l` over the pass's `rows` rows of z, as (mean, rstd):
// in training and probing the batch's mean and biased variance (two passes, rows in order), and in
// training, where `owner` (the one invocation of the unit that writes), the running statistics' update
// too; in evaluation the running statistics.
fn bn_unit_stats(md: ModelDesc, l: LayerDesc, j: u32, rows: u32, mode: u32, owner: bool) -> vec2<f32> {
    if (mode >= MODE_EVAL_TRAIN) {
        return vec2<f32>(arena[md.ro + l.rmean + j], norm_rstd(arena[md.ro + l.rvar + j], md.bn_eps));
    }
    let so = md.so;
    let mf = f32(rows);
    var sum = 0.0;
    for (var r = 0u; r < rows; r++) {
        sum += scratch[so + l.z + r * l.fan_out + j];
    }
    let mean = sum / mf;
    var d2 = 0.0;
    for (var r = 0u; r < rows; r++) {
        let d = scratch[so + l.z + r * l.fan_out + j] - mean;
        d2 += d * d;
    }
    let var_b = d2 / mf;
    if (mode == MODE_TRAIN && owner) {
        let rm = md.ro + l.rmean + j;
        let rv = md.ro + l.rvar + j;
        arena[rm] = running_update(arena[rm], mean, md.bn_momentum);
        arena[rv] = running_update(arena[rv], unbiased_var(var_b, rows), md.bn_momentum);
    }
    return vec2<f32>(mean, norm_rstd(var_b, md.bn_eps));
}

// Layer norm's statistics of row `r` of layer `l`, as (mean, rstd): the mean and biased variance of the
// row's z over its units, in two passes.
fn ln_row_stats(md: ModelDesc, l: LayerDesc, r: u32) -> vec2<f32> {
    let nf = f32(l.fan_out);
    let zr = md.so + l.z + r * l.fan_out;
    var sum = 0.0;
    for (var j = 0u; j < l.fan_out; j++) {
        sum += scratch[zr + j];
    }
    let mean = sum / nf;
    var d2 = 0.0;
    for (var j = 0u; j < l.fan_out; j++) {
        let d = scratch[zr + j] - mean;
        d2 += d * d;
    }
    return vec2<f32>(mean, norm_rstd(d2 / nf, md.bn_eps));
}

// The batch's buffers, bound alike by both kernel families after each one's binding 0 (its pass's
// parameters). The queue holds the fused dispatches' counts of models claimed so far (`Run.slot`,
// zeroed before every command buffer) and the tiled kernels' step counter (`STEP_SLOT`).
@group(0) @binding(1) var<uniform> models: array<ModelDesc, MAX_MODELS>;
@group(0) @binding(2) var<uniform> layers: array<LayerDesc, MAX_LAYERS>;
@group(0) @binding(3) var<storage, read> xs: array<f32>;               // every model's features
@group(0) @binding(4) var<storage, read> labels: array<u32>;           // labels and epoch orders
@group(0) @binding(5) var<storage, read_write> arena: array<f32>;      // parameters, gradients, state
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;    // rows in flight
@group(0) @binding(7) var<storage, read_write> out: array<f32>;        // the models' results blocks
@group(0) @binding(8) var<storage, read_write> probes: array<LayerStats>;
@group(0) @binding(9) var<storage, read_write> queue: array<atomic<u32>>;

// Where the totals of a pass in `mode` go in `out`: training step `step`'s, or the probe's or an
// evaluation's.
fn totals_at(md: ModelDesc, mode: u32, step: u32) -> u32 {
    if (mode == MODE_TRAIN) {
        return md.metrics + 2u * step;
    }
    return md.totals + 2u * (mode - MODE_PROBE);
}

fn store_totals(at: u32, t: PassTotals) {
    out[at] = t.loss;
    out[at + 1u] = t.correct;
}

fn load_totals(at: u32) -> PassTotals {
    return PassTotals(out[at], out[at + 1u]);
}

// Workgroup-wide sums in a fixed order: REDUCTION_SUMS partial sums per invocation, for up to
// REDUCTION_FLOATS / REDUCTION_SUMS invocations.
var<workgroup> red: array<f32, REDUCTION_FLOATS>;

// The sums over the workgroup's first `lanes` invocations of each one's `v[i]`, returned to all of them,
// each added in invocation order (so the result does not depend on the driver's scheduling). Call from
// uniform control flow.
fn wg_sums(lid: u32, lanes: u32, v: array<f32, REDUCTION_SUMS>) -> array<f32, REDUCTION_SUMS> {
    let stride = REDUCTION_FLOATS / REDUCTION_SUMS;
    workgroupBarrier(); // earlier readers of red are done
    for (var i = 0u; i < REDUCTION_SUMS; i++) {
        red[i * stride + lid] = v[i];
    }
    workgroupBarrier(); // every partial sum is written
    var total: array<f32, REDUCTION_SUMS>;
    for (var i = 0u; i < REDUCTION_SUMS; i++) {
        var acc = 0.0;
        for (var j = 0u; j < lanes; j++) {
            acc += red[i * stride + j];
        }
        total[i] = acc;
    }
    return total;
}
