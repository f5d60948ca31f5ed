//! Synthetic 2-D problems: circles and moons as scikit-learn's make_circles and make_moons build them,
//! xor, k-arm spirals and Gaussian blobs. Each lays out exact points, shuffles the rows, then adds
//! N(0, noise²) to every coordinate, drawing everything from the one generator it is given. The callers
//! (`load`) have already checked the knobs.

use std::f64::consts::PI;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

use super::Dataset;

/// An exact point and its class, before the noise.
type Point = ([f64; 2], u32);

/// make_circles: n/2 points on the unit circle (class 0), the other n − n/2 on the circle of radius
/// `factor` (class 1), each ring at angles linspace(0, 2π, m, endpoint=False).
pub(crate) fn circles(samples: usize, noise: f64, factor: f64, rng: &mut impl Rng) -> Dataset {
    let ring = |m: usize, radius: f64, class: u32| {
        (0..m).map(move |i| {
            let t = i as f64 * (2.0 * PI / m as f64);
            ([radius * t.cos(), radius * t.sin()], class)
        })
    };
    let outer = samples / 2;
    let points = ring(outer, 1.0, 0).chain(ring(samples - outer, factor, 1));
    finish(points.collect(), 2, noise, rng)
}

/// make_moons: n/2 points on the upper unit half circle (class 0) and n − n/2 on the lower half circle
/// centred at (1, 0.5) (class 1), t = linspace(0, π, m) with both ends.
pub(crate) fn moons(samples: usize, noise: f64, rng: &mut impl Rng) -> Dataset {
    let outer = samples / 2;
    let upper = linspace(0.0, PI, outer).map(|t| ([t.cos(), t.sin()], 0));
    let lower = linspace(0.0, PI, samples - outer).map(|t| ([1.0 - t.cos(), 0.5 - t.sin()], 1));
    finish(upper.chain(lower).collect(), 2, noise, rng)
}

/// Points uniform in [-1, 1]², class (x0 > 0) xor (x1 > 0), labelled before the noise so that noise
/// pushes some points across the axes (the classes are not exactly balanced).
pub(crate) fn xor(samples: usize, noise: f64, rng: &mut impl Rng) -> Dataset {
    let points: Vec<Point> = (0..samples)
        .map(|_| {
            let p = [rng.random_range(-1.0..=1.0), rng.random_range(-1.0..=1.0)];
            (p, u32::from((p[0] > 0.0) != (p[1] > 0.0)))
        })
        .collect();
    finish(points, 2, noise, rng)
}

/// `classes` interleaved arms. Arm c holds its share of the points at radii r = linspace(0, 1, m) and
/// angles θ = 2πc/k + 4πr (two full turns from the centre to the rim), the point r·(cos θ, sin θ).
pub(crate) fn spirals(samples: usize, noise: f64, classes: usize, rng: &mut impl Rng) -> Dataset {
    let arm = |c: usize| {
        let start = 2.0 * PI * c as f64 / classes as f64;
        linspace(0.0, 1.0, share(samples, classes, c)).map(move |r| {
            let t = start + 4.0 * PI * r;
            ([r * t.cos(), r * t.sin()], c as u32)
        })
    };
    finish((0..classes).flat_map(arm).collect(), classes, noise, rng)
}

/// `classes` centres uniform in [-10, 10]², drawn first; each class's share of the points sits on its
/// centre until the noise spreads it into a Gaussian blob of std `noise`.
pub(crate) fn blobs(samples: usize, noise: f64, classes: usize, rng: &mut impl Rng) -> Dataset {
    let centres: Vec<[f64; 2]> =
        (0..classes).map(|_| [rng.random_range(-10.0..=10.0), rng.random_range(-10.0..=10.0)]).collect();
    let blob = |c: usize| std::iter::repeat_n((centres[c], c as u32), share(samples, classes, c));
    finish((0..classes).flat_map(blob).collect(), classes, noise, rng)
}

/// Class `c`'s share of `samples` among `classes`: as equal as possible, the first classes one more.
fn share(samples: usize, classes: usize, c: usize) -> usize {
    samples / classes + usize::from(c < samples % classes)
}

/// numpy's linspace(start, stop, m) with the endpoint; a single point is `start`.
fn linspace(start: f64, stop: f64, m: usize) -> impl Iterator<Item = f64> {
    let step = if m > 1 { (stop - start) / (m - 1) as f64 } else { 0.0 };
    (0..m).map(move |i| start + i as f64 * step)
}

/// Shuffle the rows (so the classes are not in blocks), add N(0, noise²) to each coordinate in row-major
/// order (as scikit-learn does, after its shuffle), and pack as f32 with the synthetic names.
fn finish(mut points: Vec<Point>, classes: usize, noise: f64, rng: &mut impl Rng) -> Dataset {
    points.shuffle(rng);
    let mut x = Vec::with_capacity(2 * points.len());
    let mut y = Vec::with_capacity(points.len());
    for (p, c) in points {
        for v in p {
            let e: f64 = rng.sample(StandardNormal);
            x.push((v + noise * e) as f32);
        }
        y.push(c);
    }
    Dataset {
        x,
        y,
        features: 2,
        classes,
        feature_names: vec!["x0".into(), "x1".into()],
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    }
}
