//! What a training run records: a probe at initialisation, probes during training, and one record per
//! epoch with the training and test loss and accuracy.

use serde::Serialize;

use crate::engine::Probe;

/// A probe and when it was taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeRecord {
    /// Epochs completed (0 at initialisation).
    pub epoch: usize,
    /// Optimiser steps taken so far.
    pub step: usize,
    pub probe: Probe,
    /// Per dense layer, ‖W_now − W_prev‖/‖W_prev‖ since the previous probe (0 at initialisation).
    pub update_ratio: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean of the epoch's batch losses weighted by rows (what Keras reports as the epoch's loss).
    pub train_loss: f64,
    /// Accuracy over the epoch's batches, as they were trained.
    pub train_acc: f64,
    /// Evaluation mode (running batch-norm statistics) after the epoch.
    pub eval_train_loss: f64,
    pub eval_train_acc: f64,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct History {
    pub engine: String,
    /// Every probe in order; the first is at initialisation.
    pub probes: Vec<ProbeRecord>,
    pub epochs: Vec<EpochRecord>,
    /// Every batch's loss, in order.
    pub batch_losses: Vec<f64>,
    /// With `--clip-grad-norm`: every step's global gradient norm before clipping, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grad_norms: Vec<f64>,
    /// Ctrl-C stopped the run early: `epochs` and `probes` hold what completed.
    pub interrupted: bool,
}

impl History {
    pub fn init_probe(&self) -> &Probe {
        &self.probes[0].probe
    }
}
