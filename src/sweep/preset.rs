//! Presets that turn classic results into checks: each fixes the axes it compares, and after the sweep
//! says whether the expected effect was reproduced. Expectations are the mean-field predictions for
//! equal widths n (see `theory`), at initialisation, for ‖δ‖ per hidden layer:
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
use crate::record::{OptimizerChoice, RunRecord, VerdictKind};
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
}

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::GlorotTanh,
        Preset::HeRelu30,
        Preset::Batchnorm,
        Preset::Layernorm,
        Preset::Selu,
        Preset::Resnet,
        Preset::Clip,
    ];

    /// Epochs the preset trains unless `--epochs` says otherwise: 0 (its effect is at initialisation),
    /// or 1 for `clip`, whose effect is on training.
    pub fn epochs(self) -> usize {
        if self == Preset::Clip { 1 } else { 0 }
    }

    /// The learning rate the preset needs, unless `--lr` says otherwise (`None`: the sweep's default).
    pub fn lr(self) -> Option<f64> {
        (self == Preset::Clip).then_some(0.1)
    }

    /// The training the preset sets beyond its grid, the epochs and the learning rate.
    pub fn training(self) -> PresetTraining {
        PresetTraining::default()
    }

    /// The preset's grid (seeds and depth can be changed from the command line; the compared axes not).
    pub fn grid(self) -> Grid {
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
        })
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Preset::ALL.into_iter().find(|p| p.to_string() == s).ok_or_else(|| {
            format!(
                "unknown preset '{s}' (expected glorot-tanh, he-relu30, batchnorm, layernorm, selu, resnet or clip)"
            )
        })
    }
}

serde_as_string!(Preset);

/// The training a preset sets unless its flag is given (`None`: the sweep's default).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PresetTraining {
    pub train_rows: Option<usize>,
    pub steps: Option<usize>,
    pub batch_size: Option<usize>,
    pub weight_decay: Option<f64>,
    pub output: Option<OutputKind>,
}

/// One expectation and whether the runs met it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub preset: String,
    /// What is expected, in words with the number.
    pub expected: String,
    /// What was measured.
    pub measured: String,
    pub passed: bool,
}

/// The runs' numbers at initialisation that the checks read, for the runs of one configuration.
struct Measured {
    label: String,
    runs: usize,
    /// Geometric means over seeds of the per-layer factor of ‖δ‖, its prediction, sigmoid's bound.
    factor: Option<f64>,
    theory: Option<f64>,
    bound: Option<f64>,
    verdicts: Vec<VerdictKind>,
}

fn measure(runs: &[&RunRecord], label: String) -> Measured {
    let geo = |f: &dyn Fn(&RunRecord) -> Option<f64>| -> Option<f64> {
        let logs: Option<Vec<f64>> = runs.iter().map(|r| f(r).filter(|v| *v > 0.0).map(f64::ln)).collect();
        logs.filter(|l| !l.is_empty()).map(|l| (l.iter().sum::<f64>() / l.len() as f64).exp())
    };
    Measured {
        label,
        runs: runs.len(),
        factor: geo(&|r| r.init().delta_fit.map(|f| f.factor)),
        theory: geo(&|r| r.init().theory_factor),
        bound: geo(&|r| r.init().sigmoid_bound),
        verdicts: runs.iter().map(|r| r.init().verdict.kind).collect(),
    }
}

fn within(value: Option<f64>, target: f64, factor: f64) -> bool {
    value.is_some_and(|v| v >= target / factor && v <= target * factor)
}

fn show(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

impl Measured {
    /// "×0.581 per layer (theory ×0.577), 3 of 3 seeds vanishing".
    fn describe(&self) -> String {
        let mut counts: Vec<(VerdictKind, usize)> = Vec::new();
        for v in &self.verdicts {
            match counts.iter_mut().find(|(k, _)| k == v) {
                Some((_, n)) => *n += 1,
                None => counts.push((*v, 1)),
            }
        }
        let verdicts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} of {} {k}", self.runs)).collect();
        format!(
            "{}: ‖δ‖ ×{} per layer (theory ×{}{}), {}",
            self.label,
            show(self.factor),
            show(self.theory),
            self.bound.map_or(String::new(), |b| format!(", sigmoid bound ×{b:.3}")),
            verdicts.join(", ")
        )
    }

    fn all(&self, kind: VerdictKind) -> bool {
        !self.verdicts.is_empty() && self.verdicts.iter().all(|v| *v == kind)
    }

    fn agrees(&self) -> bool {
        match (self.factor, self.theory) {
            (Some(f), Some(t)) => within(Some(f), t, AGREEMENT),
            _ => false,
        }
    }
}

