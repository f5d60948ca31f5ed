//! Everything that defines a sweep besides the shard: the grid, the data, the training options and the
//! preset. Saved as `sweep.json` in the output folder, so a rerun can tell whether it is resuming the
//! same sweep and `merge` can tell whether shards belong together.

use serde::{Deserialize, Serialize};

use super::SweepError;
use super::grid::{Grid, Shard};
use super::preset::Preset;
use crate::data::{self, Dataset, DatasetSpec};

/// The dataset options (the `train` command's, minus the seed, which the run gives).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSettings {
    pub dataset: String,
    pub samples: usize,
    pub noise: Option<f64>,
    pub factor: f64,
    pub classes: usize,
    pub label: Option<String>,
    /// `--delimiter` as given (CSV only); absent in folders written before it existed.
    #[serde(default)]
    pub delimiter: Option<String>,
    pub test_fraction: f64,
    pub standardize: bool,
}

impl DataSettings {
    /// Checks the options without loading anything; the message names the flag.
    pub fn validate(&self) -> Result<DatasetSpec, SweepError> {
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(SweepError::Invalid(format!("--test-fraction must be in (0, 1), got {}", self.test_fraction)));
        }
        let spec =
            DatasetSpec::parse(&self.dataset, self.samples, self.noise, self.factor, self.classes, self.label.clone())?;
        Ok(spec.with_delimiter(self.delimiter.as_deref())?)
    }

    /// The training and test splits for `seed` (data, split and standardisation all seeded by it).
    pub fn load(&self, seed: u64) -> Result<(Dataset, Dataset), SweepError> {
        let spec = self.validate()?;
        let all = data::load(&spec, seed)?;
        let (mut train, mut test) = data::split(&all, self.test_fraction, seed)?;
        if self.standardize {
            data::standardize(&mut train, &mut test);
        }
        Ok((train, test))
    }
}

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
    pub fn validate(&self) -> Result<(), SweepError> {
        self.grid.validate().map_err(SweepError::Invalid)?;
        self.data.validate()?;
        if self.batch_size == 0 {
            return Err(SweepError::Invalid("--batch-size must be at least 1".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(SweepError::Invalid(format!("--lr must be finite and > 0, got {}", self.lr)));
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
