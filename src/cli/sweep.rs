//! `vanish sweep`: a grid of depths × widths × activations × batch norm × inits × optimizers × seeds,
//! run on one engine (one `Gpu`, so pipelines compile once per sweep), each run saved as it finishes,
//! then the report (runs.csv, summary.json, SVG plots, report.html) rebuilt from every completed run.
//! `--shard I/N` runs every N-th configuration; rerunning with the same `--out` resumes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{DeviceArgs, make_backend, open_device};
use super::report_out::write_checked_report;
use crate::gpu::TrainPath;
use crate::output::{Destination, FolderMarker};
use crate::report::terminal_summary;
use crate::sweep::{Manifest, RunEvent, Settings, Shard, Store, SweepOptions, preset, run_sweep};

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub options: SweepOptions,
    /// Run only configurations I, I+N, I+2N, ... of the grid (0-based), e.g. a Slurm array task
    #[arg(long)]
    pub shard: Option<Shard>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// The GPU engine's training path
    #[arg(long, value_enum, default_value_t = TrainPath::Auto)]
    pub path: TrainPath,
    /// Output folder; rerunning with the same folder resumes, skipping completed runs
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object (runs, resumed, engine, wall time, counters) instead of the table
    #[arg(long)]
    pub json: bool,
    /// Replace an --out folder that holds something else: another sweep (its runs are removed), another
    /// command's results, or files vanish did not write
    #[arg(long)]
    pub force: bool,
}

/// What `sweep --json` prints.
#[derive(serde::Serialize)]
struct SweepOutput {
    runs: usize,
    resumed: usize,
    engine: String,
    seconds: f64,
    /// Pipelines compiled, submits and bytes read back by the whole command.
    counters: crate::engine::Counters,
    report: PathBuf,
}

pub fn run(args: SweepArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let settings = args.options.settings()?;
    let manifest = Manifest { settings: settings.clone(), shard: args.shard };
    claim_sweep_folder(&args.out, &settings, args.force)?;
    let store = Store::create(&args.out, &manifest, args.force)?;
    // From here a stop signal finishes the runs in flight and keeps every completed one (interrupt.rs).
    crate::interrupt::stop_gracefully();
    let gpu = open_device(&args.device)?;
    let total =
        settings.grid.expand().iter().enumerate().filter(|(i, _)| args.shard.is_none_or(|s| s.contains(*i))).count();
    let engine_name = match &gpu {
        Some(g) => format!("gpu: {}", g.adapter.describe()),
        None => "cpu reference (f64)".into(),
    };
    if !args.json {
        eprintln!(
            "sweep: {total} runs{} on {engine_name}, {} each, into {}",
            args.shard.map_or(String::new(), |s| format!(" (shard {}/{})", s.index, s.count)),
            settings.steps.map_or_else(|| format!("{} epoch(s)", settings.epochs), |n| format!("{n} step(s)")),
            args.out.display()
        );
    }
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} elapsed, ETA {eta} {msg}")
                .expect("a valid template"),
        );
        bar
    });
    let (mut resumed, every) = (0, total.div_ceil(10).max(1));
    let backend = make_backend(gpu.as_ref(), args.path)?;
    let runs = run_sweep(&store, &settings, args.shard, backend.as_ref(), &mut |e: &RunEvent| {
        resumed += usize::from(e.skipped);
        match &bar {
            Some(bar) => {
                bar.set_position(e.done as u64);
                bar.set_message(e.id.clone());
            }
            None if !args.json && (e.done.is_multiple_of(every) || e.done == e.total) => {
                eprintln!("  {}/{} runs done ({} resumed from --out)", e.done, e.total, resumed);
            }
            None => {}
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if resumed > 0 && !args.json {
        eprintln!("resumed: {resumed} of {total} runs were already complete in {}", args.out.display());
    }
    let checks = settings.preset.map(|p| preset::checks(p, &runs)).unwrap_or_default();
    write_checked_report(&args.out, &report_title(&manifest), serde_json::to_value(&manifest)?, &runs, &checks)?;
    if args.json {
        let out = SweepOutput {
            runs: runs.len(),
            resumed,
            engine: backend.name(),
            seconds: started.elapsed().as_secs_f64(),
            counters: backend.counters(),
            report: args.out.join("report.html"),
        };
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        out!("{}", terminal_summary(&runs, &checks))?;
        outln!("\nreport: {}", args.out.join("report.html").display())?;
    }
    Ok(())
}

/// Checks `dir` as a sweep's (or merge's) `--out` by the one rule (`output::check`): a sweep folder goes on
/// to `Store::create`, which resumes the same sweep or names the flags that differ; anything else is
/// refused unless `force`, which clears another command's results there.
pub fn claim_sweep_folder(dir: &Path, settings: &Settings, force: bool) -> Result<()> {
    use crate::sweep::store::{LOCK, MANIFEST, RUNS};
    let names: Vec<&str> = crate::output::REPORT_FILES.iter().copied().chain([MANIFEST, LOCK, RUNS]).collect();
    let inputs = settings.data.input_files();
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(f, p)| (*f, p.as_path())).collect();
    let destination = [Destination::folder("--out", dir, &names)];
    crate::output::check(&destination, &inputs, force, &|d| d.path.join(MANIFEST).exists())?;
    if let Some(other) = FolderMarker::read(dir) {
        other.clear(dir);
    }
    Ok(())
}

/// The same title for a sweep and for the merge of its shards.
pub fn report_title(manifest: &Manifest) -> String {
    match (manifest.settings.preset, manifest.shard) {
        (Some(p), None) => format!("vanish sweep --preset {p}"),
        (Some(p), Some(s)) => format!("vanish sweep --preset {p} (shard {}/{})", s.index, s.count),
        (None, None) => "vanish sweep".into(),
        (None, Some(s)) => format!("vanish sweep (shard {}/{})", s.index, s.count),
    }
}
