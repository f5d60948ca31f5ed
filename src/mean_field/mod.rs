//! Mean-field theory of signal propagation through a deep random network at initialisation (Poole et
//! al. 2016; Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017), in f64, for any activation.
//!
//! The network: infinitely wide dense layers, W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²), activation φ. A
//! pre-activation's variance q obeys the *variance map*
//!
//!     q ← σ_w²·E[φ(√q·z)²] + σ_b²,   z ~ N(0, 1),
//!
//! whose stable fixed point is q*. Two inputs' pre-activations with correlation c map to
//!
//!     c ← (σ_w²·E[φ(u₁)φ(u₂)] + σ_b²) / q*,   (u₁, u₂) ~ N(0, q*·[[1, c], [c, 1]]),
//!
//! whose stable fixed point is c*. c = 1 is always a fixed point; its slope there is
//! χ₁ = σ_w²·E[φ′(√q*·z)²], the same χ that scales ‖δ‖² per layer going down (`record::theory`). For
//! χ₁ < 1 (the ordered phase) c* = 1 and inputs grow alike with depth; for χ₁ > 1 (chaotic) c* < 1. The
//! slope at c*, χ_c = σ_w²·E[φ′(u₁)φ′(u₂)], sets how fast correlations approach c*: like e^{−l/ξ_c},
//! ξ_c = −1/ln χ_c, which diverges on the critical line χ₁ = 1. Schoenholz et al. find networks trainable
//! to depths of about 6ξ_c.
//!
//! Every expectation is a Gauss–Legendre quadrature split at the activation's kink (`quadrature`), so
//! ReLU's and SELU's are as accurate as tanh's. The fixed points are found by bracketing and bisection,
//! not by iterating the maps, which slows down as χ approaches 1.

pub mod quadrature;

use serde::Serialize;

use crate::model::Activation;
use crate::reference::activation::{activation, activation_grad};
use quadrature::{expect_pair, expect_scaled};

/// A nonlinearity φ with its derivative, smooth except possibly at 0 (all of vanish's activations).
pub trait Nonlinearity {
    fn value(&self, u: f64) -> f64;
    fn slope(&self, u: f64) -> f64;
}

impl Nonlinearity for Activation {
    fn value(&self, u: f64) -> f64 {
        activation(u, *self)
    }
    fn slope(&self, u: f64) -> f64 {
        activation_grad(u, *self)
    }
}

/// Where a point (σ_w², σ_b²) lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// χ₁ < 1: correlations converge to 1, gradients vanish.
    Ordered,
    /// χ₁ > 1: correlations converge to c* < 1, gradients explode.
    Chaotic,
    /// χ₁ = 1 to within 1e-9.
    Critical,
    /// The variance map has no fixed point: q grows without bound with depth (ReLU with σ_w² ≥ 2).
    Unbounded,
}

/// The theory at one point. `None` where a quantity does not exist: every one but the critical σ_w²
/// when q is unbounded, and ξ_c on the critical line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanField {
    pub sigma_w2: f64,
    pub sigma_b2: f64,
    pub phase: Phase,
    pub q_star: Option<f64>,
    pub chi_1: Option<f64>,
    pub c_star: Option<f64>,
    pub chi_c: Option<f64>,
    pub xi_c: Option<f64>,
    /// The σ_w² of the critical line (χ₁ = 1) at this σ_b², if it has one below 1e6.
    pub critical_sigma_w2: Option<f64>,
}

/// A variance small enough to stand for q → 0⁺ (√q = 1e-12) in the limits at q* = 0.
const TINY_Q: f64 = 1e-24;

/// How close to 1 counts as χ₁ = 1.
const CRITICAL_BAND: f64 = 1e-9;

/// The root of `f` in [lo, hi], where f(lo) ≥ 0 > f(hi), to a width of 1e-15 relative to the larger of
/// the ends' magnitudes and `floor` (1 for a correlation, which may be 0; 0 for a variance): the Illinois
/// variant of regula falsi, which keeps the bracket as bisection does but converges superlinearly (a
/// dozen evaluations where bisection takes fifty; each is a quadrature, two-dimensional for c*).
fn bisect(mut lo: f64, mut hi: f64, floor: f64, f: impl Fn(f64) -> f64) -> f64 {
    let (mut f_lo, mut f_hi) = (f(lo), f(hi));
    let mut kept = 0i8; // which end the last step kept: +1 lo, −1 hi
    for _ in 0..200 {
        if (hi - lo) <= 1e-15 * hi.abs().max(lo.abs()).max(floor) {
            break;
        }
        let secant = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
        let x = if secant > lo && secant < hi { secant } else { 0.5 * (lo + hi) };
        if x <= lo || x >= hi {
            break;
        }
        let fx = f(x);
        if fx >= 0.0 {
            (lo, f_lo) = (x, fx);
            if kept == -1 {
                f_hi *= 0.5;
            }
            kept = -1;
        } else {
            (hi, f_hi) = (x, fx);
            if kept == 1 {
                f_lo *= 0.5;
            }
            kept = 1;
        }
    }
    0.5 * (lo + hi)
}

