//! What `vanish train` (and the page's Train button) prints after a run: ‖dW‖ per layer at
//! initialisation and at the end on log bars, the first/last ratio, each epoch's losses and, with
//! clipping, how often it clipped.

use super::table::{log_bar, positive_range, sci};
use crate::train::History;

/// What `vanish train` prints after a run: ‖dW‖ per layer at initialisation and at the end on log bars,
/// the first/last ratio, each epoch's losses and, with clipping, how often it clipped.
pub fn train_summary(h: &History, clipped_fraction: Option<f64>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let first = h.init_probe();
    let last = &h.probes.last().expect("at least the initial probe").probe;
    let (lo, hi) = positive_range(first.layers.iter().chain(&last.layers).map(|l| l.grad_w)).unwrap_or((1.0, 1.0));
    let _ = writeln!(s, "\n{:>6}  {:>9} {:<24} {:>9} {:<24}", "layer", "‖dW‖ init", "", "‖dW‖ end", "");
    let n = first.layers.len();
    for i in 0..n {
        let label = if i + 1 == n { "out".to_string() } else { (i + 1).to_string() };
        let (a, b) = (first.layers[i].grad_w, last.layers[i].grad_w);
        let _ = writeln!(
            s,
            "{label:>6}  {:>9} {:<24} {:>9} {:<24}",
            sci(a),
            log_bar(a, lo, hi, 24),
            sci(b),
            log_bar(b, lo, hi, 24)
        );
    }
    let _ = writeln!(s, "first/last at init: {}", sci(first.layers[0].grad_w / first.layers[n - 1].grad_w));
    for e in &h.epochs {
        let test = match (e.test_loss, e.test_acc) {
            (Some(l), Some(a)) => format!(", test loss {l:.4} accuracy {:.1}%", 100.0 * a),
            _ => String::new(),
        };
        let _ =
            writeln!(s, "epoch {}: train loss {:.4} accuracy {:.1}%{test}", e.epoch, e.train_loss, 100.0 * e.train_acc);
    }
    if let Some(f) = clipped_fraction {
        let max = h.grad_norms.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "gradient clipping: {:.1}% of steps clipped (largest norm before clipping {})",
            100.0 * f,
            sci(max)
        );
    }
    s
}
