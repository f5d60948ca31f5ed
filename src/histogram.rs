//! Per-layer histograms at a probe, as Glorot & Bengio (2010) draw them (Figs. 6–7): the distribution of
//! each layer's pre-activations, activations, back-propagated δ and weight gradients, one curve per layer.
//!
//! This is the CPU twin of `shaders/histogram.wgsl` (the GPU engines count on the GPU and read the bins
//! back with the probe): the same bins, the same range rule. The hidden layers of one model share a range
//! per quantity, so that their curves compare (the output layer has its own: logits and their gradient
//! live on another scale, and would stretch the hidden layers' range): `[max(min, −R), min(max, R)]` with R = `HIST_RANGE_RMS` times the
//! largest RMS among the layers — all the data unless a few values lie far out, which would squash every
//! curve into the middle bins; values outside are counted `below` and `above`. A range with nothing in it
//! (every value equal) becomes a unit one around the value. Values that are not finite take no part in the
//! range: an infinity is counted below or above it, a NaN below.

use serde::{Deserialize, Serialize};

/// Bins per histogram (`HIST_BINS` in histogram.wgsl, from `gpu::shared_constants`).
pub const HIST_BINS: usize = 32;

/// The range's half-width in RMS of the group's widest layer (`HIST_RANGE_RMS` in histogram.wgsl).
pub const HIST_RANGE_RMS: u32 = 4;

/// Words of the GPU's output per histogram: lo and hi (f32 bits), below, above, the bins.
pub const HIST_WORDS: usize = HIST_BINS + 4;

/// The quantities histogrammed per layer, in the order of `LayerHistograms`' fields and of the GPU's
/// groups.
pub const QUANTITIES: [&str; 4] = ["pre_activation", "activation", "delta", "grad_w"];

/// Counts of values in `HIST_BINS` equal bins over `[lo, hi]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    /// Values below `lo` (and values that are not numbers), and above `hi`.
    pub below: u64,
    pub above: u64,
    pub counts: Vec<u64>,
}

/// One dense layer's histograms at one probe. The output layer's activation is the identity: its
/// activations are its logits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerHistograms {
    /// The activation's input: z, or the normalisation's output.
    pub pre_activation: Histogram,
    pub activation: Histogram,
    /// δ = dL/dz, z the dense output before any norm.
    pub delta: Histogram,
    /// dL/dW.
    pub grad_w: Histogram,
}

impl LayerHistograms {
    /// The histogram of quantity `q` (an index into `QUANTITIES`).
    pub fn get(&self, q: usize) -> &Histogram {
        [&self.pre_activation, &self.activation, &self.delta, &self.grad_w][q]
    }

    /// Layers from their four groups: `groups[q][layer]`.
    pub fn from_groups(groups: [Vec<Histogram>; 4]) -> Vec<LayerHistograms> {
        let [pre, act, delta, grad] = groups;
        pre.into_iter()
            .zip(act)
            .zip(delta)
            .zip(grad)
            .map(|(((pre_activation, activation), delta), grad_w)| LayerHistograms {
                pre_activation,
                activation,
                delta,
                grad_w,
            })
            .collect()
    }
}

/// A model's layers (the output layer last) as the groups that share a range, in layer order: the hidden
/// layers, and the output layer alone (an empty group left out). Both engines group by this.
pub fn range_groups<T>(mut layers: Vec<T>) -> Vec<Vec<T>> {
    let output = layers.pop();
    [layers].into_iter().chain(output.map(|o| vec![o])).filter(|g| !g.is_empty()).collect()
}

/// The range the layers `values` share (see the module's comment).
pub fn group_range(values: &[&[f64]]) -> (f64, f64) {
    let (mut lo, mut hi, mut rms) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for v in values {
        // Values that are not finite take no part in the range (they are counted outside it).
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if finite.is_empty() {
            continue;
        }
        lo = finite.iter().fold(lo, |m, &x| m.min(x));
        hi = finite.iter().fold(hi, |m, &x| m.max(x));
        rms = rms.max((finite.iter().map(|x| x * x).sum::<f64>() / finite.len() as f64).sqrt());
    }
    let r = HIST_RANGE_RMS as f64 * rms;
    let (lo, hi) = (lo.max(-r), hi.min(r));
    if hi > lo {
        (lo, hi)
    } else {
        let c = if lo.is_finite() { lo } else { 0.0 };
        (c - 0.5, c + 0.5)
    }
}

impl Histogram {
    /// `values` counted over `[lo, hi]`.
    pub fn count(values: &[f64], (lo, hi): (f64, f64)) -> Histogram {
        let mut h = Histogram { lo, hi, below: 0, above: 0, counts: vec![0; HIST_BINS] };
        let scale = HIST_BINS as f64 / (hi - lo);
        for &x in values {
            if x > hi {
                h.above += 1;
            } else if x >= lo {
                h.counts[(((x - lo) * scale) as usize).min(HIST_BINS - 1)] += 1;
            } else {
                h.below += 1;
            }
        }
        h
    }

