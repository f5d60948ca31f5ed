//! The demo's text: the per-layer table with log-scale bars, each network's rows, and the conclusion
//! computed from the numbers.

use super::DemoOutput;
use crate::engine::Optimizer;
use crate::model::{Activation, Norm};
use crate::report::table::{log_bar, positive_range, row, sci};

fn median_abs(v: &[f64]) -> f64 {
    let mut a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    a.sort_by(|x, y| x.total_cmp(y));
    if a.is_empty() { 0.0 } else { a[a.len() / 2] }
}

fn verdict(ratio: f64) -> &'static str {
    if !ratio.is_finite() {
        "undefined"
    } else if ratio < 1e-3 {
        "vanishes"
    } else if ratio > 1e3 {
        "explodes"
    } else {
        "flows"
    }
}

/// The demo's tables and conclusion, as `vanish demo` prints them.
pub fn render(out: &DemoOutput) -> String {
    use std::fmt::Write;
    let c = &out.config;
    let mut s = String::new();
    let shape = out.runs.first().map_or(String::new(), |r| r.shape.clone());
    let _ = writeln!(
        s,
        "\nvanish demo: {} ({} train / {} test rows), MLP {shape}, {} init, Adam lr {} (eps 1e-7), \
         batch {}, {} epoch(s), seed {}\nengine: {}\n",
        c.dataset,
        c.train_rows,
        c.test_rows,
        c.init,
        c.optimizer.lr(),
        c.batch_size,
        c.epochs,
        c.seed,
        c.engine
    );
    let _ = writeln!(
        s,
        "Per-layer gradient norm ‖dL/dW‖ at initialisation, over the whole training set (log-scale bars):\n"
    );
    let (lo, hi) =
        positive_range(out.runs.iter().flat_map(|r| r.grad_norms_init.iter().copied())).unwrap_or((1.0, 1.0));
    let layers = out.runs[0].grad_norms_init.len();
    let _ = write!(s, "{:>6}", "layer");
    for r in &out.runs {
        let _ = write!(s, "  {:<26}", r.name);
    }
    s.push('\n');
    for i in 0..layers {
        let label = if i + 1 == layers { "out".to_string() } else { (i + 1).to_string() };
        let _ = write!(s, "{label:>6}");
        for r in &out.runs {
            let g = r.grad_norms_init[i];
            let _ = write!(s, "  {:>9} {:<16}", sci(g), log_bar(g, lo, hi, 16));
        }
        s.push('\n');
    }
    let _ = write!(s, "{:>6}", "1/out");
    for r in &out.runs {
        let _ = write!(s, "  {:>9} {:<16}", sci(r.first_last_ratio), "");
    }
    s.push_str("\n\n");
    for r in &out.runs {
        let _ = writeln!(s, "{}:", r.name);
        let _ = writeln!(s, "  W1 row {} before            {}", c.row, row(&r.w1_row_before, 10, 5));
        let _ = writeln!(s, "  W1 row {} after             {}", c.row, row(&r.w1_row_after, 10, 5));
        let _ = writeln!(
            s,
            "  true mean gradient row      {}",
            r.grad_row.iter().map(|v| format!("{:>10}", sci(*v))).collect::<Vec<_>>().join(" ")
        );
        let _ = writeln!(s, "  notebook's (before−after)/lr {}", row(&r.notebook_row, 9, 3));
        let _ = writeln!(
            s,
            "  after {} steps: train loss {:.4}, accuracy {:.1}%, test accuracy {:.1}%\n",
            r.steps,
            r.loss_after,
            100.0 * r.acc_after,
            100.0 * r.test_acc_after
        );
    }
    s.push_str(&conclusion(out));
    s
}

