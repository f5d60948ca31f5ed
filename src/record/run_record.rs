//! What one run leaves behind: per epoch (0 = initialisation) the per-layer ‖dW‖, ‖δ‖ and activation
//! statistics, the fitted decay factor, the theory beside it, the verdict, loss and accuracy; the batch
//! losses; and, for a few runs, the decision boundary. Built from the trainer's `History`, so `sweep`,
//! `demo` and `train` describe runs the same way. Serialised as one JSON file per run.

use serde::{Deserialize, Deserializer, Serialize};

use super::boundary::Boundary;
use super::config::RunConfig;
use super::theory::{Fit, LayerInput, Transition, geometric_fit, geometric_mean, positive_ratio, transitions};
use super::verdict::{HiddenLayer, Verdict, verdict};
use crate::engine::{BatchResult, LayerProbe};
use crate::histogram::LayerHistograms;
use crate::model::MlpSpec;
use crate::train::History;

/// JSON has no NaN: serde_json writes it as `null`; this reads `null` back as NaN.
fn nan() -> f64 {
    f64::NAN
}

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One dense layer at one moment (see `engine::LayerProbe`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_w: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_b: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub delta: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub weight: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean_grad_sq: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub act_std: f64,
    /// (absent, so NaN, in records from before layer norm's theory)
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub act_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub saturated: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub dead: f64,
}

impl From<&LayerProbe> for LayerStats {
    fn from(p: &LayerProbe) -> Self {
        LayerStats {
            grad_w: p.grad_w,
            grad_b: p.grad_b,
            delta: p.delta,
            weight: p.weight,
            mean_grad_sq: p.mean_grad_sq,
            act_std: p.act_std,
            act_mean: p.act_mean,
            saturated: p.saturated,
            dead: p.dead,
        }
    }
}

/// Everything measured and derived at one epoch boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochSnapshot {
    /// Epochs completed (0 = at initialisation).
    pub epoch: usize,
    /// Evaluation-mode loss and accuracy on the training and test splits (test: `None` without one).
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    /// One per dense layer, the output layer last.
    pub layers: Vec<LayerStats>,
    /// One per dense layer but the output: δ crossing into it from the layer above.
    pub transitions: Vec<Transition>,
    /// Geometric fit of the hidden-to-hidden ratios of ‖δ‖ (`depth − 1` of them; the output layer's
    /// step changes the width from the logits' and is left out), and of ‖dW‖.
    pub delta_fit: Option<Fit>,
    pub grad_fit: Option<Fit>,
    /// Geometric mean of the predicted factors √χ over the same transitions, and of sigmoid's bound.
    pub theory_factor: Option<f64>,
    pub sigmoid_bound: Option<f64>,
    /// ‖dW₁‖/‖dW_out‖ (the demo's number) and ‖δ₁‖/‖δ_last hidden‖ (the verdict's).
    pub first_last: Option<f64>,
    pub delta_first_last: Option<f64>,
    pub verdict: Verdict,
    /// With `--histograms`, one per dense layer (the output layer last): Glorot & Bengio's histograms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histograms: Vec<LayerHistograms>,
}

impl EpochSnapshot {
    /// Derives the fits, theory and verdict from one probe's layers of a network `spec` trained on data
    /// whose E[x²] is `input_sq`.
    pub fn new(
        spec: &MlpSpec,
        epoch: usize,
        layers: Vec<LayerStats>,
        eval: EvalNumbers,
        input_sq: Option<f64>,
    ) -> Self {
        let depth = spec.hidden.len();
        let inputs: Vec<LayerInput> = layers
            .iter()
            .map(|l| LayerInput {
                delta: l.delta,
                weight: l.weight,
                mean_grad_sq: l.mean_grad_sq,
                act_sq: l.act_mean * l.act_mean + l.act_std * l.act_std,
            })
            .collect();
        let transitions = transitions(spec, &inputs, input_sq);
        let hidden_steps = &transitions[..depth.saturating_sub(1)];
        let grad_ratios: Vec<Option<f64>> =
            (0..depth.saturating_sub(1)).map(|l| positive_ratio(layers[l].grad_w, layers[l + 1].grad_w)).collect();
        let hidden: Vec<HiddenLayer> = layers[..depth]
            .iter()
            .map(|l| HiddenLayer { delta: l.delta, dead: l.dead, saturated: l.saturated })
            .collect();
        let last = layers.len() - 1;
        EpochSnapshot {
            epoch,
            loss: eval.loss,
            accuracy: eval.accuracy,
            test_loss: eval.test_loss,
            test_accuracy: eval.test_accuracy,
            delta_fit: geometric_fit(&hidden_steps.iter().map(|t| t.measured).collect::<Vec<_>>()),
            grad_fit: geometric_fit(&grad_ratios),
            theory_factor: geometric_mean(&hidden_steps.iter().map(|t| t.predicted).collect::<Vec<_>>()),
            sigmoid_bound: geometric_mean(&hidden_steps.iter().map(|t| t.sigmoid_bound).collect::<Vec<_>>()),
            first_last: positive_ratio(layers[0].grad_w, layers[last].grad_w),
            delta_first_last: positive_ratio(layers[0].delta, layers[depth.max(1) - 1].delta),
            verdict: verdict(&hidden),
            transitions,
            layers,
            histograms: Vec::new(),
        }
    }

