//! `vanish bench`: kernel and training benchmarks on the chosen adapter, each validated before timing.

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::args::{DeviceArgs, DeviceKind, open_device};
use crate::bench::{
    BandwidthRow, BenchOptions, JobRow, MatmulRow, TrainingRow, bandwidth_section, jobs_section, matmul_section,
    training_section,
};

/// The sections, in the order they run.
const SECTIONS: [&str; 4] = ["matmul", "bandwidth", "training", "jobs"];

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A smoke run in seconds: small shapes, few repetitions, the notebook model only
    #[arg(long)]
    pub quick: bool,
    /// Only these sections (matmul, bandwidth, training, jobs); default all. `jobs` runs the headline
    /// sweep, `train --epochs 200` and `demo` end to end, cold and warm, against the CPU reference
    #[arg(long, value_delimiter = ',')]
    pub sections: Option<Vec<String>>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print one JSON object instead of tables
    #[arg(long)]
    pub json: bool,
    /// The adapter's FP32 peak in GFLOP/s, from its data sheet (wgpu does not report it): matmul rows
    /// then show their share of it
    #[arg(long, value_name = "GFLOPS")]
    pub peak_gflops: Option<f64>,
}

#[derive(Serialize)]
struct BenchReport {
    adapter: String,
    cpu_threads: usize,
    options: BenchOptions,
    /// `--peak-gflops`, when given.
    peak_gflops: Option<f64>,
    matmul: Vec<MatmulRow>,
    bandwidth: Vec<BandwidthRow>,
    training: Vec<TrainingRow>,
    jobs: Vec<JobRow>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let wants = |s: &str| args.sections.as_ref().is_none_or(|l| l.iter().any(|x| x == s));
    if let Some(bad) = args.sections.iter().flatten().find(|s| !SECTIONS.contains(&s.as_str())) {
        anyhow::bail!("--sections: unknown section '{bad}' (expected {})", SECTIONS.join(", "));
    }
    if let Some(peak) = args.peak_gflops
        && !(peak.is_finite() && peak > 0.0)
    {
        anyhow::bail!("--peak-gflops: {peak} is not a positive number of GFLOP/s");
    }
    if args.device.device == DeviceKind::Cpu {
        anyhow::bail!("--device cpu: the benchmark measures the GPU (the CPU reference appears as a row of its own)");
    }
    let gpu = open_device(&DeviceArgs { device: DeviceKind::Gpu, adapter: args.device.adapter.clone() })?
        .expect("--device gpu gives a GPU or an error");
    let opts = BenchOptions { quick: args.quick, real_gpu: !gpu.adapter.is_cpu() };
    let say = |what: &str| {
        if !args.json {
            eprintln!("measuring {what}...");
        }
    };
    let mut report = BenchReport {
        adapter: gpu.adapter.describe(),
        cpu_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        options: opts,
        peak_gflops: args.peak_gflops,
        matmul: Vec::new(),
        bandwidth: Vec::new(),
        training: Vec::new(),
        jobs: Vec::new(),
    };
    if wants("matmul") {
        say("matmul");
        report.matmul = matmul_section(&gpu, &opts)?;
    }
    if wants("bandwidth") {
        say("elementwise and reduction bandwidth");
        report.bandwidth = bandwidth_section(&gpu, &opts)?;
    }
    if wants("training") {
        say("training");
        report.training = training_section(&gpu, &opts)?;
    }
    if wants("jobs") {
        say("the jobs, end to end (each a child process: GPU cold, GPU warm, CPU reference)");
        report.jobs = jobs_section(&opts, args.device.adapter.as_deref())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn render(r: &BenchReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "\nadapter: {}  (host: {} CPU threads)", r.adapter, r.cpu_threads);
    if !r.matmul.is_empty() {
        let clock = r.matmul.first().and_then(|m| m.clock).map_or("?".into(), |c| format!("{c:?}"));
        let _ = writeln!(s, "\nmatmul, GFLOP/s (median [min–max]; GPU rows timed with {clock}, CPU rows wall clock)");
        let _ = match r.peak_gflops {
            Some(peak) => writeln!(s, "adapter peak: {peak} GFLOP/s (--peak-gflops); % peak is the median's share"),
            None => {
                writeln!(s, "adapter peak: not known (wgpu does not report it; --peak-gflops adds a % peak column)")
            }
        };
        let peak_head = if r.peak_gflops.is_some() { format!(" {:>7}", "% peak") } else { String::new() };
        let _ = writeln!(s, "{:<18} {:<28} {:>24} {:>10}{peak_head}", "m×k×n", "variant", "GFLOP/s", "max err");
        for m in &r.matmul {
            let (a, b, c) = m.shape;
            // The CPU row is the host's, not the adapter's: no share of the adapter's peak.
            let share = match r.peak_gflops {
                Some(peak) if !m.variant.starts_with("cpu") => format!(" {:>7.2}", 100.0 * m.gflops.median / peak),
                Some(_) => format!(" {:>7}", "–"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "{:<18} {:<28} {:>9.2} [{:>5.2}–{:>6.2}] {:>10.1e}{share}",
                format!("{a}×{b}×{c}"),
                m.variant,
                m.gflops.median,
                m.gflops.min,
                m.gflops.max,
                m.max_error
            );
        }
    }
    if !r.bandwidth.is_empty() {
        let _ = writeln!(s, "\nelementwise and reductions, GB/s (median [min–max], {:?})", r.bandwidth[0].clock);
        for b in &r.bandwidth {
            let _ = writeln!(
                s,
                "{:<36} {:>9} elements {:>8.2} [{:>6.2}–{:>6.2}]",
                b.kernel, b.elements, b.gbps.median, b.gbps.min, b.gbps.max
            );
        }
    }
    if !r.training.is_empty() {
        let _ = writeln!(s, "\ntraining, Adam, wall clock per epoch divided by its steps (median [min–max])");
        let _ = writeln!(
            s,
            "{:<24} {:>5} {:<20} {:>22} {:>12} {:>14} {:>10} {:>9} {:>11} {:>9}",
            "model",
            "batch",
            "path",
            "µs/step",
            "samples/s",
            "model-steps/s",
            "disp/step",
            "record µs",
            "submit+GPU",
            "B/epoch"
        );
        for t in &r.training {
            let _ = writeln!(
                s,
                "{:<24} {:>5} {:<20} {:>9.1} [{:>5.0}–{:>5.0}] {:>12.0} {:>14.0} {:>10.2} {:>9.1} {:>11.1} {:>9}",
                t.model,
                t.batch,
                t.path,
                t.us_per_step.median,
                t.us_per_step.min,
                t.us_per_step.max,
                t.samples_per_s,
                t.model_steps_per_s,
                t.dispatches_per_step,
                t.record_us_per_step,
                t.submit_wait_us_per_step,
                t.readback_bytes_per_epoch
            );
        }
    }
    if !r.jobs.is_empty() {
        let _ = writeln!(
            s,
            "\njobs end to end, wall seconds, median [min–max] of {} rounds (cold: an empty shader cache; warm: the cache the cold run filled)",
            r.jobs.first().map_or(0, |j| j.cpu_rounds_s.len())
        );
        let _ = writeln!(
            s,
            "{:<28} {:>19} {:>19} {:>19} {:>9} {:>9} {:>10} {:>8} {:>12}",
            "job", "GPU cold", "GPU warm", "CPU ref", "cold/CPU", "warm/CPU", "pipelines", "submits", "bytes read"
        );
        // median [min–max] over the rounds
        let spread = |median: f64, rounds: &[f64]| {
            let (lo, hi) = rounds.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
            format!("{median:.2} [{lo:.2}–{hi:.2}]")
        };
        for j in &r.jobs {
            let c =
                |f: fn(&crate::engine::Counters) -> u64| j.counters.as_ref().map_or("–".into(), |c| f(c).to_string());
            let _ = writeln!(
                s,
                "{:<28} {:>19} {:>19} {:>19} {:>9.2} {:>9.2} {:>10} {:>8} {:>12}",
                j.job,
                spread(j.gpu_cold_s, &j.gpu_cold_rounds_s),
                spread(j.gpu_warm_s, &j.gpu_warm_rounds_s),
                spread(j.cpu_s, &j.cpu_rounds_s),
                j.cold_ratio,
                j.warm_ratio,
                c(|c| c.pipelines_compiled),
                c(|c| c.submits),
                c(|c| c.bytes_read_back)
            );
        }
    }
    s
}
