//! The sweep's terminal summary: one row per configuration with its verdict, the measured and
//! predicted per-layer factor, and the first/last ratio with a log-scale bar.

use std::fmt::Write;

use super::groups::{Group, spread};
use super::table::{log_bar, positive_range, sci};
use crate::sweep::Check;

/// Beyond this many configurations the table shows only the plotted ones.
const MAX_ROWS: usize = 40;

pub fn summary_table(groups: &[Group<'_>], shown: &[String], checks: &[Check]) -> String {
    let rows: Vec<&Group<'_>> = if groups.len() <= MAX_ROWS {
        groups.iter().collect()
    } else {
        groups.iter().filter(|g| shown.contains(&g.id)).collect()
    };
    let geo = |g: &Group<'_>, f: &dyn Fn(&crate::record::RunRecord) -> Option<f64>| {
        spread(g.runs.iter().map(|r| f(r))).map(|s| s.mean)
    };
    let ratios: Vec<Option<f64>> = rows.iter().map(|g| geo(g, &|r| r.init().first_last)).collect();
    let (lo, hi) = positive_range(ratios.iter().flatten().copied()).unwrap_or((1.0, 1.0));
    let width = rows.iter().map(|g| g.label.chars().count()).max().unwrap_or(10).max(13);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<width$}  {:<14} {:>5}  {:>8} {:>8}  {:>9} {:<20}",
        "configuration", "verdict", "onset", "×δ/layer", "theory", "dW₁/dWout", ""
    );
    for (g, ratio) in rows.iter().zip(&ratios) {
        let f = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
        let _ = writeln!(
            s,
            "{:<width$}  {:<14} {:>5}  {:>8} {:>8}  {:>9} {:<20}",
            g.label,
            g.verdict_text(),
            g.onset().map_or("–".into(), |l| l.to_string()),
            f(geo(g, &|r| r.init().delta_fit.map(|f| f.factor))),
            f(geo(g, &|r| r.init().theory_factor)),
            ratio.map_or("–".into(), sci),
            ratio.map_or(String::new(), |v| log_bar(v, lo, hi, 20)),
        );
    }
    if rows.len() < groups.len() {
        let _ = writeln!(s, "({} more configurations in report.html and summary.json)", groups.len() - rows.len());
    }
    for c in checks {
        let _ = writeln!(
            s,
            "\n[{}] {}: {}\n    expected: {}\n    measured: {}",
            if c.passed { "REPRODUCED" } else { "NOT REPRODUCED" },
            c.preset,
            if c.passed { "the expected effect was reproduced" } else { "the expected effect was not reproduced" },
            c.expected,
            c.measured
        );
    }
    s
}