    /// Measured over predicted per-layer factor (1 = the theory is exact).
    pub fn theory_ratio(&self) -> Option<f64> {
        Some(self.delta_fit?.factor / self.theory_factor?).filter(|r| r.is_finite())
    }
}

/// Loss and accuracy at one moment, each `None` when not measured or not finite.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EvalNumbers {
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl EvalNumbers {
    /// From evaluation-mode passes over the training split and, if there is one, the test split.
    pub fn from_results(train: &BatchResult, test: Option<&BatchResult>) -> Self {
        let acc = |r: &BatchResult| finite(r.correct as f64 / r.rows as f64);
        EvalNumbers {
            loss: finite(train.loss),
            accuracy: acc(train),
            test_loss: test.and_then(|t| finite(t.loss)),
            test_accuracy: test.and_then(acc),
        }
    }
}

/// One run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub config: RunConfig,
    /// `spec.describe()`, e.g. `2→10×20→1 tanh+bn`.
    pub shape: String,
    pub engine: String,
    /// Optimiser steps per epoch (the x scale of `batch_losses`).
    pub steps_per_epoch: usize,
    /// One per completed epoch, the first at initialisation.
    pub epochs: Vec<EpochSnapshot>,
    /// Every training batch's loss, in order.
    pub batch_losses: Vec<f64>,
    /// Why training stopped early (a diverged loss), when it did; `epochs` then holds only epoch 0.
    pub diverged: Option<String>,
    /// The decision boundary after training, for the runs the report draws it for.
    pub boundary: Option<Boundary>,
}

impl RunRecord {
    /// A record from the trainer's `history` of `spec`. `init_eval` is the evaluation at
    /// initialisation (the trainer evaluates only after epochs); without it epoch 0 has the probe's
    /// training-mode loss and accuracy. Probes taken inside an epoch (`probe_every`) are skipped.
    /// `input_sq` is the training data's E[x²] (`Dataset::mean_square`), for the theory.
    pub fn from_history(
        config: RunConfig,
        spec: &MlpSpec,
        history: &History,
        init_eval: Option<EvalNumbers>,
        (steps_per_epoch, input_sq): (usize, Option<f64>),
    ) -> Self {
        let mut epochs: Vec<EpochSnapshot> = Vec::new();
        for p in &history.probes {
            if epochs.last().is_some_and(|e| e.epoch >= p.epoch) {
                continue; // a probe inside an epoch; the epoch's boundary probe came first
            }
            let eval = if p.epoch == 0 {
                init_eval.unwrap_or(EvalNumbers {
                    loss: finite(p.probe.loss),
                    accuracy: finite(p.probe.correct as f64 / p.probe.rows as f64),
                    ..Default::default()
                })
            } else {
                // Epochs measured (every one, or every `measure_every`-th) have a record each.
                history.epochs.iter().find(|e| e.epoch == p.epoch).map_or_else(EvalNumbers::default, |e| EvalNumbers {
                    loss: finite(e.eval_train_loss),
                    accuracy: finite(e.eval_train_acc),
                    test_loss: e.test_loss.and_then(finite),
                    test_accuracy: e.test_acc.and_then(finite),
                })
            };
            let layers = p.probe.layers.iter().map(LayerStats::from).collect();
            let snapshot = EpochSnapshot::new(spec, p.epoch, layers, eval, input_sq);
            epochs.push(EpochSnapshot { histograms: p.probe.histograms.clone(), ..snapshot });
        }
        RunRecord {
            id: config.id(),
            config,
            shape: spec.describe(),
            engine: history.engine.clone(),
            steps_per_epoch,
            epochs,
            batch_losses: history.batch_losses.clone(),
            diverged: None,
            boundary: None,
        }
    }

    pub fn init(&self) -> &EpochSnapshot {
        &self.epochs[0]
    }

    pub fn last(&self) -> &EpochSnapshot {
        self.epochs.last().expect("a record has at least the epoch-0 snapshot")
    }
}
