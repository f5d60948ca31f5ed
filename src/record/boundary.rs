//! The learned decision boundary of a 2-D classifier: the model's predicted class on a grid over the
//! data, evaluated exactly with the CPU reference (`reference::forward_eval`, eval-mode batch norm) from
//! the engine's final parameters, plus a subsample of the training points to draw over it.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::model::{MlpSpec, Output, Params};
use crate::reference::forward_eval;

/// Grid cells per side: fine enough to see the boundary's shape, small enough to store in a run file.
pub const RESOLUTION: usize = 48;
/// At most this many training points are kept for the plot.
const MAX_POINTS: usize = 300;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    pub x_min: f64,
    pub x_max: f64,
    pub y_min: f64,
    pub y_max: f64,
    pub resolution: usize,
    pub classes: usize,
    /// `[resolution, resolution]`, row `j` at `y_min + (j + ½)·dy`, column `i` at `x_min + (i + ½)·dx`:
    /// the predicted class.
    pub predicted: Vec<u32>,
    /// Training points `(x, y, label)`, every k-th row.
    pub points: Vec<(f32, f32, u32)>,
}

/// The boundary of `params` on `data`'s bounding box (padded by 10%), or `None` unless the data has
/// exactly two features.
pub fn decision_boundary(spec: &MlpSpec, params: &Params, data: &Dataset) -> Option<Boundary> {
    if data.features != 2 || data.is_empty() {
        return None;
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) =
        (0..data.len()).map(|i| (data.x[2 * i] as f64, data.x[2 * i + 1] as f64)).unzip();
    let pad = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let margin = 0.1 * (hi - lo).max(1e-6);
        (lo - margin, hi + margin)
    };
    let ((x_min, x_max), (y_min, y_max)) = (pad(&xs), pad(&ys));
    let n = RESOLUTION;
    let mut grid = Vec::with_capacity(2 * n * n);
    for j in 0..n {
        for i in 0..n {
            grid.push(x_min + (i as f64 + 0.5) * (x_max - x_min) / n as f64);
            grid.push(y_min + (j as f64 + 0.5) * (y_max - y_min) / n as f64);
        }
    }
    let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let logits = forward_eval(spec, &widen(&params.values), &widen(&params.running), &grid, n * n);
    let predicted = match spec.output {
        Output::Binary => logits.iter().map(|&z| u32::from(z > 0.0)).collect(),
        Output::Softmax(k) | Output::SigmoidCe(k) => logits
            .chunks_exact(k)
            .map(|row| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(c, _)| c as u32))
            .collect(),
    };
    let step = data.len().div_ceil(MAX_POINTS);
    let points = (0..data.len()).step_by(step).map(|i| (data.x[2 * i], data.x[2 * i + 1], data.y[i])).collect();
    Some(Boundary { x_min, x_max, y_min, y_max, resolution: n, classes: spec.output.width().max(2), predicted, points })
}
