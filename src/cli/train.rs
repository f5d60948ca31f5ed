//! `vanish train`: one configuration, every option exposed; per-epoch metrics and every probe to the
//! terminal and, with `--out DIR`, to JSON and CSV files.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{
    DataArgs, DeviceArgs, OptimArgs, PathChoice, ShapeArgs, make_backend, open_device, parse_activation,
};
use super::report_out::{record_run, write_run_report};
use crate::engine::ModelJob;
use crate::interchange;
use crate::memory::{Holder, check_host, model_bytes};
use crate::model::{Activation, Norm, Params};
use crate::report::files::{WriteError, write_csv, write_json};
use crate::train::{TrainOptions, TrainOutput, TrainRun, clipped_fraction, summary_text, train_batch};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// One activation for every hidden layer, or one per layer: identity, sigmoid, tanh, relu,
    /// leaky_relu[:ALPHA], elu[:ALPHA], gelu, silu, selu
    #[arg(long, value_delimiter = ',', default_value = "sigmoid", value_parser = parse_activation)]
    pub activation: Vec<Activation>,
    #[command(flatten)]
    pub optim: OptimArgs,
    /// Also probe the gradients every N optimiser steps
    #[arg(long)]
    pub probe_every: Option<usize>,
    /// Train every epoch in data order (as `shuffle=False`), e.g. to replay a run from another framework
    #[arg(long)]
    pub no_shuffle: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// The GPU engine's training path
    #[arg(long, value_enum, default_value_t = PathChoice::Auto)]
    pub path: PathChoice,
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
    args.optim.validate()?;
    if args.probe_every == Some(0) {
        anyhow::bail!("--probe-every must be at least 1");
    }
    let (train_set, test_set) = args.data.load(args.optim.seed)?;
    let mut spec = args.shape.spec(&train_set, &args.activation, args.shape.norm_or(Norm::None))?;
    let cfg = args.optim.config();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    }
    for path in [&args.save_init, &args.save].into_iter().flatten() {
        interchange::check_destination(path)?;
    }
    let gpu = open_device(&args.device)?;
    let holder = if gpu.is_some() { Holder::Gpu } else { Holder::Cpu };
    let rows = train_set.len() + test_set.len();
    check_host(&format!("the model {}", spec.describe()), model_bytes(&spec, rows, holder))
        .map_err(anyhow::Error::msg)?;
    let params = match &args.load {
        None => Params::init(&spec, args.optim.seed),
        Some(path) => {
            let (loaded_spec, params) = interchange::load_params_for(&interchange::TensorFile::read(path)?, &spec)?;
            spec = loaded_spec;
            params
        }
    };
    let backend = make_backend(gpu.as_ref(), args.path)?;
    let job = ModelJob { spec: spec.clone(), params: params.clone(), train: &train_set, test: &test_set, cfg };
    let mut engine = backend.build(std::slice::from_ref(&job))?;
    let adapter = engine.name();
    let manifest = |content: &str| interchange::Manifest {
        spec: spec.clone(),
        seed: Some(args.optim.seed),
        adapter: adapter.clone(),
        content: content.into(),
    };
    if let Some(path) = &args.save_init {
        interchange::save_params(path, &params, &manifest("initial weights"))?;
    }
    let opts = TrainOptions {
        epochs: args.optim.epochs,
        seed: args.optim.seed,
        shuffle: !args.no_shuffle,
        probe_every: args.probe_every,
        has_test: !test_set.is_empty(),
    };
    let total = crate::engine::batches_per_epoch(train_set.len(), cfg.batch_size) * opts.epochs;
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} steps, epoch {msg}, ETA {eta}")
                .expect("a valid template"),
        );
        bar
    });
    if !args.json {
        eprintln!("training {} on {} ({} steps)", spec.describe(), adapter, total);
    }
    let mut last_epoch = 0;
    let opts_one = std::slice::from_ref(&opts);
    let mut trained = train_batch(engine.as_mut(), train_set.len(), cfg.batch_size, opts_one, &mut |p| match &bar {
        Some(bar) => {
            bar.set_position(p.step as u64);
            bar.set_message(format!("{} loss {:.4}", p.epoch, p.last_loss));
        }
        None if !args.json && p.epoch != last_epoch => {
            last_epoch = p.epoch;
            eprintln!("epoch {} step {}/{}: loss {:.4}", p.epoch, p.step, p.total_steps, p.last_loss);
        }
        None => {}
    })?
    .pop()
    .expect("one model");
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = trained.diverged.take() {
        return Err(e.into());
    }
    let history = &trained.history;
    let last = engine.params()?.pop().expect("one model");
    if let Some(path) = &args.save {
        interchange::save_params(path, &last, &manifest("final weights"))?;
    }
    let output = TrainOutput {
        config: TrainRun {
            dataset: &args.data.dataset,
            train_rows: train_set.len(),
            test_rows: test_set.len(),
            spec: &spec,
            train: cfg,
            options: &opts,
        },
        history,
        clipped_fraction: clipped_fraction(cfg, history),
        counters: backend.counters(),
    };
    if let Some(dir) = &args.out {
        write_outputs(dir, &output)?;
        let record = record_run(&spec, (cfg, args.optim.seed), &trained, &last, &train_set);
        write_run_report(
            dir,
            &format!("vanish train: {}", spec.describe()),
            serde_json::to_value(&output.config)?,
            &[record],
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print!("{}", summary_text(history, output.clipped_fraction));
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
