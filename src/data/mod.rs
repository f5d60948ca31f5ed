//! Datasets: synthetic 2-D problems, CSV files, MNIST-like IDX folders and NumPy archives; the split and
//! standardisation.
//! A `Dataset` is `x` `[n, features]` row-major f32 and `y` `[n]` class indices in `0..classes`.
//! `load` validates its spec before any work; synthetic data draws only from the seed's `Stream::Data`
//! and the split only from `Stream::Split`, so one seed gives the same rows on every run and engine.
//! Bad parameters and bad files are a `DataError`; a CSV error names the file and its 1-based line.

mod csv;
pub mod idx;
mod npz;
mod settings;
mod source;
mod split;
mod synthetic;

pub use settings::DataSettings;
pub use source::{Disk, Files, InMemory};
pub use split::{split, standardize};

use std::path::PathBuf;

use crate::memory;
use crate::rng::{Stream, rng};

/// A labelled classification dataset held in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// `[n, features]`, row-major.
    pub x: Vec<f32>,
    /// `[n]`, each in `0..classes`.
    pub y: Vec<u32>,
    pub features: usize,
    /// Number of classes (at least 2 for a dataset that `load` returns).
    pub classes: usize,
    /// `[features]`: `x0`, `x1` for synthetic data, the header's names for CSV.
    pub feature_names: Vec<String>,
    /// `[classes]`: `"0"`, `"1"`, ... for synthetic data, the CSV's distinct labels in sorted order.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// Number of samples (rows).
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Row `i`, `[features]`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.features..(i + 1) * self.features]
    }

    /// `[n]`: the labels as f32, the form the loss kernels read.
    pub fn labels_f32(&self) -> Vec<f32> {
        self.y.iter().map(|&c| c as f32).collect()
    }

    /// The rows `idx`, in that order, with the same names and class count.
    /// E[x²] over every row and feature: the input's mean square (0 for an empty set).
    pub fn mean_square(&self) -> f64 {
        let sum: f64 = self.x.iter().map(|&v| (v as f64) * (v as f64)).sum();
        if self.x.is_empty() { 0.0 } else { sum / self.x.len() as f64 }
    }

    /// The first `n` rows (all of them when there are fewer).
    pub fn first(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            x: self.x[..n * self.features].to_vec(),
            y: self.y[..n].to_vec(),
            features: self.features,
            classes: self.classes,
            feature_names: self.feature_names.clone(),
            class_names: self.class_names.clone(),
        }
    }

    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            x: idx.iter().flat_map(|&i| self.row(i)).copied().collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            features: self.features,
            classes: self.classes,
            feature_names: self.feature_names.clone(),
            class_names: self.class_names.clone(),
        }
    }
}

/// The generated datasets' names, as `--dataset` takes them.
pub const SYNTHETIC: [&str; 5] = ["circles", "moons", "xor", "spirals", "blobs"];

/// Which dataset to load, with its knobs; `DatasetSpec::parse` builds one from the CLI's options.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum DatasetSpec {
    Circles {
        samples: usize,
        noise: f64,
        factor: f64,
    },
    Moons {
        samples: usize,
        noise: f64,
    },
    Xor {
        samples: usize,
        noise: f64,
    },
    Spirals {
        samples: usize,
        noise: f64,
        classes: usize,
    },
    Blobs {
        samples: usize,
        noise: f64,
        classes: usize,
    },
    /// `label` names the label column (`None`: the last); `delimiter` separates cells (`None`: tab for
    /// `.tsv`, a comma otherwise).
    Csv {
        path: PathBuf,
        label: Option<String>,
        delimiter: Option<u8>,
    },
    /// MNIST's IDX files or a drop-in's in a folder (or a folder and a file-name prefix), with their split.
    Mnist {
        path: PathBuf,
    },
    /// A NumPy archive: Keras's `x_train`… with their split, or `x` and `y`.
    Npz {
        path: PathBuf,
    },
}

