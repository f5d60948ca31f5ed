//! `vanish merge DIR... --out DIR`: combines the output folders of a sharded sweep into one, as if the
//! sweep had run unsharded: the run files are copied byte for byte and the report is rebuilt from them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::report_out::write_checked_report;
use super::sweep::{claim_sweep_folder, report_title};
use crate::output::write_atomic;
use crate::report::terminal_summary;
use crate::sweep::settings::differences;
use crate::sweep::{Manifest, Store, preset};

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' output folders
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged sweep goes (not one of the shards' folders)
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an --out folder that holds something else: another sweep, another command's results, or
    /// files vanish did not write
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: MergeArgs) -> Result<()> {
    let mut stores = Vec::new();
    for dir in &args.dirs {
        if dir.canonicalize().ok().is_some_and(|d| args.out.canonicalize().ok() == Some(d)) {
            bail!("--out {} is also one of the folders to merge; choose a new folder", args.out.display());
        }
        stores.push(Store::open(dir)?);
    }
    let settings = stores[0].1.settings.clone();
    for ((_, m), dir) in stores.iter().zip(&args.dirs).skip(1) {
        if m.settings != settings {
            bail!(
                "{} and {} hold different sweeps ({}); merge only shards of one sweep",
                args.dirs[0].display(),
                dir.display(),
                differences(&settings, &m.settings).join("; ")
            );
        }
    }
    let manifest = Manifest { settings: settings.clone(), shard: None };
    claim_sweep_folder(&args.out, &settings, args.force)?;
    let out = Store::create(&args.out, &manifest, args.force)?;
    let (mut runs, mut missing) = (Vec::new(), Vec::new());
    for config in settings.grid.expand() {
        let id = config.id();
        let found = stores.iter().find_map(|(s, _)| s.load(&config).map(|r| (s.run_path(&id), r)));
        match found {
            Some((path, record)) => {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let dest = out.run_path(&id);
                write_atomic(&dest, &bytes)?;
                runs.push(record);
            }
            None => missing.push(id),
        }
    }
    if runs.is_empty() {
        bail!("none of the {} folders holds a completed run", args.dirs.len());
    }
    if !missing.is_empty() {
        eprintln!(
            "warning: {} of {} runs are in none of the folders (a shard not finished?), e.g. {}; the report covers the \
             rest — rerun the missing shards and merge again",
            missing.len(),
            missing.len() + runs.len(),
            missing[0]
        );
    }
    let checks = settings.preset.map(|p| preset::checks(p, &runs)).unwrap_or_default();
    write_checked_report(&args.out, &report_title(&manifest), serde_json::to_value(&manifest)?, &runs, &checks)?;
    out!("{}", terminal_summary(&runs, &checks))?;
    outln!(
        "\nmerged {} runs from {} folders; report: {}",
        runs.len(),
        args.dirs.len(),
        args.out.join("report.html").display()
    )?;
    Ok(())
}
