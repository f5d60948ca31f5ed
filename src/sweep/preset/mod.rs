//! Presets that turn classic results into checks: each fixes the axes it compares, and after the sweep
//! says whether the expected effect was reproduced. Four repeat a paper's experiment on MNIST and compare
//! with the paper's numbers (`literature`): `nielsen-ch5`, `glorot-bengio`, `he-relu30` (which also
//! trains) and `schoenholz`; each has a small size that runs in minutes on a CPU and the paper's with `--full`. The
//! others' expectations are the mean-field predictions for equal widths n (see `theory`), at
//! initialisation, for ‖δ‖ per hidden layer:
//!
//! - `glorot-tanh` (Glorot & Bengio 2010): tanh near 0 has f′ ≈ 1, so χ ≈ n·Var[W]. `standard`,
//!   U(±1/√n), has Var = 1/(3n): χ = 1/3, ‖δ‖ shrinks by √(1/3) ≈ 0.58 per layer (its *variance* by
//!   3×, the paper's figure). `glorot-uniform` has Var = 2/(n + n) = 1/n: χ ≈ 1, factor ≈ 1.
//! - `he-relu30` (He et al. 2015): ReLU passes half the units, E[f′²] = ½. Glorot's Var = 1/n gives
//!   χ = ½, factor √½ ≈ 0.71, so over 29 layers ‖δ‖ falls ~2·10⁻⁵: vanishing. He's Var = 2/n gives χ = 1.
//! - `batchnorm` (Ioffe & Szegedy 2015): sigmoid's f′ ≤ ¼ caps the factor at ¼·√(n·Var[W]) = ¼ for
//!   Glorot, so a deep sigmoid net vanishes. Batch norm divides each layer's δ by the batch std σ_B of
//!   its pre-activations, which cancels the weight scale: for independent Gaussian units the factor is
//!   √(E[f′(y)²]/Var[σ(y)]) ≈ √(0.0448/0.0434) ≈ 1.02 with y ~ N(0, 1). Measured it is ~1.25 at width
//!   32 (the units of a narrow net fed 2-D data are correlated, which shrinks σ_B), so the expectation
//!   is "no longer vanishing" (factor ≥ 1/1.2, healthy verdict), not an exact number.
//! - `layernorm` (Ba et al. 2016): layer norm divides δ by each row's standard deviation over its units
//!   instead of the batch's per unit, and the weight scale cancels as with batch norm, but what is left is
//!   the activation's own gain at unit variance (`theory`): χ = E[f′(y)²]·(n−2)/n / ((n−1)/n·E[f(y)²]) with
//!   y ~ N(0, 1). For tanh, 0.4645·(30/32)/((31/32)·0.3943) ≈ 1.14, factor ≈ 1.07: healthy. For sigmoid,
//!   whose outputs sit near ½ so E[σ²] ≈ 0.293 is mostly the mean, 0.0448·(30/32)/((31/32)·0.293) ≈ 0.148,
//!   factor ≈ 0.38: layer norm does not rescue sigmoid, where batch norm, beside it in this preset, does
//!   (see `batchnorm`). Measured at width 32, depth 20: sigmoid + layer norm ×0.41 (theory ×0.40), tanh +
//!   layer norm ×1.12 (theory ×1.10), sigmoid + batch norm ×1.25.
//! - `selu` (Klambauer et al. 2017): SELU's fixed point is zero mean and unit variance, where
//!   E[f′(z)²] = λ²(½ + α²·e²·Φ(−2)) ≈ 1.07, so with Var[W] = 1/n (LeCun normal) χ ≈ 1.07 and ‖δ‖ stays
//!   near ×1.03 per layer. Glorot's variance 2/(fan_in + fan_out) is the same 1/n on square layers, so
//!   Glorot behaves the same here (it differs only where widths change). He's 2/n moves the network off
//!   the fixed point: ‖δ‖ grows faster than with LeCun (measured ×1.16 per layer at depth 30, and the
//!   measured-χ theory agrees; the fixed-point estimate √(2·1.07) ≈ 1.46 does not hold there, since the
//!   pre-activations are no longer unit-variance and SELU's negative side flattens).
//! - `resnet` (He et al. 2016): with a skip connection the residual stream's gradient gains a path that
//!   no weight or f′ multiplies, so ‖δ‖ changes by √(1 + α²χ) ≥ 1 per block instead of √χ (`theory`).
//!   With the `standard` init Glorot and Bengio criticised, 20 plain layers of sigmoid (×0.14) and tanh
//!   (×0.58) vanish; with `--residual` (α = 1) neither does, and both factors agree with the formula.
//!   (Residual sigmoid saturates instead: its stream adds a positive f ∈ (0, 1) at every block.)
//! - `clip` (Pascanu et al. 2013): an exploding network, ReLU with N(0, 0.5²) weights at width 32
//!   (χ = 32·0.25·½ = 4: ‖δ‖ doubles per layer), trained one epoch with SGD at lr 0.1. Without clipping
//!   the steps are huge: the loss becomes NaN within the epoch, or the first steps kill every ReLU and the
//!   network ends at chance (loss ln 2), depending on the seed and data; with `--clip-grad-norm 1` every
//!   step is scaled to norm 1 and no seed diverges (the loss stays high after one epoch: clipping makes
//!   the steps bounded, not the network trainable). (Clipping bounds the step, not the growth of ‖δ‖: the
//!   probes at initialisation, which are taken before any clipping, explode in both.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::grid::Grid;
use crate::model::{Activation, BiasInit, Init, Norm, OutputKind};
use crate::record::OptimizerChoice;
use crate::serde_string::serde_as_string;

