//! The gradient flow of one network at one moment, as the page's network picture draws it: per dense
//! layer its width, the measured ‖δ‖ and ‖dW‖ and the mean-field prediction of ‖δ‖ anchored at the
//! output layer; one headline sentence; the verdict; and, where the verdict (read from ‖δ‖) and the
//! notebook's ‖dW₁‖/‖dW_out‖ seem to disagree, one line on why. Computed here so the page only draws.

use serde::Serialize;

use super::run_record::{EpochSnapshot, EvalNumbers, LayerStats};
use super::verdict::{EXPLODING_RATIO, VANISHING_RATIO, VerdictKind};
use crate::model::MlpSpec;
use crate::train::History;

/// `x` as the page prints a ratio: `2.50e-9`.
fn sci(x: f64) -> String {
    format!("{x:.2e}")
}

/// One column of the picture: the input, a hidden layer or the output layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowLayer {
    /// `input`, `1`…`depth` (hidden) or `output`.
    pub name: String,
    pub units: usize,
    /// ‖δ‖ = ‖∂L/∂z‖ of the layer's dense output (`None` for the input).
    pub delta: Option<f64>,
    /// ‖∂L/∂W‖ (`None` for the input).
    pub grad_w: Option<f64>,
    /// The mean-field ‖δ‖: the measured output layer's, times the predicted √χ of each step down
    /// (`None` for the input and below a layer the theory does not cover, such as batch norm).
    pub predicted_delta: Option<f64>,
}

/// What the page's network picture shows of one run at one probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GradientFlow {
    pub label: String,
    pub shape: String,
    /// Epochs completed and optimiser steps taken at this probe.
    pub epoch: usize,
    pub step: usize,
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub layers: Vec<FlowLayer>,
    /// ‖dW₁‖/‖dW_out‖: the notebook's number, how fast the first layer learns beside the output layer.
    pub first_last: Option<f64>,
    /// ‖δ₁‖/‖δ_out‖.
    pub delta_first_out: Option<f64>,
    pub verdict: VerdictKind,
    pub verdict_reason: String,
    /// "Layer 1 receives 2.5e-9 of the output layer's gradient (‖dW₁‖/‖dW_out‖)."
    pub headline: String,
    /// Why ‖dW₁‖/‖dW_out‖ and the verdict seem to disagree, when they do.
    pub note: Option<String>,
}

/// ‖δ‖ per dense layer as the mean-field theory predicts it from `snap`'s measurements: the output
/// layer's measured ‖δ‖, times the predicted factor √χ of each transition going down, until one has no
/// prediction.
pub fn predicted_deltas(snap: &EpochSnapshot) -> Vec<Option<f64>> {
    let n = snap.layers.len();
    let mut out = vec![None; n];
    let Some(top) = snap.layers.last().map(|l| l.delta).filter(|d| d.is_finite() && *d > 0.0) else {
        return out;
    };
    let mut v = top;
    out[n - 1] = Some(v);
    for l in (0..n - 1).rev() {
        match snap.transitions.get(l).and_then(|t| t.predicted) {
            Some(f) => v *= f,
            None => break,
        }
        out[l] = Some(v);
    }
    out
}

impl GradientFlow {
    /// The picture of `spec`, labelled `label`, at snapshot `snap` taken after `step` optimiser steps.
    pub fn of(label: &str, spec: &MlpSpec, snap: &EpochSnapshot, step: usize) -> GradientFlow {
        let predicted = predicted_deltas(snap);
        let depth = spec.hidden.len();
        let input =
            FlowLayer { name: "input".into(), units: spec.input, delta: None, grad_w: None, predicted_delta: None };
        let dense = snap.layers.iter().zip(&predicted).enumerate().map(|(i, (l, p))| FlowLayer {
            name: if i == depth { "output".into() } else { (i + 1).to_string() },
            units: spec.layer_dims(i).1,
            delta: Some(l.delta),
            grad_w: Some(l.grad_w),
            predicted_delta: *p,
        });
        let layers: Vec<FlowLayer> = std::iter::once(input).chain(dense).collect();
        let ratio = |a: f64, b: f64| Some(a / b).filter(|r| r.is_finite());
        let (first, out) = (snap.layers.first(), snap.layers.last());
        let first_last = first.zip(out).and_then(|(f, o)| ratio(f.grad_w, o.grad_w));
        let delta_first_out = first.zip(out).and_then(|(f, o)| ratio(f.delta, o.delta));
        let headline = match (first_last, out.map(|o| o.grad_w)) {
            (Some(r), _) => format!("Layer 1 receives {} of the output layer's gradient (‖dW₁‖/‖dW_out‖).", sci(r)),
            (None, Some(0.0)) => "The output layer receives no gradient (‖dW_out‖ = 0).".into(),
            (None, _) => "The gradient is not finite: the run diverged.".into(),
        };
        GradientFlow {
            label: label.into(),
            shape: spec.describe(),
            epoch: snap.epoch,
            step,
            loss: snap.loss,
            accuracy: snap.accuracy,
            layers,
            first_last,
            delta_first_out,
            verdict: snap.verdict.kind,
            verdict_reason: snap.verdict.reason.clone(),
            headline,
            note: disagreement(snap.verdict.kind, first_last, snap.delta_first_last, delta_first_out),
        }
    }

