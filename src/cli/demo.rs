//! `vanish demo`: the flags into `demo::DemoSettings`, the library's `demo::run` on this machine's
//! backend (the web page calls the same function), then its tables or JSON, and with `--out` the report.

use anyhow::{Context, Result};
use clap::Args;

use super::args::{DeviceArgs, make_backend, open_device};
use super::report_out::write_run_report;
use crate::demo::{self, DemoSettings, render, run_name};
use crate::gpu::TrainPath;
use crate::record::record_run;

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub settings: DemoSettings,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print one JSON object instead of the tables
    #[arg(long)]
    pub json: bool,
    /// Also write the runs' plots, runs.csv, summary.json and report.html here
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(args: DemoArgs) -> Result<()> {
    // Ctrl-C and SIGTERM finish the step in flight and keep what is complete (train/interrupt.rs).
    crate::train::stop_gracefully();
    let settings = &args.settings;
    settings.validate().map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    }
    let (train_set, test_set) = settings.data.load(settings.seed)?;
    let gpu = open_device(&args.device)?;
    let backend = make_backend(gpu.as_ref(), TrainPath::Auto)?;
    // Every engine answers at once natively (a GPU readback waits inside gpu/wait.rs), so this
    // block_on never parks; it drives the same future the web page awaits.
    let (json, flag_init) = (args.json, settings.network.init);
    let mut between = move |_: crate::train::Progress, _: &[crate::record::RunRecord]| -> crate::train::Answer {
        Box::pin(std::future::ready(crate::train::interrupted()))
    };
    let result = crate::engine::block_on(demo::run(backend.as_ref(), settings, (&train_set, &test_set), &mut between))?;
    if !json {
        for n in &result.networks {
            eprintln!("measured {}", run_name(&n.job.spec, flag_init));
        }
    }
    if let Some(dir) = &args.out {
        let records: Vec<_> = result
            .networks
            .iter()
            .map(|n| record_run(&n.job.spec, (n.job.cfg, settings.seed), &n.trained, &n.after, &train_set))
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
