//! The `Engine` trait: the one seam between the trainer and the two engines (the wgpu GPU engine and
//! the f64 CPU reference). The trainer, the probes and every subcommand are written once against it.
//!
//! An engine owns a model (spec and parameters), the optimiser state, and the data (uploaded once).
//! Training runs batch by batch through an epoch order the trainer chooses, so both engines see the
//! same batches; probes and evaluations never change the parameters.
//!
//! The trainer itself drives a `BatchEngine`: a batch of models (one model is a batch of one) that
//! take their steps, probes and evaluations together, so a GPU can run a whole batch's epoch in a few
//! submits. A `Backend` makes batch engines from `ModelJob`s and says which jobs can share one;
//! `OneAtATime` turns single-model engines into a batch engine that runs them one after another.

use serde::Serialize;
use thiserror::Error;

use crate::data::Dataset;
use crate::histogram::LayerHistograms;
use crate::model::{MlpSpec, Params};

#[derive(Debug, Error)]
pub enum EngineError {
    /// The engine's own failure (a `GpuError` for the GPU engine).
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Invalid(String),
}

/// The optimiser and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum Optimizer {
    /// PyTorch's SGD: `v = μ·v + g; θ −= lr·v` (μ = 0 is plain SGD).
    Sgd { lr: f64, momentum: f64 },
    /// Keras's Adam (defaults lr 1e-3, β1 0.9, β2 0.999, eps 1e-7).
    Adam { lr: f64, beta1: f64, beta2: f64, eps: f64 },
}

impl Optimizer {
    pub fn adam(lr: f64) -> Self {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7 }
    }

    pub fn sgd(lr: f64, momentum: f64) -> Self {
        Optimizer::Sgd { lr, momentum }
    }

    pub fn lr(&self) -> f64 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// The step sizes of optimiser steps `t_first, t_first + 1, …` (1-based), `count` of them, in f64
    /// rounded once to f32: Adam's bias-corrected `lr·√(1−β2ᵗ)/(1−β1ᵗ)`, or SGD's constant lr. The
    /// trainer writes this table before each epoch; kernels index it by the step in the epoch.
    pub fn schedule(&self, t_first: u32, count: usize) -> Vec<f32> {
        (0..count as u32)
            .map(|i| match *self {
                Optimizer::Sgd { lr, .. } => lr as f32,
                Optimizer::Adam { lr, beta1, beta2, .. } => {
                    let t = (t_first + i) as i32;
                    (lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t))) as f32
                }
            })
            .collect()
    }
}

/// Which part of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

/// How training steps are taken.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrainConfig {
    pub optimizer: Optimizer,
    pub batch_size: usize,
    /// `--clip-grad-norm X`: before each optimiser step every gradient is scaled by
    /// `min(1, X/(‖g‖ + 1e-6))`, ‖g‖ the norm of all of them together (PyTorch's `clip_grad_norm_`).
    pub clip_grad_norm: Option<f64>,
    /// `--weight-decay λ`, Nielsen's L2 regularisation: the cost gains (λ/2n)·Σw² over the dense
    /// layers' weights (not biases, not normalisation's γ and β), n the training rows, so each step
    /// adds (λ/n)·w to a weight's gradient after clipping, inside the optimiser step (as PyTorch's
    /// `weight_decay` does, which however takes the coefficient itself, unscaled, and decays every
    /// parameter of its group). With plain SGD that is w ← (1 − ηλ/n)·w − η·∇C₀.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// `--histograms`: each probe also counts every layer's pre-activations, activations, δ and dW into
    /// fixed bins (`Probe::histograms`). Off by default: a sweep's run files stay small.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub histograms: bool,
}

/// Whether `x` can be a positive scale the GPU holds in f32 (a learning rate, `--clip-grad-norm`, a skip
/// connection's α): finite, > 0, and a normal f32 — a smaller value would round to 0 (or lose its
/// precision as a subnormal), a larger one to infinity.
pub fn valid_clip(x: f64) -> bool {
    x.is_finite() && x >= f32::MIN_POSITIVE as f64 && x <= f32::MAX as f64
}

