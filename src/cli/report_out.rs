//! What the commands write besides their own files: the report (each finished run as a `RunRecord`, the
//! same record a sweep keeps, so every `--out` folder gets the sweep's plots and `report.html`), and
//! standard output.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::record::RunRecord;
use crate::report::{ReportInput, write_report};
use crate::sweep::Check;

/// Writes the plots and `report.html` for `runs` into `dir`; the paths written.
pub fn write_run_report(
    dir: &Path,
    title: &str,
    settings: serde_json::Value,
    runs: &[RunRecord],
) -> Result<Vec<PathBuf>> {
    write_checked_report(dir, title, settings, runs, &[])
}

/// Writes the report for `runs`, with a preset's `checks`, into `dir`; the command line is recorded.
pub fn write_checked_report(
    dir: &Path,
    title: &str,
    settings: serde_json::Value,
    runs: &[RunRecord],
    checks: &[Check],
) -> Result<Vec<PathBuf>> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let input = ReportInput { title: title.into(), command, settings, runs, checks };
    Ok(write_report(dir, &input)?)
}

/// Prints `text` on standard output: a failed write (a full disk) is an error naming standard output,
/// not a panic; a closed pipe ends the process quietly (SIGPIPE, main.rs).
pub fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))
}
