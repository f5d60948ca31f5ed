//! The flags every command that trains shares beyond the library's settings types (which carry their
//! own flags): the device and adapter, and the backend they pick.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::engine::{Backend, Engine, ModelJob};
use crate::gpu::{DeviceRequest, Gpu, GpuBackend, GpuError, TrainPath, single_engine};
use crate::model::Activation;
use crate::reference::{CpuBackend, CpuEngine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// The GPU if there is one, else the CPU reference (with a warning)
    Auto,
    /// The GPU; an error if there is none
    Gpu,
    /// The f64 CPU reference
    Cpu,
}

#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    #[arg(long, value_enum, default_value_t = DeviceKind::Auto)]
    pub device: DeviceKind,
    /// Use the adapter whose name contains this (see `vanish devices`)
    #[arg(long)]
    pub adapter: Option<String>,
}

/// The GPU, or `None` for the CPU reference. `auto` falls back to the CPU with a warning when there is
/// no adapter; `gpu` makes that an error.
pub fn open_device(args: &DeviceArgs) -> Result<Option<Gpu>> {
    if args.device == DeviceKind::Cpu {
        return Ok(None);
    }
    match Gpu::new(&DeviceRequest { adapter: args.adapter.clone() }) {
        Ok(gpu) => Ok(Some(gpu)),
        Err(GpuError::NoAdapter) if args.device == DeviceKind::Auto => {
            eprintln!(
                "warning: {}\nwarning: falling back to the CPU reference (f64); it is exact but slower",
                GpuError::NoAdapter
            );
            Ok(None)
        }
        Err(e) => Err(e).context("--device gpu"),
    }
}

/// The backend for `gpu` on `path`, or the CPU reference when `gpu` is `None` (which has one path, so
/// `path` must be `Auto` there).
pub fn make_backend(gpu: Option<&Gpu>, path: TrainPath) -> Result<Box<dyn Backend + '_>> {
    Ok(match gpu {
        Some(gpu) => Box::new(GpuBackend::new(gpu, path)),
        None if path != TrainPath::Auto => bail!("--path applies to the GPU engine; the CPU reference has one path"),
        None => Box::new(CpuBackend),
    })
}

/// A single-model engine for `gpu` (or the CPU reference when `None`) on the automatic path.
pub fn make_engine<'g>(gpu: Option<&'g Gpu>, job: &ModelJob<'_>) -> Result<Box<dyn Engine + 'g>> {
    Ok(match gpu {
        Some(gpu) => single_engine(gpu, job, TrainPath::Auto)?,
        None => Box::new(CpuEngine::new(&job.spec, &job.params, job.train, job.test, job.cfg)?),
    })
}

/// Parses `--activation` lists.
pub fn parse_activation(s: &str) -> Result<Activation, String> {
    s.parse()
}
