//! `vanish train`: the flags into the library's `TrainSettings`, `train::run` on this machine's backend
//! (the page's Train button calls the same function), then per-epoch metrics and every probe to the
//! terminal and, with `--out DIR`, to JSON and CSV files and the report.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{DeviceArgs, make_backend, open_device};
use super::report_out::write_run_report;
use crate::gpu::TrainPath;
use crate::interchange;
use crate::memory::Holder;
use crate::output::{WriteError, write_csv, write_json};
use crate::record::record_run;
use crate::report::train_summary;
use crate::train::{Pace, TrainOutput, TrainSettings, native_between};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub settings: TrainSettings,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// The GPU engine's training path
    #[arg(long, value_enum, default_value_t = TrainPath::Auto)]
    pub path: TrainPath,
    /// Write metrics.json, epochs.csv and probes.csv here
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the run as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Write the initial weights here (safetensors, f32, with a manifest)
    #[arg(long, value_name = "FILE")]
    pub save_init: Option<PathBuf>,
    /// Write the final weights here (safetensors, f32, with a manifest)
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Start from the weights in FILE (safetensors, e.g. exported from PyTorch) instead of --init; its
    /// shapes must match --layers/--depth/--width, --batch-norm and the dataset
    #[arg(long, value_name = "FILE")]
    pub load: Option<PathBuf>,
}

pub fn run(args: TrainArgs) -> Result<()> {
    // Ctrl-C and SIGTERM finish the step in flight and keep what is complete (train/interrupt.rs).
    crate::train::stop_gracefully();
    let settings = &args.settings;
    settings.validate().map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    }
    for path in [&args.save_init, &args.save].into_iter().flatten() {
        interchange::check_destination(path)?;
    }
    let (train_set, test_set) = settings.data.load(settings.seed)?;
    let gpu = open_device(&args.device)?;
    let holder = if gpu.is_some() { Holder::Gpu } else { Holder::Cpu };
    let mut job = crate::train::job(settings, (&train_set, &test_set), holder).map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.load {
        (job.spec, job.params) = interchange::load_params_for(&interchange::TensorFile::read(path)?, &job.spec)?;
    }
    let backend = make_backend(gpu.as_ref(), args.path)?;
    let spec = job.spec.clone();
    let manifest = |adapter: &str, content: &str| interchange::Manifest {
        spec: spec.clone(),
        seed: Some(settings.seed),
        adapter: adapter.into(),
        content: content.into(),
    };
    if let Some(path) = &args.save_init {
        interchange::save_params(path, &job.params, &manifest(&backend.name(), "initial weights"))?;
    }
    let total = crate::engine::batches_per_epoch(train_set.len(), settings.batch_size) * settings.epochs;
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} steps, epoch {msg}, ETA {eta}")
                .expect("a valid template"),
        );
        bar
    });
    if !args.json {
        eprintln!("training {} on {} ({} steps)", spec.describe(), backend.describe(&job), total);
    }
    let mut last_epoch = 0;
    let mut on_progress = |p: crate::train::Progress| match &bar {
        Some(bar) => {
            bar.set_position(p.step as u64);
            bar.set_message(format!("{} loss {:.4}", p.epoch, p.last_loss));
        }
        None if !args.json && p.epoch != last_epoch => {
            last_epoch = p.epoch;
            eprintln!("epoch {} step {}/{}: loss {:.4}", p.epoch, p.step, p.total_steps, p.last_loss);
        }
        None => {}
    };
    let pace = Pace::batch(settings.batch_size);
    let result = crate::engine::block_on(crate::train::run(
        backend.as_ref(),
        settings,
        job,
        pace,
        &mut native_between(&mut on_progress),
    ));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let result = result?;
    let history = &result.trained.history;
    if let Some(path) = &args.save {
        interchange::save_params(path, &result.last, &manifest(&history.engine, "final weights"))?;
    }
    let output = result.output();
    if let Some(dir) = &args.out {
        write_outputs(dir, &output)?;
        let record = record_run(&result.spec, (result.cfg, settings.seed), &result.trained, &result.last, &train_set);
        write_run_report(
            dir,
            &format!("vanish train: {}", result.spec.describe()),
            serde_json::to_value(&output.config)?,
            &[record],
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print!("{}", train_summary(history, output.clipped_fraction));
    }
    if history.interrupted {
        let done = history.batch_losses.len();
        anyhow::bail!("interrupted after {done} of {total} steps; the outputs hold what completed");
    }
    Ok(())
}
fn write_outputs(dir: &std::path::Path, out: &TrainOutput<'_>) -> Result<(), WriteError> {
    write_json(&dir.join("metrics.json"), out)?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let epochs: Vec<Vec<String>> = out
        .history
        .epochs
        .iter()
        .map(|e| {
            vec![
                e.epoch.to_string(),
                e.train_loss.to_string(),
                e.train_acc.to_string(),
                e.eval_train_loss.to_string(),
                e.eval_train_acc.to_string(),
                opt(e.test_loss),
                opt(e.test_acc),
            ]
        })
        .collect();
    write_csv(
        &dir.join("epochs.csv"),
        &["epoch", "train_loss", "train_acc", "eval_train_loss", "eval_train_acc", "test_loss", "test_acc"],
        &epochs,
    )?;
    let mut probes = Vec::new();
    for p in &out.history.probes {
        for (i, l) in p.probe.layers.iter().enumerate() {
            probes.push(vec![
                p.epoch.to_string(),
                p.step.to_string(),
                i.to_string(),
                l.grad_w.to_string(),
                l.grad_b.to_string(),
                l.delta.to_string(),
                l.weight.to_string(),
                p.update_ratio[i].to_string(),
                l.act_mean.to_string(),
                l.act_std.to_string(),
                l.saturated.to_string(),
                l.dead.to_string(),
            ]);
        }
    }
    write_csv(
        &dir.join("probes.csv"),
        &[
            "epoch",
            "step",
            "layer",
            "grad_w_norm",
            "grad_b_norm",
            "delta_norm",
            "weight_norm",
            "update_ratio",
            "act_mean",
            "act_std",
            "saturated",
            "dead",
        ],
        &probes,
    )
}