/// The rule every positive f32 scale follows, in one message: `flag` must be finite and > 0 and within
/// f32's normal range.
pub fn check_scale(flag: &str, x: f64) -> Result<(), String> {
    if valid_clip(x) {
        Ok(())
    } else {
        Err(format!(
            "{flag} must be finite and > 0, within f32's normal range ({:e} to {:e}) as the GPU holds it; got {}",
            f32::MIN_POSITIVE,
            f32::MAX,
            crate::text::number(x)
        ))
    }
}

impl TrainConfig {
    /// Checks every training setting, once for every command and the page; each message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        match self.optimizer {
            Optimizer::Sgd { lr, momentum } => {
                check_scale("--lr", lr)?;
                if !(0.0..1.0).contains(&momentum) {
                    return Err(format!("--momentum must be in [0, 1), got {momentum}"));
                }
            }
            Optimizer::Adam { lr, .. } => check_scale("--lr", lr)?,
        }
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if let Some(x) = self.clip_grad_norm {
            check_scale("--clip-grad-norm", x)?;
        }
        if let Some(x) = self.weight_decay {
            check_scale("--weight-decay", x)?;
        }
        Ok(())
    }

    /// Adam or SGD at batch size `batch_size`, without clipping or weight decay.
    pub fn new(optimizer: Optimizer, batch_size: usize) -> Self {
        TrainConfig { optimizer, batch_size, clip_grad_norm: None, weight_decay: None, histograms: false }
    }

    /// The coefficient each step adds times a weight to its gradient: λ/n for `train_rows` = n rows
    /// (0 without weight decay).
    pub fn decay_per_row(&self, train_rows: usize) -> f64 {
        self.weight_decay.map_or(0.0, |l| l / train_rows.max(1) as f64)
    }
}

/// PyTorch's `clip_grad_norm_` guard against division by zero, added to the norm.
pub const CLIP_EPS: f64 = 1e-6;

/// The factor `--clip-grad-norm max` scales gradients of global norm `norm` by: 1 when within it.
pub fn clip_scale(max: f64, norm: f64) -> f64 {
    (max / (norm + CLIP_EPS)).min(1.0)
}

/// The mean loss and the number of correct predictions of one batch (or one pass over a split).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BatchResult {
    pub loss: f64,
    pub correct: usize,
    pub rows: usize,
    /// A training step with `--clip-grad-norm`: the global gradient norm before clipping.
    pub grad_norm: Option<f64>,
}

/// One dense layer's view of the gradient at one moment, over a whole split (training-mode forward and
/// backward, no update).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LayerProbe {
    /// ‖dL/dW‖ and ‖dL/db‖ (Frobenius).
    pub grad_w: f64,
    pub grad_b: f64,
    /// ‖δ‖ = ‖dL/dz‖ over the batch, z the layer's dense output (before batch norm).
    pub delta: f64,
    /// ‖W‖.
    pub weight: f64,
    /// Statistics of the layer's activation output (zero for the output layer).
    pub act_mean: f64,
    pub act_std: f64,
    /// Fraction of values with f′ below 1% of its maximum (sigmoid, tanh).
    pub saturated: f64,
    /// Fraction of units that output 0 on every row (ReLU).
    pub dead: f64,
    /// E[f′(z)²] over the layer's activation inputs (1 for the output layer's identity).
    pub mean_grad_sq: f64,
}

/// Everything one probe reads back: a few numbers per layer plus the first layer's gradient.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    pub loss: f64,
    pub correct: usize,
    pub rows: usize,
    /// One per dense layer, the output layer last.
    pub layers: Vec<LayerProbe>,
    /// dL/dW₁, `[out, in]`, the mean gradient over the split.
    pub grad_w1: Vec<f64>,
    /// With `TrainConfig::histograms`, one per dense layer (the output layer last); empty without.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub histograms: Vec<LayerHistograms>,
}

pub trait Engine {
    /// A human description, e.g. `gpu: llvmpipe (Cpu, Vulkan)` or `cpu reference (f64)`.
    fn name(&self) -> String;

    fn spec(&self) -> &MlpSpec;

    /// The current parameters (read back from the GPU).
    fn params(&mut self) -> Result<Params, EngineError>;

