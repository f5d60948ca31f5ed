// The fully fused training step for narrow MLPs (every width ≤ 64): one workgroup trains one model,
// looping over `count` steps of an epoch inside one dispatch — gather, forward (with batch norm),
// loss, backward and the optimiser step, with no dispatch between them. M models of the same shape
// train in one dispatch, one per workgroup (workgroup_id.x = model); each model has its own layer
// table, so models may differ in activation as well as in weights.
//
// Work is split four ways among the workgroup's invocations:
//   rows     — one batch row per invocation: the forward pass, the loss, dA = δ·W and f′;
//              an invocation always owns the same rows, so these phases need no barrier between them;
//   features — one unit per invocation: batch-norm statistics and their backward sums;
//   units    — one unit per invocation: a row of dW = δᵀ·A and db;
//   entries  — one parameter per invocation: the optimiser update.
// storageBarrier() separates phases whose data cross those lines. Every sum runs in a fixed order, so
// results are identical run to run. Parameter gradients are overwritten each step and also written
// to `grads`, so a step can be checked against the reference.
//
// Every heavy loop runs in uniform control flow: all invocations take the same trip count, and only
// stores are guarded. CPU drivers (llvmpipe) run invocations as SIMD lanes; inside a loop whose bound
// depends on the invocation, they cannot prove a row's address uniform and turn every load and every
// private-array store into a per-lane loop — that cost the kernel 3× in time. So the row loops step
// over whole chunks of WG rows (scratch holds `row_cap` rows, a multiple of WG; rows past the batch
// are padding: computed, never summed), and the unit phases run once with every invocation, those
// past the layer's width repeating its last unit and storing nothing.

// The workgroup's width, set at pipeline creation: the widest layer rounded up to a multiple of 8, so
// a unit phase is one pass and few invocations idle.
override WG: u32 = 64u;

// The model's parameters held in workgroup memory, where they fit: every row and unit phase reads the
// weights, and workgroup memory is the fastest memory a GPU's workgroup has. WSH is set at pipeline
// creation to the parameter arena's length per model when it fits the adapter's workgroup storage, or
// to 1, and then the weights are read from `params`. The optimiser writes both copies; `params` is the
// one the engine reads.
override WSH: u32 = 1u;
var<workgroup> wsh: array<f32, WSH>;

fn weight(po: u32, i: u32) -> f32 {
    if (WSH > 1u) {
        return wsh[i];
    }
    return params[po + i];
}

// Orders the optimiser's writes to the cached weights before the next reads (storageBarrier() does not
// cover workgroup memory); nothing to order without the cache.
fn weights_barrier() {
    if (WSH > 1u) {
        workgroupBarrier();
    }
}

struct FusedParams {
    models: u32,
    layers: u32,          // dense layers, the output layer included
    rows_total: u32,      // N, rows in the training set
    batch: u32,           // B, the full batch size
    first: u32,           // the first step's index in the epoch
    count: u32,           // steps in this dispatch
    input: u32,           // features
    classes: u32,         // logits per row: 1 = binary cross-entropy, k = softmax cross-entropy
    param_stride: u32,    // floats per model in params, grads, opt_m, opt_v
    running_stride: u32,  // floats per model in running
    scratch_stride: u32,  // floats per model in scratch
    metrics_stride: u32,  // floats per model in metrics (2 per step of an epoch)
    optimizer: u32,       // 0 SGD, 1 Adam
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    bn_eps: f32,
    bn_momentum: f32,
    scratch_loss: u32,    // scratch offset of the per-row loss and hit buffers, [2, row_cap]
    row_cap: u32,         // rows each per-row scratch buffer holds: B rounded up to a multiple of WG
    _pad1: u32,
}

