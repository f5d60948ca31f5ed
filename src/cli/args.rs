//! The flags that `train`, `demo` and later commands share, and their validation into one config
//! before any work starts. Every bad value gets a message naming the flag and the allowed range.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::data::{self, Dataset, DatasetSpec};
use crate::engine::{Backend, Engine, ModelJob, Optimizer, TrainConfig};
use crate::gpu::{DeviceRequest, Gpu, GpuBackend, GpuError, PathRequest, single_engine};
use crate::model::{Activation, Init, MlpSpec, Norm, Output};
use crate::reference::{CpuBackend, CpuEngine};

#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// circles, moons, xor, spirals, blobs, or csv:PATH
    #[arg(long, default_value = "circles")]
    pub dataset: String,
    /// Samples to generate (synthetic datasets)
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Noise std (default: 0.1, or 1.0 for blobs)
    #[arg(long)]
    pub noise: Option<f64>,
    /// Inner circle's radius relative to the outer one (circles)
    #[arg(long, default_value_t = 0.85)]
    pub factor: f64,
    /// Classes (spirals, blobs)
    #[arg(long, default_value_t = 2)]
    pub classes: usize,
    /// Label column (csv; default: the last column)
    #[arg(long)]
    pub label: Option<String>,
    /// Cell separator (csv): one character, e.g. ';', or `tab` (default: tab for .tsv, else ',')
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Fraction of the data held out for testing, in (0, 1)
    #[arg(long, default_value_t = 0.33)]
    pub test_fraction: f64,
    /// An explicit test set, csv:PATH with the training CSV's columns, instead of --test-fraction; the
    /// whole --dataset then trains, in file order
    #[arg(long, value_name = "csv:PATH", conflicts_with = "test_fraction")]
    pub test_data: Option<String>,
    /// Standardise every feature with the training set's mean and std
    #[arg(long)]
    pub standardize: bool,
}

#[derive(Args, Clone, Debug)]
pub struct ShapeArgs {
    /// Hidden layers
    #[arg(long, default_value_t = 11)]
    pub depth: usize,
    /// Units per hidden layer
    #[arg(long, default_value_t = 10)]
    pub width: usize,
    /// Hidden widths, e.g. 64,32,16 (instead of --depth and --width)
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["depth", "width"])]
    pub layers: Option<Vec<usize>>,
    /// glorot-uniform, glorot-normal, he-uniform, he-normal, lecun-normal, standard, normal:SIGMA
    #[arg(long, default_value = "glorot-uniform")]
    pub init: Init,
    /// Skip connections: every hidden layer after the first whose widths are equal computes
    /// a_in + α·f(N(W·a_in + b))
    #[arg(long)]
    pub residual: bool,
    /// The skip connections' α (finite, > 0)
    #[arg(long, value_name = "ALPHA", requires = "residual", allow_negative_numbers = true)]
    pub residual_scale: Option<f64>,
    /// Dense → norm → activation on every hidden layer: none, batch or layer (`demo`: the norm of the
    /// notebook's fourth network, batch by default)
    #[arg(long, value_name = "NORM")]
    pub norm: Option<Norm>,
    /// The spelling of --norm batch
    #[arg(long, conflicts_with = "norm")]
    pub batch_norm: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerName {
    Sgd,
    Adam,
}

#[derive(Args, Clone, Debug)]
pub struct OptimArgs {
    #[arg(long, value_enum, default_value_t = OptimizerName::Adam)]
    pub optimizer: OptimizerName,
    /// Learning rate, finite and > 0
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub lr: f64,
    /// SGD momentum, in [0, 1)
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub momentum: f64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Seeds the weights, the data, the split and the shuffle
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Scale all gradients together to a global norm of at most X before each step (PyTorch's
    /// clip_grad_norm_); finite and > 0
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub clip_grad_norm: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// The GPU if there is one, else the CPU reference (with a warning)
    Auto,
    /// The GPU; an error if there is none
    Gpu,
    /// The f64 CPU reference
    Cpu,
}

#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    #[arg(long, value_enum, default_value_t = DeviceKind::Auto)]
    pub device: DeviceKind,
    /// Use the adapter whose name contains this (see `vanish devices`)
    #[arg(long)]
    pub adapter: Option<String>,
}

impl DataArgs {
    /// Loads, splits and (optionally) standardises the data.
    pub fn load(&self, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            bail!("--test-fraction must be in (0, 1), got {}", self.test_fraction);
        }
        let spec =
            DatasetSpec::parse(&self.dataset, self.samples, self.noise, self.factor, self.classes, self.label.clone())?
                .with_delimiter(self.delimiter.as_deref())?;
        let all = data::load(&spec, seed)?;
        let (mut train, mut test) = match &self.test_data {
            None => data::split(&all, self.test_fraction, seed)?,
            Some(name) => {
                if !matches!(spec, DatasetSpec::Csv { .. }) {
                    bail!("--test-data needs a CSV training set (--dataset csv:PATH), not `{}`", self.dataset);
                }
                if !name.starts_with("csv:") {
                    bail!("--test-data must be csv:PATH, got `{name}`");
                }
                let test_spec = DatasetSpec::parse(name, 0, None, 0.0, 0, self.label.clone())?
                    .with_delimiter(self.delimiter.as_deref())?;
                let test = data::load(&test_spec, seed)?;
                (all.clone(), data::held_out(&all, test).map_err(|e| anyhow::anyhow!("--test-data {name}: {e}"))?)
            }
        };
        if self.standardize {
            data::standardize(&mut train, &mut test);
        }
        Ok((train, test))
    }
}

