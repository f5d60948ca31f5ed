//! `vanish sweep`: a grid of depths × widths × activations × batch norm × inits × optimizers × seeds,
//! run on one engine (one `Gpu`, so pipelines compile once per sweep), each run saved as it finishes,
//! then the report (runs.csv, summary.json, SVG plots, report.html) rebuilt from every completed run.
//! `--shard I/N` runs every N-th configuration; rerunning with the same `--out` resumes.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{DataArgs, DeviceArgs, PathChoice, make_backend, open_device};
use super::report_out::write_checked_report;
use crate::model::Norm;
use crate::report::terminal_summary;
use crate::sweep::grid::{parse_clips, parse_counts, parse_list, parse_switches};
use crate::sweep::{DataSettings, Grid, Manifest, Preset, RunEvent, Settings, Shard, Store, preset, run_sweep};

/// The sweep's default epochs: 1, so the heatmap and loss curves have something to show, while the
/// README's 360-run sweep stays within minutes on a CPU (see the README for the measured time).
pub const DEFAULT_EPOCHS: usize = 1;

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Hidden layers: ranges and lists, e.g. 1..=30, 1..30, 2..=20:2, 2,4,8 [default: 1..=10]
    #[arg(long)]
    pub depths: Option<String>,
    /// Units per hidden layer, same syntax [default: 10]
    #[arg(long)]
    pub widths: Option<String>,
    /// e.g. sigmoid,tanh,relu (see `train --help` for every name) [default: sigmoid,tanh,relu]
    #[arg(long)]
    pub activations: Option<String>,
    /// Batch norm: off, on, or off,on (the spelling of --norms none / batch / none,batch) [default: off]
    #[arg(long, conflicts_with = "norms")]
    pub batch_norm: Option<String>,
    /// Normalisations: none, batch, layer, or a list such as none,batch,layer [default: none]
    #[arg(long)]
    pub norms: Option<String>,
    /// e.g. glorot-uniform,he-normal,standard,normal:0.5 [default: glorot-uniform]
    #[arg(long)]
    pub inits: Option<String>,
    /// adam, sgd, sgd:MOMENTUM [default: adam]
    #[arg(long)]
    pub optimizers: Option<String>,
    /// Skip connections: off, on, or off,on [default: off]
    #[arg(long)]
    pub residual: Option<String>,
    /// The skip connections' α (finite, > 0) [default: 1, or the preset's]
    #[arg(long, allow_negative_numbers = true)]
    pub residual_scale: Option<f64>,
    /// Seeds 0..N per configuration (each seeds the data, split, weights and shuffle) [default: 1, 3 with a preset]
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Epochs per run; 0 probes at initialisation only [default: 1, 0 with a preset]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate, shared by every optimizer [default: 1e-3, or the preset's]
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Gradient clipping: off, a global norm X, or a list such as off,1 [default: off, or the preset's]
    #[arg(long)]
    pub clip_grad_norm: Option<String>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// A classic result as a check: glorot-tanh, he-relu30, batchnorm, layernorm, selu, resnet or clip (sets the compared axes)
    #[arg(long, conflicts_with_all = ["activations", "inits", "batch_norm", "norms", "residual", "clip_grad_norm"])]
    pub preset: Option<Preset>,
    /// Run only configurations I, I+N, I+2N, ... of the grid (0-based), e.g. a Slurm array task
    #[arg(long)]
    pub shard: Option<Shard>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Output folder; rerunning with the same folder resumes, skipping completed runs
    #[arg(long)]
    pub out: PathBuf,
    /// Print one JSON object (runs, resumed, engine, wall time, counters) instead of the table
    #[arg(long)]
    pub json: bool,
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

impl SweepArgs {
    /// The validated settings: the preset's grid or the defaults, overridden by the flags given.
    pub fn settings(&self) -> Result<Settings> {
        let base = self.preset.map(Preset::grid);
        let or = |flag: Option<&String>, default: &str| flag.cloned().unwrap_or_else(|| default.to_string());
        let grid = Grid {
            depths: match (&self.depths, &base) {
                (Some(d), _) => parse_counts("--depths", d),
                (None, Some(b)) => Ok(b.depths.clone()),
                (None, None) => parse_counts("--depths", "1..=10"),
            }
            .map_err(anyhow::Error::msg)?,
            widths: match (&self.widths, &base) {
                (Some(w), _) => parse_counts("--widths", w),
                (None, Some(b)) => Ok(b.widths.clone()),
                (None, None) => parse_counts("--widths", "10"),
            }
            .map_err(anyhow::Error::msg)?,
            activations: match &base {
                Some(b) => b.activations.clone(),
                None => parse_list("--activations", &or(self.activations.as_ref(), "sigmoid,tanh,relu"))
                    .map_err(anyhow::Error::msg)?,
            },
            norms: match (&base, &self.batch_norm) {
                (Some(b), _) => b.norms.clone(),
                (None, Some(switches)) => parse_switches("--batch-norm", switches)
                    .map_err(anyhow::Error::msg)?
                    .into_iter()
                    .map(|on| if on { Norm::Batch } else { Norm::None })
                    .collect(),
                (None, None) => parse_list("--norms", &or(self.norms.as_ref(), "none")).map_err(anyhow::Error::msg)?,
            },
            inits: match &base {
                Some(b) => b.inits.clone(),
                None => {
                    parse_list("--inits", &or(self.inits.as_ref(), "glorot-uniform")).map_err(anyhow::Error::msg)?
                }
            },
            optimizers: match (&self.optimizers, &base) {
                (None, Some(b)) => b.optimizers.clone(),
                (o, _) => parse_list("--optimizers", &or(o.as_ref(), "adam")).map_err(anyhow::Error::msg)?,
            },
            residual: match &base {
                Some(b) => b.residual.clone(),
                None => parse_switches("--residual", &or(self.residual.as_ref(), "off")).map_err(anyhow::Error::msg)?,
            },
            residual_scale: self.residual_scale.or(base.as_ref().map(|b| b.residual_scale)).unwrap_or(1.0),
            clip: match (&self.clip_grad_norm, &base) {
                (Some(c), _) => parse_clips("--clip-grad-norm", c).map_err(anyhow::Error::msg)?,
                (None, Some(b)) => b.clip.clone(),
                (None, None) => vec![None],
            },
            seeds: self.seeds.or(base.as_ref().map(|b| b.seeds)).unwrap_or(1),
        };
        let d = &self.data;
        let settings = Settings {
            grid,
            data: DataSettings {
                dataset: d.dataset.clone(),
                samples: d.samples,
                noise: d.noise,
                factor: d.factor,
                classes: d.classes,
                label: d.label.clone(),
                delimiter: d.delimiter.clone(),
                test_fraction: d.test_fraction,
                standardize: d.standardize,
            },
            epochs: self.epochs.unwrap_or(self.preset.map_or(DEFAULT_EPOCHS, Preset::epochs)),
            batch_size: self.batch_size,
            lr: self.lr.or(self.preset.and_then(Preset::lr)).unwrap_or(1e-3),
            preset: self.preset,
        };
        settings.validate()?;
        Ok(settings)
    }
}

pub fn run(args: SweepArgs) -> Result<()> {
    // Ctrl-C and SIGTERM finish the step in flight and keep what is complete (train/interrupt.rs).
    crate::train::stop_gracefully();
    let started = std::time::Instant::now();
    let settings = args.settings()?;
    let manifest = Manifest { settings: settings.clone(), shard: args.shard };
    let store = Store::create(&args.out, &manifest)?;
    let gpu = open_device(&args.device)?;
    let total =
        settings.grid.expand().iter().enumerate().filter(|(i, _)| args.shard.is_none_or(|s| s.contains(*i))).count();
    let engine_name = match &gpu {
        Some(g) => format!("gpu: {}", g.adapter.describe()),
        None => "cpu reference (f64)".into(),
    };
    if !args.json {
        eprintln!(
            "sweep: {total} runs{} on {engine_name}, {} epoch(s) each, into {}",
            args.shard.map_or(String::new(), |s| format!(" (shard {}/{})", s.index, s.count)),
            settings.epochs,
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
    let backend = make_backend(gpu.as_ref(), PathChoice::Auto)?;
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
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", terminal_summary(&runs, &checks));
        println!("\nreport: {}", args.out.join("report.html").display());
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
