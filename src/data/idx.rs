//! MNIST's IDX files and their drop-ins (Fashion-MNIST, KMNIST, EMNIST's splits), as the datasets' own
//! sites and torchvision keep them: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte` and the `t10k-`
//! pair (or `train-images.idx3-ubyte`, as some mirrors name them), plain or gzipped (`.gz`). The files'
//! own train/test split is used; pixels are scaled to [0, 1]; the classes are the labels' distinct
//! values in order (EMNIST's letters run from 1).
//!
//! An IDX file is a big-endian header — two zero bytes, the element type (0x08: unsigned byte), the
//! number of dimensions — then each dimension's size as a u32, then the elements. Every problem (a wrong
//! magic number, a truncated file, counts that disagree, a missing file) is an error naming the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Files};

/// The element type every MNIST-like file uses: unsigned bytes.
const UBYTE: u8 = 0x08;

/// The four files' names after any prefix (`emnist-digits-`), each as the two spellings in use.
const ROLES: [(&str, [&str; 2]); 4] = [
    ("training images", ["train-images-idx3-ubyte", "train-images.idx3-ubyte"]),
    ("training labels", ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"]),
    ("test images", ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"]),
    ("test labels", ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"]),
];

fn bad(path: &Path, message: String) -> DataError {
    DataError::File { path: path.to_path_buf(), message }
}

/// The training and test sets in the folder `place` (or, when `place` is not a folder, in its parent
/// among the files whose names start with its last component: `mnist:gzip/emnist-digits`).
pub(crate) fn read(files: &dyn Files, place: &Path, max_bytes: u64) -> Result<(Dataset, Dataset), DataError> {
    let [train_x, train_y, test_x, test_y] = locate(files, place)?;
    let (train_images, shape) = images(files, &train_x, max_bytes)?;
    let (test_images, test_shape) = images(files, &test_x, max_bytes)?;
    if test_shape != shape {
        return Err(bad(
            &test_x,
            format!("images of {}×{}, but the training images are {}×{}", test_shape.0, test_shape.1, shape.0, shape.1),
        ));
    }
    let train_labels = labels(files, &train_y, max_bytes)?;
    let test_labels = labels(files, &test_y, max_bytes)?;
    for (images, labels, image_path, label_path) in
        [(&train_images, &train_labels, &train_x, &train_y), (&test_images, &test_labels, &test_x, &test_y)]
    {
        let n = images.len() / (shape.0 * shape.1).max(1);
        if n != labels.len() {
            return Err(bad(
                label_path,
                format!("{} labels, but {} holds {n} images", labels.len(), image_path.display()),
            ));
        }
    }
    let mut classes: Vec<u8> = train_labels.iter().chain(&test_labels).copied().collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 {
        return Err(bad(&train_y, "every label is the same; a classifier needs at least two classes".into()));
    }
    let features = shape.0 * shape.1;
    let make = |x: Vec<f32>, y: &[u8]| Dataset {
        x,
        y: y.iter().map(|l| classes.binary_search(l).expect("every label is a class") as u32).collect(),
        features,
        classes: classes.len(),
        feature_names: (0..features).map(|i| format!("pixel{i}")).collect(),
        class_names: classes.iter().map(|c| c.to_string()).collect(),
    };
    Ok((make(train_images, &train_labels), make(test_images, &test_labels)))
}

/// The four files' paths: plain files before gzipped ones where both are there (torchvision keeps both).
fn locate(files: &dyn Files, place: &Path) -> Result<[PathBuf; 4], DataError> {
    let (dir, prefix) = if files.is_dir(place) {
        (place.to_path_buf(), String::new())
    } else {
        let name = place.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (place.parent().unwrap_or(Path::new("")).to_path_buf(), name)
    };
    let entries = files.list(&dir).map_err(|source| DataError::Io { path: dir.clone(), source })?;
    let mut found = Vec::new();
    for (role, names) in ROLES {
        let pick = ["", ".gz"].iter().find_map(|suffix| {
            entries.iter().find(|e| {
                let name = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                // `mnist:gzip/emnist-digits` names `emnist-digits-train-images-idx3-ubyte.gz`.
                names.iter().any(|n| name == format!("{prefix}{n}{suffix}") || name == format!("{prefix}-{n}{suffix}"))
            })
        });
        match pick {
            Some(path) => found.push(path.clone()),
            None => {
                return Err(DataError::File {
                    path: dir.join(format!("{prefix}{}", names[0])),
                    message: format!(
                        "the {role} file is missing (`{prefix}{}`, plain or `.gz`); mnist:DIR needs the four IDX files \
                         of MNIST or a drop-in",
                        names[0]
                    ),
                });
            }
        }
    }
    Ok(found.try_into().expect("four roles"))
}

/// The file's bytes, gunzipped when they start with gzip's magic number, refused past `max_bytes`.
fn contents(files: &dyn Files, path: &Path, max_bytes: u64) -> Result<Vec<u8>, DataError> {
    let raw = files.read(path)?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| bad(path, format!("not a readable gzip file ({e})")))?;
    if out.len() as u64 > max_bytes {
        return Err(bad(
            path,
            format!("unpacks to more than {} (the host memory this may take)", crate::memory::human(max_bytes)),
        ));
    }
    Ok(out)
}

/// An IDX file's dimensions and elements (unsigned bytes).
fn parse(path: &Path, bytes: &[u8], dims: usize) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let what = if dims == 3 { "an IDX image file (magic 0x00000803)" } else { "an IDX label file (magic 0x00000801)" };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(path, format!("wrong magic number: not {what}")));
    }
    if bytes[2] != UBYTE {
        return Err(bad(path, format!("element type 0x{:02x}; MNIST-like files hold unsigned bytes (0x08)", bytes[2])));
    }
    if bytes[3] as usize != dims {
        return Err(bad(path, format!("{} dimensions; expected {dims}: not {what}", bytes[3])));
    }
    let header = 4 + 4 * dims;
    if bytes.len() < header {
        return Err(bad(path, "truncated inside its header".into()));
    }
    let shape: Vec<usize> =
        bytes[4..header].chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let body = &bytes[header..];
    match count {
        Some(n) if n == body.len() => Ok((shape, body.to_vec())),
        Some(n) if n > body.len() => Err(bad(
            path,
            format!("truncated: its header gives {shape:?} = {n} bytes of data, but {} follow", body.len()),
        )),
        Some(n) => Err(bad(path, format!("{} bytes after the {n} its header {shape:?} gives", body.len() - n))),
        None => Err(bad(path, format!("its header's sizes {shape:?} overflow"))),
    }
}

