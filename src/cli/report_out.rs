//! What `demo` and `train` hand to the report writer: each finished run as a `RunRecord` (the same
//! record a sweep keeps), so their `--out` folders get the sweep's plots and `report.html` too.

use std::path::Path;

use anyhow::Result;

use crate::data::Dataset;
use crate::engine::{TrainConfig, batches_per_epoch};
use crate::model::{MlpSpec, Params};
use crate::report::{ReportInput, write_report};
use crate::sweep::boundary::decision_boundary;
use crate::sweep::{Check, RunConfig, RunRecord, record_of};
use crate::train::Trained;

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

/// Writes the plots and `report.html` for `runs` into `dir`.
pub fn write_run_report(dir: &Path, title: &str, settings: serde_json::Value, runs: &[RunRecord]) -> Result<()> {
    write_checked_report(dir, title, settings, runs, &[])
}

/// Writes the report for `runs`, with a preset's `checks`, into `dir`; the command line is recorded.
pub fn write_checked_report(
    dir: &Path,
    title: &str,
    settings: serde_json::Value,
    runs: &[RunRecord],
    checks: &[Check],
) -> Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let input = ReportInput { title: title.into(), command, settings, runs, checks };
    write_report(dir, &input)?;
    Ok(())
}