    /// Replaces the parameters; the optimiser state is reset.
    fn set_params(&mut self, params: &Params) -> Result<(), EngineError>;

    /// Sets the training set's order for the coming epoch: a permutation of `0..train_rows`.
    fn begin_epoch(&mut self, order: &[u32]) -> Result<(), EngineError>;

    /// Trains on batches `first .. first + count` of the epoch (batch `b` covers positions
    /// `b·batch_size ..` of the order; the last batch may be short) and returns each batch's result.
    fn train_batches(&mut self, first: usize, count: usize) -> Result<Vec<BatchResult>, EngineError>;

    /// Forward and backward over a whole split in training mode (batch statistics), without
    /// updating anything: the per-layer gradient picture.
    fn probe(&mut self, split: Split) -> Result<Probe, EngineError>;

    /// Evaluation-mode forward over a whole split (batch norm with running statistics).
    fn evaluate(&mut self, split: Split) -> Result<BatchResult, EngineError>;

    /// The whole gradient arena (the layout of `Params::values`) of the last backward pass: the last
    /// training step's, or the last probe's.
    fn gradients(&mut self) -> Result<Vec<f64>, EngineError>;

    /// The logits `[rows, outputs]` of the last probe or evaluation.
    fn logits(&mut self) -> Result<Vec<f64>, EngineError>;

    /// Rows in `split`.
    fn split_rows(&self, split: Split) -> usize;
}

/// The checks both engines make before building anything: a valid spec, training rows, a batch size.
pub fn check_engine_inputs(spec: &MlpSpec, train_rows: usize, cfg: &TrainConfig) -> Result<(), EngineError> {
    spec.validate().map_err(EngineError::Invalid)?;
    if train_rows == 0 {
        return Err(EngineError::Invalid("the training set is empty".into()));
    }
    if cfg.batch_size == 0 {
        return Err(EngineError::Invalid("the batch size must be at least 1".into()));
    }
    Ok(())
}

/// The number of batches in an epoch of `rows` rows.
pub fn batches_per_epoch(rows: usize, batch_size: usize) -> usize {
    rows.div_ceil(batch_size)
}

/// Rows in batch `b`: `batch_size`, except a short last batch.
pub fn batch_rows(rows: usize, batch_size: usize, b: usize) -> usize {
    batch_size.min(rows - b * batch_size)
}

/// `&mut E` is an engine too, so a borrowed engine can be driven as a batch of one (`OneAtATime::of`).
impl<E: Engine + ?Sized> Engine for &mut E {
    fn name(&self) -> String {
        (**self).name()
    }
    fn spec(&self) -> &MlpSpec {
        (**self).spec()
    }
    fn params(&mut self) -> Result<Params, EngineError> {
        (**self).params()
    }
    fn set_params(&mut self, params: &Params) -> Result<(), EngineError> {
        (**self).set_params(params)
    }
    fn begin_epoch(&mut self, order: &[u32]) -> Result<(), EngineError> {
        (**self).begin_epoch(order)
    }
    fn train_batches(&mut self, first: usize, count: usize) -> Result<Vec<BatchResult>, EngineError> {
        (**self).train_batches(first, count)
    }
    fn probe(&mut self, split: Split) -> Result<Probe, EngineError> {
        (**self).probe(split)
    }
    fn evaluate(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        (**self).evaluate(split)
    }
    fn gradients(&mut self) -> Result<Vec<f64>, EngineError> {
        (**self).gradients()
    }
    fn logits(&mut self) -> Result<Vec<f64>, EngineError> {
        (**self).logits()
    }
    fn split_rows(&self, split: Split) -> usize {
        (**self).split_rows(split)
    }
}

/// One model of a batch: its network, initial parameters, data and training configuration.
#[derive(Clone, Debug)]
pub struct ModelJob<'d> {
    pub spec: MlpSpec,
    pub params: Params,
    pub train: &'d Dataset,
    pub test: &'d Dataset,
    pub cfg: TrainConfig,
}

