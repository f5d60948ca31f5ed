//! `vanish bench`: every kernel is validated against the CPU reference before it is timed; then
//! median and spread in the unit that matters (GFLOP/s for matmul, GB/s for elementwise kernels and
//! reductions, µs per step and samples/s for training), with the clock each figure came from.

mod jobs;
mod kernels;
mod matmul;
mod report;
mod training;

use serde::Serialize;
use thiserror::Error;

pub use jobs::{JobRow, jobs_section};
pub use kernels::{BandwidthRow, bandwidth_section};
pub use matmul::{MatmulRow, matmul_section};
pub use report::{BenchReport, splice};
pub use training::{TrainingRow, training_section};

use crate::engine::EngineError;
use crate::gpu::GpuError;

#[derive(Debug, Error)]
pub enum BenchError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{what} failed validation against the CPU reference: {detail}; not timing a wrong kernel")]
    Invalid { what: String, detail: String },
}

/// How much to measure.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BenchOptions {
    /// Seconds, not minutes: small shapes and few repetitions (CI's smoke run).
    pub quick: bool,
    /// Whether the adapter is a real GPU (bigger shapes are only worth it there).
    pub real_gpu: bool,
}

impl BenchOptions {
    pub fn reps(&self) -> usize {
        if self.quick { 3 } else { 10 }
    }
}

/// Median and spread of repeated measurements.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Spread {
        let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        if s.is_empty() {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        let median = if s.len() % 2 == 1 { s[s.len() / 2] } else { 0.5 * (s[s.len() / 2 - 1] + s[s.len() / 2]) };
        Spread { median, min: s[0], max: s[s.len() - 1] }
    }

    /// `f` applied to each figure, swapping min and max when `f` is decreasing (time → rate).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Spread {
        let (a, b) = (f(self.min), f(self.max));
        Spread { median: f(self.median), min: a.min(b), max: a.max(b) }
    }
}

/// Largest |got − want| / (|want| + atol) over a tensor: the validation figure each row reports.
pub fn max_error(got: &[f32], want: &[f64], atol: f64) -> f64 {
    got.iter().zip(want).map(|(&g, &w)| ((g as f64) - w).abs() / (w.abs() + atol)).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_min_max() {
        let s = Spread::of(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!(s, Spread { median: 2.0, min: 1.0, max: 3.0 });
        assert_eq!(Spread::of(&[1.0, 2.0, 3.0, 4.0]).median, 2.5);
        let rate = s.map(|t| 1.0 / t);
        assert_eq!((rate.min, rate.max), (1.0 / 3.0, 1.0));
    }
}