/// Measured and predicted per-layer factors agree when within this factor of each other: the theory
/// assumes infinitely wide layers and weights independent of δ; at width 32 one layer-to-layer ratio
/// of ‖δ‖ fluctuates by ~1/√32 ≈ 18%, and the geometric mean over 9–29 layers and 3 seeds averages much
/// of that away, so 1.2 leaves room for the fluctuation but not for a wrong prediction (the effects
/// compared differ by ×1.4 to ×4).
pub const AGREEMENT: f64 = 1.2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Preset {
    GlorotTanh,
    HeRelu30,
    Batchnorm,
    Layernorm,
    Selu,
    Resnet,
    Clip,
    NielsenCh5,
    Schoenholz,
    GlorotBengio,
}

/// What a preset sets besides its grid, each unless its flag is given (`None`: the sweep's default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PresetTraining {
    /// Whole epochs (0: probe at initialisation only) ...
    pub epochs: usize,
    /// ... or this many optimiser steps.
    pub steps: Option<usize>,
    pub lr: Option<f64>,
    pub batch_size: Option<usize>,
    pub train_rows: Option<usize>,
    pub test_rows: Option<usize>,
    pub weight_decay: Option<f64>,
    pub output: Option<OutputKind>,
    /// Per-layer histograms at every probe (`--histograms`).
    pub histograms: bool,
    /// `--measure-every E`.
    pub measure_every: Option<usize>,
}

impl Preset {
    pub const ALL: [Preset; 10] = [
        Preset::GlorotTanh,
        Preset::HeRelu30,
        Preset::Batchnorm,
        Preset::Layernorm,
        Preset::Selu,
        Preset::Resnet,
        Preset::Clip,
        Preset::NielsenCh5,
        Preset::Schoenholz,
        Preset::GlorotBengio,
    ];

    /// The presets whose experiment is the paper's on MNIST (`--dataset mnist:DIR` or `npz:PATH`), with a
    /// small size that runs in minutes and the paper's with `--full`.
    pub fn on_mnist(self) -> bool {
        matches!(self, Preset::NielsenCh5 | Preset::HeRelu30 | Preset::Schoenholz | Preset::GlorotBengio)
    }

