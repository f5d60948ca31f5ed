//! NumPy's `.npz` archives: Keras's `mnist.npz` (`x_train`, `y_train`, `x_test`, `y_test`, images
//! `[N, 28, 28]` of uint8), whose own split is used, or any archive with `x` and `y`, split as a CSV is.
//! Features may be any of numpy's integer or float dtypes, in C or Fortran order, any shape `[N, …]`
//! (flattened per row); unsigned bytes are pixels and are scaled to [0, 1]. Labels are integers (or
//! floats holding whole numbers), `[N]` or `[N, 1]`; the classes are their distinct values in order.
//!
//! An npz is a zip of `.npy` files: the `zip` crate opens it (deflate only, pure Rust, so the page reads
//! the same files) and `npyz` parses each array, its dtype, byte order and memory order.

use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar};

use super::{DataError, Dataset, Files};

fn bad(path: &Path, message: String) -> DataError {
    DataError::File { path: path.to_path_buf(), message }
}

/// What an archive holds: a split of its own, or one set to split.
pub(crate) enum Npz {
    Split(Dataset, Dataset),
    Whole(Dataset),
}

/// Reads the archive at `path`, refusing any array larger than `max_bytes` as f32.
pub(crate) fn read(files: &dyn Files, path: &Path, max_bytes: u64) -> Result<Npz, DataError> {
    let bytes = files.read(path)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(path, format!("not an npz archive (a zip of .npy files): {e}")))?;
    let names: Vec<String> = zip.file_names().filter_map(|n| n.ok()?.strip_suffix(".npy").map(String::from)).collect();
    let has = |n: &str| names.iter().any(|k| k == n);
    if ["x_train", "y_train", "x_test", "y_test"].iter().all(|k| has(k)) {
        let (x_train, shape) = array(&mut zip, path, "x_train", max_bytes)?;
        let (x_test, test_shape) = array(&mut zip, path, "x_test", max_bytes)?;
        if shape[1..] != test_shape[1..] {
            return Err(bad(
                path,
                format!("`x_test` rows are {:?}, but `x_train` rows are {:?}", &test_shape[1..], &shape[1..]),
            ));
        }
        let y_train = label_array(&mut zip, path, "y_train", shape[0], max_bytes)?;
        let y_test = label_array(&mut zip, path, "y_test", test_shape[0], max_bytes)?;
        let classes = classes(path, y_train.iter().chain(&y_test))?;
        let train = dataset(x_train, &shape, &y_train, &classes);
        let test = dataset(x_test, &test_shape, &y_test, &classes);
        return Ok(Npz::Split(train, test));
    }
    if has("x") && has("y") {
        let (x, shape) = array(&mut zip, path, "x", max_bytes)?;
        let y = label_array(&mut zip, path, "y", shape[0], max_bytes)?;
        let classes = classes(path, y.iter())?;
        return Ok(Npz::Whole(dataset(x, &shape, &y, &classes)));
    }
    Err(bad(
        path,
        format!(
            "holds the arrays {names:?}; npz:PATH needs `x` and `y`, or Keras's `x_train`, `y_train`, `x_test` and \
             `y_test`"
        ),
    ))
}

fn dataset(x: Vec<f32>, shape: &[usize], y: &[i64], classes: &[i64]) -> Dataset {
    let features = shape[1..].iter().product::<usize>();
    Dataset {
        x,
        y: y.iter().map(|l| classes.binary_search(l).expect("every label is a class") as u32).collect(),
        features,
        classes: classes.len(),
        feature_names: (0..features).map(|i| format!("x{i}")).collect(),
        class_names: classes.iter().map(|c| c.to_string()).collect(),
    }
}

fn classes<'a>(path: &Path, labels: impl Iterator<Item = &'a i64>) -> Result<Vec<i64>, DataError> {
    let mut classes: Vec<i64> = labels.copied().collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 {
        return Err(bad(path, "every label is the same; a classifier needs at least two classes".into()));
    }
    Ok(classes)
}

/// The `.npy` member `name`, parsed (its header read; its data not yet).
fn member<'z>(
    zip: &'z mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>,
    path: &Path,
    name: &str,
) -> Result<NpyFile<zip::read::ZipFile<'z, std::io::Cursor<Vec<u8>>>>, DataError> {
    let file = zip.by_name(&format!("{name}.npy")).map_err(|e| bad(path, format!("array `{name}`: {e}")))?;
    NpyFile::new(file).map_err(|e| bad(path, format!("array `{name}` is not a valid .npy: {e}")))
}

