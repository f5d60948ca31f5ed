//! `vanish bench`: kernel and training benchmarks on the chosen adapter, each validated before timing.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{DeviceArgs, DeviceKind, open_device};
use crate::bench::{BenchOptions, BenchReport, bandwidth_section, jobs_section, matmul_section, training_section};

/// The sections, in the order they run.
const SECTIONS: [&str; 4] = ["matmul", "bandwidth", "training", "jobs"];

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A smoke run in seconds: small shapes, few repetitions, the notebook model only
    #[arg(long)]
    pub quick: bool,
    /// Only these sections (matmul, bandwidth, training, jobs); default all. `jobs` runs the headline
    /// sweep, `train --epochs 200`, `demo` and the MNIST jobs end to end, cold and warm, against the CPU
    /// reference (and the MNIST jobs against PyTorch on the CPU, where it is installed)
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
    /// The MNIST jobs' data: `mnist:DIR` (the IDX files) or a Keras `npz:PATH`, which keep their own
    /// train/test split; without it, a synthetic set of the same shape (the table says which)
    #[arg(long, value_name = "SPEC")]
    pub dataset: Option<String>,
    /// Also write the tables as Markdown into FILE, between its lines `<!-- BEGIN vanish bench -->` and
    /// `<!-- END vanish bench -->` (docs/performance.md), leaving the rest of the file as it is
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
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
    // The page to update must be there, with its markers, before minutes of measuring.
    let page = match &args.markdown {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("--markdown {}", path.display()))?;
            crate::bench::splice(&text, "").map_err(|e| anyhow::anyhow!("--markdown {}: {e}", path.display()))?;
            Some((path, text))
        }
        None => None,
    };
    if let Some(dataset) = &args.dataset {
        let keeps_split = dataset.starts_with("mnist:") || dataset.starts_with("npz:");
        anyhow::ensure!(keeps_split, "--dataset {dataset}: the MNIST jobs take mnist:DIR or a Keras npz:PATH");
        let settings = crate::data::DataSettings { dataset: dataset.clone(), ..Default::default() };
        let (train, _) = settings.load(0).with_context(|| format!("--dataset {dataset}"))?;
        anyhow::ensure!(
            train.features == 784 && train.classes <= 10,
            "--dataset {dataset}: the MNIST jobs take 784 features (28×28) and up to 10 classes, not {} and {}",
            train.features,
            train.classes
        );
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
        report.jobs = jobs_section(&opts, args.device.adapter.as_deref(), args.dataset.as_deref())?;
    }
    if let Some((path, text)) = page {
        let updated = crate::bench::splice(&text, &report.markdown(&bench_command(&args)))
            .map_err(|e| anyhow::anyhow!("--markdown {}: {e}", path.display()))?;
        crate::output::write_atomic(path, updated.as_bytes())?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", report.text())?;
    }
    Ok(())
}

/// The command as the Markdown page names it: `vanish bench` and the flags that change what it measures.
fn bench_command(args: &BenchArgs) -> String {
    let mut command = String::from("vanish bench");
    if args.quick {
        command += " --quick";
    }
    if let Some(sections) = &args.sections {
        command += &format!(" --sections {}", sections.join(","));
    }
    if let Some(dataset) = &args.dataset {
        command += &format!(" --dataset {dataset}");
    }
    if let Some(peak) = args.peak_gflops {
        command += &format!(" --peak-gflops {peak}");
    }
    command
}
