//! The trainer, written once against `BatchEngine`: epochs in a seeded order, probes of the per-layer
//! gradient at initialisation, every `probe_every` steps and after each epoch, evaluations, divergence
//! detection; a single engine trains as a batch of one. `run` is `vanish train`'s and the page's one
//! entry point, with its settings (`TrainSettings`).

mod history;
mod run;
mod settings;
mod trainer;

pub use history::{EpochRecord, History, ProbeRecord};
pub use run::{TrainOutput, TrainResult, TrainRun, clipped_fraction, job, run};
pub use settings::{NetworkSettings, OptimizerName, TrainSettings};
pub use trainer::{
    Answer, BatchTrainer, BetweenChunks, EpochOrders, Interim, Pace, Progress, Request, TrainError, TrainOptions,
    Trained, native_between, train_batch_async,
};
#[cfg(not(target_arch = "wasm32"))]
pub use trainer::{train, train_batch};
