//! The one rule for where a command may write, checked before any work: an output never replaces what
//! vanish did not write for this command.
//!
//! - A file output must be a regular file or not exist yet; a folder output a folder or not exist yet
//!   (a device, FIFO, socket, or a folder where a file is wanted, is refused).
//! - An output is never also an input of the same command, and two outputs never share a path (a file
//!   output inside a folder output counts when the folder writes a file of that name).
//! - An existing file or non-empty folder is replaced only when it holds this command's own earlier
//!   results with the same settings (a rerun), or with `--force`.
//! - Missing parent folders are created, and the destination is tried for writing, so a read-only file
//!   system or a folder without permission is found before training, not after.
//!
//! A folder of results carries `vanish.json` (`FolderMarker`): the command and the settings that wrote it,
//! and the files it wrote, so a rerun recognises its own folder and `--force` removes exactly the files an
//! earlier command left (never a file vanish did not write). A sweep's folder is marked by its
//! `sweep.json` instead (`sweep::Store` resumes it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::{WriteError, write_json};

/// The marker file of a folder of results.
pub const MARKER: &str = "vanish.json";

/// Every file a report folder may hold: `report::write_report` writes these and no others (kept here, at
/// the bottom, so every command that checks or clears a folder knows them).
pub const REPORT_FILES: [&str; 8] = [
    "runs.csv",
    "summary.json",
    "report.html",
    "delta_vs_layer.svg",
    "depth.svg",
    "heatmap.svg",
    "loss.svg",
    "boundary.svg",
];

/// A sweep folder's manifest, which marks it instead of `MARKER`.
pub const SWEEP_MANIFEST: &str = "sweep.json";