/// The variance map at q.
pub fn variance_map(phi: &impl Nonlinearity, sigma_w2: f64, sigma_b2: f64, q: f64) -> f64 {
    sigma_w2 * expect_scaled(q, |u| phi.value(u).powi(2)) + sigma_b2
}

/// The variance map's stable fixed point q*, or `None` if q grows without bound. The first crossing of
/// the map below the diagonal going up from 0 is the fixed point that q reaches from small variances; for
/// the activations here it is the only stable one.
pub fn q_star(phi: &impl Nonlinearity, sigma_w2: f64, sigma_b2: f64) -> Option<f64> {
    let gap = |q: f64| variance_map(phi, sigma_w2, sigma_b2, q) - q;
    // With σ_b² = 0 and φ(0) = 0, q = 0 is a fixed point; it is the stable one if the map falls below
    // the diagonal just above it (by σ_w²·φ′(0)² for a smooth φ, σ_w²/2 for ReLU's kink).
    if gap(0.0) <= 0.0 && gap(TINY_Q) <= 0.0 {
        return Some(0.0);
    }
    first_crossing(1e-6, 2.0, 1e18, gap)
}

/// The root of the first sign change of `f` from ≥ 0 to < 0 going up from 0, looked for on the points
/// `start`·`factor`ᵏ below `end`, then narrowed by `bisect`; `None` if `f` stays ≥ 0 there.
fn first_crossing(start: f64, factor: f64, end: f64, f: impl Fn(f64) -> f64) -> Option<f64> {
    let (mut lo, mut x) = (0.0, start);
    while x < end {
        if f(x) < 0.0 {
            return Some(bisect(lo, x, 0.0, f));
        }
        lo = x;
        x *= factor;
    }
    None
}

/// χ₁ = σ_w²·E[φ′(√q·z)²] at q.
pub fn chi_1(phi: &impl Nonlinearity, sigma_w2: f64, q: f64) -> f64 {
    sigma_w2 * expect_scaled(q, |u| phi.slope(u).powi(2))
}

/// The correlation map at c, for pre-activations of variance q.
pub fn correlation_map(phi: &impl Nonlinearity, sigma_w2: f64, sigma_b2: f64, q: f64, c: f64) -> f64 {
    (sigma_w2 * expect_pair(q, c, |u| phi.value(u), |u| phi.value(u)) + sigma_b2) / q
}

/// χ_c = σ_w²·E[φ′(u₁)φ′(u₂)] at correlation c (χ₁ at c = 1).
pub fn chi_c(phi: &impl Nonlinearity, sigma_w2: f64, q: f64, c: f64) -> f64 {
    sigma_w2 * expect_pair(q, c, |u| phi.slope(u), |u| phi.slope(u))
}

/// The correlation map's stable fixed point when c = 1 is unstable (χ₁ > 1): the largest c < 1 where
/// the map crosses the diagonal from above. c ↦ C(c) − c is ≥ 0 at 0 (C(0) = (σ_w²·E[φ]² + σ_b²)/q* ≥ 0)
/// and < 0 on (c*, 1), where its slope at 1 is χ₁ − 1 > 0; that interval may be very short just past the
/// critical line, so it is looked for ever closer to 1. Where no point of it can be told from 1 in f64,
/// c* is 1 to working precision.
fn chaotic_c_star(phi: &impl Nonlinearity, sigma_w2: f64, sigma_b2: f64, q: f64) -> f64 {
    let gap = |c: f64| correlation_map(phi, sigma_w2, sigma_b2, q, c) - c;
    let mut step = 1e-4;
    while step >= 1e-15 {
        if gap(1.0 - step) < 0.0 {
            return bisect(0.0, 1.0 - step, 1.0, gap);
        }
        step *= 0.1;
    }
    1.0
}

/// The critical line's σ_w² at σ_b²: the first σ_w² going up from 1e-3 where χ₁ at q* reaches 1 (or q*
/// ceases to exist, as ReLU's does at σ_w² = 2, where χ₁ → 1).
pub fn critical_sigma_w2(phi: &impl Nonlinearity, sigma_b2: f64) -> Option<f64> {
    let above = |w: f64| match q_star(phi, w, sigma_b2) {
        Some(q) => 1.0 - chi_1(phi, w, q),
        None => -1.0,
    };
    first_crossing(1e-3, 1.25, 1e6, above)
}

impl MeanField {
    /// The theory of `phi` at (σ_w², σ_b²): σ_w² must be a positive number and σ_b² a non-negative one.
    pub fn at(phi: &impl Nonlinearity, sigma_w2: f64, sigma_b2: f64) -> Result<MeanField, String> {
        let point = MeanField::at_point(phi, sigma_w2, sigma_b2)?;
        Ok(MeanField { critical_sigma_w2: critical_sigma_w2(phi, sigma_b2), ..point })
    }

