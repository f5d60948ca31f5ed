//! What a batch of models is on the GPU, shared by the executor's two kernel families (`fused.wgsl`,
//! one workgroup per model; `tiled.wgsl`, one dispatch per layer over every model): the model table
//! (`ModelDesc`), the layer table (`LayerDesc`) and what a probe reports of a layer (`LayerStats`), each
//! a `#[repr(C)]` mirror of the struct of the same name in `shaders/batch.wgsl`; and where a model's
//! tensors sit in the batch's scratch (`scratch_plan`).

use bytemuck::{Pod, Zeroable};

use crate::model::{MlpSpec, Norm};

/// The model and layer tables are uniform buffers of this many bytes (WebGPU's default binding limit):
/// CPU drivers read a storage buffer at an address that differs between invocations — and the model's
/// index, the workgroup id, counts as one — with a branch per SIMD lane, which made these tables 77 of
/// the fused kernel's 185 such accesses and its compile time grow with them; a uniform buffer they read
/// with straight-line loads.
pub const TABLE_BYTES: usize = 64 << 10;

/// Models in one batch and dense layers over its models: what the tables hold (`MAX_MODELS` and
/// `MAX_LAYERS` in batch.wgsl, checked by a test).
pub const MAX_MODELS: usize = TABLE_BYTES / size_of::<ModelDesc>();
pub const MAX_LAYERS: usize = TABLE_BYTES / size_of::<LayerDesc>();

/// What a pass does to a model (`MODE_*` in batch.wgsl).
pub const MODE_TRAIN: u32 = 0;
pub const MODE_PROBE: u32 = 1;
pub const MODE_EVAL_TRAIN: u32 = 2;
pub const MODE_EVAL_TEST: u32 = 3;
pub const MODE_BESIDE: u32 = 4;

/// The workgroup's fixed-order sums (`wg_sums` in batch.wgsl): this many partial sums per invocation, for
/// up to `REDUCTION_LANES` invocations (the fused kernel's widest workgroup, the tiled kernels' one-
/// dimensional ones), in a workgroup array of `REDUCTION_FLOATS`.
pub const REDUCTION_SUMS: usize = 10;
pub const REDUCTION_LANES: usize = 64;
pub const REDUCTION_FLOATS: usize = REDUCTION_SUMS * REDUCTION_LANES;

/// `PassTotals` in batch.wgsl: one pass's mean loss and correct count. A model's step metrics are one
/// per training step.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug, PartialEq)]
pub struct PassTotals {
    pub loss: f32,
    pub correct: f32,
}

/// What a model's `totals` offset points at: one `PassTotals` per pass that is not a training step, in
/// the order of their modes (`totals_at` in batch.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug, PartialEq)]
pub struct Totals {
    pub probe: PassTotals,
    pub eval_train: PassTotals,
    pub eval_test: PassTotals,
}

/// Floats in `out` for one `PassTotals` and for a model's `Totals`.
pub const PASS_TOTALS: usize = size_of::<PassTotals>() / size_of::<f32>();
pub const TOTALS: usize = size_of::<Totals>() / size_of::<f32>();

/// The `T` that starts at float `at` of `out`, a results buffer read back.
pub fn read_at<T: Pod>(out: &[f32], at: usize) -> T {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(&out[at..at + size_of::<T>() / size_of::<f32>()]))
}

