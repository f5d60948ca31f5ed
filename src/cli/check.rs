//! `vanish check`: run the GPU-against-reference suite on this machine's GPU and driver, print each
//! case's worst tensor (every tensor with `--verbose`, every failing one always) against its tolerance,
//! and exit non-zero if any tensor is out of bounds.

use anyhow::{Context, Result, bail};
use clap::Args;

use std::collections::BTreeMap;

use crate::check::tolerance::{CONDITIONING_GRAD, CONDITIONING_STEPS};
use crate::check::{CaseResult, CheckReport, TensorCheck, full_suite, quick_suite, run_suite};
use crate::gpu::{DeviceRequest, Gpu};
use crate::model::Norm;
use crate::report::table::sci;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A slice of the suite that runs in seconds (every activation at depth 2, plus depth 30, batch 670,
    /// batch 1 and a softmax head)
    #[arg(long)]
    pub quick: bool,
    /// Only the cases whose name contains this, e.g. `sigmoid+bn depth 30`
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Only the cases with this normalisation: none, batch or layer
    #[arg(long)]
    pub norm: Option<Norm>,
    /// Only the residual cases
    #[arg(long)]
    pub residual: bool,
    /// Print every tensor of every case, not just each case's worst
    #[arg(long)]
    pub verbose: bool,
    /// Print the whole report as JSON (every tensor of every case)
    #[arg(long)]
    pub json: bool,
    /// Use the adapter whose name contains this (see `vanish devices`)
    #[arg(long)]
    pub adapter: Option<String>,
}

pub fn run(args: CheckArgs) -> Result<()> {
    let mut cases = if args.quick { quick_suite() } else { full_suite() };
    if let Some(norm) = args.norm {
        cases.retain(|c| c.norm == norm);
    }
    if args.residual {
        cases.retain(|c| c.residual);
    }
    if let Some(only) = &args.only {
        cases.retain(|c| c.name().contains(only.as_str()));
        if cases.is_empty() {
            bail!("--only '{only}' matches no case (names look like 'sigmoid+bn depth 30 batch 670 adam')");
        }
    }
    if cases.is_empty() {
        bail!(
            "no case of the {} suite has the --norm and --residual asked for",
            if args.quick { "quick" } else { "full" }
        );
    }
    let gpu = Gpu::new(&DeviceRequest { adapter: args.adapter.clone() }).context("vanish check needs a GPU")?;
    if !args.json {
        outln!("checking {} cases on gpu: {} against the f64 reference", cases.len(), gpu.adapter.describe())?;
        outln!("each case: 3 training steps from the same weights; ‖got − want‖ must be ≤ atol + rtol·‖want‖")?;
        outln!("{:<44} {:<28} {:>9} {:>9} {:>9}  rule", "case", "worst tensor", "max |err|", "rel err", "of bound")?;
    }
    let (total, json, verbose) = (cases.len(), args.json, args.verbose);
    let mut done = 0;
    let mut printed = Ok(());
    let report = run_suite(&gpu, &cases, |r| {
        done += 1;
        if !json {
            if printed.is_ok() {
                printed = print_case(r, verbose);
            }
        } else {
            eprint!("\rcase {done}/{total}");
        }
    })?;
    printed?;
    if json {
        eprintln!();
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_summary(&report)?;
        outln!("{} passed, {} failed in {:.1} s", report.passed, report.failed, report.seconds)?;
    }
    if report.failed > 0 {
        let names: Vec<&str> = report.cases.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).take(5).collect();
        bail!("{} of {} cases out of tolerance (first: {})", report.failed, total, names.join("; "));
    }
    Ok(())
}

fn print_case(r: &CaseResult, verbose: bool) -> Result<()> {
    let status = if r.passed { "ok" } else { "FAILED" };
    match r.worst() {
        Some(w) => outln!("{:<44} {} {status}", r.name, line(w))?,
        None => outln!("{:<44} (no tensors) {status}", r.name)?,
    }
    for t in r.tensors.iter().filter(|t| verbose || !t.passed) {
        outln!("{:<44} {}{}", "", line(t), if t.passed { "" } else { " FAILED" })?;
    }
    Ok(())
}

/// `grad.layers.3.bn.gamma` → `grad.bn.gamma`: one row per kind of tensor in the summary.
fn kind(name: &str) -> String {
    let (prefix, rest) = name.split_once("layers.").unwrap_or(("", name));
    match rest.split_once('.') {
        Some((index, suffix)) if index.bytes().all(|b| b.is_ascii_digit()) => format!("{prefix}{suffix}"),
        _ => name.to_string(),
    }
}

/// Per kind of tensor over the whole run: the largest errors among the tensors judged on their stated
/// bound, the closest approach to the bound over all, and how many passed only on their case's measured
/// conditioning (whose errors are in the per-case lines and the JSON).
fn print_summary(report: &CheckReport) -> Result<()> {
    #[derive(Default)]
    struct Row {
        count: usize,
        max_abs: f64,
        max_rel: f64,
        ratio: f64,
        conditioning: usize,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for t in report.cases.iter().flat_map(|c| &c.tensors) {
        let row = rows.entry(kind(&t.name)).or_default();
        row.count += 1;
        row.ratio = row.ratio.max(t.ratio());
        if t.rule == "conditioning" {
            row.conditioning += 1;
        } else {
            row.max_abs = row.max_abs.max(t.max_abs);
            row.max_rel = row.max_rel.max(t.rel);
        }
    }
    outln!(
        "\n{:<18} {:>6} {:>10} {:>10} {:>9} {:>13}",
        "tensor",
        "count",
        "max |err|",
        "max rel",
        "of bound",
        "conditioning"
    )?;
    for (k, r) in &rows {
        outln!(
            "{k:<18} {:>6} {:>10} {:>10} {:>8.1}% {:>13}",
            r.count,
            sci(r.max_abs),
            sci(r.max_rel),
            100.0 * r.ratio,
            r.conditioning
        )?;
    }
    outln!(
        "max |err| and max rel: over tensors within their stated bound (a relative error is large only where the \
         bound is absolute, e.g. a bias before batch norm, whose gradient is zero)"
    )?;
    let cond: usize = rows.values().map(|r| r.conditioning).sum();
    if cond > 0 {
        let cases = report.cases.iter().filter(|c| c.tensors.iter().any(|t| t.rule == "conditioning")).count();
        outln!(
            "conditioning: {cond} tensors in {cases} cases exceeded their stated bound but stayed within \
             {CONDITIONING_GRAD}× (gradients) or {CONDITIONING_STEPS}× (after steps) how far a one-ulp nudge of the \
             weights and inputs moves them: ill-conditioned networks (deep batch norm) that no f32 engine can \
             match to f64 more closely"
        )?;
    }
    Ok(())
}

fn line(t: &TensorCheck) -> String {
    format!("{:<28} {:>9} {:>9} {:>8.1}%  {}", t.name, sci(t.max_abs), sci(t.rel), 100.0 * t.ratio(), t.rule)
}