    /// `at` without the critical σ_w² (`None` here), the costliest part: for curves over many σ_w².
    pub fn at_point(phi: &impl Nonlinearity, sigma_w2: f64, sigma_b2: f64) -> Result<MeanField, String> {
        if !(sigma_w2.is_finite() && sigma_w2 > 0.0) {
            return Err(format!("σ_w² must be a positive number, not {sigma_w2}"));
        }
        if !(sigma_b2.is_finite() && sigma_b2 >= 0.0) {
            return Err(format!("σ_b² must be a non-negative number, not {sigma_b2}"));
        }
        let critical_sigma_w2 = None;
        let Some(q) = q_star(phi, sigma_w2, sigma_b2) else {
            return Ok(MeanField {
                sigma_w2,
                sigma_b2,
                phase: Phase::Unbounded,
                q_star: None,
                chi_1: None,
                c_star: None,
                chi_c: None,
                xi_c: None,
                critical_sigma_w2,
            });
        };
        // At q* = 0, χ₁ is the limit q → 0⁺: σ_w²·φ′(0)² for a smooth φ, but σ_w²/2 for ReLU.
        let chi1 = chi_1(phi, sigma_w2, q.max(TINY_Q));
        let phase = if (chi1 - 1.0).abs() <= CRITICAL_BAND {
            Phase::Critical
        } else if chi1 < 1.0 {
            Phase::Ordered
        } else {
            Phase::Chaotic
        };
        // With q* = 0 (σ_b² = 0 and φ(0) = 0 below the critical line) the signal itself vanishes with depth
        // and its correlation is undefined: c* = 1 and χ_c = χ₁ are their limits as σ_b² → 0⁺ (and ξ_c the
        // depth scale of the gradients, −1/ln χ₁).
        let (c_star, chi_c) = if phase == Phase::Chaotic && q > 0.0 {
            let c = chaotic_c_star(phi, sigma_w2, sigma_b2, q);
            (c, chi_c(phi, sigma_w2, q, c))
        } else {
            (1.0, chi1)
        };
        let xi_c = (chi_c < 1.0 - CRITICAL_BAND).then(|| -1.0 / chi_c.ln());
        Ok(MeanField {
            sigma_w2,
            sigma_b2,
            phase,
            q_star: Some(q),
            chi_1: Some(chi1),
            c_star: Some(c_star),
            chi_c: Some(chi_c),
            xi_c,
            critical_sigma_w2,
        })
    }
}

/// `vanish theory --json`'s object, which the page shows too: the theory of `activation` at (σ_w², σ_b²)
/// with the activation's name.
pub fn theory_json(activation: Activation, sigma_w2: f64, sigma_b2: f64) -> Result<serde_json::Value, String> {
    let m = MeanField::at(&activation, sigma_w2, sigma_b2)?;
    let mut value = serde_json::to_value(&m).map_err(|e| e.to_string())?;
    value["activation"] = activation.to_string().into();
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_matches_its_closed_forms() {
        // q = σ_w²·q/2 + σ_b², so q* = σ_b²/(1 − σ_w²/2), χ₁ = σ_w²/2, and the critical line is σ_w² = 2.
        for (w, b) in [(1.0, 0.1), (1.5, 0.05), (1.9, 0.3)] {
            let m = MeanField::at(&Activation::Relu, w, b).unwrap();
            let q = b / (1.0 - w / 2.0);
            assert!((m.q_star.unwrap() - q).abs() < 1e-12 * q, "{m:?}");
            assert!((m.chi_1.unwrap() - w / 2.0).abs() < 1e-13, "{m:?}");
            assert_eq!((m.phase, m.c_star), (Phase::Ordered, Some(1.0)));
            assert!((m.critical_sigma_w2.unwrap() - 2.0).abs() < 1e-9, "{m:?}");
        }
        assert_eq!(MeanField::at(&Activation::Relu, 2.5, 0.1).unwrap().phase, Phase::Unbounded);
        // without biases q* = 0 below the critical line, and χ₁ is still σ_w²/2 (the limit q → 0⁺)
        let m = MeanField::at(&Activation::Relu, 1.5, 0.0).unwrap();
        assert_eq!(m.q_star, Some(0.0));
        assert!((m.chi_1.unwrap() - 0.75).abs() < 1e-13, "{m:?}");
        assert_eq!(MeanField::at(&Activation::Relu, 3.0, 0.0).unwrap().phase, Phase::Unbounded);
    }

    #[test]
    fn the_identity_is_critical_at_one() {
        let m = MeanField::at(&Activation::Identity, 0.5, 0.2).unwrap();
        assert!((m.q_star.unwrap() - 0.4).abs() < 1e-13 && (m.chi_1.unwrap() - 0.5).abs() < 1e-13, "{m:?}");
        assert!((m.xi_c.unwrap() + 1.0 / 0.5f64.ln()).abs() < 1e-11, "{m:?}");
        assert!((m.critical_sigma_w2.unwrap() - 1.0).abs() < 1e-9, "{m:?}");
    }
}
