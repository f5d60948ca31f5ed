//! The sweep's grid: parsing `--depths 1..=30`-style ranges and lists, and expanding the axes into one
//! `RunConfig` per run in a fixed order, so every shard, every resume and every merge agrees on which
//! run is which.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::engine::Optimizer;
use crate::model::{Activation, Init, MlpSpec, Norm};
use crate::serde_string::serde_as_string;

/// Parses a list of positive integers: items separated by commas, each a number `5`, an inclusive
/// range `1..=30`, a half-open range `1..30`, or a range with a step `2..=20:2`. `flag` names the
/// option in every message.
pub fn parse_counts(flag: &str, text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
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
        let values: Vec<usize> = if let Some((a, b)) = range.split_once("..=") {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("{flag} '{text}': the range {a}..={b} is empty"));
            }
            (a..=b).step_by(step).collect()
        } else if let Some((a, b)) = range.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            if a >= b {
                return Err(format!("{flag} '{text}': the range {a}..{b} is empty (use ..= to include the end)"));
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
    dedup_in_order(&mut out);
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

/// An optimiser as the grid names it: `adam`, `sgd` or `sgd:MOMENTUM`; the learning rate is shared.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OptimizerChoice {
    Adam,
    Sgd { momentum: f64 },
}

impl OptimizerChoice {
    pub fn with_lr(self, lr: f64) -> Optimizer {
        match self {
            OptimizerChoice::Adam => Optimizer::adam(lr),
            OptimizerChoice::Sgd { momentum } => Optimizer::sgd(lr, momentum),
        }
    }
}

impl From<Optimizer> for OptimizerChoice {
    fn from(o: Optimizer) -> Self {
        match o {
            Optimizer::Adam { .. } => OptimizerChoice::Adam,
            Optimizer::Sgd { momentum, .. } => OptimizerChoice::Sgd { momentum },
        }
    }
}

impl fmt::Display for OptimizerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OptimizerChoice::Adam => f.write_str("adam"),
            OptimizerChoice::Sgd { momentum: 0.0 } => f.write_str("sgd"),
            OptimizerChoice::Sgd { momentum } => write!(f, "sgd:{momentum}"),
        }
    }
}

impl FromStr for OptimizerChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        match lower.split_once(':') {
            None if lower == "adam" => Ok(OptimizerChoice::Adam),
            None if lower == "sgd" => Ok(OptimizerChoice::Sgd { momentum: 0.0 }),
            Some(("sgd", m)) => match m.parse::<f64>() {
                Ok(m) if (0.0..1.0).contains(&m) => Ok(OptimizerChoice::Sgd { momentum: m }),
                _ => Err(format!("optimizer '{s}': the momentum must be a number in [0, 1)")),
            },
            _ => Err(format!("unknown optimizer '{s}' (expected adam, sgd or sgd:MOMENTUM)")),
        }
    }
}

serde_as_string!(OptimizerChoice);

fn plain() -> Vec<bool> {
    vec![false]
}

fn unit() -> f64 {
    1.0
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

/// One run of the grid. Runs that differ only in `seed` form a *group* (a point of the plots with a
/// seed band); groups that differ only in `depth` form a *family* (a line of the depth plots).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub depth: usize,
    pub width: usize,
    pub activation: Activation,
    #[serde(alias = "batch_norm")]
    pub norm: Norm,
    pub init: Init,
    pub optimizer: OptimizerChoice,
    /// The skip connections' α for a residual network.
    #[serde(default)]
    pub residual: Option<f64>,
    /// `--clip-grad-norm`: the global gradient norm each step is clipped to.
    #[serde(default)]
    pub clip: Option<f64>,
    pub seed: u64,
}

impl RunConfig {
    /// The configuration of a network built outside a sweep (`demo`, `train`). A `RunConfig` names one
    /// width and one activation: networks with several are named by their first layer's (the record's
    /// `shape` keeps the exact description).
    pub fn from_spec(spec: &MlpSpec, optimizer: Optimizer, seed: u64) -> RunConfig {
        RunConfig {
            depth: spec.hidden.len(),
            width: spec.hidden.first().copied().unwrap_or(0),
            activation: spec.activation(0),
            norm: spec.norm,
            init: spec.init,
            optimizer: optimizer.into(),
            residual: spec.residual,
            clip: None,
            seed,
        }
    }

    /// A stable name usable as a file name, e.g. `d20-w10-tanh-bn-glorot-uniform-adam-s2`.
    pub fn id(&self) -> String {
        let raw = format!("{}-s{}", self.group_id(), self.seed);
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
    }

