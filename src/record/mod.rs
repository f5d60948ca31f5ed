//! A finished run as the reports and the sweep's store keep it: its configuration (`RunConfig`), the
//! per-layer picture at initialisation and after each epoch beside the mean-field theory, a verdict, and
//! the decision boundary of 2-D data. Below both `sweep` (which stores records) and `report` (which
//! draws them), so neither imports the other's.

pub mod boundary;
mod config;
pub mod flow;
mod run_record;
pub mod theory;
pub mod verdict;

pub use config::{MAX_LINES, OptimizerChoice, RunConfig, Varying, showcase, spec_for};
pub use run_record::{EpochSnapshot, EvalNumbers, LayerStats, RunRecord};
pub use verdict::{Verdict, VerdictKind};

use crate::data::Dataset;
use crate::engine::{TrainConfig, batches_per_epoch};
use crate::model::{MlpSpec, Params};
use crate::train::{History, TrainError, Trained};
use boundary::decision_boundary;

/// The record of a finished run: its history and evaluation at initialisation; a diverged run keeps
/// what was measured at initialisation and says where the loss stopped being finite. `train` is the
/// data it trained on.
pub fn record_of(
    config: RunConfig,
    spec: &MlpSpec,
    trained: &Trained,
    steps_per_epoch: usize,
    train: &Dataset,
) -> RunRecord {
    let sizes = (steps_per_epoch, Some(train.mean_square()));
    let init_eval = EvalNumbers::from_results(&trained.init_train, trained.init_test.as_ref());
    match &trained.diverged {
        Some(TrainError::Diverged { loss, epoch, step, batch }) => {
            let history = History {
                probes: trained.history.probes[..1].to_vec(),
                epochs: Vec::new(),
                batch_losses: Vec::new(),
                ..trained.history.clone()
            };
            let mut r = RunRecord::from_history(config, spec, &history, Some(init_eval), sizes);
            r.diverged = Some(format!("the loss became {loss} at epoch {epoch}, step {step} (batch {batch})"));
            r
        }
        _ => RunRecord::from_history(config, spec, &trained.history, Some(init_eval), sizes),
    }
}

/// A finished run as a report record, with its decision boundary (from `last`, its final weights)
/// for 2-D data.
pub fn record_run(
    spec: &MlpSpec,
    (cfg, seed): (TrainConfig, u64),
    trained: &Trained,
    last: &Params,
    train_set: &Dataset,
) -> RunRecord {
    let config = RunConfig { clip: cfg.clip_grad_norm, ..RunConfig::from_spec(spec, cfg.optimizer, seed) };
    let steps = batches_per_epoch(train_set.len(), cfg.batch_size);
    let mut record = record_of(config, spec, trained, steps, train_set);
    record.boundary = decision_boundary(spec, last, train_set);
    record
}
