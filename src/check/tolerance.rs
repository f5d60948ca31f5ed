//! The tolerances of `vanish check`, each with its reason. The GPU computes in f32 and the reference in
//! f64 from the same f32 weights and data, so the differences are f32 rounding (unit roundoff
//! u = 6e-8) carried through the network, as in tests/suite/kernels.rs (each kernel within a few u per
//! accumulated term) and tests/suite/training.rs (whole networks over a few steps). Every bound has the form
//! `‖got − want‖ ≤ atol + rtol·‖want‖` over one tensor.

use crate::engine::Optimizer;
use crate::model::{ParamKind, ParamLayout, TensorSlot};

use super::suite::STEPS;

/// A bound and the name of its absolute term (the report says which term dominated), plus how many
/// times the case's measured conditioning drift may be added to it (see `CONDITIONING_GRAD`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
    pub rule: &'static str,
    pub conditioning: f64,
}

/// Gradients of the first step, from identical weights. One layer's backward pass is a few f32
/// products and sums, each ~u·√k relative for k accumulated terms (k ≤ 670 rows), and a layer's error
/// carries into every layer below it: a 31-layer network compounds ~31·√670·u ≈ 5e-5. Over the full
/// suite on lavapipe the worst is 9e-5 without batch norm (ELU, depth 30, batch 670) and 1.5e-5 with it
/// where the network is well-conditioned (see `CONDITIONING_GRAD`). 1e-3 leaves room for drivers that
/// contract to FMA or sum in another order, and still fails any wrong term, an error of order 1.
pub const GRAD_RTOL: f64 = 1e-3;

/// Some gradients are zero in exact arithmetic but not in floating point: a bias followed by batch norm
/// (batch norm subtracts the batch mean, and the bias with it), and batch norm's β and γ when the next
/// layer is linear and normalised again (identity activation). Each engine holds the round-off of the
/// terms that cancelled there, ~u times its layer's other gradients in f32 and ~1e-16 in f64. So every
/// gradient may also differ by this fraction of its layer's weight-gradient norm: far above f32
/// round-off, far below any real error in the layer.
pub const ZERO_GRAD: f64 = 1e-4;

/// Below this fraction of the network's largest gradient norm, a gradient is compared absolutely. A
/// sigmoid stack's gradient shrinks ~4× per layer, and with a batch of one it can approach f32's smallest
/// normal number (1.2e-38), below which Vulkan lets drivers flush to zero. Depth 30 gives ~1e-21 of the
/// largest on lavapipe; 1e-30 sits well below that and still ~7 decades above the flush.
pub const GRAD_FLOOR: f64 = 1e-30;

/// Parameters after three steps: values rounded to f32 once per step (~u each, 1e-5 with room), plus
/// what the gradients' tolerance lets through the updates (`UPDATE_RTOL` and the terms in `parameter`).
pub const PARAM_RTOL: f64 = 1e-5;
pub const UPDATE_RTOL: f64 = GRAD_RTOL;

/// A running mean averages pre-activations that straddle zero, so its f32 error is relative to their
/// spread (√running_var), not to the mean itself: bounded by this fraction of ‖√running_var‖. A running
/// variance is a mean of squares and keeps its relative precision: after three steps ~27% of it comes
/// from batch variances of pre-activations that may differ by the parameters' tolerance.
pub const RUNNING_MEAN_SPREAD: f64 = 1e-4;
pub const RUNNING_VAR_RTOL: f64 = 1e-4;

/// The three step losses: forward passes of order-1 values through up to 31 layers, then updates that
/// differ by what the gradients may.
pub const LOSS_RTOL: f64 = 1e-4;

/// Logits, training mode after three steps: the same forward pass from weights that may differ by the
/// parameter tolerance, amplified by up to 31 layers.
pub const LOGITS_RTOL: f64 = 1e-3;

/// Deep batch-normalised networks are ill-conditioned: at depth 30 a difference of one f32 rounding in
/// the inputs moves the exact gradients by up to 1e-3 of themselves, and three training steps amplify
/// it further (to 100% for ReLU with a batch of 32), so no fixed f32 tolerance can hold there. `run`
/// measures each tensor's drift: how far the reference, and the GPU, move when every weight and input
/// is nudged by one ulp (on the GPU that also re-draws every rounding). A tensor may differ by this
/// many times that drift. For first-step gradients the largest multiple needed on lavapipe over the
/// full suite is 15 (identity + batch norm, depth 30, batch 7).
pub const CONDITIONING_GRAD: f64 = 100.0;

/// The same after three steps, where one nudge samples the chaos less well (Adam flips the sign of a
/// step wherever the gradient's sign differs): the largest multiple needed on lavapipe is 86 (a running
/// variance at depth 30 with identity + batch norm under Adam).
pub const CONDITIONING_STEPS: f64 = 1000.0;

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The reference's first-step gradients, which the bounds of everything downstream are scaled by.
pub struct Reference<'a> {
    pub layout: &'a ParamLayout,
    /// The reference's gradient arena of the first step.
    pub grads: &'a [f64],
    /// The GPU's, which Adam's allowance needs (see `parameter`).
    pub gpu_grads: &'a [f64],
    pub optimizer: Optimizer,
}

