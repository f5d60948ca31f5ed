//! `vanish demo`: the flags into `demo::DemoSettings`, the library's `demo::run` on this machine's
//! backend (the web page calls the same function), then its tables or JSON, and with `--out` the report.

use anyhow::{Context, Result};
use clap::Args;

use super::args::{DataArgs, DeviceArgs, PathChoice, ShapeArgs, make_backend, open_device};
use super::report_out::{record_run, write_run_report};
use crate::demo::{self, DemoSettings, render, run_name};
use crate::engine::{Optimizer, TrainConfig};
use crate::model::{Activation, Norm};

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Adam's learning rate (the notebook's 1e-3)
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which row of the first layer's weight to show
    #[arg(long, default_value_t = 0)]
    pub row: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print one JSON object instead of the tables
    #[arg(long)]
    pub json: bool,
    /// Also write the runs' plots, runs.csv, summary.json and report.html here
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Add the cures practitioners use today: residual sigmoid, sigmoid + layer norm, ReLU + He init,
    /// SELU + LeCun-normal
    #[arg(long)]
    pub cures: bool,
}

pub fn run(args: DemoArgs) -> Result<()> {
    // Ctrl-C and SIGTERM finish the step in flight and keep what is complete (train/interrupt.rs).
    crate::train::stop_gracefully();
    let (train_set, test_set) = args.data.load(args.seed)?;
    let settings = DemoSettings {
        base: args.shape.spec(&train_set, &[Activation::Identity], Norm::None)?,
        residual_scale: args.shape.residual_scale.unwrap_or(1.0),
        cure_norm: args.shape.norm_or(Norm::Batch),
        cures: args.cures,
        lr: args.lr,
        batch_size: args.batch_size,
        epochs: args.epochs,
        seed: args.seed,
        row: args.row,
        look_every: None,
        dataset: args.data.dataset.clone(),
        samples: args.data.samples,
        noise: args.data.noise,
        factor: args.data.factor,
    };
    settings.validate()?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    }
    let gpu = open_device(&args.device)?;
    let backend = make_backend(gpu.as_ref(), PathChoice::Auto)?;
    // Every engine answers at once natively (a GPU readback waits inside gpu/wait.rs), so this
    // block_on never parks; it drives the same future the web page awaits.
    let (json, flag_init) = (args.json, args.shape.init);
    let mut between = move |_: crate::train::Progress,
                            _: &[crate::sweep::RunRecord]|
          -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        Box::pin(std::future::ready(crate::train::interrupted()))
    };
    let result =
        crate::engine::block_on(demo::run(backend.as_ref(), &settings, (&train_set, &test_set), &mut between))?;
    if !json {
        for n in &result.networks {
            eprintln!("measured {}", run_name(&n.job.spec, flag_init));
        }
    }
    if let Some(dir) = &args.out {
        let cfg =
            TrainConfig { optimizer: Optimizer::adam(args.lr), batch_size: args.batch_size, clip_grad_norm: None };
        let records: Vec<_> = result
            .networks
            .iter()
            .map(|n| record_run(&n.job.spec, (cfg, args.seed), &n.trained, &n.after, &train_set))
            .collect();
        write_run_report(dir, "vanish demo", serde_json::to_value(&result.output.config)?, &records)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&result.output)?);
    } else {
        print!("{}", render(&result.output));
    }
    Ok(())
}
