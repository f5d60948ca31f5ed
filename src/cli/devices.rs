//! `vanish devices`: every adapter wgpu can see, with the limits that bound model size.

use anyhow::Result;
use clap::Args;

use crate::gpu::list_adapters;

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DevicesArgs) -> Result<()> {
    let adapters = list_adapters();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&adapters)?)?;
        return Ok(());
    }
    if adapters.is_empty() {
        outln!("{}", crate::gpu::GpuError::NoAdapter)?;
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        outln!("[{i}] {}", a.name)?;
        outln!("    type {}, backend {}, driver {} {}", a.device_type, a.backend, a.driver, a.driver_info)?;
        outln!(
            "    max storage binding {} MiB, max buffer {} MiB, workgroup storage {} KiB, {} invocations/workgroup, \
             {} workgroups/dimension",
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_compute_workgroup_storage_size >> 10,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroups_per_dimension
        )?;
        let size = match (a.subgroup_min_size, a.subgroup_max_size) {
            (lo, hi) if lo == hi => format!("{lo}"),
            (lo, hi) => format!("{lo}–{hi}"),
        };
        outln!("    subgroups {} (size {size}), timestamp queries {}", yes(a.subgroups), yes(a.timestamps))?;
    }
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