/// What one call of `BatchEngine::run` does to every model of the batch: the steps, then the
/// measurements — or, with `measure_first`, the measurements of the state the call starts from, then
/// the steps. The training loop asks for the second, so that an engine may measure one chunk's end
/// while it trains the next (the fused executor does, for small batches); the numbers are the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Train batches `first .. first + count` of the epoch begun by `begin_epoch`.
    pub steps: Option<(usize, usize)>,
    /// Probe the training split (training mode, no update).
    pub probe: bool,
    /// Evaluate the training split and, when it has rows, the test split.
    pub evaluate: bool,
    /// The probe and the evaluations measure the parameters from before the steps, not after.
    pub measure_first: bool,
}

/// A probe and each layer's update ratio ‖W − W_prev‖/‖W_prev‖ since the engine's previous probe
/// (0 for the first, and after `set_params`).
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub probe: Probe,
    pub update_ratio: Vec<f64>,
}

/// What `BatchEngine::run` gives back for one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// One per trained batch.
    pub batches: Vec<BatchResult>,
    pub probe: Option<Measured>,
    pub eval_train: Option<BatchResult>,
    /// `None` when the test split is empty.
    pub eval_test: Option<BatchResult>,
}

/// Work a backend has done so far, the same on any hardware: what `bench`, `sweep --json` and
/// `train --json` report, and what tests assert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counters {
    /// Compute pipelines compiled (each a shader compile on the driver).
    pub pipelines_compiled: u64,
    /// Compute dispatches recorded (kernel launches).
    #[serde(default)]
    pub dispatches: u64,
    /// Command-buffer submissions to the queue.
    pub submits: u64,
    /// Bytes copied from the device back to the host.
    pub bytes_read_back: u64,
}

/// A batch of models trained together: every call applies to all of them. Model `m` follows exactly
/// the steps it would take alone.
pub trait BatchEngine {
    /// A human description of the engine and its path.
    fn name(&self) -> String;

    /// Models in the batch.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets each model's order of its training rows for the coming epoch (one order per model).
    fn begin_epoch(&mut self, orders: &[Vec<u32>]) -> Result<(), EngineError>;

    /// Does `work` to every model; one outcome per model.
    fn run(&mut self, work: &Work) -> Result<Vec<Outcome>, EngineError>;

    /// Every model's current parameters.
    fn params(&mut self) -> Result<Vec<Params>, EngineError>;

    /// `run` for a driver that must not block (WebGPU in a browser, where a readback is awaited). An
    /// engine that computes on the calling thread (the CPU reference) answers at once.
    fn run_async<'a>(&'a mut self, work: &'a Work) -> Answer<'a, Vec<Outcome>> {
        Box::pin(std::future::ready(self.run(work)))
    }

    /// `params` without blocking, as `run_async`.
    fn params_async(&mut self) -> Answer<'_, Vec<Params>> {
        Box::pin(std::future::ready(self.params()))
    }
}

/// Runs a future to its end on this thread: the native build's one way to wait. It drives the
/// non-blocking entry points (`train::run`, `run_sweep_async`, `demo::run`), where every native engine
/// answers when first polled (a GPU readback waits for the device inside its future, `gpu/wait.rs`), and
/// wgpu's own futures (adapter and device requests, error scopes, buffer maps).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// What an engine's non-blocking call resolves to; boxed, so that `BatchEngine` stays usable as a
/// trait object.
pub type Answer<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, EngineError>> + 'a>>;

/// Makes batch engines. The trainer, `demo` and `sweep` are written against this, not against an
/// engine: the CLI picks the backend (the GPU's or the CPU reference's).
pub trait Backend {
    /// A human description, e.g. `gpu: llvmpipe (Cpu, Vulkan, ...)` or `cpu reference (f64)`.
    fn name(&self) -> String;

    /// The one decision of how `jobs` train: batches that share one engine, each with everything its
    /// engine is built from. Every job is in exactly one batch; batches come in the order of their
    /// first job.
    fn plan<'b>(&'b self, jobs: &[ModelJob<'_>]) -> Result<Vec<Box<dyn BatchPlan<'b> + 'b>>, EngineError>;

    /// What this backend has done so far.
    fn counters(&self) -> Counters;

    /// The plan of one job alone (`train`'s single run).
    fn plan_one<'b>(&'b self, job: &ModelJob<'_>) -> Result<Box<dyn BatchPlan<'b> + 'b>, EngineError> {
        self.plan(std::slice::from_ref(job))?
            .pop()
            .ok_or_else(|| EngineError::Invalid("a plan of one job has one batch".into()))
    }
}