    /// The picture at `history`'s latest probe, while it trains (no record of the whole run is built):
    /// `input_sq` is the training data's E[x²], as for `RunRecord::from_history`.
    pub fn latest(label: &str, spec: &MlpSpec, history: &History, input_sq: Option<f64>) -> Option<GradientFlow> {
        let p = history.probes.last()?;
        let finite = |v: f64| v.is_finite().then_some(v);
        let eval = match history.epochs.iter().rfind(|e| e.epoch == p.epoch) {
            Some(e) => EvalNumbers {
                loss: finite(e.eval_train_loss),
                accuracy: finite(e.eval_train_acc),
                ..Default::default()
            },
            None => EvalNumbers {
                loss: finite(p.probe.loss),
                accuracy: finite(p.probe.correct as f64 / p.probe.rows as f64),
                ..Default::default()
            },
        };
        let layers = p.probe.layers.iter().map(LayerStats::from).collect();
        let snap = EpochSnapshot::new(spec, p.epoch, layers, eval, input_sq);
        Some(GradientFlow::of(label, spec, &snap, p.step))
    }
}

/// One line where the verdict (read from ‖δ₁‖/‖δ_last hidden‖, `verdict_ratio`) and ‖dW₁‖/‖dW_out‖ point
/// different ways: ‖dW‖ of a layer is its ‖δ‖ times the size of its input, and the data feeding layer 1
/// need not shrink or grow as the activations feeding the output layer do (ReLU with Glorot's init
/// halves the signal's variance per layer going up, lifting ‖dW₁‖/‖dW_out‖ while ‖δ‖ falls). Saturated
/// and dead verdicts are read from other numbers and get no note.
fn disagreement(
    verdict: VerdictKind,
    first_last: Option<f64>,
    verdict_ratio: Option<f64>,
    delta_first_out: Option<f64>,
) -> Option<String> {
    let flagged = match verdict {
        VerdictKind::Vanishing | VerdictKind::Exploding => true,
        VerdictKind::Healthy => false,
        VerdictKind::Saturated | VerdictKind::Dead => return None,
    };
    let (dw, ratio) = (first_last?, verdict_ratio?);
    // How much larger layer 1's input is than the output layer's, relative to their ‖δ‖.
    let inputs = Some(dw / delta_first_out?).filter(|x| x.is_finite() && *x > 0.0)?;
    let looks_healthy = (VANISHING_RATIO..=EXPLODING_RATIO).contains(&dw);
    (flagged == looks_healthy).then(|| {
        format!(
            "Why {verdict} beside ‖dW₁‖/‖dW_out‖ = {}: the verdict reads ‖δ‖, and layer 1's is {} of the last \
             hidden layer's; ‖dW‖ also scales with each layer's input, and layer 1's input (the data) is {}× the \
             output layer's input relative to their ‖δ‖, which {} the ratio of ‖dW‖.",
            sci(dw),
            sci(ratio),
            sci(inputs),
            if inputs > 1.0 { "lifts" } else { "lowers" },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{LayerStats, theory::Transition, verdict::Verdict};

    fn layer(delta: f64, grad_w: f64) -> LayerStats {
        LayerStats {
            grad_w,
            grad_b: 0.0,
            delta,
            weight: 1.0,
            mean_grad_sq: 1.0,
            act_std: 1.0,
            act_mean: 0.0,
            saturated: 0.0,
            dead: 0.0,
        }
    }

    fn snapshot(layers: Vec<LayerStats>, predicted: &[Option<f64>], kind: VerdictKind) -> EpochSnapshot {
        let verdict_ratio = layers[0].delta / layers[layers.len() - 2].delta;
        let transitions = predicted
            .iter()
            .enumerate()
            .map(|(layer, p)| Transition {
                layer,
                measured: None,
                chi: p.map(|f| f * f),
                predicted: *p,
                sigmoid_bound: None,
            })
            .collect();
        EpochSnapshot {
            epoch: 0,
            loss: Some(0.7),
            accuracy: Some(0.5),
            test_loss: None,
            test_accuracy: None,
            layers,
            transitions,
            delta_fit: None,
            grad_fit: None,
            theory_factor: None,
            sigmoid_bound: None,
            first_last: None,
            delta_first_last: Some(verdict_ratio),
            verdict: Verdict { kind, layer: None, reason: String::new() },
            histograms: Vec::new(),
        }
    }

    fn spec(depth: usize) -> MlpSpec {
        MlpSpec::new(2, &vec![3; depth], crate::model::Activation::Sigmoid, crate::model::Output::Binary)
    }

    #[test]
    fn the_prediction_starts_at_the_output_and_stops_where_the_theory_does() {
        let snap =
            snapshot(vec![layer(1.0, 1.0), layer(1.0, 1.0), layer(2.0, 1.0)], &[Some(0.5), None], VerdictKind::Healthy);
        assert_eq!(predicted_deltas(&snap), [None, None, Some(2.0)]);
        let snap = snapshot(
            vec![layer(1.0, 1.0), layer(1.0, 1.0), layer(2.0, 1.0)],
            &[Some(0.5), Some(0.25)],
            VerdictKind::Healthy,
        );
        assert_eq!(predicted_deltas(&snap), [Some(0.25), Some(0.5), Some(2.0)]);
    }

    #[test]
    fn the_picture_has_a_column_per_layer_and_the_notebooks_ratio() {
        let snap = snapshot(
            vec![layer(1e-6, 2e-6), layer(1e-3, 1e-3), layer(1.0, 1.0)],
            &[None, None],
            VerdictKind::Vanishing,
        );
        let flow = GradientFlow::of("sigmoid", &spec(2), &snap, 0);
        let names: Vec<&str> = flow.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["input", "1", "2", "output"]);
        assert_eq!(flow.layers.iter().map(|l| l.units).collect::<Vec<_>>(), [2, 3, 3, 1]);
        assert_eq!(flow.first_last, Some(2e-6));
        assert_eq!(flow.delta_first_out, Some(1e-6));
        assert!(flow.headline.contains("2.00e-6"), "{}", flow.headline);
        assert_eq!(flow.note, None, "both say vanishing");
    }

    #[test]
    fn the_latest_probe_is_drawn_with_its_epochs_evaluation() {
        use crate::engine::{LayerProbe, Probe};
        use crate::train::{EpochRecord, ProbeRecord};
        let spec = spec(2);
        let probe = |scale: f64| Probe {
            loss: 0.9,
            correct: 3,
            rows: 10,
            layers: (0..3)
                .map(|i| LayerProbe {
                    delta: scale * 10f64.powi(i),
                    grad_w: scale,
                    weight: 1.0,
                    mean_grad_sq: 0.2,
                    ..Default::default()
                })
                .collect(),
            grad_w1: Vec::new(),
            histograms: Vec::new(),
        };
        let record = |epoch: usize, scale: f64| ProbeRecord {
            epoch,
            step: 21 * epoch,
            probe: probe(scale),
            update_ratio: vec![0.0; 3],
        };
        let epoch = EpochRecord {
            epoch: 1,
            train_loss: 0.8,
            train_acc: 0.5,
            eval_train_loss: 0.6,
            eval_train_acc: 0.7,
            test_loss: None,
            test_acc: None,
        };
        let history = History {
            engine: "test".into(),
            probes: vec![record(0, 1.0), record(1, 2.0)],
            epochs: vec![epoch],
            batch_losses: Vec::new(),
            grad_norms: Vec::new(),
            interrupted: false,
        };
        let flow = GradientFlow::latest("sigmoid", &spec, &history, Some(1.0)).unwrap();
        assert_eq!((flow.epoch, flow.step, flow.loss, flow.accuracy), (1, 21, Some(0.6), Some(0.7)));
        let deltas: Vec<Option<f64>> = flow.layers.iter().map(|l| l.delta).collect();
        assert_eq!(deltas, [None, Some(2.0), Some(20.0), Some(200.0)]);
        // At initialisation (no epoch record yet): the probe's own training-mode loss and accuracy.
        let history = History { probes: history.probes[..1].to_vec(), epochs: Vec::new(), ..history };
        let flow = GradientFlow::latest("sigmoid", &spec, &history, Some(1.0)).unwrap();
        assert_eq!((flow.epoch, flow.loss, flow.accuracy), (0, Some(0.9), Some(0.3)));
    }

    #[test]
    fn a_vanishing_verdict_beside_a_healthy_dw_ratio_says_why() {
        // ReLU with Glorot's init: ‖δ‖ falls to 2e-3 but ‖dW₁‖/‖dW_out‖ is 0.378.
        let snap =
            snapshot(vec![layer(2e-3, 0.378), layer(0.1, 0.5), layer(1.0, 1.0)], &[None, None], VerdictKind::Vanishing);
        let note = GradientFlow::of("relu", &spec(2), &snap, 0).note.expect("a note");
        // The verdict's own ratio, ‖δ₁‖/‖δ₂‖ = 2e-2, and layer 1's input 189× the output layer's.
        assert!(note.contains("3.78e-1") && note.contains("2.00e-2") && note.contains("1.89e2×"), "{note}");
        assert!(note.contains("lifts"), "{note}");
        // Saturated and dead verdicts are read from other numbers: no note.
        for kind in [VerdictKind::Saturated, VerdictKind::Dead] {
            let snap = snapshot(vec![layer(2e-3, 0.378), layer(0.1, 0.5), layer(1.0, 1.0)], &[None, None], kind);
            assert_eq!(GradientFlow::of("relu", &spec(2), &snap, 0).note, None);
        }
    }

    #[test]
    fn an_output_layer_without_gradient_is_not_called_diverged() {
        let snap = snapshot(vec![layer(0.0, 0.0), layer(0.0, 0.0), layer(0.0, 0.0)], &[None, None], VerdictKind::Dead);
        let flow = GradientFlow::of("relu", &spec(2), &snap, 0);
        assert_eq!(flow.first_last, None);
        assert!(flow.headline.contains("no gradient"), "{}", flow.headline);
    }
}
