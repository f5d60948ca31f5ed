// Per-step bookkeeping that lives on the GPU, so a recorded epoch needs no per-step upload:
// the step counter (for Adam's bias correction and the loss slot) and the gather of each batch's rows
// through the epoch's shuffled order.

struct StepState {
    t: u32,      // optimiser steps taken, this one included
    step: u32,   // this step's index within its epoch
    next: u32,   // the next step's index
    _pad: u32,
}

// ---- step_begin: t += 1; step = next; next += 1. The host sets t and next before each submit. ----
@group(0) @binding(0) var<storage, read_write> bstate: StepState;

@compute @workgroup_size(1)
fn step_begin() {
    bstate.t += 1u;
    bstate.step = bstate.next;
    bstate.next += 1u;
}

struct GatherParams {
    rows: u32,        // rows in this batch (the last batch of an epoch may be short)
    features: u32,
    batch_size: u32,  // the full batch size: batch `step` starts at row step·batch_size of the order
    _pad: u32,
}

// ---- gather_rows: xb[r, :] = x[order[start + r], :], yb[r] = y[order[start + r]] ----
@group(0) @binding(0) var<uniform> gp: GatherParams;
@group(0) @binding(1) var<storage, read> gx: array<f32>;          // [N, features]
@group(0) @binding(2) var<storage, read> gy: array<u32>;          // [N]
@group(0) @binding(3) var<storage, read> order: array<u32>;       // [N] this epoch's permutation
@group(0) @binding(4) var<storage, read> gstate: StepState;
@group(0) @binding(5) var<storage, read_write> xb: array<f32>;    // [rows, features]
@group(0) @binding(6) var<storage, read_write> yb: array<u32>;    // [rows]

@compute @workgroup_size(256)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if (idx >= gp.rows * gp.features) {
        return;
    }
    let r = idx / gp.features;
    let f = idx % gp.features;
    let src = order[gstate.step * gp.batch_size + r];
    xb[idx] = gx[src * gp.features + f];
    if (f == 0u) {
        yb[r] = gy[src];
    }
}
