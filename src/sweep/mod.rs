//! Depth sweeps: a grid of configurations run through the trainer on any engine, each run's gradient
//! picture beside the mean-field theory, a verdict per run, presets that check classic results, and
//! an output folder that shards, resumes and merges (one file per completed run).

pub mod grid;
mod options;
pub mod preset;
pub mod run;
pub mod settings;
pub mod store;

pub use grid::{Grid, Shard};
pub use options::SweepOptions;
pub use preset::{Check, Preset};
#[cfg(not(target_arch = "wasm32"))]
pub use run::run_sweep;
pub use run::{RunEvent, run_sweep_async};
pub use settings::{Manifest, Settings};
pub use store::{MemoryStore, RunStore, Store};

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SweepError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Write(#[from] crate::output::WriteError),
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
