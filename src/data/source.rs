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
}

/// The file system.
pub struct Disk;

impl Files for Disk {
    fn read(&self, path: &Path) -> Result<Vec<u8>, DataError> {
        std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })
    }

    fn size(&self, path: &Path) -> Option<u64> {
        std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
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
}
