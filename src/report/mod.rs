//! Turning results into something to read: terminal tables with log-scale bars, and files (JSON, CSV)
//! written atomically.

pub mod files;
pub mod groups;
pub mod html;
pub mod plots;
pub mod table;
pub mod terminal;
pub mod tidy;
pub mod write;

pub use write::{ReportInput, plots_of, terminal_summary, write_report};
