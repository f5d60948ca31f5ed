//! `write_report`: everything a set of runs produces in an output folder — `runs.csv`, `summary.json`,
//! the SVG plots and `report.html` — each written atomically. `sweep`, `merge`, `demo` and `train`
//! all call it, so their folders look the same.

use std::path::{Path, PathBuf};

use super::groups::{Group, groups};
use super::{ReportInput, html, plots, tidy, trainability};
use crate::output::{WriteError, write_atomic, write_atomic_with, write_json};
use crate::record::{RunRecord, showcase};
use crate::sweep::Check;

/// The boundary plot shows at most this many panels.
const MAX_BOUNDARIES: usize = 9;

/// Writes the report for `input` into `dir` (which must exist) and returns the paths written.
pub fn write_report(dir: &Path, input: &ReportInput<'_>) -> Result<Vec<PathBuf>, WriteError> {
    let all = groups(input.runs);
    let shown_ids = showcase(input.runs.iter().map(|r| &r.config));
    let shown: Vec<&Group<'_>> = all.iter().filter(|g| shown_ids.contains(&g.id)).collect();
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), WriteError> {
        let path = dir.join(name);
        write_atomic(&path, bytes)?;
        written.push(path);
        Ok(())
    };

    // A plot that cannot be drawn is a report that cannot be written.
    let unplottable = |e: String| WriteError { path: dir.to_path_buf(), source: std::io::Error::other(e) };
    // The diagram's theory is quadratures: computed once for the plot and summary.json.
    let diagram = trainability::panels(input.runs);
    let plots = report_plots(input.runs, &all, &shown, &diagram).map_err(unplottable)?;
    for p in &plots {
        put(p.file, p.svg.as_bytes())?;
    }
    let csv = dir.join("runs.csv");
    write_atomic_with(&csv, |w| tidy::write_csv(input.runs, w))?;
    written.push(csv);
    let summary = dir.join("summary.json");
    write_json(&summary, &tidy::summary(&input.title, &input.settings, input.runs, &all, input.checks, &diagram))?;
    written.push(summary);
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), WriteError> {
        let path = dir.join(name);
        write_atomic(&path, bytes)?;
        written.push(path);
        Ok(())
    };
    put("report.html", html::page(input, &all, &plots).as_bytes())?;
    Ok(written)
}

/// The report's plots of `runs` (grouped as `all`, of which `shown` are drawn per layer): ‖δ‖ per
/// layer, the depth plot, the heatmap, the loss, the trainability diagram, the histograms and the decision
/// boundaries. The web page shows the same.
pub fn report_plots(
    runs: &[RunRecord],
    all: &[Group<'_>],
    shown: &[&Group<'_>],
    diagram: &[trainability::Panel],
) -> Result<Vec<plots::Plot>, String> {
    let mut out = Vec::new();
    if runs.is_empty() {
        return Ok(out);
    }
    out.push(plots::delta_vs_layer(shown)?);
    out.push(plots::depth(all)?);
    out.push(plots::heatmap(shown)?);
    out.push(plots::loss(shown)?);
    if !diagram.is_empty() {
        out.push(plots::trainability(diagram)?);
    }
    out.extend(super::histograms::histograms(shown)?);
    let boundaries: Vec<(&str, &crate::record::boundary::Boundary)> = shown
        .iter()
        .flat_map(|g| g.runs.iter().filter_map(move |r| r.boundary.as_ref().map(|b| (g.label.as_str(), b))))
        .take(MAX_BOUNDARIES)
        .collect();
    if !boundaries.is_empty() {
        out.push(plots::boundaries(&boundaries)?);
    }
    Ok(out)
}

/// The plots of `runs`, as a report draws them.
pub fn plots_of(runs: &[RunRecord]) -> Result<Vec<plots::Plot>, String> {
    plots_with(runs, &trainability::panels(runs))
}

/// `plots_of` with the trainability diagram's panels already computed (`trainability::panels`).
pub fn plots_with(runs: &[RunRecord], diagram: &[trainability::Panel]) -> Result<Vec<plots::Plot>, String> {
    let all = groups(runs);
    let shown_ids = showcase(runs.iter().map(|r| &r.config));
    let shown: Vec<&Group<'_>> = all.iter().filter(|g| shown_ids.contains(&g.id)).collect();
    report_plots(runs, &all, &shown, diagram)
}

/// The terminal table for `runs`: one row per configuration, and the checks.
pub fn terminal_summary(runs: &[RunRecord], checks: &[Check]) -> String {
    let all = groups(runs);
    super::terminal::summary_table(&all, &showcase(runs.iter().map(|r| &r.config)), checks)
}
