//! The `Engine` trait: the one seam between the trainer and the two engines (the wgpu GPU engine and
//! the f64 CPU reference). The trainer, the probes and every subcommand are written once against it.
//!
//! An engine owns a model (spec and parameters), the optimiser state, and the data (uploaded once).
//! Training runs batch by batch through an epoch order the trainer chooses, so both engines see the
//! same batches; probes and evaluations never change the parameters.

use serde::Serialize;
use thiserror::Error;

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
}

/// The mean loss and the number of correct predictions of one batch (or one pass over a split).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BatchResult {
    pub loss: f64,
    pub correct: usize,
    pub rows: usize,
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
