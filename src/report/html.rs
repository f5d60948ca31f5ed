//! `report.html`: one self-contained page (no scripts, no network; the SVGs inlined) with the checks,
//! a table per configuration with its verdict and the theory beside the measurement, the plots, every
//! run, and the settings.

use std::fmt::Write;

use super::ReportInput;
use super::groups::{Group, mean, spread};
use super::plots::Plot;
use crate::record::verdict;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("–".into(), f)
}

fn sci(v: f64) -> String {
    format!("{v:.2e}")
}

fn fixed(v: f64) -> String {
    format!("{v:.3}")
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1320px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}\
.healthy{color:#1a7f37}.vanishing,.dead,.saturated{color:#c62828}.exploding{color:#b26a00}\
figure{margin:2em 0}figcaption{font-size:14px;color:#444;max-width:900px}svg{max-width:100%;height:auto}\
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}";

pub fn page(input: &ReportInput<'_>, groups: &[Group<'_>], plots: &[Plot]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\
         <body>\n<h1>{t}</h1>\n<p><code>{c}</code></p>\n<p>{n} runs in {g} configurations. ‖δ‖ = ‖∂L/∂z‖ is the gradient \
         reaching a dense layer's output; the per-layer factor is the geometric mean of ‖δ_l‖/‖δ_(l+1)‖ over the hidden \
         layers (×/÷ its spread); theory is √χ, χ = n·Var[W]·E[f′(z)²] from the measured weights and pre-activations.</p>\n",
        t = escape(&input.title),
        c = escape(&input.command),
        n = input.runs.len(),
        g = groups.len()
    );
    if !input.checks.is_empty() {
        h.push_str("<h2>Checks</h2>\n<table><tr><th class=l>preset</th><th class=l>expected</th><th class=l>measured</th><th>result</th></tr>\n");
        for c in input.checks {
            let _ = writeln!(
                h,
                "<tr><td class=l>{}</td><td class=l>{}</td><td class=l>{}</td><td class={}>{}</td></tr>",
                escape(&c.preset),
                escape(&c.expected),
                escape(&c.measured),
                if c.passed { "pass" } else { "fail" },
                if c.passed { "reproduced" } else { "NOT reproduced" }
            );
        }
        h.push_str("</table>\n");
    }
    let _ = writeln!(
        h,
        "<h2>Configurations</h2>\n<p>At initialisation, over seeds. Verdicts: dead if a hidden layer has ≥ {:.0}% dead \
         units, saturated if ≥ {:.0}% saturated values, vanishing if layer 1 gets below {:e} of the last hidden layer's \
         ‖δ‖, exploding above {:e}; the decay starts at the layer nearest the output whose ‖δ‖ fell below {} of the \
         last hidden layer's.</p>",
        100.0 * verdict::DEAD_FRACTION,
        100.0 * verdict::SATURATED_FRACTION,
        verdict::VANISHING_RATIO,
        verdict::EXPLODING_RATIO,
        verdict::ONSET_FRACTION
    );
    h.push_str(
        "<table><tr><th class=l>configuration</th><th>seeds</th><th class=l>verdict</th><th>decay starts at layer</th>\
         <th>‖δ‖ factor per layer</th><th>theory √χ</th><th>measured / theory</th><th>sigmoid bound</th>\
         <th>‖dW₁‖/‖dW_out‖</th><th>final loss</th><th>final accuracy</th><th>final test accuracy</th></tr>\n",
    );
    for g in groups {
        let geo =
            |f: &dyn Fn(&crate::record::RunRecord) -> Option<f64>| spread(g.runs.iter().map(|r| f(r))).map(|s| s.mean);
        let avg = |f: &dyn Fn(&crate::record::RunRecord) -> Option<f64>| mean(g.runs.iter().map(|r| f(r)));
        let factor = geo(&|r| r.init().delta_fit.map(|f| f.factor));
        let spread_ = geo(&|r| r.init().delta_fit.map(|f| f.spread));
        let _ = writeln!(
            h,
            "<tr><td class=l>{}</td><td>{}</td><td class=\"l {}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.label),
            g.runs.len(),
            g.verdict().0,
            escape(&g.verdict_text()),
            g.onset().map_or("–".into(), |l| l.to_string()),
            match (factor, spread_) {
                (Some(f), Some(s)) => format!("×{f:.3} (×/÷{s:.2})"),
                _ => "–".into(),
            },
            opt(geo(&|r| r.init().theory_factor), |v| format!("×{v:.3}")),
            opt(geo(&|r| r.init().theory_ratio()), fixed),
            opt(geo(&|r| r.init().sigmoid_bound), |v| format!("×{v:.3}")),
            opt(geo(&|r| r.init().first_last), sci),
            opt(avg(&|r| r.last().loss), fixed),
            opt(avg(&|r| r.last().accuracy), pct),
            opt(avg(&|r| r.last().test_accuracy), pct),
        );
    }
    h.push_str("</table>\n<h2>Plots</h2>\n");
    for p in plots {
        let _ = writeln!(
            h,
            "<figure><h3>{}</h3>\n{}\n<figcaption>{} (<code>{}</code>)</figcaption></figure>",
            escape(&p.title),
            p.svg,
            escape(&p.caption),
            p.file
        );
    }
    h.push_str("<h2>Runs</h2>\n<details><summary>every run at initialisation</summary>\n<table><tr><th class=l>run</th><th class=l>shape</th><th class=l>verdict</th><th class=l>why</th><th>factor</th><th>theory</th><th>‖dW₁‖/‖dW_out‖</th></tr>\n");
    for r in input.runs {
        let e = r.init();
        let _ = writeln!(
            h,
            "<tr><td class=l>{}</td><td class=l>{}</td><td class=\"l {}\">{}</td><td class=l>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.id),
            escape(&r.shape),
            e.verdict.kind,
            e.verdict.kind,
            escape(&e.verdict.reason),
            r.diverged.as_ref().map_or(String::new(), |d| format!("; training diverged: {}", escape(d))),
            opt(e.delta_fit.map(|f| f.factor), fixed),
            opt(e.theory_factor, fixed),
            opt(e.first_last, sci)
        );
    }
    h.push_str("</table></details>\n<h2>Settings</h2>\n<pre>");
    h.push_str(&escape(&serde_json::to_string_pretty(&input.settings).unwrap_or_default()));
    h.push_str("</pre>\n<p>Files beside this page: runs.csv (tidy: run × epoch × layer × quantity), summary.json, the SVGs.</p>\n</body></html>\n");
    h
}
