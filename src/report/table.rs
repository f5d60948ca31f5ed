//! Terminal tables: numbers in scientific notation with a bar whose length is the value's log10, so
//! gradients that differ by nine orders of magnitude are readable at a glance.

/// A bar of up to `width` cells for `value` on a log scale from `lo` to `hi` (both > 0): `lo` or less
/// is one cell, `hi` is `width` cells. Zero, negative or non-finite values get an empty bar.
pub fn log_bar(value: f64, lo: f64, hi: f64, width: usize) -> String {
    if !(value.is_finite() && value > 0.0 && lo > 0.0 && hi > 0.0) {
        return String::new();
    }
    let span = (hi.log10() - lo.log10()).max(1e-12);
    let frac = ((value.log10() - lo.log10()) / span).clamp(0.0, 1.0);
    let cells = 1 + (frac * (width.saturating_sub(1)) as f64).round() as usize;
    "█".repeat(cells)
}

/// The smallest and largest positive finite values, for a shared bar scale.
pub fn positive_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite() && *v > 0.0).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `1.23e-4`-style formatting for magnitudes that span many decades.
pub fn sci(v: f64) -> String {
    if v == 0.0 { "0".into() } else { format!("{v:.2e}") }
}

/// A row of numbers, each right-aligned in `width` characters with `decimals` decimals.
pub fn row(values: &[f64], width: usize, decimals: usize) -> String {
    values.iter().map(|v| format!("{v:>width$.decimals$}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_grow_with_the_logarithm() {
        let (lo, hi) = (1e-9, 1.0);
        assert_eq!(log_bar(1e-9, lo, hi, 10).chars().count(), 1);
        assert_eq!(log_bar(1.0, lo, hi, 10).chars().count(), 10);
        assert_eq!(log_bar(1e-4, lo, hi, 10).chars().count(), 6); // 5/9 of the way: 1 + round(5)
        assert_eq!(log_bar(0.0, lo, hi, 10), "");
        assert_eq!(log_bar(f64::NAN, lo, hi, 10), "");
    }

    #[test]
    fn range_skips_zero_and_nan() {
        assert_eq!(positive_range([0.0, 3.0, f64::NAN, 0.5]), Some((0.5, 3.0)));
        assert_eq!(positive_range([0.0]), None);
    }
}