impl Reference<'_> {
    /// The largest gradient norm among the trainable tensors.
    fn largest(&self) -> f64 {
        self.layout.params.iter().map(|s| norm(&self.grads[s.range()])).fold(0.0, f64::max)
    }

    /// The bound for `grad.<slot>`.
    pub fn gradient(&self, slot: &TensorSlot) -> Tolerance {
        let layer_scale = norm(&self.grads[self.layout.weight(slot.layer).range()]);
        let zero = ZERO_GRAD * layer_scale;
        let floor = GRAD_RTOL * GRAD_FLOOR * self.largest();
        let rule = if zero >= floor { "zero-gradient" } else { "floor" };
        Tolerance { rtol: GRAD_RTOL, atol: zero + floor, rule, conditioning: CONDITIONING_GRAD }
    }

    /// Whether `slot`'s gradient is indistinguishable from zero (within its absolute allowance): zero in
    /// exact arithmetic, so round-off sets its sign in each engine independently.
    fn round_off_gradient(&self, slot: &TensorSlot) -> bool {
        norm(&self.grads[slot.range()]) <= self.gradient(slot).atol
    }

    /// The bound for trainable tensor `slot` after `STEPS` steps, given `update`, the norm of the
    /// reference's change to it over those steps.
    pub fn parameter(&self, slot: &TensorSlot, update: f64) -> Tolerance {
        // Updates are computed from gradients that may differ by GRAD_RTOL of themselves, so they may
        // differ by that fraction of themselves; the stored values are rounded to f32 at every step.
        let mut terms = vec![(UPDATE_RTOL * update, "update")];
        match self.optimizer {
            // SGD moves θ by lr·v, v = Σ μᵏ·g: the gradient's absolute allowance (zero-gradient and
            // floor terms, taken at every step as at the first) summed through momentum over the steps.
            Optimizer::Sgd { lr, momentum } => {
                let carried: f64 = (1..=STEPS).map(|t| (0..t).map(|k| momentum.powi(k as i32)).sum::<f64>()).sum();
                terms.push((lr * carried * self.gradient(slot).atol, "gradient-carried"));
            }
            // Adam normalises each element: its step lr·m̂/(√v̂ + eps) moves with the gradient's
            // elementwise relative error e = |g_gpu − g_ref|/(|g_ref| + eps) and flips where round-off
            // sets the sign (at most 2·lr). A tensor norm hides such elements (a gradient element near
            // zero through cancellation), so the allowance is the engines' actual first-step e per
            // element, lr·min(e, 2) per step, doubled for the way later steps carry it through m and v.
            // A gradient that is round-off (above) may turn into steps of up to lr each on either engine
            // at any step (tests/suite/training.rs sees the same); such a tensor cannot change a training-mode
            // output, and gets lr per step per element.
            Optimizer::Adam { lr, eps, .. } => {
                let r = slot.range();
                let e: Vec<f64> = self.gpu_grads[r.clone()]
                    .iter()
                    .zip(&self.grads[r])
                    .map(|(&a, &b)| ((a - b).abs() / (b.abs() + eps)).min(2.0))
                    .collect();
                terms.push((2.0 * STEPS as f64 * lr * norm(&e), "adam-elementwise"));
                if self.round_off_gradient(slot) {
                    terms.push((lr * STEPS as f64 * (slot.len as f64).sqrt(), "adam-drift"));
                }
            }
        }
        let atol = terms.iter().map(|t| t.0).sum();
        let rule = terms.iter().max_by(|a, b| a.0.total_cmp(&b.0)).expect("at least one term").1;
        Tolerance { rtol: PARAM_RTOL, atol, rule, conditioning: CONDITIONING_STEPS }
    }

    /// The bound for running statistic `slot`, given the reference's running arena after the steps.
    pub fn running(&self, slot: &TensorSlot, want_running: &[f64]) -> Tolerance {
        if slot.kind == ParamKind::RunningVar {
            return relative(RUNNING_VAR_RTOL);
        }
        let var = self.layout.running_var(slot.layer).expect("a running mean has a running variance");
        let spread = norm(&want_running[var.range()].iter().map(|v| v.max(0.0).sqrt()).collect::<Vec<_>>());
        let mut atol = RUNNING_MEAN_SPREAD * spread;
        // The running mean follows the bias before it, which Adam may drift (above) by lr per step.
        if let Optimizer::Adam { lr, .. } = self.optimizer
            && self.round_off_gradient(self.layout.bias(slot.layer))
        {
            atol += lr * STEPS as f64 * (slot.len as f64).sqrt();
        }
        Tolerance { rtol: RUNNING_VAR_RTOL, atol, rule: "spread", conditioning: CONDITIONING_STEPS }
    }
}

/// A plain relative bound for a quantity after the training steps.
pub fn relative(rtol: f64) -> Tolerance {
    Tolerance { rtol, atol: 0.0, rule: "relative", conditioning: CONDITIONING_STEPS }
}
