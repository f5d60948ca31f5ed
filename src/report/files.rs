//! Output files are written to a temporary name in the same directory and renamed into place, so a
//! crash, Ctrl-C or full disk never leaves a half-written file under the real name. A failed write is a
//! `WriteError` naming the file, with the system's reason (ENOSPC, EIO, EROFS, EFBIG, EACCES) as its cause.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written; the temporary file is gone and the real one untouched.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let failed = |source| WriteError { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| failed(std::io::Error::other("not a file path")))?;
    let tmp: PathBuf = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(failed)
}

/// Serialises `value` as pretty JSON into `path`, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), WriteError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| WriteError { path: path.to_path_buf(), source: std::io::Error::other(e) })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Writes a CSV with `header` and `rows` (cells already formatted; none may contain a comma).
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), WriteError> {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join(","));
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("missing/out.json"), b"x").is_err());
    }
}
