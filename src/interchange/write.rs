//! Writing safetensors files: named tensors at f32 or f64, with a manifest in the metadata, written
//! atomically (`output::write_atomic`) so an interrupted run never leaves half a file.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, tensor::TensorView};

use super::{InterchangeError, Manifest};
use crate::model::Params;
use crate::output::write_atomic;

/// The precision a file is written at: f32 for what the GPU computed (and for weights, which are f32 in
/// both engines), f64 for what the reference computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

/// One tensor to write, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// The safetensors bytes of `tensors` at `precision` with `metadata`.
pub fn encode(tensors: &[NamedTensor], precision: Precision, metadata: HashMap<String, String>) -> Vec<u8> {
    let (dtype, bytes): (Dtype, Vec<Vec<u8>>) = match precision {
        Precision::F32 => (
            Dtype::F32,
            tensors.iter().map(|t| t.values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect()).collect(),
        ),
        Precision::F64 => {
            (Dtype::F64, tensors.iter().map(|t| t.values.iter().flat_map(|&v| v.to_le_bytes()).collect()).collect())
        }
    };
    let views = tensors.iter().zip(&bytes).map(|(t, b)| {
        assert_eq!(t.values.len(), t.shape.iter().product::<usize>(), "{}: values do not fill the shape", t.name);
        (t.name.clone(), TensorView::new(dtype, t.shape.clone(), b).expect("length checked against the shape"))
    });
    // Serialising in-memory views of checked lengths cannot fail (the header is far below 100 MB).
    let bytes = safetensors::serialize(views, None).expect("in-memory tensors of checked sizes serialise");
    with_sorted_metadata(bytes, &metadata)
}

/// safetensors writes its metadata from a `HashMap`, so its keys come in a different order in every
/// process and two identical runs would write different files. This puts the metadata, keys sorted,
/// into the header that `serialize` wrote without it: the same inputs give the same bytes.
fn with_sorted_metadata(bytes: Vec<u8>, metadata: &HashMap<String, String>) -> Vec<u8> {
    const LEN: usize = std::mem::size_of::<u64>();
    let header_len = u64::from_le_bytes(bytes[..LEN].try_into().expect("8 bytes")) as usize;
    let (header, data) = bytes[LEN..].split_at(header_len);
    // `{"name":{...},...}` padded with spaces; the tensor entries keep their order (by offset).
    let tensors = std::str::from_utf8(header).expect("safetensors writes a UTF-8 header").trim_end();
    let entries = &tensors[1..tensors.len() - 1];
    let sorted: std::collections::BTreeMap<&String, &String> = metadata.iter().collect();
    let mut text = format!("{{\"__metadata__\":{}", serde_json::to_string(&sorted).expect("strings serialise"));
    if !entries.is_empty() {
        text.push(',');
        text.push_str(entries);
    }
    text.push('}');
    // The data must start at a multiple of 8 bytes, as safetensors pads it.
    while text.len() % LEN != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(LEN + text.len() + data.len());
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text.as_bytes());
    out.extend(data);
    out
}

/// Writes `tensors` to `path` atomically.
pub fn write_tensors(
    path: &Path,
    tensors: &[NamedTensor],
    precision: Precision,
    metadata: HashMap<String, String>,
) -> Result<(), InterchangeError> {
    write_atomic(path, &encode(tensors, precision, metadata))
        .map_err(|e| InterchangeError::Write { path: e.path, source: e.source })
}

/// Every trainable tensor and running statistic of `params`, by interchange name.
pub fn params_tensors(params: &Params) -> Vec<NamedTensor> {
    let layout = &params.layout;
    layout
        .params
        .iter()
        .chain(&layout.running)
        .map(|slot| NamedTensor {
            name: slot.name.clone(),
            shape: slot.shape.clone(),
            values: params.tensor(slot).iter().map(|&v| v as f64).collect(),
        })
        .collect()
}

/// Writes `params` (f32, as both engines hold them) with `manifest` to `path`, atomically.
pub fn save_params(path: &Path, params: &Params, manifest: &Manifest) -> Result<(), InterchangeError> {
    write_tensors(path, &params_tensors(params), Precision::F32, manifest.to_metadata())
}