/// The preset's checks on `runs` (its deepest depth, at initialisation). Missing runs fail the check.
pub fn checks(preset: Preset, runs: &[RunRecord]) -> Vec<Check> {
    let depth = runs.iter().map(|r| r.config.depth).max().unwrap_or(0);
    let pick = |f: &dyn Fn(&RunRecord) -> bool, label: String| {
        let chosen: Vec<&RunRecord> = runs.iter().filter(|r| r.config.depth == depth && f(r)).collect();
        measure(&chosen, label)
    };
    let check = |expected: String, m: &Measured, passed: bool| Check {
        preset: preset.to_string(),
        expected,
        measured: m.describe(),
        passed,
    };
    let a = AGREEMENT;
    match preset {
        Preset::GlorotTanh => {
            let std = pick(&|r| r.config.init == Init::Standard, format!("standard, depth {depth}"));
            let glorot = pick(&|r| r.config.init == Init::GlorotUniform, format!("glorot-uniform, depth {depth}"));
            let third = (1.0f64 / 3.0).sqrt();
            vec![
                check(
                    format!(
                        "standard init: ‖δ‖ shrinks by √(1/3) ≈ {third:.3} per layer (×{:.2} smaller each layer; 3× for \
                         its variance), within ×{a} and within ×{a} of its measured-χ theory",
                        1.0 / third
                    ),
                    &std,
                    within(std.factor, third, a) && std.agrees(),
                ),
                check(
                    format!("glorot-uniform: ‖δ‖ stays near ×1 per layer (within ×{a}), in agreement with its theory"),
                    &glorot,
                    within(glorot.factor, 1.0, a) && glorot.agrees(),
                ),
            ]
        }
        Preset::HeRelu30 => {
            let glorot = pick(&|r| r.config.init == Init::GlorotUniform, format!("glorot-uniform, depth {depth}"));
            let he = pick(&|r| r.config.init == Init::HeNormal, format!("he-normal, depth {depth}"));
            let half = 0.5f64.sqrt();
            vec![
                check(
                    format!(
                        "glorot: ‖δ‖ shrinks by √½ ≈ {half:.3} per layer (within ×{a}, agreeing with theory) and the run is \
                         vanishing"
                    ),
                    &glorot,
                    within(glorot.factor, half, a) && glorot.agrees() && glorot.all(VerdictKind::Vanishing),
                ),
                check(
                    format!(
                        "he: ‖δ‖ stays near ×1 per layer (within ×{a}, agreeing with theory) and the run is healthy"
                    ),
                    &he,
                    within(he.factor, 1.0, a) && he.agrees() && he.all(VerdictKind::Healthy),
                ),
            ]
        }
        Preset::Batchnorm => {
            let plain = pick(&|r| r.config.norm == Norm::None, format!("sigmoid, depth {depth}"));
            let bn = pick(&|r| r.config.norm == Norm::Batch, format!("sigmoid + batch norm, depth {depth}"));
            vec![
                check(
                    format!(
                        "without batch norm: ‖δ‖ shrinks at most by sigmoid's bound ¼·√(n·Var[W]) per layer (×{a} slack) \
                         and the run is vanishing"
                    ),
                    &plain,
                    plain.factor.zip(plain.bound).is_some_and(|(f, b)| f <= b * a) && plain.all(VerdictKind::Vanishing),
                ),
                check(
                    format!(
                        "with batch norm: ‖δ‖ no longer shrinks (per-layer factor ≥ 1/{a}; mean-field ≈ 1.02 for \
                         independent units) and the run is healthy"
                    ),
                    &bn,
                    bn.factor.is_some_and(|f| f >= 1.0 / a) && bn.all(VerdictKind::Healthy),
                ),
            ]
        }
        Preset::Layernorm => {
            let of = |act: Activation, norm: Norm| {
                let name = if norm == Norm::Layer { "layer norm" } else { "batch norm" };
                let label = format!("{act} + {name}, depth {depth}");
                pick(&|r| r.config.activation == act && r.config.norm == norm, label)
            };
            let (sig_ln, tanh_ln, sig_bn) = (
                of(Activation::Sigmoid, Norm::Layer),
                of(Activation::Tanh, Norm::Layer),
                of(Activation::Sigmoid, Norm::Batch),
            );
            vec![
                check(
                    format!(
                        "sigmoid + layer norm: ‖δ‖ still shrinks (mean-field ≈ 0.38 per layer; agreeing with layer \
                         norm's theory within ×{a}) and the run is vanishing"
                    ),
                    &sig_ln,
                    sig_ln.factor.is_some_and(|f| f < 1.0 / a) && sig_ln.agrees() && sig_ln.all(VerdictKind::Vanishing),
                ),
                check(
                    format!(
                        "tanh + layer norm: ‖δ‖ stays near ×1 per layer (mean-field ≈ 1.07; within ×{a}, agreeing with \
                         theory) and the run is healthy"
                    ),
                    &tanh_ln,
                    within(tanh_ln.factor, 1.0, a) && tanh_ln.agrees() && tanh_ln.all(VerdictKind::Healthy),
                ),
                check(
                    format!(
                        "sigmoid + batch norm, beside it: ‖δ‖ no longer shrinks (factor ≥ 1/{a}) and the run is healthy"
                    ),
                    &sig_bn,
                    sig_bn.factor.is_some_and(|f| f >= 1.0 / a) && sig_bn.all(VerdictKind::Healthy),
                ),
            ]
        }
        Preset::Selu => {
            let lecun = pick(&|r| r.config.init == Init::LecunNormal, format!("selu + lecun-normal, depth {depth}"));
            let glorot =
                pick(&|r| r.config.init == Init::GlorotUniform, format!("selu + glorot-uniform, depth {depth}"));
            let he = pick(&|r| r.config.init == Init::HeNormal, format!("selu + he-normal, depth {depth}"));
            vec![
                check(
                    format!(
                        "lecun-normal: ‖δ‖ stays near ×1 per layer (mean-field ≈ 1.03; within ×{a}, agreeing with \
                         theory) and the run is healthy"
                    ),
                    &lecun,
                    within(lecun.factor, 1.0, a) && lecun.agrees() && lecun.all(VerdictKind::Healthy),
                ),
                check(
                    format!(
                        "glorot-uniform: on equal widths its variance is LeCun's 1/n, so ‖δ‖ also stays near ×1 (within \
                         ×{a} of lecun-normal's factor)"
                    ),
                    &glorot,
                    glorot.factor.zip(lecun.factor).is_some_and(|(g, l)| within(Some(g), l, a)),
                ),
                check(
                    format!(
                        "he-normal: twice the variance, off SELU's fixed point: ‖δ‖ grows faster than with lecun-normal \
                         (by over 5% per layer), agreeing with theory within ×{a}"
                    ),
                    &he,
                    he.factor.zip(lecun.factor).is_some_and(|(h, l)| h > 1.05 * l) && he.agrees(),
                ),
            ]
        }
        Preset::Resnet => {
            let mut out = Vec::new();
            for act in [Activation::Sigmoid, Activation::Tanh] {
                let of = |residual: bool| {
                    let label = format!("{act}{}, depth {depth}", if residual { " residual" } else { " plain" });
                    pick(&|r| r.config.activation == act && r.config.residual.is_some() == residual, label)
                };
                let (plain, residual) = (of(false), of(true));
                out.push(check(
                    format!("plain {act}: ‖δ‖ shrinks by √χ per layer (agreeing with theory within ×{a}) and the run is vanishing"),
                    &plain,
                    plain.factor.is_some_and(|f| f < 1.0) && plain.agrees() && plain.all(VerdictKind::Vanishing),
                ));
                out.push(check(
                    format!(
                        "residual {act}: ‖δ‖ no longer shrinks (factor ≥ 1/{a}, agreeing with √(1 + α²χ) within ×{a}) and \
                         no seed is vanishing"
                    ),
                    &residual,
                    residual.factor.is_some_and(|f| f >= 1.0 / a)
                        && residual.agrees()
                        && !residual.verdicts.is_empty()
                        && residual.verdicts.iter().all(|v| *v != VerdictKind::Vanishing),
                ));
            }
            out
        }
        Preset::Clip => {
            let runs_of = |clip: bool| -> Vec<&RunRecord> {
                runs.iter().filter(|r| r.config.depth == depth && r.config.clip.is_some() == clip).collect()
            };
            let final_loss = |r: &RunRecord| r.epochs.last().filter(|e| e.epoch > 0).and_then(|e| e.loss);
            let describe = |rs: &[&RunRecord], label: &str| {
                let diverged = rs.iter().filter(|r| r.diverged.is_some()).count();
                let losses: Vec<String> = rs.iter().filter_map(|r| final_loss(r)).map(|l| format!("{l:.3}")).collect();
                format!(
                    "{label}, depth {depth}: {diverged} of {} runs diverged{}",
                    rs.len(),
                    if losses.is_empty() { String::new() } else { format!(", final losses {}", losses.join(", ")) }
                )
            };
            let (plain, clipped) = (runs_of(false), runs_of(true));
            vec![
                Check {
                    preset: preset.to_string(),
                    expected:
                        "without clipping: every seed fails — its loss becomes NaN or infinite within the epoch, \
                               or a huge first step kills its ReLUs and it ends at chance (loss within 0.01 of ln 2)"
                            .into(),
                    measured: describe(&plain, "relu, normal:0.5, no clipping"),
                    passed: !plain.is_empty()
                        && plain.iter().all(|r| {
                            r.diverged.is_some()
                                || final_loss(r).is_some_and(|l| (l - std::f64::consts::LN_2).abs() < 0.01)
                        }),
                },
                Check {
                    preset: preset.to_string(),
                    expected: "with --clip-grad-norm 1: no seed diverges and every final loss is finite".into(),
                    measured: describe(&clipped, "relu, normal:0.5, clip 1"),
                    passed: !clipped.is_empty()
                        && clipped.iter().all(|r| r.diverged.is_none() && final_loss(r).is_some_and(f64::is_finite)),
                },
            ]
        }
    }
}
