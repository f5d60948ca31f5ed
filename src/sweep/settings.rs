//! Everything that defines a sweep besides the shard: the grid, the data, the training options and the
//! preset. Saved as `sweep.json` in the output folder, so a rerun can tell whether it is resuming the
//! same sweep and `merge` can tell whether shards belong together.

use serde::{Deserialize, Serialize};

use super::SweepError;
use super::grid::{Grid, Shard};
use super::preset::Preset;
use crate::data::DataSettings;
use crate::engine::TrainConfig;
use crate::model::OutputKind;

/// The least host memory one run of a sweep takes while the sweep lists, trains and reports it: its
/// configuration, its record read back (per-layer numbers per epoch) and its share of the report.
const RUN_BYTES: u64 = 4 << 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub grid: Grid,
    pub data: DataSettings,
    /// 0 = probe at initialisation only.
    pub epochs: usize,
    /// `--steps N`: N optimiser steps per run instead of whole epochs (absent in folders from before it).
    #[serde(default)]
    pub steps: Option<usize>,
    pub batch_size: usize,
    pub lr: f64,
    /// `--weight-decay λ` of every run (absent in folders from before it, and without decay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// `--output`: every run's head (softmax in folders from before it). Left out when softmax, so the
    /// settings of folders from before it keep their checksum and resume.
    #[serde(default, skip_serializing_if = "OutputKind::is_default")]
    pub output: OutputKind,
    /// `--measure-every E`: probe and evaluate after every E-th epoch and the last (absent: every epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_every: Option<usize>,
    /// `--histograms`: every probe's per-layer histograms, in the run files and the report.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub histograms: bool,
    pub preset: Option<Preset>,
    /// `--full`: the preset at its paper's size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

impl Settings {
    /// How a run of `optimizer` with clipping `clip` takes its steps.
    pub fn train_config(&self, optimizer: &crate::record::OptimizerChoice, clip: Option<f64>) -> TrainConfig {
        TrainConfig {
            optimizer: optimizer.with_lr(self.lr),
            batch_size: self.batch_size,
            clip_grad_norm: clip,
            weight_decay: self.weight_decay,
            histograms: self.histograms,
        }
    }

    /// The optimiser steps and the epochs (the last partial with `--steps`) of a run on `train_rows` rows.
    pub fn steps_and_epochs(&self, train_rows: usize) -> Option<(usize, usize)> {
        let spe = crate::engine::batches_per_epoch(train_rows, self.batch_size);
        match self.steps {
            Some(n) => Some((n, if spe > 0 { n.div_ceil(spe) } else { 0 })),
            None => Some((spe.checked_mul(self.epochs)?, self.epochs)),
        }
    }

    /// Checks the grid, the data options and every run's training settings (by the rule `train` and
    /// `demo` follow); the message names the flag.
    pub fn validate(&self) -> Result<(), SweepError> {
        self.grid.validate().map_err(SweepError::Invalid)?;
        self.data.validate()?;
        if self.measure_every == Some(0) {
            return Err(SweepError::Invalid("--measure-every must be at least 1 (epochs between measurements)".into()));
        }
        // Counted before the grid is expanded or a folder created: each run's configuration and record
        // take at least RUN_BYTES while the sweep lists and reports them.
        let runs = self.grid.runs();
        let what = format!("the sweep's {} runs", runs.map_or("more than 2^64".into(), |r| r.to_string()));
        crate::memory::check_host(&what, runs.and_then(|r| (r as u64).checked_mul(RUN_BYTES)))
            .map_err(SweepError::Invalid)?;
        // And the networks, before the data gives their inputs and outputs (one each, a lower bound):
        // every run to do keeps its initial weights until it trains.
        let others = runs.map(|r| r / (self.grid.depths.len() * self.grid.widths.len() * self.grid.norms.len()).max(1));
        let mut weights = Some(0u64);
        for &depth in &self.grid.depths {
            for &width in &self.grid.widths {
                for &norm in &self.grid.norms {
                    let one =
                        crate::memory::layers_params(crate::memory::network(1, width as u64, depth as u64, 1, norm));
                    let all = one.zip(others).and_then(|(p, n)| p.checked_mul(4)?.checked_mul(n as u64));
                    weights = weights.zip(all).and_then(|(w, a)| w.checked_add(a));
                }
            }
        }
        crate::memory::check_host(&format!("{what}' networks"), weights).map_err(SweepError::Invalid)?;
        for optimizer in &self.grid.optimizers {
            for &clip_grad_norm in &self.grid.clip {
                self.train_config(optimizer, clip_grad_norm).validate().map_err(SweepError::Invalid)?;
            }
        }
        Ok(())
    }
}

/// The contents of `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub settings: Settings,
    /// `None` for a whole sweep or a merge.
    pub shard: Option<Shard>,
}

/// The flags whose values differ between two settings (`a`'s value first), for a message that says
/// what changed: `--epochs 1 vs 2`.
pub fn differences(a: &Settings, b: &Settings) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).unwrap_or_default(), serde_json::to_value(b).unwrap_or_default());
    let flag = |key: &str| format!("--{}", key.replace('_', "-"));
    let mut keys = Vec::new();
    for section in ["grid", "data"] {
        if let (Some(x), Some(y)) = (a[section].as_object(), b[section].as_object()) {
            for (k, v) in x {
                let w = y.get(k).cloned().unwrap_or_default();
                if *v != w {
                    keys.push(format!("{} {v} vs {w}", flag(k)));
                }
            }
        }
    }
    for key in [
        "epochs",
        "steps",
        "batch_size",
        "lr",
        "weight_decay",
        "output",
        "measure_every",
        "histograms",
        "preset",
        "full",
    ] {
        if a[key] != b[key] {
            keys.push(format!("{} {} vs {}", flag(key), a[key], b[key]));
        }
    }
    keys
}
