//! Depth sweeps: a grid of configurations run through the trainer on any engine, each run's gradient
//! picture beside the mean-field theory, a verdict per run, presets that check classic results, and
//! an output folder that shards, resumes and merges (one file per completed run).

pub mod boundary;
pub mod grid;
pub mod preset;
pub mod record;
pub mod run;
pub mod settings;
pub mod store;
pub mod theory;
pub mod verdict;

pub use grid::{Grid, OptimizerChoice, RunConfig, Shard, Varying};
pub use preset::{Check, Preset};
pub use record::{EpochSnapshot, EvalNumbers, LayerStats, RunRecord};
#[cfg(not(target_arch = "wasm32"))]
pub use run::run_sweep;
pub use run::{RunEvent, record_of, record_run, run_sweep_async, showcase};
pub use settings::{DataSettings, Manifest, Settings};
pub use store::{MemoryStore, RunStore, Store};
pub use verdict::{Verdict, VerdictKind};

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SweepError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Write(#[from] crate::report::files::WriteError),
    /// The folder's lock file could not be opened or written.
    #[error("cannot lock {}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// Ctrl-C: the runs completed so far are in the output folder; rerunning resumes.
    #[error(
        "interrupted after {done} of {total} runs; every completed run is saved, and rerunning the same command resumes"
    )]
    Interrupted { done: usize, total: usize },
}
