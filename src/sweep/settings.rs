//! Everything that defines a sweep besides the shard: the grid, the data, the training options and the
//! preset. Saved as `sweep.json` in the output folder, so a rerun can tell whether it is resuming the
//! same sweep and `merge` can tell whether shards belong together.

use serde::{Deserialize, Serialize};

use super::SweepError;
use super::grid::{Grid, Shard};
use super::preset::Preset;
use crate::data::DataSettings;
use crate::engine::TrainConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub grid: Grid,
    pub data: DataSettings,
    /// 0 = probe at initialisation only.
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub preset: Option<Preset>,
}

impl Settings {
    /// Checks the grid, the data options and every run's training settings (by the rule `train` and
    /// `demo` follow); the message names the flag.
    pub fn validate(&self) -> Result<(), SweepError> {
        self.grid.validate().map_err(SweepError::Invalid)?;
        self.data.validate()?;
        for optimizer in &self.grid.optimizers {
            for &clip_grad_norm in &self.grid.clip {
                TrainConfig { optimizer: optimizer.with_lr(self.lr), batch_size: self.batch_size, clip_grad_norm }
                    .validate()
                    .map_err(SweepError::Invalid)?;
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
    for key in ["epochs", "batch_size", "lr", "preset"] {
        if a[key] != b[key] {
            keys.push(format!("{} {} vs {}", flag(key), a[key], b[key]));
        }
    }
    keys
}
