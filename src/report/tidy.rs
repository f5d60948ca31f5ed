//! The tidy table `runs.csv` (one row per run × epoch × layer × quantity; run-level quantities have an
//! empty layer) and `summary.json` (settings, checks, one entry per configuration and per run).

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

use super::groups::{Group, mean, spread};
use crate::model::Norm;
use crate::record::{RunRecord, verdict};
use crate::sweep::Check;

pub const CSV_HEADER: [&str; 16] = [
    "run",
    "depth",
    "width",
    "activation",
    "batch_norm",
    "norm",
    "residual",
    "clip",
    "init",
    "bias_init",
    "optimizer",
    "seed",
    "epoch",
    "layer",
    "quantity",
    "value",
];

/// Shortest round-trip text, in exponent form for very small or large values (Rust's `{:?}`).
fn num(v: f64) -> String {
    format!("{v:?}")
}

/// Writes `runs.csv` — the header, then a line per row — to `w`, row by row (a big sweep's table is
/// gigabytes: it is never built in memory). Layers are numbered from 1; the output layer is
/// `depth + 1`. Transition quantities belong to the layer that receives δ.
pub fn write_csv(runs: &[RunRecord], w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "{}", CSV_HEADER.join(","))?;
    for r in runs {
        let c = &r.config;
        let prefix = [
            r.id.clone(),
            c.depth.to_string(),
            c.width.to_string(),
            c.activation.to_string().replace(',', ";"),
            // batch_norm (true for batch norm, as before layer norm existed) and the norm by name
            (c.norm == Norm::Batch).to_string(),
            c.norm.to_string(),
            // the skip connections' α, or `off` for a plain network
            c.residual.map_or("off".into(), num),
            c.clip.map_or("off".into(), num),
            c.init.to_string(),
            c.bias_init.to_string(),
            c.optimizer.to_string(),
            c.seed.to_string(),
        ]
        .join(",");
        for e in &r.epochs {
            let mut push = |layer: Option<usize>, quantity: &str, value: Option<f64>| match value {
                Some(v) if v.is_finite() => {
                    write!(w, "{prefix},{},", e.epoch)?;
                    if let Some(l) = layer {
                        write!(w, "{l}")?;
                    }
                    // `{v:?}` as `num`: the shortest text that reads back as the same f64
                    writeln!(w, ",{quantity},{v:?}")
                }
                _ => Ok(()),
            };
            push(None, "loss", e.loss)?;
            push(None, "accuracy", e.accuracy)?;
            push(None, "test_loss", e.test_loss)?;
            push(None, "test_accuracy", e.test_accuracy)?;
            push(None, "first_last_ratio", e.first_last)?;
            push(None, "delta_first_last_ratio", e.delta_first_last)?;
            push(None, "decay_factor", e.delta_fit.map(|f| f.factor))?;
            push(None, "decay_spread", e.delta_fit.map(|f| f.spread))?;
            push(None, "grad_decay_factor", e.grad_fit.map(|f| f.factor))?;
            push(None, "theory_factor", e.theory_factor)?;
            push(None, "sigmoid_bound_factor", e.sigmoid_bound)?;
            for (i, l) in e.layers.iter().enumerate() {
                let layer = Some(i + 1);
                push(layer, "grad_w_norm", Some(l.grad_w))?;
                push(layer, "grad_b_norm", Some(l.grad_b))?;
                push(layer, "delta_norm", Some(l.delta))?;
                push(layer, "weight_norm", Some(l.weight))?;
                push(layer, "mean_grad_sq", Some(l.mean_grad_sq))?;
                if i < c.depth {
                    push(layer, "act_std", Some(l.act_std))?;
                    push(layer, "saturated", Some(l.saturated))?;
                    push(layer, "dead", Some(l.dead))?;
                }
            }
            for t in &e.transitions {
                let layer = Some(t.layer + 1);
                push(layer, "delta_ratio", t.measured)?;
                push(layer, "chi", t.chi)?;
                push(layer, "predicted_factor", t.predicted)?;
                push(layer, "sigmoid_bound", t.sigmoid_bound)?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Thresholds {
    dead_fraction: f64,
    saturated_fraction: f64,
    vanishing_ratio: f64,
    exploding_ratio: f64,
    onset_fraction: f64,
}

/// `summary.json`.
pub fn summary(
    title: &str,
    settings: &Value,
    runs: &[RunRecord],
    groups: &[Group<'_>],
    checks: &[Check],
    trainability: &[super::trainability::Panel],
) -> Value {
    let configurations: Vec<Value> = groups
        .iter()
        .map(|g| {
            let init = |f: &dyn Fn(&RunRecord) -> Option<f64>| spread(g.runs.iter().map(|r| f(r))).map(|s| s.mean);
            let last = |f: &dyn Fn(&RunRecord) -> Option<f64>| mean(g.runs.iter().map(|r| f(r)));
            json!({
                "group": g.id,
                "label": g.label,
                "depth": g.depth,
                "runs": g.runs.len(),
                "verdict": g.verdict().0,
                "verdicts": g.verdicts(Some(0)),
                "decay_starts_at_layer": g.onset(),
                "decay_factor": init(&|r| r.init().delta_fit.map(|f| f.factor)),
                "theory_factor": init(&|r| r.init().theory_factor),
                "measured_over_theory": init(&|r| r.init().theory_ratio()),
                "sigmoid_bound_factor": init(&|r| r.init().sigmoid_bound),
                "first_last_ratio": init(&|r| r.init().first_last),
                "delta_first_last_ratio": init(&|r| r.init().delta_first_last),
                "final_loss": last(&|r| r.last().loss),
                "final_accuracy": last(&|r| r.last().accuracy),
                "final_test_accuracy": last(&|r| r.last().test_accuracy),
            })
        })
        .collect();
    let run_entries: Vec<Value> = runs
        .iter()
        .map(|r| {
            let epochs: Vec<Value> = r
                .epochs
                .iter()
                .map(|e| {
                    let mut entry = json!({
                        "epoch": e.epoch,
                        "verdict": e.verdict,
                        "decay": e.delta_fit,
                        "grad_decay": e.grad_fit,
                        "theory_factor": e.theory_factor,
                        "sigmoid_bound_factor": e.sigmoid_bound,
                        "first_last_ratio": e.first_last,
                        "delta_first_last_ratio": e.delta_first_last,
                        "loss": e.loss,
                        "accuracy": e.accuracy,
                        "test_loss": e.test_loss,
                        "test_accuracy": e.test_accuracy,
                    });
                    if !e.histograms.is_empty() {
                        entry["histograms"] = json!(e.histograms);
                    }
                    entry
                })
                .collect();
            json!({ "id": r.id, "config": r.config, "shape": r.shape, "engine": r.engine, "diverged": r.diverged, "epochs": epochs })
        })
        .collect();
    json!({
        "title": title,
        "settings": settings,
        "thresholds": Thresholds {
            dead_fraction: verdict::DEAD_FRACTION,
            saturated_fraction: verdict::SATURATED_FRACTION,
            vanishing_ratio: verdict::VANISHING_RATIO,
            exploding_ratio: verdict::EXPLODING_RATIO,
            onset_fraction: verdict::ONSET_FRACTION,
        },
        "checks": checks,
        "configurations": configurations,
        "trainability": trainability,
        "runs": run_entries,
    })
}
