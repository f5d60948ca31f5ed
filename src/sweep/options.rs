//! A sweep's options as given, and how they resolve into its `Settings`: each axis from its flag, else
//! the preset's, else the default (`defaults`). `vanish sweep` and the page's Sweep button both resolve
//! them here, so their grids and messages are the same.

use serde::{Deserialize, Serialize};

use super::SweepError;
use super::grid::{Grid, parse_clips, parse_counts, parse_list, parse_switches};
use super::preset::Preset;
use super::settings::Settings;
use crate::data::DataSettings;
use crate::defaults;
use crate::model::{BiasInit, Init, Norm, OutputKind};

/// A sweep as given — the command line's flags and the page's fields, by the same names — with every
/// axis optional: unset, it takes the preset's value or the default. `settings` resolves it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct SweepOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataSettings,
    /// Hidden layers: ranges and lists, e.g. 1..=30, 1..30, 2..=20:2, 2,4,8 [default: 1..=10]
    #[arg(long)]
    pub depths: Option<String>,
    /// Units per hidden layer, same syntax [default: 10]
    #[arg(long)]
    pub widths: Option<String>,
    /// e.g. sigmoid,tanh,relu (see `train --help` for every name) [default: sigmoid,tanh,relu]
    #[arg(long)]
    pub activations: Option<String>,
    /// Batch norm: off, on, or off,on (the spelling of --norms none / batch / none,batch) [default: off]
    #[arg(long, conflicts_with = "norms")]
    pub batch_norm: Option<String>,
    /// Normalisations: none, batch, layer, or a list such as none,batch,layer [default: none]
    #[arg(long)]
    pub norms: Option<String>,
    /// e.g. glorot-uniform,he-normal,standard,normal:0.5 [default: glorot-uniform]
    #[arg(long)]
    pub inits: Option<String>,
    /// The mean-field axis: weights N(0, σ_w²/fan_in) for each σ_w² listed, e.g. 1,1.5,2,2.5 (the spelling
    /// of --inits normal-var:1,normal-var:1.5,…)
    #[arg(long = "sigma-w2", conflicts_with = "inits", allow_hyphen_values = true)]
    pub sigma_w2: Option<String>,
    /// Initial biases N(0, σ_b²) for each σ_b² listed, e.g. 0,0.05 (0: zero biases) [default: 0]
    #[arg(long = "sigma-b2", allow_hyphen_values = true)]
    pub sigma_b2: Option<String>,
    /// adam, sgd, sgd:MOMENTUM [default: adam]
    #[arg(long)]
    pub optimizers: Option<String>,
    /// Skip connections: off, on, or off,on [default: off]
    #[arg(long)]
    pub residual: Option<String>,
    /// The skip connections' α (finite, > 0) [default: 1, or the preset's]
    #[arg(long, allow_negative_numbers = true)]
    pub residual_scale: Option<f64>,
    /// Seeds 0..N per configuration (each seeds the data, split, weights and shuffle) [default: 1, 3 with a preset]
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Epochs per run; 0 probes at initialisation only [default: 1, 0 with a preset]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train this many optimiser steps per run instead of whole epochs, as the trainability studies do
    /// (the last epoch may be partial; it is probed and recorded like a whole one)
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Learning rate, shared by every optimizer [default: 1e-3, or the preset's]
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Gradient clipping: off, a global norm X, or a list such as off,1 [default: off, or the preset's]
    #[arg(long)]
    pub clip_grad_norm: Option<String>,
    /// Weight decay λ of every run, in Nielsen's form: each step adds (λ/n)·w to every dense weight's
    /// gradient, n the training rows [default: none, or the preset's]
    #[arg(long, value_name = "λ", allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Every run's head: softmax (one logit with binary cross-entropy for two classes) or sigmoid-ce
    /// (one sigmoid output per class, Nielsen's summed cross-entropy) [default: softmax, or the preset's]
    #[arg(long, value_enum)]
    pub output: Option<OutputKind>,
    /// Probe and evaluate after every E-th epoch (and at initialisation and after the last) instead of after
    /// each, for long runs of short epochs [default: every epoch, or the preset's]
    #[arg(long, value_name = "E")]
    pub measure_every: Option<usize>,
    /// Each probe also counts every layer's pre-activations, activations, δ and dW into 32 bins (Glorot &
    /// Bengio's histograms), kept in the run files and drawn in the report [default: off, on for
    /// glorot-bengio]
    #[arg(long)]
    pub histograms: bool,
    /// Rows per training step [default: 32, or the preset's]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// A classic result as a check: glorot-tanh, batchnorm, layernorm, selu, resnet, clip, or on MNIST
    /// nielsen-ch5, glorot-bengio, he-relu30 and schoenholz (sets the compared axes and the paper's training)
    #[arg(long, conflicts_with_all = ["activations", "inits", "sigma_w2", "batch_norm", "norms", "residual", "clip_grad_norm"])]
    pub preset: Option<Preset>,
    /// With --preset: the paper's size instead of the small one that runs in minutes on a CPU
    #[arg(long, requires = "preset")]
    pub full: bool,
}

/// A list of variances, each finite and > 0 (or ≥ 0 with `zero`); the message names `flag`.
fn variances(flag: &str, list: &str, zero: bool) -> Result<Vec<f64>, SweepError> {
    let mut values = Vec::new();
    for item in list.split(',').map(str::trim) {
        match item.parse::<f64>() {
            Ok(v) if v.is_finite() && (v > 0.0 || (zero && v == 0.0)) => {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            _ => {
                return Err(SweepError::Invalid(format!(
                    "{flag} '{list}': '{item}' is not a finite number {}",
                    if zero { ">= 0" } else { "> 0" }
                )));
            }
        }
    }
    Ok(values)
}

impl SweepOptions {
    /// The validated settings: the preset's grid or the defaults, overridden by the flags given.
    pub fn settings(&self) -> Result<Settings, SweepError> {
        let base = self.preset.map(|p| p.grid(self.full));
        let or = |flag: Option<&String>, default: &str| flag.cloned().unwrap_or_else(|| default.to_string());
        let grid = Grid {
            depths: match (&self.depths, &base) {
                (Some(d), _) => parse_counts("--depths", d),
                (None, Some(b)) => Ok(b.depths.clone()),
                (None, None) => parse_counts("--depths", defaults::SWEEP_DEPTHS),
            }
            .map_err(SweepError::Invalid)?,
            widths: match (&self.widths, &base) {
                (Some(w), _) => parse_counts("--widths", w),
                (None, Some(b)) => Ok(b.widths.clone()),
                (None, None) => parse_counts("--widths", defaults::SWEEP_WIDTHS),
            }
            .map_err(SweepError::Invalid)?,
            activations: match &base {
                Some(b) => b.activations.clone(),
                None => parse_list("--activations", &or(self.activations.as_ref(), defaults::SWEEP_ACTIVATIONS))
                    .map_err(SweepError::Invalid)?,
            },
            norms: match (&base, &self.batch_norm) {
                (Some(b), _) => b.norms.clone(),
                (None, Some(switches)) => parse_switches("--batch-norm", switches)
                    .map_err(SweepError::Invalid)?
                    .into_iter()
                    .map(|on| if on { Norm::Batch } else { Norm::None })
                    .collect(),
                (None, None) => parse_list("--norms", &or(self.norms.as_ref(), defaults::SWEEP_NORMS))
                    .map_err(SweepError::Invalid)?,
            },
            inits: match (&base, &self.sigma_w2) {
                (_, Some(list)) => variances("--sigma-w2", list, false)?.into_iter().map(Init::NormalVar).collect(),
                (Some(b), None) => b.inits.clone(),
                (None, None) => parse_list("--inits", &or(self.inits.as_ref(), defaults::SWEEP_INITS))
                    .map_err(SweepError::Invalid)?,
            },
            bias_inits: match (&base, &self.sigma_b2) {
                (_, Some(list)) => variances("--sigma-b2", list, true)?
                    .into_iter()
                    .map(|v| if v == 0.0 { BiasInit::Zero } else { BiasInit::NormalVar(v) })
                    .collect(),
                (Some(b), None) => b.bias_inits.clone(),
                (None, None) => vec![BiasInit::Zero],
            },
            optimizers: match (&self.optimizers, &base) {
                (None, Some(b)) => b.optimizers.clone(),
                (o, _) => parse_list("--optimizers", &or(o.as_ref(), defaults::SWEEP_OPTIMIZERS))
                    .map_err(SweepError::Invalid)?,
            },
            residual: match &base {
                Some(b) => b.residual.clone(),
                None => {
                    parse_switches("--residual", &or(self.residual.as_ref(), "off")).map_err(SweepError::Invalid)?
                }
            },
            residual_scale: self.residual_scale.or(base.as_ref().map(|b| b.residual_scale)).unwrap_or(1.0),
            clip: match (&self.clip_grad_norm, &base) {
                (Some(c), _) => parse_clips("--clip-grad-norm", c).map_err(SweepError::Invalid)?,
                (None, Some(b)) => b.clip.clone(),
                (None, None) => vec![None],
            },
            seeds: self.seeds.or(base.as_ref().map(|b| b.seeds)).unwrap_or(defaults::SWEEP_SEEDS),
        };
        if let Some(p) = self.preset.filter(|p| p.fixed_flags().contains(&"--sigma-b2"))
            && self.sigma_b2.is_some()
        {
            return Err(SweepError::Invalid(format!(
                "--sigma-b2 cannot be given with --preset {p}, which fixes the biases"
            )));
        }
        if let Some(p) = self.preset.filter(|p| p.on_mnist()) {
            let spec = self.data.validate()?;
            if !matches!(spec, crate::data::DatasetSpec::Mnist { .. } | crate::data::DatasetSpec::Npz { .. }) {
                return Err(SweepError::Invalid(format!(
                    "--preset {p} repeats an experiment on MNIST: give its files with --dataset mnist:DIR (the four \
                     IDX files) or npz:PATH (Keras's mnist.npz)"
                )));
            }
        }
        let training = self.preset.map(|p| p.training(self.full));
        let mut data = self.data.clone();
        data.train_rows = data.train_rows.or(training.and_then(|t| t.train_rows));
        data.test_rows = data.test_rows.or(training.and_then(|t| t.test_rows));
        let settings = Settings {
            grid,
            data,
            epochs: self.epochs.unwrap_or(training.map_or(defaults::EPOCHS, |t| t.epochs)),
            // --epochs given replaces the preset's steps.
            steps: self.steps.or(training.and_then(|t| t.steps).filter(|_| self.epochs.is_none())),
            batch_size: self.batch_size.or(training.and_then(|t| t.batch_size)).unwrap_or(defaults::BATCH_SIZE),
            lr: self.lr.or(training.and_then(|t| t.lr)).unwrap_or(defaults::LR),
            weight_decay: self.weight_decay.or(training.and_then(|t| t.weight_decay)),
            output: self.output.or(training.and_then(|t| t.output)).unwrap_or_default(),
            measure_every: self.measure_every.or(training.and_then(|t| t.measure_every)),
            histograms: self.histograms || training.is_some_and(|t| t.histograms),
            preset: self.preset,
            full: self.full,
        };
        settings.validate()?;
        Ok(settings)
    }
}