    /// The histograms of a group of layers over their shared range.
    pub fn group(values: &[&[f64]]) -> Vec<Histogram> {
        let range = group_range(values);
        values.iter().map(|v| Histogram::count(v, range)).collect()
    }

    /// The histograms of one quantity of a model's layers, the output layer last, over the ranges of
    /// `range_groups`.
    pub fn layers(values: &[&[f64]]) -> Vec<Histogram> {
        range_groups(values.to_vec()).iter().flat_map(|g| Histogram::group(g)).collect()
    }

    /// A histogram as the GPU writes it: `HIST_WORDS` words.
    pub fn from_words(w: &[u32]) -> Histogram {
        Histogram {
            lo: f32::from_bits(w[0]) as f64,
            hi: f32::from_bits(w[1]) as f64,
            below: w[2] as u64,
            above: w[3] as u64,
            counts: w[4..HIST_WORDS].iter().map(|&c| c as u64).collect(),
        }
    }

    /// Values counted, outside the range included.
    pub fn total(&self) -> u64 {
        self.below + self.above + self.counts.iter().sum::<u64>()
    }

    /// The centre of bin `b`.
    pub fn centre(&self, b: usize) -> f64 {
        self.lo + (b as f64 + 0.5) * (self.hi - self.lo) / self.counts.len() as f64
    }

    /// Half the L1 distance between the two histograms' fractions of their totals, bin by bin (below and
    /// above included): 0 for the same shape, 1 for disjoint ones. Only meaningful over the same range.
    pub fn distance(&self, other: &Histogram) -> f64 {
        let (a, b) = (self.total().max(1) as f64, other.total().max(1) as f64);
        let pairs =
            self.counts.iter().zip(&other.counts).chain([(&self.below, &other.below), (&self.above, &other.above)]);
        pairs.map(|(&x, &y)| (x as f64 / a - y as f64 / b).abs()).sum::<f64>() / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_range_and_counts_every_value() {
        let wide: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) / 100.0).collect();
        let narrow: Vec<f64> = wide.iter().map(|x| x / 10.0).collect();
        let h = Histogram::group(&[&wide, &narrow]);
        assert_eq!((h[0].lo, h[0].hi), (h[1].lo, h[1].hi));
        assert_eq!((h[0].lo, h[0].hi), (-5.0, 4.99));
        for x in &h {
            assert_eq!(x.total(), 1000);
            assert_eq!(x.below + x.above, 0);
        }
        // The narrow layer fills the middle bins only.
        let filled = h[1].counts.iter().filter(|&&c| c > 0).count();
        assert!(filled <= 5, "{filled} bins for a tenth of the range");
    }

    #[test]
    fn the_output_layer_has_a_range_of_its_own() {
        let hidden: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        let logits: Vec<f64> = hidden.iter().map(|x| 50.0 * x).collect();
        let h = Histogram::layers(&[&hidden, &hidden, &logits]);
        assert_eq!((h[0].lo, h[0].hi), (h[1].lo, h[1].hi));
        assert_eq!((h[0].lo, h[0].hi), (0.0, 0.99));
        assert_eq!((h[2].lo, h[2].hi), (0.0, 49.5));
        assert!(h.iter().all(|x| x.total() == 100 && x.below + x.above == 0));
    }

    #[test]
    fn far_outliers_are_counted_outside_the_range() {
        let mut v = vec![0.5; 999];
        v.push(1e6);
        v[0] = -0.5;
        let h = &Histogram::group(&[&v])[0];
        assert!(h.hi < 1e6 && h.hi > 0.5, "{h:?}");
        assert_eq!(h.above, 1);
        assert_eq!(h.total(), 1000);
    }

    #[test]
    fn equal_values_get_a_unit_range_around_them() {
        let h = &Histogram::group(&[&[2.0; 7]])[0];
        assert_eq!((h.lo, h.hi), (1.5, 2.5));
        assert_eq!(h.counts[HIST_BINS / 2], 7);
        let z = &Histogram::group(&[&[]])[0];
        assert_eq!((z.lo, z.hi, z.total()), (-0.5, 0.5, 0));
    }

    #[test]
    fn values_that_are_not_finite_are_counted_outside_a_finite_range() {
        let h = &Histogram::group(&[&[0.0, 1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]])[0];
        assert_eq!((h.lo, h.hi), (0.0, 1.0));
        assert_eq!((h.below, h.above, h.total()), (2, 1, 5));
    }

    #[test]
    fn distance_is_zero_for_one_shape_and_one_for_disjoint_ones() {
        let a = Histogram::count(&[0.1, 0.1, 0.9], (0.0, 1.0));
        let b = Histogram::count(&[0.1, 0.1, 0.1, 0.1, 0.9, 0.9], (0.0, 1.0));
        assert!(a.distance(&b) < 1e-12);
        let c = Histogram::count(&[0.5], (0.0, 1.0));
        assert!((a.distance(&c) - 1.0).abs() < 1e-12);
    }
}
