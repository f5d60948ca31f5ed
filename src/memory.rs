//! Host memory, checked before allocating: a model, dataset or sweep that cannot fit is refused with the
//! size it needs and what the machine has, instead of aborting inside the allocator (a Rust allocation
//! failure is an abort, not an error). The estimates count what the engines hold; they err on the side
//! of too much, and a job within a few percent of the machine's memory is refused rather than swapped.
//! GPU buffers are checked separately, against the adapter's limits (`Gpu::check_size`).

use crate::model::{MlpSpec, Norm};

/// Which engine will hold the model: the reference keeps f64 copies and whole-split activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Cpu,
    Gpu,
}

/// Parameters of `spec` (weights, biases, a normalisation's gain and shift, batch norm's running
/// statistics), `None` past u64.
pub fn param_count(spec: &MlpSpec) -> Option<u64> {
    (0..spec.num_layers()).try_fold(0u64, |sum, i| {
        let (fan_in, fan_out) = spec.layer_dims(i);
        let (fan_in, fan_out) = (fan_in as u64, fan_out as u64);
        // γ and β, and batch norm's running mean and variance
        let per_unit = match spec.norm_of(i) {
            Norm::None => 0,
            Norm::Layer => 2,
            Norm::Batch => 4,
        };
        let bn = fan_out.checked_mul(per_unit)?;
        sum.checked_add(fan_in.checked_mul(fan_out)?.checked_add(fan_out.checked_add(bn)?)?)
    })
}

/// Host bytes one model of `spec` trained on `rows` rows needs on `holder`, `None` past u64.
pub fn model_bytes(spec: &MlpSpec, rows: usize, holder: Holder) -> Option<u64> {
    let params = param_count(spec)?;
    let units = (0..spec.num_layers()).try_fold(0u64, |s, i| s.checked_add(spec.layer_dims(i).1 as u64))?;
    let per_param = match holder {
        // f32 initial weights and template; f64 parameters, gradients, two optimiser moments, a
        // previous copy (update ratios) and a layer's temporary gradient.
        Holder::Cpu => 4 + 4 + 8 * 6,
        // f32 initial weights, the trainer's copy and a read-back.
        Holder::Gpu => 4 * 3,
    };
    // Whole-split passes (probes, evaluations) keep every layer's pre-activations, activations and
    // deltas, plus temporaries: six f64 per unit and row on the reference; the GPU's are on the GPU.
    let activations = match holder {
        Holder::Cpu => (rows as u64).checked_mul(units)?.checked_mul(8 * 6)?,
        Holder::Gpu => 0,
    };
    params.checked_mul(per_param)?.checked_add(activations)
}

/// Refuses `bytes` (`None`: past u64) of host memory for `what` when the machine does not have it.
pub fn check_host(what: &str, bytes: Option<u64>) -> Result<(), String> {
    let Some(bytes) = bytes else {
        return Err(format!("{what}: more than 2^64 bytes of host memory needed; use a smaller model or dataset"));
    };
    match available() {
        Some((limit, source)) if bytes > limit => Err(format!(
            "{what}: {} of host memory needed ({bytes} bytes), more than the {} available ({source}); \
             use a smaller model, dataset or sweep",
            human(bytes),
            human(limit)
        )),
        _ => Ok(()),
    }
}

/// The memory this process can still take, and where that figure comes from: the least of the
/// kernel's estimate of available memory and the cgroup's limit less its usage (containers, Slurm
/// jobs with cgroups). `VANISH_HOST_MEMORY` (bytes) overrides both, for tests.
pub fn available() -> Option<(u64, &'static str)> {
    if let Some(bytes) = std::env::var("VANISH_HOST_MEMORY").ok().and_then(|v| v.parse().ok()) {
        return Some((bytes, "VANISH_HOST_MEMORY"));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((kib.saturating_mul(1024), "MemAvailable in /proc/meminfo"))
    });
    let cgroup = cgroup_room();
    match (meminfo, cgroup) {
        (Some(m), Some(c)) => Some(if c.0 < m.0 { c } else { m }),
        (m, c) => m.or(c),
    }
}

/// The room left in this process's memory cgroup: its limit less its usage, page cache that can be
/// reclaimed not counted as used. cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`), at the path
/// `/proc/self/cgroup` names (a Slurm job's cgroup is deep in the tree); `None` without a limit.
fn cgroup_room() -> Option<(u64, &'static str)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let number = |path: String| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let stat = |path: String, key: &str| -> u64 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(key));
        line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    };
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.is_empty() {
            let dir = format!("/sys/fs/cgroup{path}");
            let max = number(format!("{dir}/memory.max"))?;
            let used = number(format!("{dir}/memory.current")).unwrap_or(0);
            let cache = stat(format!("{dir}/memory.stat"), "inactive_file");
            return Some((max.saturating_sub(used.saturating_sub(cache)), "the cgroup's memory.max less its usage"));
        }
        if controllers.split(',').any(|c| c == "memory") {
            let dir = format!("/sys/fs/cgroup/memory{path}");
            let max = number(format!("{dir}/memory.limit_in_bytes"))?;
            // v1 writes a huge number, not "max", for no limit.
            if max >= 1 << 60 {
                return None;
            }
            let used = number(format!("{dir}/memory.usage_in_bytes")).unwrap_or(0);
            let cache = stat(format!("{dir}/memory.stat"), "total_inactive_file");
            let room = max.saturating_sub(used.saturating_sub(cache));
            return Some((room, "the cgroup's memory.limit_in_bytes less its usage"));
        }
    }
    None
}

/// `40.0 GB`-style sizes (decimal units, as `free -h` users read them roughly and disks are sold).
pub fn human(bytes: u64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", units[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Output};

    #[test]
    fn sizes_count_every_parameter_and_overflow_to_none() {
        let spec = MlpSpec::new(2, &[10, 10], Activation::Relu, Output::for_classes(2));
        assert_eq!(param_count(&spec), Some(2 * 10 + 10 + 10 * 10 + 10 + 10 + 1));
        let huge = MlpSpec::new(2, &[usize::MAX / 2, usize::MAX / 2], Activation::Relu, Output::for_classes(2));
        assert_eq!(param_count(&huge), None);
        assert!(check_host("a model", None).unwrap_err().contains("2^64"));
        assert_eq!(human(999), "999 bytes");
        assert_eq!(human(40_002_000_640), "40.0 GB");
    }
}