// One dense layer: where its tensors live. Parameter offsets are per model (add model·param_stride).
struct LayerDesc {
    fan_in: u32,
    fan_out: u32,
    act: u32,      // activation code (activation.wgsl); the output layer is 0, identity
    bn: u32,       // 1: Dense → BatchNorm → activation
    w: u32,        // params: [out, in]
    b: u32,        // params: [out]
    gamma: u32,    // params: [out] (bn)
    beta: u32,     // params: [out] (bn)
    rmean: u32,    // running: [out] (bn)
    rvar: u32,     // running: [out] (bn)
    x: u32,        // scratch: [B, in] this layer's input (the gathered batch, or the previous layer's a)
    z: u32,        // scratch: [B, out] dense output, bias included
    y: u32,        // scratch: [B, out] batch norm's output (bn)
    a: u32,        // scratch: [B, out] activation output (the logits for the output layer)
    d: u32,        // scratch: [B, out] δ = dL/dz
    dy: u32,       // scratch: [B, out] dL/dy (bn)
    stats: u32,    // scratch: [5, out] mean, rstd, Σdy, Σdy·x̂, γ before its update (bn)
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: FusedParams;
@group(0) @binding(1) var<storage, read> layers: array<LayerDesc>;   // [models, layers]
@group(0) @binding(2) var<storage, read> xs: array<f32>;            // [N, input]
@group(0) @binding(3) var<storage, read> ys: array<u32>;            // [N]
@group(0) @binding(4) var<storage, read> order: array<u32>;         // [models, N] each model's epoch order
@group(0) @binding(5) var<storage, read> schedule: array<f32>;      // [steps per epoch] step sizes
@group(0) @binding(6) var<storage, read_write> params: array<f32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;
@group(0) @binding(8) var<storage, read_write> opt: array<f32>;     // [2, models·param_stride]: m (or velocity), v
@group(0) @binding(9) var<storage, read_write> running: array<f32>;
@group(0) @binding(10) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(11) var<storage, read_write> metrics: array<f32>;

// ---- activations: the same functions as activation.wgsl (tests/shaders.rs checks the copies match) ----

const GELU_C: f32 = 0.7978845608028654; // √(2/π)
const GELU_A: f32 = 0.044715;

fn sigmoid(z: f32) -> f32 {
    return 1.0 / (1.0 + exp(-z));
}

fn safe_tanh(z: f32) -> f32 {
    return tanh(clamp(z, -15.0, 15.0));
}

fn act_forward(z: f32, act: u32, alpha: f32) -> f32 {
    switch act {
        case 1u: { return sigmoid(z); }
        case 2u: { return safe_tanh(z); }
        case 3u: { return max(z, 0.0); }
        case 4u: { return select(alpha * z, z, z > 0.0); }
        case 5u: { return select(alpha * (exp(z) - 1.0), z, z > 0.0); }
        case 6u: { return 0.5 * z * (1.0 + safe_tanh(GELU_C * (z + GELU_A * z * z * z))); }
        case 7u: { return z * sigmoid(z); }
        default: { return z; }
    }
}

fn act_grad(z: f32, a: f32, act: u32, alpha: f32) -> f32 {
    switch act {
        case 1u: { return a * (1.0 - a); }
        case 2u: { return 1.0 - a * a; }
        case 3u: { return select(0.0, 1.0, z > 0.0); }
        case 4u: { return select(alpha, 1.0, z > 0.0); }
        case 5u: { return select(a + alpha, 1.0, z > 0.0); }
        case 6u: {
            let t = safe_tanh(GELU_C * (z + GELU_A * z * z * z));
            return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * z * z);
        }
        case 7u: {
            let s = sigmoid(z);
            return s * (1.0 + z * (1.0 - s));
        }
        default: { return 1.0; }
    }
}

