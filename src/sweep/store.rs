//! The output folder as the sweep's memory: `sweep.json` (the manifest) and one `runs/<id>.json` per
//! completed run, each written atomically. A run is complete exactly when a valid file for it exists, so a
//! sweep killed at any moment resumes without duplicates or half-written rows, and the shared outputs
//! (runs.csv, summary.json, plots, report) are always rebuilt from these files alone.
//!
//! A run file carries what it takes to trust it: the SHA-256 of its record and of the sweep's settings.
//! A truncated or corrupted file (its checksum fails or it does not parse), a foreign one (another
//! sweep's settings, another run's configuration) is reported and its run redone.
//!
//! While a sweep or merge writes into a folder it holds `lock` (an OS file lock, released however the
//! process ends; the file says who holds it), so a second writer is refused instead of interleaving.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SweepError;
use super::settings::{Manifest, Settings, differences};
use crate::output::{REPORT_FILES, WriteError, write_json};
use crate::record::{RunConfig, RunRecord};

pub const MANIFEST: &str = crate::output::destination::SWEEP_MANIFEST;
pub const RUNS: &str = "runs";
pub const LOCK: &str = "lock";
/// The run files' format; a file of another format is redone rather than misread.
const FORMAT: &str = "vanish-run/2";

pub struct Store {
    dir: PathBuf,
    /// SHA-256 of the settings: the identity of the sweep every run file must carry.
    sweep: String,
    /// Held open (and locked) for as long as this store writes; `None` for a read-only store.
    lock: Option<std::fs::File>,
}

/// One `runs/<id>.json`.
#[derive(Serialize, Deserialize)]
struct RunFile {
    format: String,
    /// SHA-256 of the sweep's settings (`Store::sweep`).
    sweep: String,
    /// SHA-256 of `record`'s JSON text exactly as it stands in the file.
    checksum: String,
    record: Box<serde_json::value::RawValue>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io { path: path.to_path_buf(), source }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn settings_digest(settings: &Settings) -> String {
    sha256(serde_json::to_string(settings).expect("settings serialise").as_bytes())
}

/// Where a sweep keeps its finished runs: a folder (`Store`) or, in a web page, memory (`MemoryStore`).
pub trait RunStore {
    /// The finished run of `config`, if there is a valid one.
    fn load(&self, config: &RunConfig) -> Option<RunRecord>;
    /// Keeps a finished run.
    fn save(&self, record: &RunRecord) -> Result<(), SweepError>;
    /// Keeps a batch's finished runs: all of them, or an error for the first (in order) that failed.
    fn save_all(&self, records: &[RunRecord]) -> Result<(), SweepError> {
        records.iter().try_for_each(|r| self.save(r))
    }
}

/// How many run files `Store::save_all` writes at once.
#[cfg(not(target_arch = "wasm32"))]
const WRITERS: usize = 8;

impl RunStore for Store {
    fn load(&self, config: &RunConfig) -> Option<RunRecord> {
        Store::load(self, config)
    }

    fn save(&self, record: &RunRecord) -> Result<(), SweepError> {
        Store::save(self, record)
    }

    /// A run file's write is mostly waiting on the file system (creating it, fsync, the rename), far
    /// longer than serialising it, and a batch is dozens of runs, so several threads write them side by
    /// side.
    #[cfg(not(target_arch = "wasm32"))]
    fn save_all(&self, records: &[RunRecord]) -> Result<(), SweepError> {
        let chunk = records.len().div_ceil(WRITERS).max(1);
        std::thread::scope(|s| {
            let writers: Vec<_> =
                records.chunks(chunk).map(|part| s.spawn(move || part.iter().try_for_each(|r| self.save(r)))).collect();
            // Joined in order, so the error returned is the first run's that failed.
            writers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        })
    }
}

/// A sweep's runs in memory, for a web page (nothing to resume from, nowhere to write).
#[derive(Default)]
pub struct MemoryStore(std::cell::RefCell<Vec<RunRecord>>);

impl RunStore for MemoryStore {
    fn load(&self, config: &RunConfig) -> Option<RunRecord> {
        self.0.borrow().iter().find(|r| r.config == *config).cloned()
    }