/// Why a destination was refused.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("{flag} {}: it is {what}, not a regular file; name a file", path.display())]
    NotAFile { flag: String, path: PathBuf, what: &'static str },
    #[error("{flag} {}: it is {what}, not a folder; name a folder", path.display())]
    NotAFolder { flag: String, path: PathBuf, what: &'static str },
    #[error("{flag} {} is also {input}, an input of this command; write the output elsewhere", path.display())]
    IsInput { flag: String, path: PathBuf, input: String },
    #[error("{first} and {second} both name {}; give each output its own path", path.display())]
    Clash { first: String, second: String, path: PathBuf },
    #[error("{flag} {}: {why}; pass --force to replace it", path.display())]
    Taken { flag: String, path: PathBuf, why: String },
    #[error("{flag} {}: cannot write there", path.display())]
    NotWritable {
        flag: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What an output is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    /// A folder of results, with the names of the files the command writes directly in it.
    Folder(Vec<String>),
}

/// One output of a command, named by its flag.
#[derive(Clone, Debug)]
pub struct Destination {
    pub flag: String,
    pub path: PathBuf,
    pub kind: Kind,
}

impl Destination {
    pub fn file(flag: &str, path: &Path) -> Self {
        Destination { flag: flag.into(), path: path.to_path_buf(), kind: Kind::File }
    }

    pub fn folder(flag: &str, path: &Path, names: &[&str]) -> Self {
        let names = names.iter().map(|n| n.to_string()).collect();
        Destination { flag: flag.into(), path: path.to_path_buf(), kind: Kind::Folder(names) }
    }
}

/// What a folder of results says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FolderMarker {
    /// The command that wrote it: `train`, `demo`.
    pub command: String,
    /// Its settings, as the command's settings type serialises them.
    pub settings: serde_json::Value,
    /// The files it wrote, relative to the folder (absent while it runs).
    #[serde(default)]
    pub files: Vec<String>,
}

impl FolderMarker {
    /// The marker in `dir`, if there is a readable one.
    pub fn read(dir: &Path) -> Option<FolderMarker> {
        serde_json::from_slice(&std::fs::read(dir.join(MARKER)).ok()?).ok()
    }

    /// Writes the marker into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), WriteError> {
        write_json(&dir.join(MARKER), self)
    }

    /// Whether this marker is `command`'s with `settings`: a rerun of the same command.
    pub fn is(&self, command: &str, settings: &serde_json::Value) -> bool {
        self.command == command && self.settings == *settings
    }

    /// Removes the files this marker lists (what an earlier vanish command wrote), then the marker.
    pub fn clear(&self, dir: &Path) {
        for name in &self.files {
            // Only plain names inside the folder: a marker edited by hand cannot send this elsewhere.
            if Path::new(name).components().count() == 1 {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
        let _ = std::fs::remove_file(dir.join(MARKER));
    }
}

/// What stands at a path, for a message: `a folder`, `a FIFO`, ...
fn what_is(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    if t.is_file() {
        return "a regular file";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    "not a regular file or folder"
}

/// Whether `a` and `b` name the same file (the same file system object, or the same absolute path when
/// neither exists yet).
pub fn same_path(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    absolute(a) == absolute(b)
}

/// `path` made absolute and its `.` and `..` resolved where the folders exist.
fn absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => parent.canonicalize().map_or(abs.clone(), |p| p.join(name)),
        _ => abs,
    }
}

/// The paths an output writes: a file's own path, or each of a folder's file names in it.
fn written(d: &Destination) -> Vec<PathBuf> {
    match &d.kind {
        Kind::File => vec![d.path.clone()],
        Kind::Folder(names) => names.iter().map(|n| d.path.join(n)).collect(),
    }
}

/// Checks every output of one command against the rule (module docs), before any work. `inputs` are the
/// command's input files by flag; `ours(d)` says whether an existing `d` holds this command's own
/// earlier results with the same settings; `force` lets an existing output be replaced. Creates missing
/// folders and tries each destination for writing.
pub fn check(
    outputs: &[Destination],
    inputs: &[(&str, &Path)],
    force: bool,
    ours: &dyn Fn(&Destination) -> bool,
) -> Result<(), DestinationError> {
    for (i, d) in outputs.iter().enumerate() {
        let (flag, path) = (d.flag.clone(), d.path.clone());
        if let Ok(meta) = std::fs::metadata(&d.path) {
            match &d.kind {
                Kind::File if !meta.is_file() => {
                    return Err(DestinationError::NotAFile { flag, path, what: what_is(&meta) });
                }
                Kind::Folder(_) if !meta.is_dir() => {
                    return Err(DestinationError::NotAFolder { flag, path, what: what_is(&meta) });
                }
                _ => {}
            }
        }
        for (input_flag, input) in inputs {
            let hit = match &d.kind {
                Kind::File => same_path(&d.path, input),
                Kind::Folder(_) => same_path(&d.path, input) || written(d).iter().any(|w| same_path(w, input)),
            };
            if hit {
                return Err(DestinationError::IsInput {
                    flag,
                    path,
                    input: format!("{input_flag} {}", input.display()),
                });
            }
        }
        for other in &outputs[..i] {
            let clash = written(d).into_iter().find(|w| written(other).iter().any(|o| same_path(w, o)));
            if let Some(w) = clash {
                return Err(DestinationError::Clash { first: other.flag.clone(), second: flag, path: w });
            }
        }
        if !force && occupied(d) && !ours(d) {
            let why = match &d.kind {
                Kind::File => "the file exists and is not this command's own earlier output".to_string(),
                Kind::Folder(_) => match (FolderMarker::read(&d.path), d.path.join(SWEEP_MANIFEST).exists()) {
                    (Some(m), _) => format!(
                        "the folder holds the results of `vanish {}` (another command, or other settings)",
                        m.command
                    ),
                    (None, true) => "the folder holds a sweep".to_string(),
                    (None, false) => "the folder is not empty and holds no vanish results".to_string(),
                },
            };
            return Err(DestinationError::Taken { flag, path, why });
        }
    }
    for d in outputs {
        writable(d).map_err(|source| DestinationError::NotWritable {
            flag: d.flag.clone(),
            path: d.path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Whether something stands at `d` that writing would replace: a file, or a folder with anything in it.
fn occupied(d: &Destination) -> bool {
    match &d.kind {
        Kind::File => d.path.exists(),
        Kind::Folder(_) => std::fs::read_dir(&d.path).is_ok_and(|mut entries| entries.next().is_some()),
    }
}

/// Creates the folder a destination needs and tries writing a file there.
fn writable(d: &Destination) -> std::io::Result<()> {
    let dir = match &d.kind {
        Kind::File => d.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
        Kind::Folder(_) => d.path.clone(),
    };
    std::fs::create_dir_all(&dir)?;
    let probe = dir.join(format!(".vanish-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &Destination) -> bool {
        false
    }

    #[test]
    fn a_new_file_and_folder_pass_and_their_folders_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let outs = [
            Destination::file("--save", &dir.path().join("a/b/w.safetensors")),
            Destination::folder("--out", &dir.path().join("c/d"), &["metrics.json"]),
        ];
        check(&outs, &[], false, &never).unwrap();
        assert!(dir.path().join("a/b").is_dir() && dir.path().join("c/d").is_dir());
        assert_eq!(std::fs::read_dir(dir.path().join("c/d")).unwrap().count(), 0, "the probe is gone");
    }

    #[test]
    fn what_is_not_ours_is_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "mine").unwrap();
        let out = [Destination::file("--save", &file)];
        let e = check(&out, &[], false, &never).unwrap_err().to_string();
        assert!(e.contains("--force") && e.contains("notes.txt"), "{e}");
        check(&out, &[], true, &never).unwrap();
        check(&out, &[], false, &|_| true).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"mine", "checking writes nothing");
        let folder = [Destination::folder("--out", dir.path(), &["metrics.json"])];
        let e = check(&folder, &[], false, &never).unwrap_err().to_string();
        assert!(e.contains("holds no vanish results"), "{e}");
    }

    #[test]
    fn inputs_clashes_and_non_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("b.safetensors");
        std::fs::write(&input, "x").unwrap();
        let e = check(&[Destination::file("--out", &input)], &[("--load", &input)], true, &never).unwrap_err();
        assert!(matches!(e, DestinationError::IsInput { .. }), "{e}");
        let same = dir.path().join("w.safetensors");
        let e =
            check(&[Destination::file("--save-init", &same), Destination::file("--save", &same)], &[], true, &never)
                .unwrap_err();
        assert!(e.to_string().contains("--save-init and --save"), "{e}");
        let out = dir.path().join("run");
        let e = check(
            &[
                Destination::folder("--out", &out, &["metrics.json"]),
                Destination::file("--save", &out.join("metrics.json")),
            ],
            &[],
            true,
            &never,
        )
        .unwrap_err();
        assert!(matches!(e, DestinationError::Clash { .. }), "{e}");
        let e = check(&[Destination::file("--save", dir.path())], &[], true, &never).unwrap_err().to_string();
        assert!(e.contains("a folder, not a regular file"), "{e}");
        #[cfg(unix)]
        {
            let e = check(&[Destination::file("--save", Path::new("/dev/null"))], &[], true, &never).unwrap_err();
            assert!(e.to_string().contains("a device"), "{e}");
        }
    }

    #[test]
    fn a_marker_clears_only_the_files_it_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metrics.json"), "{}").unwrap();
        std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
        let marker = FolderMarker {
            command: "train".into(),
            settings: serde_json::json!({"a": 1}),
            files: vec!["metrics.json".into(), "../escape".into()],
        };
        marker.write(dir.path()).unwrap();
        let read = FolderMarker::read(dir.path()).unwrap();
        assert!(read.is("train", &serde_json::json!({"a": 1})) && !read.is("demo", &serde_json::json!({"a": 1})));
        read.clear(dir.path());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["mine.txt"]);
    }
}
