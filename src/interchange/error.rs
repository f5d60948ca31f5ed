//! `InterchangeError`: everything that can be wrong with a safetensors file, each variant naming the
//! file and, where there is one, the tensor, with what was expected and what was found.

use std::path::PathBuf;

/// A bad or unreadable interchange file. Every message starts with the file's path.
#[derive(Debug, thiserror::Error)]
pub enum InterchangeError {
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The bytes are not a safetensors file (truncated, a bad header, offsets that do not add up).
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: tensor `{tensor}` has dtype {found}; expected {expected}", path.display())]
    Dtype { path: PathBuf, tensor: String, expected: &'static str, found: String },
    #[error("{}: tensor `{tensor}` has shape {found:?}; expected {expected}", path.display())]
    Shape { path: PathBuf, tensor: String, expected: String, found: Vec<usize> },
    #[error("{}: tensor `{tensor}` is missing ({why})", path.display())]
    Missing { path: PathBuf, tensor: String, why: String },
    /// A value that cannot be used: NaN or infinity, a label outside the classes.
    #[error("{}: tensor `{tensor}`: {message}", path.display())]
    Value { path: PathBuf, tensor: String, message: String },
    #[error("{}: metadata `{key}`: {message}", path.display())]
    Metadata { path: PathBuf, key: String, message: String },
    /// The tensors do not describe a network vanish can build, or not the one that was asked for.
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },
    #[error("cannot write {}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}