    /// The training the preset sets: at the paper's size with `full`, else the small one.
    pub fn training(self, full: bool) -> PresetTraining {
        let none = PresetTraining {
            epochs: 0,
            steps: None,
            lr: None,
            batch_size: None,
            train_rows: None,
            test_rows: None,
            weight_decay: None,
            output: None,
            histograms: false,
            measure_every: None,
        };
        match self {
            // The effect is on training: one epoch of SGD at a rate that explodes without clipping.
            Preset::Clip => PresetTraining { epochs: 1, lr: Some(0.1), ..none },
            // Nielsen: full-batch gradient descent on the first 1,000 training images, η = 0.1, λ = 5, 500
            // epochs of one step each (the small size is the book's; --full adds seeds).
            Preset::NielsenCh5 => PresetTraining {
                steps: Some(500),
                lr: Some(0.1),
                batch_size: Some(1000),
                train_rows: Some(1000),
                test_rows: Some(1000),
                weight_decay: Some(5.0),
                output: Some(OutputKind::SigmoidCe),
                // Each epoch is one step: measuring it (a probe and two evaluations of 1,000 rows) would
                // cost more than the step. Every 10th still draws the book's curve over 500 epochs.
                measure_every: Some(10),
                ..none
            },
            // He et al.: the same SGD steps from each init; the small size probes the first 5,000 images.
            Preset::HeRelu30 => PresetTraining {
                steps: Some(if full { 2000 } else { HE_SMALL_STEPS }),
                lr: Some(0.01),
                batch_size: Some(64),
                train_rows: (!full).then_some(5000),
                test_rows: Some(1000),
                ..none
            },
            // The open reproduction of Schoenholz et al.: SGD, lr 1e-3, batch 256, 200 steps.
            Preset::Schoenholz => PresetTraining {
                steps: Some(200),
                lr: Some(if full { 1e-3 } else { SCHOENHOLZ_SMALL_LR }),
                batch_size: Some(if full { 256 } else { 64 }),
                train_rows: (!full).then_some(1000),
                test_rows: Some(if full { 1000 } else { 200 }),
                // The claims read the accuracy after the last step; an epoch of 1,000 rows is 16 steps, which
                // cost less than measuring them.
                measure_every: Some(5),
                ..none
            },
            // Glorot & Bengio: SGD on mini-batches of ten; the small size probes every 100 steps over the first
            // 1,000 images (an epoch each), 2,000 steps in all.
            Preset::GlorotBengio => PresetTraining {
                steps: Some(if full { 20_000 } else { 2000 }),
                lr: Some(0.1),
                batch_size: Some(10),
                train_rows: (!full).then_some(1000),
                test_rows: Some(1000),
                histograms: true,
                ..none
            },
            _ => none,
        }
    }

    /// The preset's grid at the paper's size with `full`, else the small one (seeds and depth can be
    /// changed from the command line; the compared axes not).
    pub fn grid(self, full: bool) -> Grid {
        let base = Grid {
            depths: vec![10],
            widths: vec![32],
            activations: vec![Activation::Tanh],
            norms: vec![Norm::None],
            inits: vec![Init::GlorotUniform],
            bias_inits: vec![BiasInit::Zero],
            optimizers: vec![OptimizerChoice::Adam],
            residual: vec![false],
            residual_scale: 1.0,
            clip: vec![None],
            seeds: 3,
        };
        match self {
            Preset::GlorotTanh => Grid { inits: vec![Init::Standard, Init::GlorotUniform], ..base },
            Preset::HeRelu30 => Grid {
                depths: vec![30],
                activations: vec![Activation::Relu],
                inits: vec![Init::GlorotUniform, Init::HeNormal],
                optimizers: vec![OptimizerChoice::Sgd { momentum: 0.0 }],
                ..base
            },
            Preset::Batchnorm => Grid {
                depths: vec![20],
                activations: vec![Activation::Sigmoid],
                norms: vec![Norm::None, Norm::Batch],
                ..base
            },
            Preset::Layernorm => Grid {
                depths: vec![20],
                activations: vec![Activation::Sigmoid, Activation::Tanh],
                norms: vec![Norm::Batch, Norm::Layer],
                ..base
            },
            Preset::Selu => Grid {
                depths: vec![30],
                activations: vec![Activation::Selu],
                inits: vec![Init::LecunNormal, Init::GlorotUniform, Init::HeNormal],
                ..base
            },
            // Depth 20, not 30: plain sigmoid's ‖δ‖ at the first layer would be ~1e-25 at depth 30, whose
            // square underflows f32 in the GPU's sum of squares (the reference's f64 does not).
            Preset::Resnet => Grid {
                depths: vec![20],
                activations: vec![Activation::Sigmoid, Activation::Tanh],
                inits: vec![Init::Standard],
                residual: vec![false, true],
                ..base
            },
            Preset::Clip => Grid {
                activations: vec![Activation::Relu],
                inits: vec![Init::Normal(0.5)],
                optimizers: vec![OptimizerChoice::Sgd { momentum: 0.0 }],
                clip: vec![None, Some(1.0)],
                ..base
            },
            Preset::NielsenCh5 => Grid {
                depths: vec![2, 3, 4],
                widths: vec![30],
                activations: vec![Activation::Sigmoid],
                inits: vec![Init::NormalVar(1.0)],
                bias_inits: vec![BiasInit::NormalVar(1.0)],
                optimizers: vec![OptimizerChoice::Sgd { momentum: 0.0 }],
                // The book trains one network per depth.
                seeds: if full { 3 } else { 1 },
                ..base
            },
            // Five hidden layers, as their Figures 6–7; 1,000 units with --full, as theirs.
            Preset::GlorotBengio => Grid {
                depths: vec![5],
                widths: vec![if full { 1000 } else { 100 }],
                activations: vec![Activation::Tanh, Activation::Sigmoid],
                inits: vec![Init::Standard, Init::GlorotUniform],
                optimizers: vec![OptimizerChoice::Sgd { momentum: 0.0 }],
                seeds: 1,
                ..base
            },
            Preset::Schoenholz => Grid {
                depths: if full { vec![10, 25, 40, 55, 70, 85, 100] } else { SCHOENHOLZ_SMALL_DEPTHS.to_vec() },
                widths: vec![if full { 300 } else { SCHOENHOLZ_SMALL_WIDTH }],
                activations: vec![Activation::Tanh],
                inits: SCHOENHOLZ_SIGMA_W2.iter().map(|&v| Init::NormalVar(v)).collect(),
                bias_inits: vec![BiasInit::NormalVar(0.05)],
                optimizers: vec![OptimizerChoice::Sgd { momentum: 0.0 }],
                seeds: 1,
                ..base
            },
        }
    }