/// Images `[n, rows·cols]` scaled to [0, 1], and their size `(rows, cols)`.
fn images(files: &dyn Files, path: &Path, max_bytes: u64) -> Result<(Vec<f32>, (usize, usize)), DataError> {
    let (shape, pixels) = parse(path, &contents(files, path, max_bytes)?, 3)?;
    if shape[1] == 0 || shape[2] == 0 {
        return Err(bad(path, format!("images of {}×{} pixels", shape[1], shape[2])));
    }
    Ok((pixels.iter().map(|&p| p as f32 / 255.0).collect(), (shape[1], shape[2])))
}

fn labels(files: &dyn Files, path: &Path, max_bytes: u64) -> Result<Vec<u8>, DataError> {
    Ok(parse(path, &contents(files, path, max_bytes)?, 1)?.1)
}

/// The bytes of an IDX file holding `shape` of unsigned bytes (for tests and for writing a dataset out).
pub fn encode(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, shape.len() as u8];
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::{contents, encode};
    use crate::data::InMemory;

    /// Without a memory figure (a web page) the budget is unlimited: a gzipped file still unpacks whole
    /// (`max_bytes + 1` once wrapped to 0 there, and every picked .gz read as empty).
    #[test]
    fn a_gzipped_file_unpacks_whatever_the_budget() {
        let plain = encode(&[3], &[7, 8, 9]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let files = InMemory(vec![(PathBuf::from("labels.gz"), gz.finish().unwrap())]);
        for budget in [u64::MAX, 1 << 20, plain.len() as u64] {
            assert_eq!(contents(&files, Path::new("labels.gz"), budget).unwrap(), plain, "budget {budget}");
        }
        let err = contents(&files, Path::new("labels.gz"), plain.len() as u64 - 1).unwrap_err().to_string();
        assert!(err.contains("unpacks to more than"), "{err}");
    }
}