/// The conclusion, computed from the runs: which configurations lose their gradient, by how much per
/// layer, what ReLU and batch norm change, and why the notebook's number could not show it.
fn conclusion(out: &DemoOutput) -> String {
    use std::fmt::Write;
    let mut s = String::from("Conclusion (computed from the numbers above):\n");
    for r in &out.runs {
        let _ = writeln!(
            s,
            "- {}: the first layer receives {} of the output layer's gradient norm: the gradient {} \
             (×{:.2} per layer on average).",
            r.name,
            sci(r.first_last_ratio),
            verdict(r.first_last_ratio),
            r.decay_per_layer
        );
        if let Some(sat) = r.saturated_init.iter().copied().reduce(f64::max).filter(|&v| v > 0.05) {
            let _ = writeln!(s, "  up to {:.0}% of its units are saturated (f′ < 1% of its maximum).", 100.0 * sat);
        }
        if let Some(dead) = r.dead_init.iter().copied().reduce(f64::max).filter(|&v| v > 0.0) {
            let _ =
                writeln!(s, "  up to {:.0}% of a layer's units are dead (output 0 on every example).", 100.0 * dead);
        }
    }
    // Every other configuration against plain sigmoid, the notebook's vanishing case.
    if let Some(sig) = out.runs.first().filter(|r| r.name == Activation::Sigmoid.to_string()) {
        let cures: Vec<String> = out
            .runs
            .iter()
            .filter(|r| r.activation != Activation::Tanh && r.name != sig.name)
            .map(|r| format!("{} {:.1e}×", r.name, r.first_last_ratio / sig.first_last_ratio))
            .collect();
        let _ = writeln!(s, "- Cures: the first layer's share over plain sigmoid's: {}.", cures.join("; "));
        // A cure of sigmoid that still vanishes, and why, for the two that can.
        for r in out.runs.iter().filter(|r| r.activation == Activation::Sigmoid && r.name != sig.name) {
            if verdict(r.first_last_ratio) != "vanishes" {
                continue;
            }
            let why = match (r.residual, r.norm) {
                (true, _) => {
                    "Its stream adds the branch's f ∈ (0, 1) at every block, so deeper units saturate \
                     (`vanish sweep --preset resnet` shows a residual sigmoid with the standard init that does not vanish)"
                }
                (false, Norm::Layer) => {
                    "Layer norm gives each row unit variance, where sigmoid's f′ is still small (E[f′²] ≈ 0.045), and the \
                     row's scale does not make up for it (`vanish sweep --preset layernorm` checks this against theory)"
                }
                _ => "",
            };
            let _ = writeln!(
                s,
                "- {} is not enough here: the gradient still vanishes ({}). {why}",
                r.name,
                sci(r.first_last_ratio)
            );
        }
    }
    s.push_str(&notebook_verdict(out));
    s
}

/// Why `(w_before − w_after)/lr` is not a gradient, argued from this run's own numbers. Adam's step is
/// lr·m̂/(√v̂ + eps): about lr·sign(g) when |g| ≫ eps, and about lr·g/eps when |g| ≪ eps.
fn notebook_verdict(out: &DemoOutput) -> String {
    use std::fmt::Write;
    let Optimizer::Adam { eps, .. } = out.config.optimizer else { return String::new() };
    let mut s = String::new();
    let measured: Vec<(String, f64, f64)> =
        out.runs.iter().map(|r| (r.name.clone(), median_abs(&r.grad_row), median_abs(&r.notebook_row))).collect();
    let _ = writeln!(
        s,
        "- The notebook's (w_before − w_after)/lr is not a gradient: Adam's step is lr·m̂/(√v̂ + eps), about lr \
         per step once |g| ≫ eps = {eps:e}, so over {} steps it saturates near the step count.",
        out.runs[0].steps
    );
    let above: Vec<&(String, f64, f64)> = measured.iter().filter(|m| m.1 > 10.0 * eps).collect();
    if let (Some(lo), Some(hi)) =
        (above.iter().min_by(|a, b| a.1.total_cmp(&b.1)), above.iter().max_by(|a, b| a.1.total_cmp(&b.1)))
        && lo.0 != hi.0
    {
        let _ = writeln!(
            s,
            "  {} and {}: true gradients (median |g| of the row) {} and {} differ {:.0}×, their Δw/lr rows {:.2} \
             and {:.2} only {:.1}×.",
            lo.0,
            hi.0,
            sci(lo.1),
            sci(hi.1),
            hi.1 / lo.1,
            lo.2,
            hi.2,
            hi.2.max(lo.2) / hi.2.min(lo.2).max(f64::MIN_POSITIVE)
        );
    }
    for (name, g, nb) in measured.iter().filter(|m| m.1 < eps) {
        let _ = writeln!(
            s,
            "  {name}: its true gradient {} is below eps, so its step is about lr·g/eps and its row ({nb:.3}) looks \
             small because of eps, not in proportion to the gradient.",
            sci(*g)
        );
    }
    s
}
