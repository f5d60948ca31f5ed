//! Turning results into something to read: terminal tables with log-scale bars, SVG plots, and a
//! report folder (`runs.csv`, `summary.json`, the plots, `report.html`) written atomically.

pub mod groups;
pub mod histograms;
pub mod html;
pub mod plots;
pub mod table;
pub mod terminal;
pub mod tidy;
mod train_summary;
pub mod trainability;
pub mod write;

pub use train_summary::train_summary;
pub use write::{plots_of, plots_with, terminal_summary, write_report};

use crate::record::RunRecord;
use crate::sweep::Check;

/// What a report is made of.
pub struct ReportInput<'a> {
    pub title: String,
    /// The command line (or a sentence) that produced the runs.
    pub command: String,
    /// Shown in the report and copied into summary.json.
    pub settings: serde_json::Value,
    /// In display order.
    pub runs: &'a [RunRecord],
    pub checks: &'a [Check],
}
