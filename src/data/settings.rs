//! The data options every command shares (`--dataset`, `--samples`, ..., `--test-data`), as given, and
//! how they become the training and test splits. Saved in a sweep's `sweep.json`; the page sends the
//! same fields by the same names.

use serde::{Deserialize, Serialize};

use super::{DataError, Dataset, DatasetSpec, Disk, Files, Loaded, held_out, load_from, split, standardize};
use crate::defaults;

/// The dataset options (seeded by the run, which gives the seed). The command line's flags (clap) and
/// the page's fields (serde) are these fields, by the same names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct DataSettings {
    /// circles, moons, xor, spirals, blobs, csv:PATH, mnist:DIR (MNIST's IDX files or a drop-in's, plain
    /// or .gz) or npz:PATH (Keras's mnist.npz, or any archive with x and y)
    #[arg(long, default_value = defaults::DATASET)]
    pub dataset: String,
    /// Samples to generate (synthetic datasets)
    #[arg(long, default_value_t = defaults::SAMPLES)]
    pub samples: usize,
    /// Noise std (default: 0.1, or 1.0 for blobs)
    #[arg(long)]
    pub noise: Option<f64>,
    /// Inner circle's radius relative to the outer one (circles)
    #[arg(long, default_value_t = defaults::FACTOR)]
    pub factor: f64,
    /// Classes (spirals, blobs)
    #[arg(long, default_value_t = defaults::CLASSES)]
    pub classes: usize,
    /// Label column (csv; default: the last column)
    #[arg(long)]
    pub label: Option<String>,
    /// Cell separator (csv): one character, e.g. ';', or `tab` (default: tab for .tsv, else ',')
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Fraction of the data held out for testing, in (0, 1)
    #[arg(long, default_value_t = defaults::TEST_FRACTION)]
    pub test_fraction: f64,
    /// An explicit test set, csv:PATH with the training CSV's columns, instead of --test-fraction; the
    /// whole --dataset then trains, in file order
    // Absent from sweep folders written before it existed, and left out when unset so that their
    // settings keep their checksums.
    #[arg(long, value_name = "csv:PATH", conflicts_with = "test_fraction")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_data: Option<String>,
    /// Standardise every feature with the training set's mean and std
    #[arg(long)]
    pub standardize: bool,
    /// Train on the first N training rows only (e.g. Nielsen's first 1,000 MNIST images)
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_rows: Option<usize>,
    /// Evaluate on the first N test rows only
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_rows: Option<usize>,
}

impl Default for DataSettings {
    fn default() -> Self {
        DataSettings {
            dataset: defaults::DATASET.into(),
            samples: defaults::SAMPLES,
            noise: None,
            factor: defaults::FACTOR,
            classes: defaults::CLASSES,
            label: None,
            delimiter: None,
            test_fraction: defaults::TEST_FRACTION,
            test_data: None,
            standardize: false,
            train_rows: None,
            test_rows: None,
        }
    }
}

impl DataSettings {
    /// Checks the options without loading anything; the message names the flag.
    pub fn validate(&self) -> Result<DatasetSpec, DataError> {
        let flag = |message: String| DataError::InvalidParameter { dataset: self.dataset.clone(), message };
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(flag(format!("--test-fraction must be in (0, 1), got {}", self.test_fraction)));
        }
        let spec =
            DatasetSpec::parse(&self.dataset, self.samples, self.noise, self.factor, self.classes, self.label.clone())?
                .with_delimiter(self.delimiter.as_deref())?;
        for (name, rows) in [("--train-rows", self.train_rows), ("--test-rows", self.test_rows)] {
            if rows == Some(0) {
                return Err(flag(format!("{name} must be at least 1")));
            }
        }
        if let Some(name) = &self.test_data {
            if !matches!(spec, DatasetSpec::Csv { .. }) {
                return Err(flag(format!(
                    "--test-data needs a CSV training set (--dataset csv:PATH), not `{}`",
                    self.dataset
                )));
            }
            if !name.starts_with("csv:") {
                return Err(flag(format!("--test-data must be csv:PATH, got `{name}`")));
            }
        }
        Ok(spec)
    }

    /// Refuses features past f32's range (a generator's `--noise` that large, or standardising such data):
    /// every engine computes from f32, where they would be infinite.
    fn check_finite(&self, data: &Dataset) -> Result<(), DataError> {
        let Some(i) = data.x.iter().position(|v| !v.is_finite()) else { return Ok(()) };
        let column = &data.feature_names[i % data.features.max(1)];
        let hint = if self.dataset.starts_with("csv:") { "rescale the data" } else { "use a smaller --noise" };
        Err(DataError::InvalidParameter {
            dataset: self.dataset.clone(),
            message: format!("feature `{column}` holds {}, past f32's range (±3.4e38): {hint}", data.x[i]),
        })
    }

    /// The files these options read, by flag: `--dataset csv:PATH` and `--test-data csv:PATH`.
    pub fn input_files(&self) -> Vec<(&'static str, std::path::PathBuf)> {
        let csv = |name: &str| ["csv:", "npz:"].iter().find_map(|p| name.strip_prefix(p)).map(std::path::PathBuf::from);
        let mut files: Vec<_> = csv(&self.dataset).map(|p| ("--dataset", p)).into_iter().collect();
        files.extend(self.test_data.as_deref().and_then(csv).map(|p| ("--test-data", p)));
        files
    }

    /// The training and test splits for `seed` (data, split and standardisation all seeded by it), files
    /// read from disk.
    pub fn load(&self, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        self.load_from(&Disk, seed)
    }

    /// `load`, reading the files from `files`. With `test_data` the whole dataset trains, in file order,
    /// and the test set is that file's rows.
    pub fn load_from(&self, files: &dyn Files, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        let spec = self.validate()?;
        let (mut train, mut test) = match (load_from(files, &spec, seed)?, &self.test_data) {
            // The files' own split (MNIST's, Keras's npz) is used as given.
            (Loaded::Split(train, test), _) => (train, test),
            (Loaded::Whole(all), None) => split(&all, self.test_fraction, seed)?,
            (Loaded::Whole(all), Some(name)) => {
                let test_spec = DatasetSpec::parse(name, 0, None, 0.0, 0, self.label.clone())?
                    .with_delimiter(self.delimiter.as_deref())?;
                let Loaded::Whole(test) = load_from(files, &test_spec, seed)? else { unreachable!("a CSV") };
                let test = held_out(&all, test).map_err(|e| DataError::InvalidParameter {
                    dataset: name.clone(),
                    message: format!("--test-data: {e}"),
                })?;
                (all, test)
            }
        };
        // The first rows, in the files' order (for the files' own split) or the split's.
        if let Some(n) = self.train_rows {
            train = train.first(n);
        }
        if let Some(n) = self.test_rows {
            test = test.first(n);
        }
        if self.standardize {
            standardize(&mut train, &mut test);
        }
        for data in [&train, &test] {
            self.check_finite(data)?;
        }
        Ok((train, test))
    }
}
