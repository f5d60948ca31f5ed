//! Reading a safetensors file into memory: `TensorFile` holds every tensor's dtype, shape and bytes and
//! the metadata, and decodes tensors to f64 (from F32 or F64) or to class labels (from floats holding
//! whole numbers, or integers). Nothing here panics on any input: the `safetensors` crate validates the
//! header and offsets, and every decode checks dtype, length and values.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::InterchangeError;

/// One tensor as stored: dtype, shape and little-endian bytes (`len = product(shape) · size(dtype)`,
/// which `safetensors` checked).
#[derive(Clone, Debug)]
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// A parsed safetensors file. Errors from its methods name this file and the tensor.
#[derive(Clone, Debug)]
pub struct TensorFile {
    path: PathBuf,
    tensors: BTreeMap<String, Raw>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<TensorFile, InterchangeError> {
        let bytes = std::fs::read(path).map_err(|source| InterchangeError::Io { path: path.to_path_buf(), source })?;
        TensorFile::parse(path, &bytes)
    }

    /// Parses `bytes` as a safetensors file; `path` only names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<TensorFile, InterchangeError> {
        let malformed =
            |e: SafeTensorError| InterchangeError::Malformed { path: path.to_path_buf(), reason: explain(e) };
        let st = SafeTensors::deserialize(bytes).map_err(malformed)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(malformed)?;
        let tensors = st
            .iter()
            .map(|(name, view)| {
                let raw = Raw { dtype: view.dtype(), shape: view.shape().to_vec(), bytes: view.data().to_vec() };
                (name.to_string(), raw)
            })
            .collect();
        Ok(TensorFile { path: path.to_path_buf(), tensors, metadata: header.metadata().clone().unwrap_or_default() })
    }

    /// The metadata of the safetensors file at `path`, reading only its header; `None` when it is not a
    /// readable safetensors file. (For deciding whether a file is vanish's own output, before any work.)
    pub fn read_metadata(path: &Path) -> Option<HashMap<String, String>> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        let mut len = [0u8; 8];
        file.read_exact(&mut len).ok()?;
        let len = u64::from_le_bytes(len);
        // safetensors' own bound on a header (100 MB).
        if len > 100_000_000 {
            return None;
        }
        let mut header = vec![0u8; len as usize];
        file.read_exact(&mut header).ok()?;
        let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
        let metadata = header.get("__metadata__")?.as_object()?;
        Some(metadata.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor's shape, or `None` when the file has no such tensor.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// The tensor's dtype, or `None` when the file has no such tensor.
    pub fn dtype(&self, name: &str) -> Option<Dtype> {
        self.tensors.get(name).map(|t| t.dtype)
    }

    /// A metadata value (safetensors metadata is string → string).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    pub fn metadata_map(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    fn raw(&self, name: &str, why: &str) -> Result<&Raw, InterchangeError> {
        self.tensors.get(name).ok_or_else(|| InterchangeError::Missing {
            path: self.path.clone(),
            tensor: name.to_string(),
            why: why.to_string(),
        })
    }

    /// The error for tensor `name` having shape `found` where `expected` (e.g. `[5, 3]`) was wanted.
    pub fn shape_error(&self, name: &str, expected: String) -> InterchangeError {
        InterchangeError::Shape {
            path: self.path.clone(),
            tensor: name.to_string(),
            expected,
            found: self.shape(name).unwrap_or_default().to_vec(),
        }
    }

    pub fn value_error(&self, name: &str, message: String) -> InterchangeError {
        InterchangeError::Value { path: self.path.clone(), tensor: name.to_string(), message }
    }

    pub fn model_error(&self, message: String) -> InterchangeError {
        InterchangeError::Model { path: self.path.clone(), message }
    }

    pub fn metadata_error(&self, key: &str, message: String) -> InterchangeError {
        InterchangeError::Metadata { path: self.path.clone(), key: key.to_string(), message }
    }

    /// Tensor `name` as f64, row-major, every value finite. It must be F32 or F64 (widened exactly);
    /// `why` says what it is for, in the error when it is missing.
    pub fn floats(&self, name: &str, why: &str) -> Result<Vec<f64>, InterchangeError> {
        let raw = self.raw(name, why)?;
        let values = match raw.dtype {
            Dtype::F32 | Dtype::F64 => decode_floats(raw),
            other => return Err(self.dtype_error(name, "F32 or F64", other)),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(self.value_error(
                name,
                format!("element {} is {}; weights and inputs must be finite", element(i, &raw.shape), values[i]),
            ));
        }
        Ok(values)
    }

    /// Tensor `name` as class labels in `0..classes`: floats (F32, F64) that hold whole numbers, or
    /// integers (I64, I32, I16, I8, U64, U32, U16, U8), as JAX, NumPy and PyTorch write labels.
    pub fn labels(&self, name: &str, classes: usize, why: &str) -> Result<Vec<u32>, InterchangeError> {
        let raw = self.raw(name, why)?;
        let b = &raw.bytes;
        // Every integer widens exactly to f64 except 64-bit values beyond 2⁵³, which are not labels either.
        let values: Vec<f64> = match raw.dtype {
            Dtype::F32 | Dtype::F64 => decode_floats(raw),
            Dtype::I64 => b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8")) as f64).collect(),
            Dtype::U64 => b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8")) as f64).collect(),
            Dtype::I32 => b.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4")) as f64).collect(),
            Dtype::U32 => b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4")) as f64).collect(),
            Dtype::I16 => b.chunks_exact(2).map(|c| i16::from_le_bytes(c.try_into().expect("2")) as f64).collect(),
            Dtype::U16 => b.chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().expect("2")) as f64).collect(),
            Dtype::I8 => b.iter().map(|&c| c as i8 as f64).collect(),
            Dtype::U8 => b.iter().map(|&c| c as f64).collect(),
            other => return Err(self.dtype_error(name, "a float or integer type holding class indices", other)),
        };
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v.fract() == 0.0 && v >= 0.0 && v < classes as f64 {
                    Ok(v as u32)
                } else {
                    let allowed = if classes == 2 { "0 or 1".to_string() } else { format!("0..{}", classes - 1) };
                    let at = element(i, &raw.shape);
                    Err(self.value_error(name, format!("element {at} is {v}; labels must be class indices {allowed}")))
                }
            })
            .collect()
    }

    fn dtype_error(&self, name: &str, expected: &'static str, found: Dtype) -> InterchangeError {
        InterchangeError::Dtype {
            path: self.path.clone(),
            tensor: name.to_string(),
            expected,
            found: format!("{found:?}"),
        }
    }
}