/// One batch of a backend's plan: which jobs, on what, and the engine for them.
pub trait BatchPlan<'b> {
    /// Indices into the planned jobs, in order.
    fn members(&self) -> &[usize];

    /// The name of the engine the batch trains on (its path, on a GPU), for messages and records.
    fn engine_name(&self) -> String;

    /// The engine for `jobs`: the planned jobs of `members`, in order.
    fn build(&self, jobs: &[ModelJob<'_>]) -> Result<Box<dyn BatchEngine + 'b>, EngineError>;
}

/// Single-model engines run one after another as a batch: the CPU reference, the GPU's layered path.
pub struct OneAtATime<'e> {
    engines: Vec<Box<dyn Engine + 'e>>,
    /// Each model's parameters at its previous probe, for update ratios.
    prev: Vec<Params>,
}

impl<'e> OneAtATime<'e> {
    pub fn new(mut engines: Vec<Box<dyn Engine + 'e>>) -> Result<Self, EngineError> {
        let prev = engines.iter_mut().map(|e| e.params()).collect::<Result<_, _>>()?;
        Ok(OneAtATime { engines, prev })
    }

    /// A borrowed engine as a batch of one.
    pub fn of(engine: &'e mut dyn Engine) -> Result<Self, EngineError> {
        OneAtATime::new(vec![Box::new(engine)])
    }
}

/// ‖now − prev‖/‖prev‖ of each layer's weight (0 where ‖prev‖ is 0).
pub fn update_ratio(spec: &MlpSpec, prev: &Params, now: &Params) -> Vec<f64> {
    (0..spec.num_layers())
        .map(|i| {
            let (a, b) = (prev.weight(i), now.weight(i));
            let diff: f64 = a.iter().zip(b).map(|(x, y)| ((y - x) as f64).powi(2)).sum::<f64>().sqrt();
            let base: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            if base > 0.0 { diff / base } else { 0.0 }
        })
        .collect()
}

impl BatchEngine for OneAtATime<'_> {
    fn name(&self) -> String {
        self.engines.first().map_or_else(String::new, |e| e.name())
    }

    fn len(&self) -> usize {
        self.engines.len()
    }

    fn begin_epoch(&mut self, orders: &[Vec<u32>]) -> Result<(), EngineError> {
        if orders.len() != self.engines.len() {
            return Err(EngineError::Invalid("one epoch order per model".into()));
        }
        self.engines.iter_mut().zip(orders).try_for_each(|(e, o)| e.begin_epoch(o))
    }

    fn run(&mut self, work: &Work) -> Result<Vec<Outcome>, EngineError> {
        let mut outcomes = Vec::with_capacity(self.engines.len());
        for (e, prev) in self.engines.iter_mut().zip(&mut self.prev) {
            let mut out = Outcome::default();
            let steps = |e: &mut Box<dyn Engine + '_>, out: &mut Outcome| {
                if let Some((first, count)) = work.steps {
                    out.batches = e.train_batches(first, count)?;
                }
                Ok::<_, EngineError>(())
            };
            if !work.measure_first {
                steps(e, &mut out)?;
            }
            if work.probe {
                let probe = e.probe(Split::Train)?;
                let now = e.params()?;
                let update_ratio = update_ratio(e.spec(), prev, &now);
                *prev = now;
                out.probe = Some(Measured { probe, update_ratio });
            }
            if work.evaluate {
                out.eval_train = Some(e.evaluate(Split::Train)?);
                out.eval_test = if e.split_rows(Split::Test) > 0 { Some(e.evaluate(Split::Test)?) } else { None };
            }
            if work.measure_first {
                steps(e, &mut out)?;
            }
            outcomes.push(out);
        }
        Ok(outcomes)
    }

    fn params(&mut self) -> Result<Vec<Params>, EngineError> {
        self.engines.iter_mut().map(|e| e.params()).collect()
    }
}
