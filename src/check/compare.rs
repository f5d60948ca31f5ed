//! Comparing one tensor of the GPU engine (f32) with the reference (f64): the largest elementwise
//! absolute error, the relative error of the whole tensor ‖got − want‖/‖want‖, and the bound that
//! ‖got − want‖ must stay under: `atol + rtol·‖want‖`, as `assert_close` bounds elements.
//!
//! Per tensor rather than per element, because f32 rounding is relative to a tensor's scale: an element
//! that is nearly zero through cancellation carries the rounding of the terms that cancelled, so an
//! elementwise relative bound fails on correct results, while a tensor norm is dominated by its large
//! elements, which carry f32's relative precision.

use serde::Serialize;

/// One tensor's comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorCheck {
    pub name: String,
    /// max |got − want| over elements.
    pub max_abs: f64,
    /// ‖got − want‖ / ‖want‖ (0 when both are zero, infinite when only `want` is).
    pub rel: f64,
    /// ‖want‖, for reading the result.
    pub norm: f64,
    /// The bound on ‖got − want‖.
    pub allowed: f64,
    /// ‖want − nudged‖: how far the reference itself moves when its initial weights move by one f32
    /// ulp (0 where not measured).
    pub drift: f64,
    /// Which part of the bound dominates: `relative`, or the absolute term named where it is set in
    /// `tolerance` (`zero-gradient`, `floor`, `update`, `gradient-carried`, `adam-elementwise`,
    /// `adam-drift`, `spread`); `conditioning` where only the case's measured conditioning let it pass.
    pub rule: &'static str,
    pub passed: bool,
}

impl TensorCheck {
    /// ‖got − want‖ as a fraction of the bound: above 1 fails.
    pub fn ratio(&self) -> f64 {
        let err = self.rel * self.norm;
        if err == 0.0 {
            0.0
        } else if self.allowed > 0.0 {
            err / self.allowed
        } else {
            f64::INFINITY
        }
    }
}

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

/// Compares `got` with `want` under `‖got − want‖ ≤ atol + rtol·‖want‖`; `abs_rule` names the absolute
/// term for the report. Any NaN or infinity in `got` fails.
pub fn compare(name: String, got: &[f64], want: &[f64], rtol: f64, atol: f64, abs_rule: &'static str) -> TensorCheck {
    assert_eq!(got.len(), want.len(), "{name}: both engines use the same layout");
    let want_norm = norm(want.iter().copied());
    let err = norm(got.iter().zip(want).map(|(g, w)| g - w));
    let max_abs = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
    let finite = got.iter().chain(want).all(|v| v.is_finite());
    let allowed = atol + rtol * want_norm;
    let rel = if err == 0.0 { 0.0 } else { err / want_norm };
    TensorCheck {
        name,
        max_abs: if finite { max_abs } else { f64::NAN },
        rel: if finite { rel } else { f64::NAN },
        norm: want_norm,
        allowed,
        drift: 0.0,
        rule: if atol > rtol * want_norm { abs_rule } else { "relative" },
        passed: finite && err <= allowed,
    }
}