    /// The flags whose axis the preset compares (they cannot be given with it).
    pub fn fixed_flags(self) -> &'static [&'static str] {
        match self {
            Preset::GlorotTanh | Preset::HeRelu30 => &["--activations", "--inits", "--batch-norm"],
            Preset::Batchnorm | Preset::Selu => &["--activations", "--inits", "--batch-norm"],
            Preset::Layernorm => &["--activations", "--inits", "--batch-norm", "--norms"],
            Preset::Resnet => &["--activations", "--inits", "--batch-norm", "--residual"],
            Preset::Clip => &["--activations", "--inits", "--batch-norm", "--clip-grad-norm"],
            Preset::GlorotBengio => &["--activations", "--inits", "--batch-norm"],
            Preset::NielsenCh5 | Preset::Schoenholz => {
                &["--activations", "--inits", "--sigma-w2", "--sigma-b2", "--batch-norm", "--norms"]
            }
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::GlorotTanh => "glorot-tanh",
            Preset::HeRelu30 => "he-relu30",
            Preset::Batchnorm => "batchnorm",
            Preset::Layernorm => "layernorm",
            Preset::Selu => "selu",
            Preset::Resnet => "resnet",
            Preset::Clip => "clip",
            Preset::NielsenCh5 => "nielsen-ch5",
            Preset::Schoenholz => "schoenholz",
            Preset::GlorotBengio => "glorot-bengio",
        })
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Preset::ALL.into_iter().find(|p| p.to_string() == s).ok_or_else(|| {
            format!(
                "unknown preset '{s}' (expected glorot-tanh, batchnorm, layernorm, selu, resnet, clip, or on MNIST \
                 nielsen-ch5, glorot-bengio, he-relu30 or schoenholz)"
            )
        })
    }
}

serde_as_string!(Preset);

/// `he-relu30`'s steps at the small size.
const HE_SMALL_STEPS: usize = 300;
/// `schoenholz` at the small size: narrower layers, fewer depths and a larger learning rate.
const SCHOENHOLZ_SMALL_WIDTH: usize = 32;
const SCHOENHOLZ_SMALL_DEPTHS: [usize; 4] = [10, 20, 40, 60];
const SCHOENHOLZ_SMALL_LR: f64 = 1e-2;
/// σ_w² from the ordered phase through the critical line (≈ 1.76 for tanh at σ_b² = 0.05) into chaos.
const SCHOENHOLZ_SIGMA_W2: [f64; 6] = [1.0, 1.5, 1.75, 2.0, 2.5, 4.0];

mod checks;
mod literature;
pub use checks::{Check, checks};
pub use literature::{NIELSEN_AT_INIT, glorot_saturation, he_training, nielsen, schoenholz};