// ---- the optimiser on one parameter: `k` in the model's slice, which starts at `po` in the arenas ----
fn update(po: u32, k: u32, g: f32, alpha: f32) {
    let i = po + k;
    grads[i] = g;
    let vi = i + p.models * p.param_stride;
    if (p.optimizer == 0u) {
        let v = p.momentum * opt[i] + g;
        opt[i] = v;
        params[i] -= alpha * v;
    } else {
        let m = p.beta1 * opt[i] + p.one_minus_beta1 * g;
        let v = p.beta2 * opt[vi] + p.one_minus_beta2 * g * g;
        opt[i] = m;
        opt[vi] = v;
        params[i] -= alpha * m / (sqrt(v) + p.eps);
    }
    if (WSH > 1u) {
        wsh[k] = params[i];
    }
}

@compute @workgroup_size(WG)
fn fused_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let model = wid.x;
    let lid = lid3.x;
    let po = model * p.param_stride;
    let ro = model * p.running_stride;
    let so = model * p.scratch_stride;
    let lt = model * p.layers; // this model's layer table
    let last = p.layers - 1u;
    if (WSH > 1u) {
        for (var i = lid; i < p.param_stride; i += WG) {
            wsh[i] = params[po + i];
        }
        workgroupBarrier();
    }
    for (var s = 0u; s < p.count; s++) {
        let step = p.first + s;
        let start = step * p.batch;
        let rows = min(p.batch, p.rows_total - start);
        let mf = f32(rows);
        let alpha = schedule[step];

        // ---- gather this batch's rows (rows phase) ----
        let l0 = layers[lt];
        for (var base = 0u; base < rows; base += WG) {
            let r = base + lid;
            let src = order[model * p.rows_total + start + min(r, rows - 1u)];
            for (var k = 0u; k < p.input; k++) {
                scratch[so + l0.x + r * p.input + k] = xs[src * p.input + k];
            }
        }

        // ---- forward ----
        for (var li = 0u; li < p.layers; li++) {
            let l = layers[lt + li];
            // rows: z = x·Wᵀ + b, and a = f(z) when there is no batch norm. The row is copied into a
            // private array first: the weights are the same for every invocation (one load each), so
            // the row's values are the only per-invocation loads, once instead of once per unit.
            for (var base = 0u; base < rows; base += WG) {
                let r = base + lid;
                var h: array<f32, 64>;
                for (var k = 0u; k < l.fan_in; k++) {
                    h[k] = scratch[so + l.x + r * l.fan_in + k];
                }
                for (var j = 0u; j < l.fan_out; j++) {
                    var acc = weight(po, l.b + j);
                    let wrow = l.w + j * l.fan_in;
                    for (var k = 0u; k < l.fan_in; k++) {
                        acc += weight(po, wrow + k) * h[k];
                    }
                    let o = so + r * l.fan_out + j;
                    scratch[o + l.z] = acc;
                    if (l.bn == 0u) {
                        scratch[o + l.a] = act_forward(acc, l.act, l.alpha);
                    }
                }
            }
            if (l.bn == 1u) {
                storageBarrier(); // every row's z is written before the statistics read them
                // features: batch mean and biased variance (two passes), running statistics
                {
                    let j = min(lid, l.fan_out - 1u);
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
                    if (lid < l.fan_out) {
                        scratch[so + l.stats + j] = mean;
                        scratch[so + l.stats + l.fan_out + j] = inverseSqrt(var_b + p.bn_eps);
                        let unbiased = select(var_b, var_b * mf / (mf - 1.0), rows > 1u);
                        running[ro + l.rmean + j] = (1.0 - p.bn_momentum) * running[ro + l.rmean + j] + p.bn_momentum * mean;
                        running[ro + l.rvar + j] = (1.0 - p.bn_momentum) * running[ro + l.rvar + j] + p.bn_momentum * unbiased;
                    }
                }
                storageBarrier(); // the statistics are written before the rows use them
                // rows: y = γ·(z − mean)·rstd + β, a = f(y)
                for (var base = 0u; base < rows; base += WG) {
                let r = base + lid;
                    for (var j = 0u; j < l.fan_out; j++) {
                        let o = so + r * l.fan_out + j;
                        let xhat = (scratch[o + l.z] - scratch[so + l.stats + j]) * scratch[so + l.stats + l.fan_out + j];
                        let yv = weight(po, l.gamma + j) * xhat + weight(po, l.beta + j);
                        scratch[o + l.y] = yv;
                        scratch[o + l.a] = act_forward(yv, l.act, l.alpha);
                    }
                }
            }
        }

        // ---- loss (rows): dlogits into the output layer's δ, per-row loss and hits into scratch ----
        let lo = layers[lt + last];
        for (var base = 0u; base < rows; base += WG) {
            let r = base + lid;
            let label = ys[order[model * p.rows_total + start + min(r, rows - 1u)]];
            let row = so + r * p.classes;
            var loss = 0.0;
            var hit = 0.0;
            if (p.classes == 1u) {
                let z = scratch[row + lo.z];
                let yv = f32(label);
                loss = max(z, 0.0) - yv * z + log(1.0 + exp(-abs(z)));
                scratch[row + lo.d] = (sigmoid(z) - yv) / mf;
                hit = select(0.0, 1.0, (z > 0.0) == (label == 1u));
            } else {
                var zmax = scratch[row + lo.z];
                var arg = 0u;
                for (var c = 1u; c < p.classes; c++) {
                    let z = scratch[row + lo.z + c];
                    if (z > zmax) {
                        zmax = z;
                        arg = c;
                    }
                }
                var sum = 0.0;
                for (var c = 0u; c < p.classes; c++) {
                    sum += exp(scratch[row + lo.z + c] - zmax);
                }
                let lse = zmax + log(sum);
                loss = lse - scratch[row + lo.z + label];
                for (var c = 0u; c < p.classes; c++) {
                    let onehot = select(0.0, 1.0, c == label);
                    scratch[row + lo.d + c] = (exp(scratch[row + lo.z + c] - lse) - onehot) / mf;
                }
                hit = select(0.0, 1.0, arg == label);
            }
            scratch[so + p.scratch_loss + r] = loss;
            scratch[so + p.scratch_loss + p.row_cap + r] = hit;
        }
        storageBarrier(); // every row's loss and δ are written

        if (lid == 0u) {
            var loss = 0.0;
            var hits = 0.0;
            for (var r = 0u; r < rows; r++) {
                loss += scratch[so + p.scratch_loss + r];
                hits += scratch[so + p.scratch_loss + p.row_cap + r];
            }
            metrics[model * p.metrics_stride + 2u * step] = loss / mf;
            metrics[model * p.metrics_stride + 2u * step + 1u] = hits;
        }

        // ---- backward, output layer first ----
        for (var step_back = 0u; step_back < p.layers; step_back++) {
            let li = last - step_back;
            let l = layers[lt + li];
            // units: row j of dW = Σ_r δ[r, j]·x[r, :] and db[j] = Σ_r δ[r, j], summed over the rows in
            // order into a private array (kept in grads until the update below)
            {
                let j = min(lid, l.fan_out - 1u);
                var acc: array<f32, 64>;
                for (var k = 0u; k < l.fan_in; k++) {
                    acc[k] = 0.0;
                }
                var gb = 0.0;
                for (var r = 0u; r < rows; r++) {
                    let dj = scratch[so + l.d + r * l.fan_out + j];
                    gb += dj;
                    let xr = so + l.x + r * l.fan_in;
                    for (var k = 0u; k < l.fan_in; k++) {
                        acc[k] += dj * scratch[xr + k];
                    }
                }
                if (lid < l.fan_out) {
                    for (var k = 0u; k < l.fan_in; k++) {
                        grads[po + l.w + j * l.fan_in + k] = acc[k];
                    }
                    grads[po + l.b + j] = gb;
                }
            }
            // rows: dA of the layer below = δ·W, through its activation (into its δ, or its dy with bn)
            if (li > 0u) {
                let pl = layers[lt + li - 1u];
                for (var base = 0u; base < rows; base += WG) {
                let r = base + lid;
                    var d: array<f32, 64>;
                    for (var j = 0u; j < l.fan_out; j++) {
                        d[j] = scratch[so + l.d + r * l.fan_out + j];
                    }
                    for (var k = 0u; k < l.fan_in; k++) {
                        var da = 0.0;
                        for (var j = 0u; j < l.fan_out; j++) {
                            da += d[j] * weight(po, l.w + j * l.fan_in + k);
                        }
                        let o = so + r * pl.fan_out + k;
                        if (pl.bn == 0u) {
                            scratch[o + pl.d] = da * act_grad(scratch[o + pl.z], scratch[o + pl.a], pl.act, pl.alpha);
                        } else {
                            scratch[o + pl.dy] = da * act_grad(scratch[o + pl.y], scratch[o + pl.a], pl.act, pl.alpha);
                        }
                    }
                }
            }
            storageBarrier(); // W has been read by every row and every gradient is in grads
            weights_barrier(); // (the cached W too) before the optimiser overwrites it
            // entries: the optimiser step on W and b
            for (var base = 0u; base < l.fan_out * l.fan_in; base += WG) {
                let e = base + lid;
                if (e < l.fan_out * l.fan_in) {
                    update(po, l.w + e, grads[po + l.w + e], alpha);
                }
            }
            if (lid < l.fan_out) {
                update(po, l.b + lid, grads[po + l.b + lid], alpha);
            }
            if (li > 0u && layers[lt + li - 1u].bn == 1u) {
                let pl = layers[lt + li - 1u];
                // features: Σ dy and Σ dy·x̂ give dβ and dγ; γ is saved before its update, since the
                // rows below need the γ of the forward pass
                {
                    let j = min(lid, pl.fan_out - 1u);
                    let mean = scratch[so + pl.stats + j];
                    let rstd = scratch[so + pl.stats + pl.fan_out + j];
                    var sdy = 0.0;
                    var sdyx = 0.0;
                    for (var r = 0u; r < rows; r++) {
                        let o = so + r * pl.fan_out + j;
                        let dy = scratch[o + pl.dy];
                        sdy += dy;
                        sdyx += dy * (scratch[o + pl.z] - mean) * rstd;
                    }
                    if (lid < pl.fan_out) {
                        scratch[so + pl.stats + 2u * pl.fan_out + j] = sdy;
                        scratch[so + pl.stats + 3u * pl.fan_out + j] = sdyx;
                        scratch[so + pl.stats + 4u * pl.fan_out + j] = weight(po, pl.gamma + j);
                        update(po, pl.gamma + j, sdyx, alpha);
                        update(po, pl.beta + j, sdy, alpha);
                    }
                }
                storageBarrier(); // the sums and the old γ are written before the rows read them
                // rows: dx = γ·rstd/m · (m·dy − Σdy − x̂·Σdy·x̂), with x̂ = (z − mean)·rstd
                for (var base = 0u; base < rows; base += WG) {
                let r = base + lid;
                    for (var j = 0u; j < pl.fan_out; j++) {
                        let o = so + r * pl.fan_out + j;
                        let st = so + pl.stats + j;
                        let mean = scratch[st];
                        let rstd = scratch[st + pl.fan_out];
                        let sdy = scratch[st + 2u * pl.fan_out];
                        let sdyx = scratch[st + 3u * pl.fan_out];
                        let gamma = scratch[st + 4u * pl.fan_out];
                        let xhat = (scratch[o + pl.z] - mean) * rstd;
                        scratch[o + pl.d] = gamma * rstd / mf * (mf * scratch[o + pl.dy] - sdy - xhat * sdyx);
                    }
                }
            }
            storageBarrier(); // the layer below's δ is complete before its gradients are summed
            weights_barrier(); // and this layer's updated weights are in the cache before the next step reads them
        }
    }
}
