//! The sweep's grid: parsing `--depths 1..=30`-style ranges and lists, and expanding the axes into one
//! `RunConfig` per run in a fixed order, so every shard, every resume and every merge agrees on which
//! run is which.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{Activation, BiasInit, Init, Norm};
use crate::record::{OptimizerChoice, RunConfig};

/// Parses a list of positive integers: items separated by commas, each a number `5`, an inclusive
/// range `1..=30`, a half-open range `1..30`, or a range with a step `2..=20:2`. `flag` names the
/// option in every message.
pub fn parse_counts(flag: &str, text: &str) -> Result<Vec<usize>, String> {
    let mut out: Vec<usize> = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("{flag} '{text}': empty item (write e.g. 1..=20 or 2,4,8)"));
        }
        let num = |s: &str| -> Result<usize, String> {
            s.trim().parse::<usize>().map_err(|_| format!("{flag} '{text}': '{s}' is not a whole number"))
        };
        let (range, step) = match item.split_once(':') {
            Some((r, s)) => (r, num(s)?),
            None => (item, 1),
        };
        if step == 0 {
            return Err(format!("{flag} '{text}': the step after ':' must be at least 1"));
        }
        // Counted before it is built: a range such as 1..=18446744073709551615 is refused, not allocated.
        let too_many = |count: usize| {
            (out.len().saturating_add(count) > MAX_AXIS_VALUES).then(|| {
                format!("{flag} '{text}': more than {MAX_AXIS_VALUES} values; a sweep axis takes at most that many")
            })
        };
        let values: Vec<usize> = if let Some((a, b)) = range.split_once("..=") {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("{flag} '{text}': the range {a}..={b} is empty"));
            }
            if let Some(e) = too_many(((b - a) / step).saturating_add(1)) {
                return Err(e);
            }
            (a..=b).step_by(step).collect()
        } else if let Some((a, b)) = range.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            if a >= b {
                return Err(format!("{flag} '{text}': the range {a}..{b} is empty (use ..= to include the end)"));
            }
            if let Some(e) = too_many((b - a - 1) / step + 1) {
                return Err(e);
            }
            (a..b).step_by(step).collect()
        } else if step != 1 {
            return Err(format!("{flag} '{text}': a step (':') needs a range such as 2..=20:2"));
        } else {
            vec![num(range)?]
        };
        out.extend(values);
    }
    if let Some(zero) = out.iter().position(|&v| v == 0) {
        return Err(format!("{flag} '{text}': value {} is 0; every value must be at least 1", out[zero]));
    }
    dedup_counts(&mut out);
    Ok(out)
}

/// Parses a comma-separated list with `T::from_str`, naming `flag` in the message.
pub fn parse_list<T: FromStr<Err = String> + PartialEq>(flag: &str, text: &str) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("{flag} '{text}': empty item"));
        }
        out.push(item.parse::<T>().map_err(|e| format!("{flag}: {e}"))?);
    }
    dedup_in_order(&mut out);
    Ok(out)
}

/// `--batch-norm off,on`: also accepts `false`/`true`, `no`/`yes`.
pub fn parse_switches(flag: &str, text: &str) -> Result<Vec<bool>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        out.push(match item.as_str() {
            "off" | "false" | "no" => false,
            "on" | "true" | "yes" => true,
            _ => return Err(format!("{flag} '{text}': '{item}' is not on or off")),
        });
    }
    dedup_in_order(&mut out);
    Ok(out)
}

fn dedup_in_order<T: PartialEq>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !seen.contains(&x) {
            seen.push(x);
        }
    }
    *v = seen;
}

/// `dedup_in_order` for counts, in linear time (an axis may hold up to `MAX_AXIS_VALUES`).
fn dedup_counts(v: &mut Vec<usize>) {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    v.retain(|x| seen.insert(*x));
}

/// The most values one sweep axis takes.
pub const MAX_AXIS_VALUES: usize = 100_000;

fn plain() -> Vec<bool> {
    vec![false]
}

fn unit() -> f64 {
    1.0
}

fn zero_biases() -> Vec<BiasInit> {
    vec![BiasInit::Zero]
}

fn no_clip() -> Vec<Option<f64>> {
    vec![None]
}

/// `--clip-grad-norm off,1`: `off` (or `none`) and positive finite norms.
pub fn parse_clips(flag: &str, text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        out.push(match item.as_str() {
            "off" | "none" => None,
            _ => match item.parse::<f64>() {
                Ok(x) if crate::engine::valid_clip(x) => Some(x),
                _ => return Err(format!("{flag} '{text}': '{item}' is not off or a finite number > 0")),
            },
        });
    }
    dedup_in_order(&mut out);
    Ok(out)
}

/// The axes of a sweep, each non-empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub depths: Vec<usize>,
    pub widths: Vec<usize>,
    pub activations: Vec<Activation>,
    /// `--norms none,batch,layer` (`--batch-norm off,on` is none,batch; folders from before layer norm
    /// recorded `batch_norm` flags).
    #[serde(alias = "batch_norm")]
    pub norms: Vec<Norm>,
    pub inits: Vec<Init>,
    /// `--sigma-b2 LIST`: the dense layers' initial biases (zero only in folders from before it).
    #[serde(default = "zero_biases")]
    pub bias_inits: Vec<BiasInit>,
    pub optimizers: Vec<OptimizerChoice>,
    /// `--residual off,on`: plain and residual networks (absent in folders from before it existed).
    #[serde(default = "plain")]
    pub residual: Vec<bool>,
    /// `--residual-scale α` of the residual runs.
    #[serde(default = "unit")]
    pub residual_scale: f64,
    /// `--clip-grad-norm off,X,…`: no clipping, or clipping to each global norm X.
    #[serde(default = "no_clip")]
    pub clip: Vec<Option<f64>>,
    /// Seeds `0..seeds`.
    pub seeds: u64,
}