/// Array `name` as f64 values in C order, and its shape.
fn values(
    zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>,
    path: &Path,
    name: &str,
    max_bytes: u64,
) -> Result<(Vec<f64>, Vec<usize>, TypeChar, u64), DataError> {
    let npy = member(zip, path, name)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let count = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    if count.and_then(|n| n.checked_mul(4)).is_none_or(|b| b > max_bytes) {
        return Err(bad(path, format!("array `{name}` of shape {shape:?} needs more host memory than there is")));
    }
    let DType::Plain(ts) = npy.dtype() else {
        return Err(bad(path, format!("array `{name}` has a structured dtype; expected numbers")));
    };
    let (kind, size) = (ts.type_char(), ts.size_field());
    let order = npy.order();
    let err = |e: std::io::Error| bad(path, format!("array `{name}`: {e}"));
    let flat: Vec<f64> = match (kind, size) {
        (TypeChar::Uint, 1) => npy.into_vec::<u8>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Uint, 2) => npy.into_vec::<u16>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Uint, 4) => npy.into_vec::<u32>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Uint, 8) => npy.into_vec::<u64>().map_err(err)?.into_iter().map(|v| v as f64).collect(),
        (TypeChar::Int, 1) => npy.into_vec::<i8>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Int, 2) => npy.into_vec::<i16>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Int, 4) => npy.into_vec::<i32>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(err)?.into_iter().map(|v| v as f64).collect(),
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(err)?.into_iter().map(f64::from).collect(),
        (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(err)?,
        (TypeChar::Bool, _) => {
            npy.into_vec::<bool>().map_err(err)?.into_iter().map(|b| f64::from(u8::from(b))).collect()
        }
        _ => return Err(bad(path, format!("array `{name}` has dtype {ts}; expected integers or floats"))),
    };
    if Some(flat.len() as u64) != count {
        return Err(bad(path, format!("array `{name}` is truncated: {} of {shape:?} values", flat.len())));
    }
    let flat = if order == Order::Fortran { to_c_order(&flat, &shape) } else { flat };
    Ok((flat, shape, kind, size))
}

/// `flat`, stored first index fastest (Fortran), reordered last index fastest (C).
fn to_c_order(flat: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = flat.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for slot in out.iter_mut() {
        // `index` walks C order; its Fortran position is Σ index[k]·Π shape[..k].
        let (mut at, mut stride) = (0, 1);
        for (k, &i) in index.iter().enumerate() {
            at += i * stride;
            stride *= shape[k];
        }
        *slot = flat[at];
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// Features: `[N, …]`, at least one row of at least one value, finite within f32, bytes scaled to [0, 1].
fn array(
    zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>,
    path: &Path,
    name: &str,
    max_bytes: u64,
) -> Result<(Vec<f32>, Vec<usize>), DataError> {
    let (flat, shape, kind, size) = values(zip, path, name, max_bytes)?;
    if shape.len() < 2 || shape.contains(&0) {
        return Err(bad(
            path,
            format!("array `{name}` has shape {shape:?}; expected [N, features…] with N, features ≥ 1"),
        ));
    }
    let scale = if (kind, size) == (TypeChar::Uint, 1) { 1.0 / 255.0 } else { 1.0 };
    let mut x = Vec::with_capacity(flat.len());
    for (i, v) in flat.iter().enumerate() {
        let f = (v * scale) as f32;
        if !f.is_finite() {
            let row = i / (flat.len() / shape[0]);
            return Err(bad(path, format!("array `{name}` row {row}: {v} is not a finite f32")));
        }
        x.push(f);
    }
    Ok((x, shape))
}

/// Labels: `[rows]` or `[rows, 1]` of whole numbers.
fn label_array(
    zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>,
    path: &Path,
    name: &str,
    rows: usize,
    max_bytes: u64,
) -> Result<Vec<i64>, DataError> {
    let (flat, shape, _, _) = values(zip, path, name, max_bytes)?;
    if !(shape == [rows] || shape == [rows, 1]) {
        return Err(bad(path, format!("array `{name}` has shape {shape:?}; expected [{rows}], one label per row")));
    }
    flat.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() == 0.0 && v.abs() < 2f64.powi(53) {
                Ok(v as i64)
            } else {
                Err(bad(path, format!("array `{name}` row {i}: label {v} is not a whole number (labels are classes)")))
            }
        })
        .collect()
}
