//! The output folder as the sweep's memory: `sweep.json` (the manifest) and one `runs/<id>.json` per
//! completed run, each written atomically. A run is complete exactly when its file exists, so a sweep
//! killed at any moment resumes without duplicates or half-written rows, and the shared outputs
//! (runs.csv, summary.json, plots, report) are always rebuilt from these files alone.

use std::path::{Path, PathBuf};

use super::SweepError;
use super::record::RunRecord;
use super::settings::{Manifest, differences};
use crate::report::files::write_json;

pub const MANIFEST: &str = "sweep.json";
pub const RUNS: &str = "runs";

pub struct Store {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io { path: path.to_path_buf(), source }
}

impl Store {
    /// Opens `dir` for `manifest`, creating it; a folder that already holds a different sweep is an
    /// error naming what differs.
    pub fn create(dir: &Path, manifest: &Manifest) -> Result<Store, SweepError> {
        if dir.exists() && !dir.is_dir() {
            return Err(SweepError::Invalid(format!("--out {} exists and is not a folder", dir.display())));
        }
        std::fs::create_dir_all(dir.join(RUNS))
            .map_err(|e| SweepError::Invalid(format!("cannot create --out {}: {e}", dir.display())))?;
        let path = dir.join(MANIFEST);
        if path.exists() {
            let old = read_manifest(dir)?;
            if old.settings != manifest.settings || old.shard != manifest.shard {
                let mut what = differences(&old.settings, &manifest.settings);
                if old.shard != manifest.shard {
                    what.push(format!("shard: {:?} vs {:?}", old.shard, manifest.shard));
                }
                return Err(SweepError::Invalid(format!(
                    "--out {} holds a different sweep ({}); repeat its flags to resume it, or choose another --out",
                    dir.display(),
                    what.join("; ")
                )));
            }
        } else {
            write_json(&path, manifest).map_err(io(&path))?;
        }
        Ok(Store { dir: dir.to_path_buf() })
    }

    /// Opens an existing sweep folder (for `merge`).
    pub fn open(dir: &Path) -> Result<(Store, Manifest), SweepError> {
        let manifest = read_manifest(dir)?;
        Ok((Store { dir: dir.to_path_buf() }, manifest))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn run_path(&self, id: &str) -> PathBuf {
        self.dir.join(RUNS).join(format!("{id}.json"))
    }

    /// The completed run `id`, if its file exists. A file that does not parse cannot come from an
    /// atomic write of this version; it is reported and the run counts as not done, so it is redone.
    pub fn load(&self, id: &str) -> Option<RunRecord> {
        let path = self.run_path(id);
        let text = std::fs::read_to_string(&path).ok()?;
        match serde_json::from_str::<RunRecord>(&text) {
            Ok(r) if r.id == id => Some(r),
            Ok(r) => {
                eprintln!("warning: {} holds run {}, not {id}; redoing it", path.display(), r.id);
                None
            }
            Err(e) => {
                eprintln!("warning: {} is unreadable ({e}); redoing the run", path.display());
                None
            }
        }
    }

    pub fn save(&self, record: &RunRecord) -> Result<(), SweepError> {
        let path = self.run_path(&record.id);
        write_json(&path, record).map_err(io(&path))
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, SweepError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SweepError::Invalid(format!("{} is not a sweep folder: cannot read {}: {e}", dir.display(), path.display()))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| SweepError::Invalid(format!("{} is not a valid sweep manifest: {e}", path.display())))
}
