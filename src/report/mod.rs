//! Turning results into something to read: terminal tables with log-scale bars, and files (JSON, CSV)
//! written atomically.

pub mod files;
pub mod table;
