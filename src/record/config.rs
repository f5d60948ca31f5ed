//! One run's configuration as sweeps, reports and run files name it: `RunConfig` (a point of the grid,
//! or a network built by `demo` or `train`), the optimiser as the grid spells it, which axes vary among
//! a set of runs (for labels), and which groups a report shows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::engine::Optimizer;
use crate::model::{Activation, BiasInit, Init, MlpSpec, Norm, Output};
use crate::serde_string::serde_as_string;

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
    /// The dense layers' initial biases (zero in files from before bias inits).
    #[serde(default)]
    pub bias_init: BiasInit,
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
            bias_init: spec.bias_init,
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
            Some(a) => format!("-res{}", crate::text::number(a)),
        };
        let clip = self.clip.map_or(String::new(), |x| format!("-clip{}", crate::text::number(x)));
        let bias = match self.bias_init {
            BiasInit::Zero => String::new(),
            b => format!("-b{}", crate::text::number(b.variance())),
        };
        format!(
            "w{}-{}-{}-{}{bias}-{}{residual}{clip}",
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
        if varying.bias_init {
            parts.push(format!("σ_b² {}", crate::text::number(self.bias_init.variance())));
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
    pub bias_init: bool,
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
            bias_init: differs(configs.clone(), |c| c.bias_init),
            optimizer: differs(configs.clone(), |c| c.optimizer),
            residual: differs(configs.clone(), |c| c.residual.is_some()),
            clip: differs(configs, |c| c.clip),
        }
    }
}

/// The network of `config` for a dataset with `features` inputs, with head `output`.
pub fn spec_for(config: &RunConfig, features: usize, output: Output) -> MlpSpec {
    MlpSpec {
        activations: vec![config.activation; config.depth],
        norm: config.norm,
        init: config.init,
        bias_init: config.bias_init,
        residual: config.residual,
        ..MlpSpec::new(features, &vec![config.width; config.depth], Activation::Identity, output)
    }
}

/// Plots draw one line per group while there are at most this many groups, else one per family at
/// its deepest depth.
pub const MAX_LINES: usize = 8;

/// The groups (runs minus the seed) that the per-layer plots, heatmaps, loss curves and decision
/// boundaries show, in grid order: all of them when few, else each family's deepest.
pub fn showcase<'a>(configs: impl IntoIterator<Item = &'a RunConfig>) -> Vec<String> {
    let configs: Vec<&RunConfig> = configs.into_iter().collect();
    // Sets beside the ordered lists: a big sweep has hundreds of thousands of runs.
    let (mut groups, mut seen) = (Vec::new(), std::collections::HashSet::new());
    for c in &configs {
        let id = c.group_id();
        if seen.insert(id.clone()) {
            groups.push(id);
        }
    }
    if groups.len() <= MAX_LINES {
        return groups;
    }
    let mut deepest: Vec<(usize, String)> = Vec::new(); // (depth, group), one per family, in order
    let mut family_at = std::collections::HashMap::new();
    for c in &configs {
        let family = c.family_id();
        match family_at.get(&family) {
            Some(&k) => {
                let entry: &mut (usize, String) = &mut deepest[k];
                if entry.0 < c.depth {
                    *entry = (c.depth, c.group_id());
                }
            }
            None => {
                family_at.insert(family, deepest.len());
                deepest.push((c.depth, c.group_id()));
            }
        }
    }
    deepest.into_iter().map(|(_, g)| g).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimizer_names_round_trip() {
        for o in ["adam", "sgd", "sgd:0.9"] {
            assert_eq!(o.parse::<OptimizerChoice>().unwrap().to_string(), o);
        }
        assert!("sgd:1.5".parse::<OptimizerChoice>().is_err());
        assert!("rmsprop".parse::<OptimizerChoice>().is_err());
    }
}