    fn save(&self, record: &RunRecord) -> Result<(), SweepError> {
        self.0.borrow_mut().push(record.clone());
        Ok(())
    }
}

impl Store {
    /// Opens `dir` for writing `manifest`'s sweep, creating it and taking its lock; a folder that already
    /// holds a different sweep is an error naming the flags that differ — unless `replace`, when that
    /// sweep's run files, manifest and report are removed first — and one that another process is
    /// writing is an error naming that process.
    pub fn create(dir: &Path, manifest: &Manifest, replace: bool) -> Result<Store, SweepError> {
        if dir.exists() && !dir.is_dir() {
            return Err(SweepError::Invalid(format!("--out {} exists and is not a folder", dir.display())));
        }
        std::fs::create_dir_all(dir.join(RUNS))
            .map_err(|e| SweepError::Invalid(format!("cannot create --out {}: {e}", dir.display())))?;
        let lock = lock(dir)?;
        // From here a refusal must not leave this process named as the holder.
        let refuse = |e: SweepError| {
            let _ = lock.set_len(0);
            e
        };
        let path = dir.join(MANIFEST);
        if replace && path.exists() && read_manifest(dir).ok().is_none_or(|old| old != *manifest) {
            clear_sweep(dir);
        }
        if path.exists() {
            let old = read_manifest(dir).map_err(refuse)?;
            if old.settings != manifest.settings || old.shard != manifest.shard {
                let mut what = differences(&old.settings, &manifest.settings);
                if old.shard != manifest.shard {
                    let shard =
                        |s: &Option<super::Shard>| s.map_or("none".into(), |s| format!("{}/{}", s.index, s.count));
                    what.push(format!("--shard {} vs {}", shard(&old.shard), shard(&manifest.shard)));
                }
                return Err(refuse(SweepError::Invalid(format!(
                    "--out {} holds a different sweep (the folder's value vs this command's: {}); repeat its flags to resume it, or choose another --out",
                    dir.display(),
                    what.join("; ")
                ))));
            }
        } else {
            write_json(&path, manifest).map_err(|e| refuse(e.into()))?;
        }
        remove_leftovers(&dir.join(RUNS));
        Ok(Store { dir: dir.to_path_buf(), sweep: settings_digest(&manifest.settings), lock: Some(lock) })
    }

    /// Opens an existing sweep folder to read it (for `merge`).
    pub fn open(dir: &Path) -> Result<(Store, Manifest), SweepError> {
        let manifest = read_manifest(dir)?;
        let store = Store { dir: dir.to_path_buf(), sweep: settings_digest(&manifest.settings), lock: None };
        Ok((store, manifest))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn run_path(&self, id: &str) -> PathBuf {
        self.dir.join(RUNS).join(format!("{id}.json"))
    }

    /// The completed run of `config`, if a valid file for it exists. A file that is damaged or belongs
    /// elsewhere is reported on stderr and the run counts as not done, so it is redone and the file
    /// replaced.
    pub fn load(&self, config: &RunConfig) -> Option<RunRecord> {
        let id = config.id();
        let path = self.run_path(&id);
        // A sweep redoes a bad run; a folder opened to read (merge's shards) can only say which to rerun.
        let then = if self.lock.is_some() {
            "redoing the run".to_string()
        } else {
            format!("rerun the sweep that wrote {} with its flags to redo it", self.dir.display())
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                eprintln!("warning: cannot read {} ({e}); {then}", path.display());
                return None;
            }
        };
        match self.check(config, &text) {
            Ok(record) => Some(record),
            Err(problem) => {
                eprintln!("warning: {} {problem}; {then}", path.display());
                None
            }
        }
    }

