// Losses from logits, mean over the batch, with their gradients and correct-prediction counts.
// One workgroup: invocations stride over the rows, then a fixed-order tree reduction. The mean loss
// and the count land in metrics[2·slot] and metrics[2·slot + 1], where slot is the step's index in
// its epoch (StepState.step), so a whole epoch's losses are read back at once.

const WG: u32 = 256u;

struct LossParams {
    n: u32,        // rows in the batch
    k: u32,        // logits per row (1 for binary cross-entropy)
    _pad0: u32,
    _pad1: u32,
}

// The same struct as in step.wgsl.
struct StepState {
    t: u32,      // optimiser steps taken, this one included
    step: u32,   // this step's index within its epoch
    next: u32,   // the next step's index
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;          // [n, k]
@group(0) @binding(2) var<storage, read> labels: array<u32>;          // [n], 0/1 or 0..k
@group(0) @binding(3) var<storage, read> state: StepState;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;   // [n, k] overwritten
@group(0) @binding(5) var<storage, read_write> metrics: array<f32>;   // [2·slots]

var<workgroup> red_loss: array<f32, WG>;
var<workgroup> red_hits: array<u32, WG>;

fn finish(lid: u32, loss: f32, hits: u32) {
    red_loss[lid] = loss;
    red_hits[lid] = hits;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier(); // the previous level's writes must land before they are read
        if (lid < s) {
            red_loss[lid] += red_loss[lid + s];
            red_hits[lid] += red_hits[lid + s];
        }
    }
    if (lid == 0u) {
        metrics[2u * state.step] = red_loss[0] / f32(p.n);
        metrics[2u * state.step + 1u] = f32(red_hits[0]);
    }
}

// loss = mean(softplus(z) − y·z), in the stable form max(z, 0) − y·z + ln(1 + e^−|z|);
// dz = (σ(z) − y)/n; a logit > 0 predicts class 1.
@compute @workgroup_size(WG)
fn bce_with_logits(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    var loss = 0.0;
    var hits = 0u;
    for (var i = lid; i < p.n; i += WG) {
        let z = logits[i];
        let y = f32(labels[i]);
        loss += bce_loss(z, y);
        dlogits[i] = bce_grad(z, y) / f32(p.n);
        hits += select(0u, 1u, (z > 0.0) == (labels[i] == 1u));
    }
    finish(lid, loss, hits);
}

// loss = mean(logsumexp(z) − z[label]) with the row maximum subtracted first;
// dz = (softmax(z) − onehot(label))/n; the first largest logit is the prediction.
@compute @workgroup_size(WG)
fn softmax_cross_entropy(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    var loss = 0.0;
    var hits = 0u;
    for (var i = lid; i < p.n; i += WG) {
        let row = i * p.k;
        var zmax = logits[row];
        var arg = 0u;
        for (var c = 1u; c < p.k; c++) {
            if (logits[row + c] > zmax) {
                zmax = logits[row + c];
                arg = c;
            }
        }
        var sum = 0.0;
        for (var c = 0u; c < p.k; c++) {
            sum += exp(logits[row + c] - zmax);
        }
        let lse = log_sum_exp(zmax, sum);
        let label = labels[i];
        loss += lse - logits[row + label];
        for (var c = 0u; c < p.k; c++) {
            dlogits[row + c] = softmax_grad(logits[row + c], lse, c == label) / f32(p.n);
        }
        hits += select(0u, 1u, arg == label);
    }
    finish(lid, loss, hits);
}

// loss = mean over rows of Σ_c bce(z_c, onehot_c): k sigmoid outputs, each against its class's one-hot
// target (Nielsen's cost); dz = (σ(z) − onehot)/n; the first largest logit is the prediction.
@compute @workgroup_size(WG)
fn sigmoid_cross_entropy(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    var loss = 0.0;
    var hits = 0u;
    for (var i = lid; i < p.n; i += WG) {
        let row = i * p.k;
        let label = labels[i];
        var zmax = logits[row];
        var arg = 0u;
        for (var c = 0u; c < p.k; c++) {
            let z = logits[row + c];
            let y = select(0.0, 1.0, c == label);
            loss += bce_loss(z, y);
            dlogits[row + c] = bce_grad(z, y) / f32(p.n);
            if (z > zmax) {
                zmax = z;
                arg = c;
            }
        }
        hits += select(0u, 1u, arg == label);
    }
    finish(lid, loss, hits);
}
