//! Each preset's checks: what the paper says, what the runs measured, and whether they agree.

use serde::{Deserialize, Serialize};

use super::{AGREEMENT, Preset};
use crate::model::{Activation, Init, Norm};
use crate::record::{RunRecord, VerdictKind};

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
        Preset::GlorotTanh | Preset::GlorotBengio => {
            // glorot-bengio's grid has sigmoid runs too, for its saturation check.
            let tanh = |r: &RunRecord| r.config.activation == Activation::Tanh;
            let name = if preset == Preset::GlorotBengio { "tanh " } else { "" };
            let std = pick(&|r| tanh(r) && r.config.init == Init::Standard, format!("{name}standard, depth {depth}"));
            let glorot = pick(
                &|r| tanh(r) && r.config.init == Init::GlorotUniform,
                format!("{name}glorot-uniform, depth {depth}"),
            );
            let third = (1.0f64 / 3.0).sqrt();
            let mut out = vec![
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
            ];
            if preset == Preset::GlorotBengio {
                let sigmoid: Vec<&RunRecord> = runs
                    .iter()
                    .filter(|r| r.config.activation == Activation::Sigmoid && r.config.init == Init::Standard)
                    .collect();
                let (expected, measured, passed) = super::literature::glorot_saturation(&sigmoid);
                out.push(Check { preset: preset.to_string(), expected, measured, passed });
            }
            out
        }
        Preset::HeRelu30 => {
            let glorot = pick(&|r| r.config.init == Init::GlorotUniform, format!("glorot-uniform, depth {depth}"));
            let he = pick(&|r| r.config.init == Init::HeNormal, format!("he-normal, depth {depth}"));
            let half = 0.5f64.sqrt();
            let at_depth: Vec<&RunRecord> = runs.iter().filter(|r| r.config.depth == depth).collect();
            let of = |init: Init| at_depth.iter().copied().filter(|r| r.config.init == init).collect::<Vec<_>>();
            let training = super::literature::he_training(&of(Init::GlorotUniform), &of(Init::HeNormal));
            let mut out = vec![
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
            ];
            out.extend(training.map(|(expected, measured, passed)| Check {
                preset: preset.to_string(),
                expected,
                measured,
                passed,
            }));
            out
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
        Preset::NielsenCh5 => super::literature::nielsen(runs),
        Preset::Schoenholz => super::literature::schoenholz(runs),
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
