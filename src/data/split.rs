//! The train/test split (a seeded shuffle, then the first ceil(fraction·n) rows are the test set, as
//! scikit-learn's train_test_split does) and standardisation with statistics of the training rows only,
//! so nothing about the test set leaks into training.

use rand::seq::SliceRandom;

use super::{DataError, Dataset};
use crate::rng::{Stream, rng};

/// Split `data` into (train, test): a permutation from the seed's `Stream::Split`, the first
/// ceil(test_fraction·n) rows of it for testing, the rest for training. 1000 rows at 0.33 give 670 / 330.
pub fn split(data: &Dataset, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset), DataError> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DataError::Split(format!(
            "the test fraction must be between 0 and 1 (exclusive), got {test_fraction}"
        )));
    }
    let n = data.len();
    // ceil(f·n) ≤ n because f < 1, so the subtraction cannot underflow.
    let n_test = (test_fraction * n as f64).ceil() as usize;
    let n_train = n - n_test;
    if n_test == 0 || n_train == 0 {
        return Err(DataError::Split(format!(
            "{n} samples at test fraction {test_fraction} give {n_train} training and {n_test} test \
             samples; both sets need at least one"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng(seed, Stream::Split));
    let (test, train) = order.split_at(n_test);
    Ok((data.subset(train), data.subset(test)))
}

/// Shift and scale each feature of both sets by the training rows' mean and population std (ddof 0, as
/// scikit-learn's StandardScaler). A constant feature (std 0) is only centred, since dividing would
/// give NaN; f64 sums of identical f32 values are exact, so such a feature's std is exactly 0.
pub fn standardize(train: &mut Dataset, test: &mut Dataset) {
    assert_eq!(train.features, test.features, "train and test must have the same features");
    let (n, f) = (train.len(), train.features);
    if n == 0 {
        return; // no statistics to take
    }
    for j in 0..f {
        let column = || train.x.iter().skip(j).step_by(f).map(|&v| v as f64);
        let mean = column().sum::<f64>() / n as f64;
        let std = (column().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let scale = if std > 0.0 { 1.0 / std } else { 1.0 };
        let train_col = train.x.iter_mut().skip(j).step_by(f);
        for v in train_col.chain(test.x.iter_mut().skip(j).step_by(f)) {
            *v = ((*v as f64 - mean) * scale) as f32;
        }
    }
}