    /// Everything but the seed.
    pub fn group_id(&self) -> String {
        format!("d{}-{}", self.depth, self.family_id())
    }

    /// Everything but the depth and the seed.
    pub fn family_id(&self) -> String {
        let residual = match self.residual {
            None => String::new(),
            Some(1.0) => "-res".into(),
            Some(a) => format!("-res{a}"),
        };
        let clip = self.clip.map_or(String::new(), |x| format!("-clip{x}"));
        format!(
            "w{}-{}-{}-{}-{}{residual}{clip}",
            self.width,
            self.activation,
            match self.norm {
                Norm::None => "nobn",
                Norm::Batch => "bn",
                Norm::Layer => "ln",
            },
            self.init,
            self.optimizer
        )
    }

    /// A short human label of the family: the activation, then only what `varying` says varies.
    pub fn family_label(&self, varying: &Varying) -> String {
        let mut parts = vec![self.activation.to_string()];
        if varying.residual {
            parts.push(if self.residual.is_some() { "residual".into() } else { "plain".into() });
        }
        if varying.norm {
            parts.push(match self.norm {
                Norm::Batch => "+bn".into(),
                Norm::Layer => "+ln".into(),
                Norm::None if varying.layer_norm => "no norm".into(),
                Norm::None => "no bn".into(),
            });
        }
        if varying.init {
            parts.push(self.init.to_string());
        }
        if varying.width {
            parts.push(format!("width {}", self.width));
        }
        if varying.optimizer {
            parts.push(self.optimizer.to_string());
        }
        if varying.clip {
            parts.push(self.clip.map_or("no clip".into(), |x| format!("clip {x}")));
        }
        parts.join(" ")
    }

    /// The family label followed by the depth, e.g. `tanh +bn, depth 20`.
    pub fn group_label(&self, varying: &Varying) -> String {
        format!("{}, depth {}", self.family_label(varying), self.depth)
    }
}

/// Which axes take more than one value among a set of runs, so labels name only those.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Varying {
    pub width: bool,
    pub activation: bool,
    pub norm: bool,
    /// Some run has layer norm (so a run without a norm is labelled "no norm", not "no bn").
    pub layer_norm: bool,
    pub init: bool,
    pub optimizer: bool,
    pub residual: bool,
    pub clip: bool,
}

impl Varying {
    pub fn of<'a>(configs: impl IntoIterator<Item = &'a RunConfig> + Clone) -> Varying {
        fn differs<'a, T: PartialEq>(
            configs: impl IntoIterator<Item = &'a RunConfig>,
            f: impl Fn(&RunConfig) -> T,
        ) -> bool {
            let mut it = configs.into_iter();
            match it.next() {
                Some(first) => {
                    let v = f(first);
                    it.any(|c| f(c) != v)
                }
                None => false,
            }
        }
        Varying {
            width: differs(configs.clone(), |c| c.width),
            activation: differs(configs.clone(), |c| c.activation),
            norm: differs(configs.clone(), |c| c.norm),
            layer_norm: configs.clone().into_iter().any(|c| c.norm == Norm::Layer),
            init: differs(configs.clone(), |c| c.init),
            optimizer: differs(configs.clone(), |c| c.optimizer),
            residual: differs(configs.clone(), |c| c.residual.is_some()),
            clip: differs(configs, |c| c.clip),
        }
    }
}

impl Grid {
    /// Every run, families outermost, then depth, then seed: the order of every output.
    pub fn expand(&self) -> Vec<RunConfig> {
        let mut runs = Vec::new();
        for &activation in &self.activations {
            for &residual in &self.residual {
                let residual = residual.then_some(self.residual_scale);
                for &norm in &self.norms {
                    for &init in &self.inits {
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
            inits: vec![Init::Normal(0.5), Init::Standard],
            optimizers: vec![OptimizerChoice::Adam, OptimizerChoice::Sgd { momentum: 0.9 }],
            residual: vec![false, true],
            residual_scale: 0.5,
            clip: vec![None, Some(1.0)],
            seeds: 2,
        };
        let ids: Vec<String> = grid.expand().iter().map(RunConfig::id).collect();
        assert_eq!(ids.len(), 2 * 2 * 3 * 2 * 2 * 2 * 2 * 2);
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| id.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))), "{ids:?}");
    }

    #[test]
    fn optimizer_names_round_trip() {
        for o in ["adam", "sgd", "sgd:0.9"] {
            assert_eq!(o.parse::<OptimizerChoice>().unwrap().to_string(), o);
        }
        assert!("sgd:1.5".parse::<OptimizerChoice>().is_err());
        assert!("rmsprop".parse::<OptimizerChoice>().is_err());
    }
}
