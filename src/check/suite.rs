//! The cases `vanish check` runs: every activation × no norm, batch norm, layer norm × depth 1, 2, 11, 30
//! × batch 1, 7, 32, 670 × SGD and Adam (plus a softmax head on the depth-2 cases), each three training
//! steps from the same weights on the GPU engine and the reference; residual networks of every
//! activation × norm at depth 2 and 11; clipping; Nielsen's sigmoid cross-entropy head with weight decay.
//! `--quick` keeps a slice that runs in seconds.

use serde::Serialize;

use crate::data::{self, Dataset, DatasetSpec};
use crate::engine::Optimizer;
use crate::model::{Activation, MlpSpec, Norm, Output, OutputKind};

/// Hidden width of every case: the notebook's 10.
pub const WIDTH: usize = 10;
/// Training steps per case.
pub const STEPS: usize = 3;
/// The seed of every case's data, weights and batch order.
pub const SEED: u64 = 7;
/// SGD with momentum (exercising the velocity buffer) and Adam at a rate that moves weights visibly in
/// three steps.
pub const SGD: Optimizer = Optimizer::Sgd { lr: 0.1, momentum: 0.9 };
pub const ADAM: Optimizer = Optimizer::Adam { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-7 };

/// One configuration to run on both engines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Case {
    #[serde(serialize_with = "as_string")]
    pub activation: Activation,
    #[serde(serialize_with = "as_string")]
    pub norm: Norm,
    /// Hidden layers.
    pub depth: usize,
    pub batch: usize,
    pub optimizer: Optimizer,
    /// 2: one logit and binary cross-entropy; more: softmax (with the softmax head).
    pub classes: usize,
    #[serde(serialize_with = "as_string")]
    pub head: OutputKind,
    /// Weight decay λ = `DECAY`.
    pub decay: bool,
    /// Skip connections (α = 1) on the hidden layers after the first.
    pub residual: bool,
    /// Gradient clipping to a global norm of `CLIP` (small enough that every step clips).
    pub clip: bool,
}

/// The global gradient norm the clipping cases scale to: below every case's norm, so each step clips.
pub const CLIP: f64 = 1e-3;
/// The weight decay λ of the decay cases: Nielsen's 5, which over a case's 21–2,010 rows adds
/// (λ/n)·w, a visible part of every weight's step.
pub const DECAY: f64 = 5.0;

fn as_string<S: serde::Serializer>(a: &impl std::fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.to_string())
}

impl Case {
    /// E.g. `sigmoid+bn depth 30 batch 670 adam` (`+ln` for layer norm).
    pub fn name(&self) -> String {
        let opt = match self.optimizer {
            Optimizer::Sgd { .. } => "sgd",
            Optimizer::Adam { .. } => "adam",
        };
        let head = match self.head {
            OutputKind::SigmoidCe => format!(" sigmoid-ce{}", self.classes),
            OutputKind::Softmax if self.classes > 2 => format!(" softmax{}", self.classes),
            OutputKind::Softmax => String::new(),
        };
        format!(
            "{}{}{} depth {} batch {} {opt}{head}{}{}",
            if self.residual { "residual " } else { "" },
            self.activation,
            self.norm.prefix().map_or(String::new(), |p| format!("+{p}")),
            self.depth,
            self.batch,
            if self.clip { " clip" } else { "" },
            if self.decay { " decay" } else { "" }
        )
    }

    /// 2 inputs → `depth` × 10 → the head.
    pub fn spec(&self) -> MlpSpec {
        MlpSpec::new(2, &vec![WIDTH; self.depth], self.activation, Output::of(self.head, self.classes))
            .with_norm(self.norm)
            .with_residual(self.residual.then_some(1.0))
    }

    /// `STEPS` full batches of rows: circles for two classes, blobs for more.
    pub fn data(&self) -> Dataset {
        let samples = (STEPS * self.batch).max(self.classes);
        let spec = if self.classes > 2 {
            DatasetSpec::Blobs { samples, noise: 1.0, classes: self.classes }
        } else {
            DatasetSpec::Circles { samples, noise: 0.1, factor: 0.85 }
        };
        data::load(&spec, SEED).expect("the suite's datasets are valid")
    }
}

