//! Where a dataset's files come from: the file system (the command line), or the files a visitor picked
//! in a web page, which never leave their machine. Every reader takes its bytes from a `Files`, so the
//! page and the command line parse data with the same code and report the same errors.

use std::path::{Path, PathBuf};

use super::DataError;

/// A source of dataset files by path.
pub trait Files {
    /// The bytes of the file at `path`; an error names it.
    fn read(&self, path: &Path) -> Result<Vec<u8>, DataError>;

    /// The file's size in bytes where it is known before reading (for the host-memory check), else
    /// `None` (it is checked when it is read).
    fn size(&self, path: &Path) -> Option<u64>;

    /// Whether `path` is a folder.
    fn is_dir(&self, path: &Path) -> bool;

    /// The files in the folder `dir`.
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>>;
}

/// The file system.
pub struct Disk;

/// The most bytes read from a file whose size is not known beforehand (a FIFO, a device, `/dev/zero`):
/// a sixteenth of the host memory this process can take (the CSV reader's factor), else 1 GiB.
fn stream_cap() -> u64 {
    crate::memory::available().map_or(1 << 30, |(bytes, _)| bytes / 16)
}

impl Files for Disk {
    /// A regular file is read whole (its size was checked against host memory before); any other file is
    /// read up to `stream_cap`. A stop signal during the read, or while opening waits (a FIFO with no
    /// writer), ends the process at once.
    fn read(&self, path: &Path) -> Result<Vec<u8>, DataError> {
        use std::io::Read;
        let io = |source| DataError::Io { path: path.to_path_buf(), source };
        let _signals = crate::interrupt::exit_on_signal();
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_file() {
            let mut bytes = Vec::new();
            (&file).read_to_end(&mut bytes).map_err(io)?;
            return Ok(bytes);
        }
        let cap = stream_cap();
        let mut bytes = Vec::new();
        file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > cap {
            return Err(DataError::InvalidParameter {
                dataset: path.display().to_string(),
                message: format!(
                    "not a regular file, and it gave more than {} (a sixteenth of the host memory available)",
                    crate::memory::human(cap)
                ),
            });
        }
        Ok(bytes)
    }

    fn size(&self, path: &Path) -> Option<u64> {
        std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        Ok(files)
    }
}

/// Files held in memory by name (a web page's file picker).
#[derive(Default)]
pub struct InMemory(pub Vec<(PathBuf, Vec<u8>)>);

impl Files for InMemory {
    fn read(&self, path: &Path) -> Result<Vec<u8>, DataError> {
        self.0.iter().find(|(p, _)| p == path).map(|(_, b)| b.clone()).ok_or_else(|| DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file among those picked"),
        })
    }

    fn size(&self, path: &Path) -> Option<u64> {
        self.0.iter().find(|(p, _)| p == path).map(|(_, b)| b.len() as u64)
    }

    /// The picked files have no folders: the empty path (or `.`) is where they all are.
    fn is_dir(&self, path: &Path) -> bool {
        path.as_os_str().is_empty() || path == Path::new(".")
    }

    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        if !self.is_dir(dir) {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "a page's picked files have no folders"));
        }
        Ok(self.0.iter().map(|(p, _)| p.clone()).collect())
    }
}