impl DatasetSpec {
    /// Parse `circles` | `moons` | `xor` | `spirals` | `blobs` | `csv:PATH` with the common knobs.
    /// `noise: None` takes the dataset's default (0.1, or 1.0 for blobs). Knobs that a dataset does not
    /// use are ignored (`factor` outside circles, `classes` outside spirals and blobs, all of them for
    /// CSV), except `label`, which only CSV can honour and which is an error elsewhere.
    pub fn parse(
        name: &str,
        samples: usize,
        noise: Option<f64>,
        factor: f64,
        classes: usize,
        label: Option<String>,
    ) -> Result<DatasetSpec, DataError> {
        use DatasetSpec::*;
        let file_only = |spec: DatasetSpec, label: &Option<String>| match label {
            Some(label) => Err(spec.invalid(format!("--label `{label}` applies only to csv:PATH datasets"))),
            None => Ok(spec),
        };
        let spec = if let Some(path) = name.strip_prefix("csv:") {
            Csv { path: PathBuf::from(path), label, delimiter: None }
        } else if let Some(path) = name.strip_prefix("mnist:") {
            file_only(Mnist { path: PathBuf::from(path) }, &label)?
        } else if let Some(path) = name.strip_prefix("npz:") {
            file_only(Npz { path: PathBuf::from(path) }, &label)?
        } else {
            let spec = match name {
                "circles" => Circles { samples, noise: noise.unwrap_or(0.1), factor },
                "moons" => Moons { samples, noise: noise.unwrap_or(0.1) },
                "xor" => Xor { samples, noise: noise.unwrap_or(0.1) },
                "spirals" => Spirals { samples, noise: noise.unwrap_or(0.1), classes },
                "blobs" => Blobs { samples, noise: noise.unwrap_or(1.0), classes },
                _ => return Err(DataError::UnknownDataset(name.to_string())),
            };
            if let Some(label) = label {
                let message = format!("--label `{label}` applies only to csv:PATH datasets");
                return Err(spec.invalid(message));
            }
            spec
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The same spec reading its CSV file with `delimiter` (`--delimiter`), which only CSV can honour.
    pub fn with_delimiter(self, delimiter: Option<&str>) -> Result<DatasetSpec, DataError> {
        let Some(text) = delimiter else { return Ok(self) };
        match self {
            DatasetSpec::Csv { path, label, .. } => {
                let delimiter = csv::parse_delimiter(text).map_err(|m| DataError::InvalidParameter {
                    dataset: format!("csv:{}", path.display()),
                    message: m,
                })?;
                Ok(DatasetSpec::Csv { path, label, delimiter: Some(delimiter) })
            }
            other => Err(other.invalid(format!("--delimiter `{text}` applies only to csv:PATH datasets"))),
        }
    }

    /// The name `parse` accepts for this dataset: `circles`, ..., or `csv:PATH`.
    pub fn name(&self) -> String {
        match self {
            DatasetSpec::Circles { .. } => "circles".into(),
            DatasetSpec::Moons { .. } => "moons".into(),
            DatasetSpec::Xor { .. } => "xor".into(),
            DatasetSpec::Spirals { .. } => "spirals".into(),
            DatasetSpec::Blobs { .. } => "blobs".into(),
            DatasetSpec::Csv { path, .. } => format!("csv:{}", path.display()),
            DatasetSpec::Mnist { path } => format!("mnist:{}", path.display()),
            DatasetSpec::Npz { path } => format!("npz:{}", path.display()),
        }
    }

    /// Whether the dataset's files carry their own train/test split (MNIST's IDX files, Keras's npz).
    pub fn is_file(&self) -> bool {
        matches!(self, DatasetSpec::Csv { .. } | DatasetSpec::Mnist { .. } | DatasetSpec::Npz { .. })
    }

    fn invalid(&self, message: String) -> DataError {
        DataError::InvalidParameter { dataset: self.name(), message }
    }

    /// Check the knobs. `load` calls this too, since the fields are public and a spec can be built by
    /// hand; a CSV file itself is checked when it is read.
    fn validate(&self) -> Result<(), DataError> {
        use DatasetSpec::*;
        let (samples, noise, classes) = match *self {
            Circles { samples, noise, .. } | Moons { samples, noise } | Xor { samples, noise } => (samples, noise, 2),
            Spirals { samples, noise, classes } | Blobs { samples, noise, classes } => (samples, noise, classes),
            Csv { ref path, .. } if path.as_os_str().is_empty() => {
                return Err(self.invalid("no path given; write csv:PATH".into()));
            }
            Npz { ref path } if path.as_os_str().is_empty() => {
                return Err(self.invalid("no path given; write npz:PATH".into()));
            }
            Csv { .. } | Mnist { .. } | Npz { .. } => return Ok(()),
        };
        let problem = if samples < 2 {
            format!("samples must be at least 2, got {samples}")
        } else if !(noise.is_finite() && noise >= 0.0) {
            format!("noise must be a finite number >= 0, got {noise}")
        } else if classes < 2 {
            format!("classes must be at least 2, got {classes}")
        } else if samples < classes {
            format!("samples ({samples}) must be at least classes ({classes}) so no class is empty")
        } else if let Circles { factor, .. } = *self
            && !(factor > 0.0 && factor < 1.0)
        {
            format!("factor (inner radius / outer radius) must be in (0, 1), got {factor}")
        } else {
            return Ok(());
        };
        Err(self.invalid(problem))
    }
}

/// Build the dataset `spec` describes, reading its files from disk; synthetic data is a pure function
/// of `spec` and `seed`. A dataset that comes split (MNIST's files, Keras's npz) is refused here: load it
/// with `load_from`, or through `DataSettings`, which keep its split.
pub fn load(spec: &DatasetSpec, seed: u64) -> Result<Dataset, DataError> {
    match load_from(&Disk, spec, seed)? {
        Loaded::Whole(d) => Ok(d),
        Loaded::Split(..) => Err(spec.invalid("this dataset comes with its own train/test split".into())),
    }
}

/// A dataset as loaded: one set to split, or the split its files give.
pub enum Loaded {
    Whole(Dataset),
    Split(Dataset, Dataset),
}

/// `load`, reading the dataset's files from `files`.
pub fn load_from(files: &dyn Files, spec: &DatasetSpec, seed: u64) -> Result<Loaded, DataError> {
    spec.validate()?;
    check_memory(files, spec)?;
    // What one array of a binary file may take once read as f32.
    let budget = memory::available().map_or(u64::MAX, |(bytes, _)| bytes / 4);
    match spec {
        DatasetSpec::Mnist { path } => {
            let (train, test) = idx::read(files, path, budget)?;
            return Ok(Loaded::Split(train, test));
        }
        DatasetSpec::Npz { path } => {
            return Ok(match npz::read(files, path, budget)? {
                npz::Npz::Split(train, test) => Loaded::Split(train, test),
                npz::Npz::Whole(all) => Loaded::Whole(all),
            });
        }
        _ => {}
    }
    let rng = &mut rng(seed, Stream::Data);
    Ok(Loaded::Whole(match *spec {
        DatasetSpec::Circles { samples, noise, factor } => synthetic::circles(samples, noise, factor, rng),
        DatasetSpec::Moons { samples, noise } => synthetic::moons(samples, noise, rng),
        DatasetSpec::Xor { samples, noise } => synthetic::xor(samples, noise, rng),
        DatasetSpec::Spirals { samples, noise, classes } => synthetic::spirals(samples, noise, classes, rng),
        DatasetSpec::Blobs { samples, noise, classes } => synthetic::blobs(samples, noise, classes, rng),
        DatasetSpec::Csv { ref path, ref label, delimiter } => csv::read(files, path, label.as_deref(), delimiter)?,
        DatasetSpec::Mnist { .. } | DatasetSpec::Npz { .. } => unreachable!("read above"),
    }))
}

/// `test`, read from its own file, as the held-out set of `train`: the same feature columns in the same
/// order, and its labels mapped onto `train`'s classes by name (a file's classes are numbered from its
/// own distinct labels, so the same label can have another index in each file).
pub fn held_out(train: &Dataset, mut test: Dataset) -> Result<Dataset, String> {
    if test.feature_names != train.feature_names {
        return Err(format!(
            "its feature columns {:?} are not the training data's {:?}",
            test.feature_names, train.feature_names
        ));
    }
    let mut index = Vec::with_capacity(test.class_names.len());
    for name in &test.class_names {
        let Some(i) = train.class_names.iter().position(|c| c == name) else {
            return Err(format!("label `{name}` is not among the training data's classes {:?}", train.class_names));
        };
        index.push(i as u32);
    }
    for y in &mut test.y {
        *y = index[*y as usize];
    }
    test.classes = train.classes;
    test.class_names = train.class_names.clone();
    Ok(test)
}

/// Refuses a dataset the host cannot hold, before generating or reading it: the samples (two f32
/// features and a label, held about three times over: generated, split, standardised), or a CSV file's
/// size sixteen times over (the file itself, its records, the parsed cells and a string per label: a
/// line of a few bytes costs a few dozen).
fn check_memory(files: &dyn Files, spec: &DatasetSpec) -> Result<(), DataError> {
    let bytes = match *spec {
        // A file that cannot be read is reported when it is read, by name.
        DatasetSpec::Csv { ref path, .. } => match files.size(path) {
            Some(len) => len.checked_mul(16),
            None => return Ok(()),
        },
        // Binary files are checked array by array as they are read, against what their headers give.
        DatasetSpec::Mnist { .. } | DatasetSpec::Npz { .. } => return Ok(()),
        DatasetSpec::Circles { samples, .. }
        | DatasetSpec::Moons { samples, .. }
        | DatasetSpec::Xor { samples, .. }
        | DatasetSpec::Spirals { samples, .. }
        | DatasetSpec::Blobs { samples, .. } => (samples as u64).checked_mul(3 * (2 * 4 + 4)),
    };
    let what = match *spec {
        DatasetSpec::Csv { .. } | DatasetSpec::Mnist { .. } | DatasetSpec::Npz { .. } => "reading the file".to_string(),
        _ => "generating the samples".to_string(),
    };
    crate::memory::check_host(&what, bytes).map_err(|m| spec.invalid(m))
}

/// Everything that can go wrong making a dataset or splitting it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("unknown dataset `{0}`; expected circles, moons, xor, spirals, blobs, csv:PATH, mnist:DIR or npz:PATH")]
    UnknownDataset(String),
    /// A problem in a binary data file (IDX, npz): the file and what is wrong.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("dataset {dataset}: {message}")]
    InvalidParameter { dataset: String, message: String },
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A problem in a CSV file's contents, at 1-based `line`.
    #[error("{}:{line}: {message}", path.display())]
    Csv { path: PathBuf, line: usize, message: String },
    #[error("cannot split the dataset: {0}")]
    Split(String),
}
