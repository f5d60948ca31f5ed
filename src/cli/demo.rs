//! `vanish demo`: the flags into `demo::DemoSettings`, the library's `demo::run` on this machine's
//! backend (the web page calls the same function), then its tables or JSON, and with `--out` the report.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use super::args::{DeviceArgs, make_backend, open_device};
use super::outputs::{claim, folder_is_ours, folder_names};
use super::report_out::{print_stdout, write_run_report};
use crate::demo::{self, DemoSettings, render, run_name};
use crate::gpu::TrainPath;
use crate::output::Destination;
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
    /// Replace an --out folder that holds something else (another command's results, other settings'
    /// results, or files vanish did not write)
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: DemoArgs) -> Result<()> {
    let settings = &args.settings;
    settings.validate().map_err(anyhow::Error::msg)?;
    let settings_json = serde_json::to_value(settings)?;
    let claimed = match &args.out {
        Some(dir) => {
            let inputs = settings.data.input_files();
            let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(f, p)| (*f, p.as_path())).collect();
            let destination = [Destination::folder("--out", dir, &folder_names("demo"))];
            crate::output::check(&destination, &inputs, args.force, &|d| folder_is_ours(d, "demo", &settings_json))?;
            Some(claim(dir, "demo", settings_json.clone())?)
        }
        None => None,
    };
    // Until training starts a stop signal ends the command at once, even while it reads a slow file.
    let (train_set, test_set) = settings.data.load(settings.seed)?;
    let gpu = open_device(&args.device)?;
    let backend = make_backend(gpu.as_ref(), TrainPath::Auto)?;
    // From here a stop signal finishes the step in flight and keeps what is complete (train/interrupt.rs).
    crate::interrupt::stop_gracefully();
    // Every engine answers at once natively (a GPU readback waits inside gpu/wait.rs), so this
    // block_on never parks; it drives the same future the web page awaits.
    let (json, flag_init) = (args.json, settings.network.init);
    let mut between = move |_: crate::train::Progress, _: &[crate::record::RunRecord]| -> crate::train::Answer {
        Box::pin(std::future::ready(crate::interrupt::interrupted()))
    };
    let result = crate::engine::block_on(demo::run(backend.as_ref(), settings, (&train_set, &test_set), &mut between))?;
    if !json {
        for n in &result.networks {
            eprintln!("measured {}", run_name(&n.job.spec, flag_init));
        }
    }
    if let (Some(dir), Some(claimed)) = (&args.out, claimed) {
        let records: Vec<_> = result
            .networks
            .iter()
            .map(|n| record_run(&n.job.spec, (n.job.cfg, settings.seed), &n.trained, &n.after, &train_set))
            .collect();
        let written = write_run_report(dir, "vanish demo", serde_json::to_value(&result.output.config)?, &records)?;
        claimed.finish(&written)?;
    }
    if json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&result.output)?))
    } else {
        print_stdout(&render(&result.output))
    }
}
