//! The flags that `train`, `demo` and later commands share, and their validation into one config
//! before any work starts. Every bad value gets a message naming the flag and the allowed range.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::data::{self, Dataset, DatasetSpec};
use crate::engine::{Engine, Optimizer, TrainConfig};
use crate::gpu::fused::{FusedKernel, auto_kernel};
use crate::gpu::{DeviceRequest, Gpu, GpuEngine, GpuError, TrainPath};
use crate::model::{Activation, Init, MlpSpec, Output, Params};
use crate::reference::CpuEngine;

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
    /// Fraction of the data held out for testing, in (0, 1)
    #[arg(long, default_value_t = 0.33)]
    pub test_fraction: f64,
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
            DatasetSpec::parse(&self.dataset, self.samples, self.noise, self.factor, self.classes, self.label.clone())?;
        let all = data::load(&spec, seed)?;
        let (mut train, mut test) = data::split(&all, self.test_fraction, seed)?;
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

    /// The spec for `data` with these activations (one, or one per hidden layer).
    pub fn spec(&self, data: &Dataset, activations: &[Activation], batch_norm: bool) -> Result<MlpSpec> {
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
            batch_norm,
            init: self.init,
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
        Ok(())
    }

    pub fn optimizer(&self) -> Optimizer {
        match self.optimizer {
            OptimizerName::Sgd => Optimizer::sgd(self.lr, self.momentum),
            OptimizerName::Adam => Optimizer::adam(self.lr),
        }
    }

    pub fn config(&self) -> TrainConfig {
        TrainConfig { optimizer: self.optimizer(), batch_size: self.batch_size }
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
    /// Fused for narrow models (every width ≤ 64) at batch ≤ 128, layered otherwise; the fused kernel as
    /// for `fused`
    Auto,
    /// One dispatch per kernel per layer
    Layered,
    /// Whole steps in one dispatch (every width ≤ 64), on the kernel chosen for the adapter and the
    /// length of the run
    Fused,
    /// The fused path on its workgroup kernel: one workgroup per model
    FusedWorkgroup,
    /// The fused path on its per-lane kernel: one model per invocation, generated for the model's
    /// shape (no batch norm; the fast kernel on CPU adapters, slow to compile)
    FusedPerLane,
}

/// The engine for `gpu` (or the CPU reference when `None`), on the automatic training path, for a
/// short run (the fused path, when taken, uses its workgroup kernel, which compiles fastest).
pub fn make_engine<'g>(
    gpu: Option<&'g Gpu>,
    spec: &MlpSpec,
    params: &Params,
    train: &Dataset,
    test: &Dataset,
    cfg: TrainConfig,
) -> Result<Box<dyn Engine + 'g>> {
    make_engine_on_path(gpu, PathChoice::Auto, spec, params, (train, test), cfg, 0)
}

/// The engine for `gpu` on `path`; the CPU reference has one path, so `path` must be `Auto` there.
/// `steps` is how many optimiser steps the run will take, which decides the fused kernel.
pub fn make_engine_on_path<'g>(
    gpu: Option<&'g Gpu>,
    path: PathChoice,
    spec: &MlpSpec,
    params: &Params,
    (train, test): (&Dataset, &Dataset),
    cfg: TrainConfig,
    steps: u64,
) -> Result<Box<dyn Engine + 'g>> {
    Ok(match gpu {
        Some(gpu) => {
            let mut engine = GpuEngine::new(gpu, spec, params, train, test, cfg)?;
            let flag = |p: PathChoice| format!("--path {}", p.to_possible_value().expect("a value").get_name());
            match path {
                PathChoice::Auto => {}
                PathChoice::Layered => engine.set_path(TrainPath::Layered)?,
                _ => engine.set_path(TrainPath::Fused).with_context(|| flag(path))?,
            }
            let kernel = match path {
                PathChoice::FusedWorkgroup => FusedKernel::Workgroup,
                PathChoice::FusedPerLane => FusedKernel::Lanes,
                _ => auto_kernel(gpu, spec, steps),
            };
            if engine.path() == TrainPath::Fused {
                engine.set_fused_kernel(kernel).with_context(|| flag(path))?;
            }
            Box::new(engine)
        }
        None if path != PathChoice::Auto => bail!("--path applies to the GPU engine; the CPU reference has one path"),
        None => Box::new(CpuEngine::new(spec, params, train, test, cfg)?),
    })
}

/// Parses `--activation` lists.
pub fn parse_activation(s: &str) -> Result<Activation, String> {
    s.parse()
}