    /// The record in `text` if it is a whole, unaltered run file of this sweep for `config`.
    fn check(&self, config: &RunConfig, text: &str) -> Result<RunRecord, String> {
        let file: RunFile = serde_json::from_str(text).map_err(|e| {
            // Before run files carried checksums (format 1) they held the bare record.
            if serde_json::from_str::<RunRecord>(text).is_ok() {
                "was written by an older vanish (no checksum)".to_string()
            } else {
                format!("is truncated or not a run file ({e})")
            }
        })?;
        if file.format != FORMAT {
            return Err(format!("has format `{}`, not `{FORMAT}`", file.format));
        }
        if file.sweep != self.sweep {
            return Err("belongs to another sweep (its settings differ from sweep.json's)".into());
        }
        if sha256(file.record.get().as_bytes()) != file.checksum {
            return Err("is corrupted (its checksum does not match its contents)".into());
        }
        let record: RunRecord =
            serde_json::from_str(file.record.get()).map_err(|e| format!("holds a record vanish cannot read ({e})"))?;
        if record.id != config.id() || record.config != *config {
            return Err(format!("holds run {}, not {}", record.id, config.id()));
        }
        Ok(record)
    }

    pub fn save(&self, record: &RunRecord) -> Result<(), SweepError> {
        let path = self.run_path(&record.id);
        let invalid = |e: serde_json::Error| WriteError { path: path.clone(), source: std::io::Error::other(e) };
        let text = serde_json::to_string_pretty(record).map_err(invalid)?;
        let file = RunFile {
            format: FORMAT.into(),
            sweep: self.sweep.clone(),
            checksum: sha256(text.as_bytes()),
            record: serde_json::value::RawValue::from_string(text).map_err(invalid)?,
        };
        Ok(write_json(&path, &file)?)
    }
}

impl Drop for Store {
    /// A finished writer empties `lock` (so two identical sweeps leave identical folders); the OS lock
    /// goes with the file handle.
    fn drop(&mut self) {
        if let Some(file) = &self.lock {
            let _ = file.set_len(0);
        }
    }
}

/// Removes the temporary files of writes that never finished (`.NAME.tmpPID`, left by a process killed
/// mid-write): with the folder's lock held, no other writer can own them. They never count as runs.
/// Removes what a sweep wrote into `dir`: its run files, its manifest and its report.
fn clear_sweep(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir.join(RUNS)) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "json") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    for name in REPORT_FILES.iter().chain(&[MANIFEST]) {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

fn remove_leftovers(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Takes `dir`'s lock: an exclusive OS lock on `dir/lock`, which then names this process. The OS drops
/// the lock when the process ends, however it ends, so a crashed sweep leaves no stale lock behind.
fn lock(dir: &Path) -> Result<std::fs::File, SweepError> {
    let path = dir.join(LOCK);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        // Some cluster file systems (NFS without lockd, Lustre or GPFS mounted without flock) cannot lock:
        // sweeping there must still work, only without the guard.
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported || no_locks(&e) => {
            eprintln!(
                "warning: {} cannot be locked on this file system ({e}); do not run two sweeps into {} at once",
                path.display(),
                dir.display()
            );
            return Ok(file);
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            let holder = if holder.is_empty() { "another process".to_string() } else { holder.to_string() };
            return Err(SweepError::Invalid(format!(
                "--out {} is being written by {holder}; wait for it to finish or choose another --out",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    let who = format!("vanish (pid {} on {})\n", std::process::id(), hostname());
    let written = file.set_len(0).and_then(|()| file.write_all(who.as_bytes())).and_then(|()| file.sync_all());
    written.map_err(io(&path))?;
    Ok(file)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this host".into())
}

fn read_manifest(dir: &Path) -> Result<Manifest, SweepError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SweepError::Invalid(format!("{} is not a sweep folder: cannot read {}: {e}", dir.display(), path.display()))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| SweepError::Invalid(format!("{} is not a valid sweep manifest: {e}", path.display())))
}

/// ENOLCK: the file system has no lock manager (NFS without lockd).
#[cfg(unix)]
fn no_locks(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOLCK)
}

#[cfg(not(unix))]
fn no_locks(_: &std::io::Error) -> bool {
    false
}
