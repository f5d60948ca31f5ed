//! The trainer, written once against `BatchEngine`: epochs in a seeded order, probes of the per-layer
//! gradient at initialisation, every `probe_every` steps and after each epoch, evaluations, divergence
//! detection; a single engine trains as a batch of one.

mod history;
mod interrupt;
mod metrics;
mod trainer;

pub use history::{EpochRecord, History, ProbeRecord};
pub use interrupt::{
    exit_status, hold_point, install_interrupt_handler, interrupted, request_interrupt, stop_gracefully,
};
pub use metrics::{TrainOutput, TrainRun, clipped_fraction, summary_text};
pub use trainer::{
    BatchTrainer, Between, Look, Pace, Progress, Request, TrainError, TrainOptions, Trained, epoch_order, train,
    train_batch, train_batch_async,
};
