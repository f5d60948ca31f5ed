//! What `demo` and `train` hand to the report writer: each finished run as a `RunRecord` (the same
//! record a sweep keeps), so their `--out` folders get the sweep's plots and `report.html` too.

use std::path::Path;

use anyhow::{Context, Result};

use crate::data::Dataset;
use crate::engine::{Engine, Split, TrainConfig, batches_per_epoch};
use crate::model::MlpSpec;
use crate::report::{ReportInput, write_report};
use crate::sweep::boundary::decision_boundary;
use crate::sweep::{Check, EvalNumbers, RunConfig, RunRecord};
use crate::train::History;

/// The evaluation at initialisation, which the trainer itself does not take.
pub fn init_eval(engine: &mut dyn Engine, has_test: bool) -> Result<EvalNumbers> {
    let train = engine.evaluate(Split::Train)?;
    let test = if has_test { Some(engine.evaluate(Split::Test)?) } else { None };
    Ok(EvalNumbers::from_results(&train, test.as_ref()))
}

/// A finished run as a report record, with its decision boundary for 2-D data.
pub fn record_run(
    engine: &mut dyn Engine,
    spec: &MlpSpec,
    (cfg, seed): (TrainConfig, u64),
    history: &History,
    init: EvalNumbers,
    train_set: &Dataset,
) -> Result<RunRecord> {
    let config = RunConfig::from_spec(spec, cfg.optimizer, seed);
    let steps = batches_per_epoch(train_set.len(), cfg.batch_size);
    let mut record = RunRecord::from_history(config, spec, history, Some(init), steps);
    record.boundary = decision_boundary(spec, &engine.params()?, train_set);
    Ok(record)
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
    write_report(dir, &input).with_context(|| format!("writing the report into {}", dir.display()))?;
    Ok(())
}
