//! What `demo` and `train` hand to the report writer: each finished run as a `RunRecord` (the same
//! record a sweep keeps), so their `--out` folders get the sweep's plots and `report.html` too.

use std::path::Path;

use anyhow::Result;

use crate::record::RunRecord;
use crate::report::{ReportInput, write_report};
use crate::sweep::Check;

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
