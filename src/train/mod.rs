//! The trainer, written once against `Engine`: epochs in a seeded order, probes of the per-layer
//! gradient at initialisation, every `probe_every` steps and after each epoch, divergence detection.

mod history;
mod interrupt;
mod trainer;

pub use history::{EpochRecord, History, ProbeRecord};
pub use interrupt::{install_interrupt_handler, interrupted, request_interrupt};
pub use trainer::{Progress, TrainError, TrainOptions, epoch_order, epoch_record, probe_record, start_history, train};