/// Flat index `i` of a row-major tensor of `shape` as the user would write it: `7`, or `[1, 3]`.
pub(super) fn element(i: usize, shape: &[usize]) -> String {
    if shape.len() < 2 {
        return i.to_string();
    }
    let mut rest = i;
    let mut index = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        index[d] = rest % n.max(1);
        rest /= n.max(1);
    }
    format!("{index:?}")
}

/// An F32 or F64 tensor's values, widened exactly to f64.
fn decode_floats(raw: &Raw) -> Vec<f64> {
    match raw.dtype {
        Dtype::F32 => {
            raw.bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64).collect()
        }
        _ => raw.bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect(),
    }
}

/// The `safetensors` crate's error, with what it most likely means for a user's file.
fn explain(e: SafeTensorError) -> String {
    use SafeTensorError::*;
    match e {
        HeaderTooSmall => "shorter than the 8-byte header length (empty, truncated, or not a safetensors file)".into(),
        InvalidHeaderLength => {
            "the header length points past the end of the file (truncated, or not a safetensors file)".into()
        }
        HeaderTooLarge => "the header length is over 100 MB (not a safetensors file)".into(),
        InvalidHeader(e) => format!("the header is not UTF-8 ({e})"),
        InvalidHeaderDeserialization(e) | JsonError(e) => format!("the header is not valid safetensors JSON ({e})"),
        MetadataIncompleteBuffer => {
            "the tensor data does not end where the file ends (truncated, or extra bytes appended)".into()
        }
        InvalidOffset(name) => format!("tensor `{name}` has data offsets that overlap or leave a gap"),
        TensorInvalidInfo => "a tensor's data offsets do not match its shape and dtype".into(),
        ValidationOverflow => "a tensor's shape is too large (its size overflows)".into(),
        other => other.to_string(),
    }
}