impl Grid {
    /// How many runs the grid has, `None` past usize (counted without expanding it).
    pub fn runs(&self) -> Option<usize> {
        [
            self.depths.len(),
            self.widths.len(),
            self.activations.len(),
            self.norms.len(),
            self.inits.len(),
            self.bias_inits.len(),
            self.optimizers.len(),
            self.residual.len(),
            self.clip.len(),
            usize::try_from(self.seeds).ok()?,
        ]
        .into_iter()
        .try_fold(1usize, |n, k| n.checked_mul(k))
    }

    /// Every run, families outermost, then depth, then seed: the order of every output.
    pub fn expand(&self) -> Vec<RunConfig> {
        let mut runs = Vec::new();
        for &activation in &self.activations {
            for &residual in &self.residual {
                let residual = residual.then_some(self.residual_scale);
                for &norm in &self.norms {
                    for (&init, &bias_init) in
                        self.inits.iter().flat_map(|i| self.bias_inits.iter().map(move |b| (i, b)))
                    {
                        for &optimizer in &self.optimizers {
                            for &clip in &self.clip {
                                for &width in &self.widths {
                                    for &depth in &self.depths {
                                        for seed in 0..self.seeds {
                                            runs.push(RunConfig {
                                                depth,
                                                width,
                                                activation,
                                                norm,
                                                init,
                                                bias_init,
                                                optimizer,
                                                residual,
                                                clip,
                                                seed,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        runs
    }

    /// Checks every axis has a value; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        let empty = [
            ("--depths", self.depths.is_empty()),
            ("--widths", self.widths.is_empty()),
            ("--activations", self.activations.is_empty()),
            ("--norms", self.norms.is_empty()),
            ("--inits", self.inits.is_empty()),
            ("--sigma-b2", self.bias_inits.is_empty()),
            ("--optimizers", self.optimizers.is_empty()),
            ("--residual", self.residual.is_empty()),
            ("--clip-grad-norm", self.clip.is_empty()),
            ("--seeds", self.seeds == 0),
        ];
        if let Some((flag, _)) = empty.iter().find(|(_, e)| *e) {
            return Err(format!("{flag} must give at least one value"));
        }
        if let Some(x) = self.clip.iter().flatten().find(|x| !crate::engine::valid_clip(**x)) {
            return Err(format!("--clip-grad-norm must be off or finite and > 0, got {x}"));
        }
        if !(self.residual_scale.is_finite() && self.residual_scale > 0.0) {
            return Err(format!("--residual-scale must be finite and > 0, got {}", self.residual_scale));
        }
        Ok(())
    }
}

/// `--shard I/N`: run the configurations whose index in the grid is I modulo N (0-based I).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("--shard '{s}': expected I/N, e.g. 0/4"))?;
        let parse =
            |v: &str| v.trim().parse::<usize>().map_err(|_| format!("--shard '{s}': '{v}' is not a whole number"));
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 {
            return Err(format!("--shard '{s}': N must be at least 1"));
        }
        if index >= count {
            return Err(format!("--shard '{s}': I must be below N (shards are numbered 0..{count})"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn contains(&self, grid_index: usize) -> bool {
        grid_index % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accept_ranges_lists_and_steps() {
        assert_eq!(parse_counts("--depths", "1..=4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_counts("--depths", "1..4").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_counts("--depths", "2..=10:4,20, 2").unwrap(), vec![2, 6, 10, 20]);
    }

    #[test]
    fn bad_counts_name_the_flag() {
        for bad in ["5..=1", "3..3", "", "1,,2", "x", "0..=3", "4:2", "1..=9:0"] {
            let e = parse_counts("--depths", bad).unwrap_err();
            assert!(e.starts_with("--depths"), "{bad}: {e}");
        }
    }

    #[test]
    fn shards_partition_the_grid() {
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("1-3".parse::<Shard>().is_err());
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for k in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.contains(k)).count(), 1);
        }
    }

    #[test]
    fn ids_are_unique_and_file_safe() {
        let grid = Grid {
            depths: vec![1, 2],
            widths: vec![4],
            activations: vec![Activation::Tanh, Activation::LeakyRelu(0.2)],
            norms: vec![Norm::None, Norm::Batch, Norm::Layer],
            inits: vec![Init::Normal(0.5), Init::Standard, Init::NormalVar(1.5), Init::Orthogonal(1.0)],
            bias_inits: vec![BiasInit::Zero, BiasInit::Normal(0.5)],
            optimizers: vec![OptimizerChoice::Adam, OptimizerChoice::Sgd { momentum: 0.9 }],
            residual: vec![false, true],
            residual_scale: 0.5,
            clip: vec![None, Some(1.0)],
            seeds: 2,
        };
        let ids: Vec<String> = grid.expand().iter().map(RunConfig::id).collect();
        assert_eq!(ids.len(), 2 * 2 * 3 * 4 * 2 * 2 * 2 * 2 * 2);
        assert_eq!(Some(ids.len()), grid.runs());
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| id.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))), "{ids:?}");
    }
}
