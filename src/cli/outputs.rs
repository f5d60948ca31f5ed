//! The outputs of a command, checked before any work by the library's one rule (`output::check`), and
//! the marker (`vanish.json`) that a folder of results carries: claimed before training, so a rerun of
//! the same command recognises its folder and `--force` clears exactly what an earlier command wrote;
//! completed with the list of files once they are written.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::output::REPORT_FILES;
use crate::output::{Destination, FolderMarker};

/// The files `train --out` writes besides the report.
pub const TRAIN_FILES: [&str; 3] = ["metrics.json", "epochs.csv", "probes.csv"];

/// The names a folder of `command`'s results holds: the report's, the command's own and the marker.
pub fn folder_names(command: &str) -> Vec<&'static str> {
    let own: &[&'static str] = if command == "train" { &TRAIN_FILES } else { &[] };
    own.iter().chain(&REPORT_FILES).chain(&[crate::output::destination::MARKER]).copied().collect()
}

/// A folder of results this command has claimed.
pub struct Claimed {
    dir: PathBuf,
    marker: FolderMarker,
}

/// Claims `dir` for `command` with `settings`, after `output::check` let it through: an earlier
/// command's files (those its marker lists) are removed, so the folder never mixes two runs, and the new
/// marker is written.
pub fn claim(dir: &Path, command: &str, settings: serde_json::Value) -> Result<Claimed> {
    if let Some(old) = FolderMarker::read(dir) {
        old.clear(dir);
    }
    let marker = FolderMarker { command: command.into(), settings, files: Vec::new() };
    marker.write(dir)?;
    Ok(Claimed { dir: dir.to_path_buf(), marker })
}

impl Claimed {
    /// Records the files written into the folder (paths inside it).
    pub fn finish(mut self, written: &[PathBuf]) -> Result<()> {
        let mut names: Vec<String> = written
            .iter()
            .filter_map(|p| p.strip_prefix(&self.dir).ok().map(|r| r.display().to_string()))
            .filter(|n| n != crate::output::destination::MARKER)
            .collect();
        names.sort();
        names.dedup();
        self.marker.files = names;
        self.marker.write(&self.dir)?;
        Ok(())
    }
}

/// Whether the folder `d` holds `command`'s own results with `settings` (or its marker says so).
pub fn folder_is_ours(d: &Destination, command: &str, settings: &serde_json::Value) -> bool {
    FolderMarker::read(&d.path).is_some_and(|m| m.is(command, settings))
}
