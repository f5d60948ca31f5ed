//! `vanish train`: the flags into the library's `TrainSettings`, `train::run` on this machine's backend
//! (the page's Train button calls the same function), then per-epoch metrics and every probe to the
//! terminal and, with `--out DIR`, to JSON and CSV files and the report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{DeviceArgs, make_backend, open_device};
use super::outputs::{TRAIN_FILES, claim, folder_is_ours, folder_names};
use super::report_out::{print_stdout, write_run_report};
use crate::gpu::TrainPath;
use crate::interchange;
use crate::memory::Holder;
use crate::output::{Destination, WriteError, write_csv, write_json};
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
    /// Replace outputs that hold something else: another command's results, other settings' results, or
    /// files vanish did not write
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let settings = &args.settings;
    settings.validate().map_err(anyhow::Error::msg)?;
    // Until training starts a stop signal ends the command at once, even while it waits on a FIFO or a
    // slow file (exit 128 + the signal); nothing has been written yet.
    let (train_set, test_set) = settings.data.load(settings.seed)?;
    let gpu = open_device(&args.device)?;
    let holder = if gpu.is_some() { Holder::Gpu } else { Holder::Cpu };
    let mut job = crate::train::job(settings, (&train_set, &test_set), holder).map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.load {
        (job.spec, job.params) = interchange::load_params_for(&interchange::TensorFile::read(path)?, &job.spec)?;
    }
    let spec = job.spec.clone();
    let settings_json = serde_json::to_value(settings)?;
    let manifest = |adapter: &str, content: &str| interchange::Manifest {
        spec: spec.clone(),
        seed: Some(settings.seed),
        adapter: adapter.into(),
        content: content.into(),
        settings: Some(settings_json.to_string()),
    };
    let mut destinations = Vec::new();
    if let Some(dir) = &args.out {
        destinations.push(Destination::folder("--out", dir, &folder_names("train")));
    }
    for (flag, path) in [("--save-init", &args.save_init), ("--save", &args.save)] {
        if let Some(path) = path {
            destinations.push(Destination::file(flag, path));
        }
    }
    let mut inputs = settings.data.input_files();
    inputs.extend(args.load.iter().map(|p| ("--load", p.clone())));
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(f, p)| (*f, p.as_path())).collect();
    crate::output::check(&destinations, &inputs, args.force, &|d| match d.flag.as_str() {
        "--out" => folder_is_ours(d, "train", &settings_json),
        "--save-init" => manifest("", "initial weights").matches_file(&d.path),
        _ => manifest("", "final weights").matches_file(&d.path),
    })?;
    let claimed = args.out.as_deref().map(|dir| claim(dir, "train", settings_json.clone())).transpose()?;
    let backend = make_backend(gpu.as_ref(), args.path)?;
    if let Some(path) = &args.save_init {
        interchange::save_params(path, &job.params, &manifest(&backend.name(), "initial weights"))?;
    }
    let total = settings.total_steps(train_set.len()).unwrap_or(usize::MAX);
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} steps, epoch {msg}, ETA {eta}")
                .expect("a valid template"),
        );
        bar
    });
    if !args.json {
        eprintln!("training {} on {} ({} steps)", spec.describe(), backend.plan_one(&job)?.engine_name(), total);
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
    // From here a stop signal finishes the step in flight and keeps what is complete (train/interrupt.rs).
    crate::interrupt::stop_gracefully();
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
    let done = history.batch_losses.len();
    if let Some(path) = &args.save {
        // Weights saved after a stop signal say at which step they were taken.
        let content = if history.interrupted {
            format!("weights after step {done} of {total} (interrupted)")
        } else {
            "final weights".to_string()
        };
        interchange::save_params(path, &result.last, &manifest(&history.engine, &content))?;
    }
    let output = result.output();
    if let (Some(dir), Some(claimed)) = (&args.out, claimed) {
        let mut written = write_outputs(dir, &output)?;
        let record = record_run(&result.spec, (result.cfg, settings.seed), &result.trained, &result.last, &train_set);
        written.extend(write_run_report(
            dir,
            &format!("vanish train: {}", result.spec.describe()),
            serde_json::to_value(&output.config)?,
            &[record],
        )?);
        claimed.finish(&written)?;
    }
    if args.json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&output)?))?;
    } else {
        print_stdout(&train_summary(history, output.clipped_fraction))?;
    }
    if history.interrupted {
        anyhow::bail!("interrupted after {done} of {total} steps; the outputs hold what completed");
    }
    Ok(())
}

/// Writes `metrics.json`, `epochs.csv` and `probes.csv` into `dir`; the paths written.
fn write_outputs(dir: &Path, out: &TrainOutput<'_>) -> Result<Vec<PathBuf>, WriteError> {
    write_json(&dir.join(TRAIN_FILES[0]), out)?;
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
        &dir.join(TRAIN_FILES[1]),
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
        &dir.join(TRAIN_FILES[2]),
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
    )?;
    Ok(TRAIN_FILES.iter().map(|n| dir.join(n)).collect())
}
