//! Launchers for `shaders/histogram.wgsl`: a probe's per-layer histograms counted on the GPU, for any
//! engine's buffers. The caller names where each layer's values lie (a buffer, an offset, a length),
//! grouped by model and quantity; the dispatches are built once, recorded after each probe, and leave
//! every histogram in one buffer read back with the probe's other results.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Gpu, GpuError, Shader, Tensor};
use crate::histogram::{HIST_WORDS, Histogram, range_groups};

/// `Segment` in histogram.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Segment {
    offset: u32,
    len: u32,
    slot: u32,
    group: u32,
    count: u32,
    _pad: [u32; 3],
}

/// Where one layer's values of one quantity lie: `len` words of `tensors[buffer]` from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    pub buffer: usize,
    pub offset: usize,
    pub len: usize,
}

/// Each of `quantities` (a model's layers, the output layer last) as the groups that share a range: the
/// hidden layers, and the output layer alone (`Histogram::layers`). The slots stay in layer order.
pub fn layer_groups(quantities: impl IntoIterator<Item = Vec<Source>>) -> Vec<Vec<Source>> {
    quantities.into_iter().flat_map(range_groups).collect()
}

/// The histogram dispatches of a set of groups.
pub struct HistogramKernels {
    /// Every buffer's statistics dispatch, then every buffer's binning dispatch: a group's range needs
    /// the statistics of all its layers, wherever they lie.
    dispatches: Vec<Dispatch>,
    /// `HIST_WORDS` per slot, slots in the order of the groups' layers.
    pub out: Tensor,
    stats: Tensor,
    ranges: Tensor,
    slots: usize,
}

impl HistogramKernels {
    /// Kernels for `groups` (each a model's layers of one quantity, whose histograms share a range) over
    /// `tensors`. Slots follow the groups' order: group 0's layers first.
    pub fn new(gpu: &Gpu, tensors: &[&Tensor], groups: &[Vec<Source>]) -> Result<Self, GpuError> {
        let slots: usize = groups.iter().map(Vec::len).sum();
        let out = gpu.tensor("histograms", (slots * HIST_WORDS).max(1))?;
        let stats = gpu.tensor("histogram statistics", (4 * slots).max(4))?;
        let ranges = gpu.tensor("histogram ranges", (2 * slots).max(2))?;
        Self::build(gpu, tensors, groups, [out, stats, ranges])
    }

    /// Kernels for other buffers laid out as these (the fused executor's twins), writing the same slots
    /// of the same output.
    pub fn alike(&self, gpu: &Gpu, tensors: &[&Tensor], groups: &[Vec<Source>]) -> Result<Self, GpuError> {
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), self.slots);
        Self::build(gpu, tensors, groups, [self.out.clone(), self.stats.clone(), self.ranges.clone()])
    }

    /// `own`: the output, the statistics and the ranges.
    fn build(gpu: &Gpu, tensors: &[&Tensor], groups: &[Vec<Source>], own: [Tensor; 3]) -> Result<Self, GpuError> {
        let [out, stats, ranges] = own;
        let slots: usize = groups.iter().map(Vec::len).sum();
        let to_u32 = |v: usize, what: &str| {
            u32::try_from(v).map_err(|_| GpuError::TooDeep(format!("a histogram's {what} ({v}) passes 32 bits")))
        };
        let mut tables: Vec<Vec<Segment>> = vec![Vec::new(); tensors.len()];
        let mut slot = 0usize;
        for group in groups {
            let first = slot;
            for s in group {
                tables[s.buffer].push(Segment {
                    offset: to_u32(s.offset, "offset")?,
                    len: to_u32(s.len, "length")?,
                    slot: to_u32(slot, "slots")?,
                    group: to_u32(first, "slots")?,
                    count: to_u32(group.len(), "slots")?,
                    _pad: [0; 3],
                });
                slot += 1;
            }
        }
        // One workgroup per segment: a table longer than a dispatch's workgroups (a very deep model's
        // scratch holds three segments per layer) is split.
        let most = gpu.limits.max_compute_workgroups_per_dimension.max(1) as usize;
        let mut chunks = Vec::new();
        for (table, data) in tables.iter().zip(tensors) {
            for chunk in table.chunks(most) {
                let segments = gpu.upload::<u32>("histogram segments", bytemuck::cast_slice(chunk))?;
                chunks.push((segments, *data, chunk.len() as u32));
            }
        }
        let mut dispatches = Vec::new();
        for entry in ["hist_stats", "hist_range", "hist_bin"] {
            for (segments, data, len) in &chunks {
                let bound = [segments, *data, &stats, &out, &ranges];
                dispatches.push(gpu.dispatch::<Segment>(Shader::Histogram, entry, None, &bound, [*len, 1, 1])?);
            }
        }
        Ok(HistogramKernels { dispatches, out, stats, ranges, slots })
    }

    /// Records the dispatches into a pass of their own, after the probe that filled the buffers (wgpu
    /// orders a pass's dispatches).
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for d in &self.dispatches {
            d.record(&mut pass);
        }
    }

    /// The dispatches in the order they must run, for a caller that records its own pass.
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
    }

    /// The histograms of slots `first ..first + count` from `out` read back (as f32 words).
    pub fn decode(&self, out: &[f32], first: usize, count: usize) -> Vec<Histogram> {
        assert!(first + count <= self.slots);
        let words: &[u32] = bytemuck::cast_slice(out);
        (first..first + count).map(|s| Histogram::from_words(&words[s * HIST_WORDS..(s + 1) * HIST_WORDS])).collect()
    }
}
