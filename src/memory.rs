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

/// Host bytes every dense layer costs beyond its tensors, measured at width 1 (where nothing else
/// counts) with 10 rows: on the reference, its slots, per-pass vectors and probe records (~0.7 kB
/// measured); on the GPU's layered path, its buffers, bind groups and descriptor sets in the driver
/// (~150 kB on lavapipe). Rounded up.
const LAYER_OVERHEAD_CPU: u64 = 1 << 10;
const LAYER_OVERHEAD_GPU: u64 = 160 << 10;

/// `count` dense layers of one shape: `fan_in → fan_out`, with `norm`.
#[derive(Clone, Copy, Debug)]
pub struct Layers {
    pub count: u64,
    pub fan_in: u64,
    pub fan_out: u64,
    pub norm: Norm,
}

/// A tensor's floats in an arena, padded as `ParamLayout` pads them.
fn padded(n: u64) -> Option<u64> {
    let align = crate::model::ARENA_ALIGN as u64;
    n.div_ceil(align).checked_mul(align)
}

impl Layers {
    /// Parameter floats of the group as the arenas hold them (each tensor padded): weights, biases, a
    /// normalisation's γ and β, batch norm's running statistics.
    fn padded_params(&self) -> Option<u64> {
        let per_unit = match self.norm {
            Norm::None => 0,
            Norm::Layer => 2,
            Norm::Batch => 4,
        };
        let one = padded(self.fan_in.checked_mul(self.fan_out)?)?
            .checked_add(padded(self.fan_out)?.checked_mul(1 + per_unit)?)?;
        one.checked_mul(self.count)
    }

    /// Host bytes of the group trained on `rows` rows on `holder`.
    fn bytes(&self, rows: u64, holder: Holder) -> Option<u64> {
        let (per_param, per_unit_row, overhead) = match holder {
            // f32 initial weights and template; f64 parameters, gradients, two optimiser moments, a
            // previous copy (update ratios) and a layer's temporary gradient. Whole-split passes keep
            // every layer's pre-activations, activations and deltas, plus temporaries: six f64 per unit
            // and row.
            Holder::Cpu => (4 + 4 + 8 * 6, 8 * 6, LAYER_OVERHEAD_CPU),
            // f32 initial weights, the trainer's copy and a read-back; the activations are on the GPU.
            Holder::Gpu => (4 * 3, 0, LAYER_OVERHEAD_GPU),
        };
        let params = self.padded_params()?.checked_mul(per_param)?;
        let activations = rows.checked_mul(self.fan_out)?.checked_mul(per_unit_row)?.checked_mul(self.count)?;
        params.checked_add(activations)?.checked_add(overhead.checked_mul(self.count)?)
    }
}

/// The layers of a network of `depth` hidden layers of `width` units between `input` and `output`
/// units, as groups, without building it (so a depth of 10^19 costs nothing to estimate).
pub fn network(input: u64, width: u64, depth: u64, output: u64, norm: Norm) -> [Layers; 3] {
    [
        Layers { count: 1, fan_in: input, fan_out: width, norm },
        Layers { count: depth.saturating_sub(1), fan_in: width, fan_out: width, norm },
        Layers { count: 1, fan_in: width, fan_out: output, norm: Norm::None },
    ]
}

/// The layers of `spec`, one group per layer.
fn spec_layers(spec: &MlpSpec) -> impl Iterator<Item = Layers> + '_ {
    (0..spec.num_layers()).map(|i| {
        let (fan_in, fan_out) = spec.layer_dims(i);
        Layers { count: 1, fan_in: fan_in as u64, fan_out: fan_out as u64, norm: spec.norm_of(i) }
    })
}

/// Host bytes a model of `layers` trained on `rows` rows needs on `holder`, `None` past u64.
pub fn layers_bytes(layers: impl IntoIterator<Item = Layers>, rows: usize, holder: Holder) -> Option<u64> {
    layers.into_iter().try_fold(0u64, |sum, l| sum.checked_add(l.bytes(rows as u64, holder)?))
}

/// Parameter floats of `layers` as the arenas hold them (padded), `None` past u64.
pub fn layers_params(layers: impl IntoIterator<Item = Layers>) -> Option<u64> {
    layers.into_iter().try_fold(0u64, |sum, l| sum.checked_add(l.padded_params()?))
}

/// Parameters of `spec` as the arenas hold them (weights, biases, a normalisation's gain and shift,
/// batch norm's running statistics, each tensor padded), `None` past u64.
pub fn param_count(spec: &MlpSpec) -> Option<u64> {
    layers_params(spec_layers(spec))
}

/// Host bytes one model of `spec` trained on `rows` rows needs on `holder`, `None` past u64.
pub fn model_bytes(spec: &MlpSpec, rows: usize, holder: Holder) -> Option<u64> {
    layers_bytes(spec_layers(spec), rows, holder)
}

/// Host bytes of a run's records: every step's loss (and, with clipping, its gradient norm), and per
/// probe every layer's numbers and the first layer's gradient.
pub fn history_bytes(steps: u64, probes: u64, layers: u64, first_layer: u64) -> Option<u64> {
    let probe = layers.checked_mul(8 * 16)?.checked_add(first_layer.checked_mul(8)?)?;
    steps.checked_mul(16)?.checked_add(probes.checked_mul(probe)?)
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
    fn sizes_count_every_padded_parameter_and_overflow_to_none() {
        let spec = MlpSpec::new(2, &[10, 10], Activation::Relu, Output::for_classes(2));
        // Every tensor padded to a multiple of 64 floats, as the arenas hold it: weights of 20, 100 and 10
        // floats (64, 128, 64) and three biases (64 each).
        assert_eq!(param_count(&spec), Some(64 + 128 + 64 + 3 * 64));
        assert_eq!(param_count(&spec).map(|p| p as usize), Some(spec.layout().param_len));
        let analytic = layers_params(network(2, 10, 2, 1, Norm::None));
        assert_eq!(analytic, param_count(&spec), "the analytic count of a homogeneous network is the spec's");
        let huge = MlpSpec::new(2, &[usize::MAX / 2, usize::MAX / 2], Activation::Relu, Output::for_classes(2));
        assert_eq!(param_count(&huge), None);
        assert_eq!(layers_bytes(network(2, 1, u64::MAX, 1, Norm::None), 10, Holder::Cpu), None);
        assert!(check_host("a model", None).unwrap_err().contains("2^64"));
        assert_eq!(human(999), "999 bytes");
        assert_eq!(human(40_002_000_640), "40.0 GB");
    }
}