impl ShapeArgs {
    pub fn hidden(&self) -> Result<Vec<usize>> {
        let hidden = match &self.layers {
            Some(l) => l.clone(),
            None => {
                if self.depth == 0 {
                    bail!("--depth must be at least 1");
                }
                vec![self.width; self.depth]
            }
        };
        if hidden.is_empty() {
            bail!("--layers needs at least one width");
        }
        if let Some(i) = hidden.iter().position(|&w| w == 0) {
            bail!("hidden layer {i} has width 0: --width and --layers values must be at least 1");
        }
        Ok(hidden)
    }

    /// `--norm` (or `--batch-norm`), else `default`.
    pub fn norm_or(&self, default: Norm) -> Norm {
        match (self.norm, self.batch_norm) {
            (Some(n), _) => n,
            (None, true) => Norm::Batch,
            (None, false) => default,
        }
    }

    /// The spec for `data` with these activations (one, or one per hidden layer) and normalisation.
    pub fn spec(&self, data: &Dataset, activations: &[Activation], norm: Norm) -> Result<MlpSpec> {
        let hidden = self.hidden()?;
        let activations = match activations.len() {
            1 => vec![activations[0]; hidden.len()],
            n if n == hidden.len() => activations.to_vec(),
            n => bail!(
                "--activation gives {n} activations for {} hidden layers (give one, or one per layer)",
                hidden.len()
            ),
        };
        let spec = MlpSpec {
            activations,
            norm,
            init: self.init,
            residual: self.residual.then(|| self.residual_scale.unwrap_or(1.0)),
            ..MlpSpec::new(data.features, &hidden, Activation::Identity, Output::for_classes(data.classes))
        };
        spec.validate().map_err(anyhow::Error::msg)?;
        Ok(spec)
    }
}

impl OptimArgs {
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be finite and > 0, got {}", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        if self.momentum != 0.0 && self.optimizer != OptimizerName::Sgd {
            bail!("--momentum applies to --optimizer sgd only");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if let Some(x) = self.clip_grad_norm
            && !crate::engine::valid_clip(x)
        {
            bail!("--clip-grad-norm must be finite and > 0 (within f32's normal range, as the GPU holds it), got {x}");
        }
        Ok(())
    }

    pub fn optimizer(&self) -> Optimizer {
        match self.optimizer {
            OptimizerName::Sgd => Optimizer::sgd(self.lr, self.momentum),
            OptimizerName::Adam => Optimizer::adam(self.lr),
        }
    }

    pub fn config(&self) -> TrainConfig {
        TrainConfig { optimizer: self.optimizer(), batch_size: self.batch_size, clip_grad_norm: self.clip_grad_norm }
    }
}

/// The GPU, or `None` for the CPU reference. `auto` falls back to the CPU with a warning when there is
/// no adapter; `gpu` makes that an error.
pub fn open_device(args: &DeviceArgs) -> Result<Option<Gpu>> {
    if args.device == DeviceKind::Cpu {
        return Ok(None);
    }
    match Gpu::new(&DeviceRequest { adapter: args.adapter.clone() }) {
        Ok(gpu) => Ok(Some(gpu)),
        Err(GpuError::NoAdapter) if args.device == DeviceKind::Auto => {
            eprintln!(
                "warning: {}\nwarning: falling back to the CPU reference (f64); it is exact but slower",
                GpuError::NoAdapter
            );
            Ok(None)
        }
        Err(e) => Err(e).context("--device gpu"),
    }
}

/// The GPU engine's training path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PathChoice {
    /// The fused executor for narrow models (every width ≤ 64) at batch ≤ 128, layered otherwise
    Auto,
    /// One dispatch per kernel per layer
    Layered,
    /// Whole steps, probes and evaluations in one dispatch stream (every width ≤ 64)
    Fused,
}

impl PathChoice {
    fn request(self) -> PathRequest {
        match self {
            PathChoice::Auto => PathRequest::Auto,
            PathChoice::Layered => PathRequest::Layered,
            PathChoice::Fused => PathRequest::Fused,
        }
    }
}

/// The backend for `gpu` on `path`, or the CPU reference when `gpu` is `None` (which has one path, so
/// `path` must be `Auto` there).
pub fn make_backend(gpu: Option<&Gpu>, path: PathChoice) -> Result<Box<dyn Backend + '_>> {
    Ok(match gpu {
        Some(gpu) => Box::new(GpuBackend::new(gpu, path.request())),
        None if path != PathChoice::Auto => bail!("--path applies to the GPU engine; the CPU reference has one path"),
        None => Box::new(CpuBackend),
    })
}

/// A single-model engine for `gpu` (or the CPU reference when `None`) on the automatic path.
pub fn make_engine<'g>(gpu: Option<&'g Gpu>, job: &ModelJob<'_>) -> Result<Box<dyn Engine + 'g>> {
    Ok(match gpu {
        Some(gpu) => single_engine(gpu, job, PathRequest::Auto)?,
        None => Box::new(CpuEngine::new(&job.spec, &job.params, job.train, job.test, job.cfg)?),
    })
}

/// Parses `--activation` lists.
pub fn parse_activation(s: &str) -> Result<Activation, String> {
    s.parse()
}