/// `ModelDesc` in batch.wgsl: where one model lives.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
pub struct ModelDesc {
    pub layers: u32,
    pub lt: u32,
    pub input: u32,
    pub classes: u32,
    pub rows: u32,
    pub test_rows: u32,
    pub batch: u32,
    pub steps: u32,
    pub x: u32,
    pub y: u32,
    pub tx: u32,
    pub ty: u32,
    pub order: u32,
    pub sched: u32,
    pub metrics: u32,
    pub totals: u32,
    pub probes: u32,
    pub grad_w1: u32,
    pub po: u32,
    pub go: u32,
    pub mo: u32,
    pub vo: u32,
    pub ro: u32,
    pub wo: u32,
    pub param_len: u32,
    pub so: u32,
    pub row_cap: u32,
    pub scratch_loss: u32,
    pub optimizer: u32,
    pub bn: u32,
    pub momentum: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub bn_eps: f32,
    pub bn_momentum: f32,
    pub clip: f32,
    pub norms: u32,
    pub loss: u32,
    pub decay: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// `ModelDesc.loss`: the head's loss, as the kernels read it.
pub const LOSS_BINARY: u32 = 0;
pub const LOSS_SOFTMAX: u32 = 1;
pub const LOSS_SIGMOID_CE: u32 = 2;

/// The loss code of `output`.
pub fn loss_code(output: crate::model::Output) -> u32 {
    use crate::model::Output;
    match output {
        Output::Binary => LOSS_BINARY,
        Output::Softmax(_) => LOSS_SOFTMAX,
        Output::SigmoidCe(_) => LOSS_SIGMOID_CE,
    }
}

/// `LayerDesc` in batch.wgsl: where one dense layer's tensors live, relative to its model's bases.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
pub struct LayerDesc {
    pub fan_in: u32,
    pub fan_out: u32,
    pub act: u32,
    pub norm: u32,
    pub w: u32,
    pub b: u32,
    pub gamma: u32,
    pub beta: u32,
    pub rmean: u32,
    pub rvar: u32,
    pub x: u32,
    pub z: u32,
    pub y: u32,
    pub a: u32,
    pub d: u32,
    pub dy: u32,
    pub stats: u32,
    pub alpha: f32,
    pub res: f32,
    pub o: u32,
    pub g: u32,
    /// A uniform buffer's array elements are 16-byte aligned.
    pub _pad: [u32; 3],
}

/// `LayerStats` in batch.wgsl: what a probe reduces of one layer.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
pub struct LayerStats {
    pub grad_w_sq: f32,
    pub grad_b_sq: f32,
    pub delta_sq: f32,
    pub weight_sq: f32,
    pub prev_sq: f32,
    pub diff_sq: f32,
    pub act_mean: f32,
    pub act_std: f32,
    pub saturated: f32,
    pub dead: f32,
    pub mean_grad_sq: f32,
    pub _pad: f32,
}

/// One model's place in scratch: its layer table (offsets from the model's scratch base), the floats it
/// takes, and where its labels/loss/hit rows start.
pub struct ScratchPlan {
    pub layers: Vec<LayerDesc>,
    pub floats: usize,
    pub loss: usize,
}

/// `spec`'s layer table and scratch, its per-row buffers holding `row_cap` rows. With `gathered_input`
/// the first layer's input rows are copied into scratch (the fused kernel); without, the kernels read
/// them from the features where they are (the tiled kernels), and they take no scratch.
pub fn scratch_plan(spec: &MlpSpec, row_cap: usize, gathered_input: bool) -> ScratchPlan {
    let layout = spec.layout();
    let mut at = 0usize;
    let mut take = |len: usize| {
        let start = at;
        at += len;
        start as u32
    };
    let mut x = take(if gathered_input { row_cap * spec.input } else { 0 });
    let mut layers = Vec::new();
    for i in 0..spec.num_layers() {
        let (fan_in, fan_out) = spec.layer_dims(i);
        let norm = spec.norm_of(i);
        let act = spec.activation(i);
        let rows = row_cap * fan_out;
        let mut d = LayerDesc {
            fan_in: fan_in as u32,
            fan_out: fan_out as u32,
            act: act.code(),
            norm: norm.code(),
            w: layout.weight(i).offset as u32,
            b: layout.bias(i).offset as u32,
            x,
            z: take(rows),
            a: take(rows),
            d: take(rows),
            alpha: act.alpha(),
            ..Default::default()
        };
        if norm != Norm::None {
            d.gamma = layout.gamma(i).expect("a normalised layer").offset as u32;
            d.beta = layout.beta(i).expect("a normalised layer").offset as u32;
            d.y = take(rows);
            d.dy = take(rows);
            // layer norm keeps each row's mean and rstd after the per-unit sums
            d.stats = take(4 * fan_out + if norm == Norm::Layer { 2 * row_cap } else { 0 });
        }
        if norm == Norm::Batch {
            d.rmean = layout.running_mean(i).expect("bn layer").offset as u32;
            d.rvar = layout.running_var(i).expect("bn layer").offset as u32;
        }
        // A skip connection's output x + α·a feeds the next layer, and its gradient is kept for the skip.
        d.o = d.a;
        if spec.has_skip(i) {
            d.res = spec.skip_scale(i) as f32;
            d.o = take(rows);
            d.g = take(rows);
        }
        x = d.o;
        layers.push(d);
    }
    let loss = take(3 * row_cap) as usize;
    ScratchPlan { layers, floats: at, loss }
}