/// The whole suite: 9 activations × 3 norms × 4 depths × 4 batches × 2 optimisers = 864 binary cases,
/// then 54 softmax ones (depth 2, batch 32), then 108 residual ones (every norm × depth 2, 11 × batch 7,
/// 32, Adam), then 18 clipping ones (depth 11, batch 32, SGD and Adam), then 54 of Nielsen's head (three
/// sigmoid outputs with summed cross-entropy, weight decay λ = `DECAY`, depth 4, batch 32).
pub fn full_suite() -> Vec<Case> {
    let mut cases = Vec::new();
    for activation in Activation::ALL {
        for norm in Norm::ALL {
            for depth in [1, 2, 11, 30] {
                for batch in [1, 7, 32, 670] {
                    for optimizer in [SGD, ADAM] {
                        cases.push(Case {
                            activation,
                            norm,
                            depth,
                            batch,
                            optimizer,
                            classes: 2,
                            residual: false,
                            clip: false,
                            head: OutputKind::Softmax,
                            decay: false,
                        });
                    }
                }
            }
        }
    }
    for activation in Activation::ALL {
        for norm in Norm::ALL {
            for optimizer in [SGD, ADAM] {
                cases.push(Case {
                    activation,
                    norm,
                    depth: 2,
                    batch: 32,
                    optimizer,
                    classes: 3,
                    residual: false,
                    clip: false,
                    head: OutputKind::Softmax,
                    decay: false,
                });
            }
        }
    }
    for activation in Activation::ALL {
        for norm in Norm::ALL {
            for depth in [2, 11] {
                for batch in [7, 32] {
                    cases.push(Case {
                        activation,
                        norm,
                        depth,
                        batch,
                        optimizer: ADAM,
                        classes: 2,
                        residual: true,
                        clip: false,
                        head: OutputKind::Softmax,
                        decay: false,
                    });
                }
            }
        }
    }
    for activation in Activation::ALL {
        for optimizer in [SGD, ADAM] {
            let classes = 2;
            cases.push(Case {
                activation,
                norm: Norm::None,
                depth: 11,
                batch: 32,
                optimizer,
                classes,
                residual: false,
                clip: true,
                head: OutputKind::Softmax,
                decay: false,
            });
        }
    }
    for activation in Activation::ALL {
        for norm in Norm::ALL {
            for optimizer in [SGD, ADAM] {
                cases.push(Case {
                    activation,
                    norm,
                    depth: 4,
                    batch: 32,
                    optimizer,
                    classes: 3,
                    residual: false,
                    clip: false,
                    head: OutputKind::SigmoidCe,
                    decay: true,
                });
            }
        }
    }
    cases
}

/// Seconds on a software GPU: every activation with and without batch norm at depth 2 (SGD without
/// batch norm, Adam with it), and the corners of the full suite — depth 30 and batch 670, a batch of one,
/// a softmax head, skips, clipping, layer norm, Nielsen's head and weight decay.
pub fn quick_suite() -> Vec<Case> {
    let mut cases: Vec<Case> = Activation::ALL
        .into_iter()
        .flat_map(|activation| {
            [Norm::None, Norm::Batch].map(|norm| Case {
                activation,
                norm,
                depth: 2,
                batch: 7,
                optimizer: if norm == Norm::Batch { ADAM } else { SGD },
                classes: 2,
                residual: false,
                clip: false,
                head: OutputKind::Softmax,
                decay: false,
            })
        })
        .collect();
    let case = |activation, norm, depth, batch, optimizer, classes| Case {
        activation,
        norm,
        depth,
        batch,
        optimizer,
        classes,
        residual: false,
        clip: false,
        head: OutputKind::Softmax,
        decay: false,
    };
    cases.extend([
        case(Activation::Sigmoid, Norm::None, 30, 670, ADAM, 2),
        case(Activation::Sigmoid, Norm::Batch, 30, 670, SGD, 2),
        case(Activation::Relu, Norm::None, 11, 32, ADAM, 2),
        case(Activation::Tanh, Norm::Batch, 11, 1, SGD, 2),
        case(Activation::Gelu, Norm::Batch, 2, 32, ADAM, 3),
        case(Activation::Sigmoid, Norm::Layer, 2, 7, SGD, 2),
        case(Activation::Tanh, Norm::Layer, 11, 1, ADAM, 2),
        case(Activation::Sigmoid, Norm::Layer, 30, 670, ADAM, 2),
        case(Activation::Gelu, Norm::Layer, 2, 32, SGD, 3),
        Case { residual: true, ..case(Activation::Sigmoid, Norm::None, 11, 32, ADAM, 2) },
        Case { residual: true, ..case(Activation::Tanh, Norm::Batch, 2, 7, ADAM, 2) },
        Case { residual: true, ..case(Activation::Relu, Norm::Layer, 11, 32, ADAM, 2) },
        Case { clip: true, ..case(Activation::Relu, Norm::None, 11, 32, ADAM, 2) },
        Case { clip: true, ..case(Activation::Sigmoid, Norm::Batch, 2, 32, SGD, 2) },
        Case { clip: true, ..case(Activation::Tanh, Norm::Layer, 2, 32, SGD, 2) },
        Case { head: OutputKind::SigmoidCe, decay: true, ..case(Activation::Sigmoid, Norm::None, 4, 32, SGD, 10) },
        Case { decay: true, clip: true, ..case(Activation::Relu, Norm::Layer, 11, 32, ADAM, 3) },
    ]);
    cases
}
