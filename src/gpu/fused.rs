//! The fused executor (`shaders/fused.wgsl`): a batch of narrow MLPs (every width ≤ 64), one workgroup
//! dispatched per model, each claiming models until none is left, whose steps, probes and evaluations
//! run in one dispatch stream. Models may differ in depth, widths, activations, normalisation,
//! optimiser, data and epoch order: each has a descriptor and a layer table, so one pipeline per kernel
//! class serves them all. A call of the training loop — the measurement of where the last one left the
//! models, then a chunk of steps — is one submit (one per 256 steps) with the readback of the
//! per-model results in it; a batch of up to `BESIDE_MAX_MODELS` measures beside its steps (twins).
//!
//! Buffers: `models` and `layers` (the tables: uniform buffers of `TABLE_BYTES`, the rest storage),
//! `xs` and `labels` (every distinct dataset once, then every model's epoch order), `arena` (per
//! model: parameters, gradients, the optimiser's two moments, the parameters at the previous probe,
//! running statistics; then every model's step sizes; then, with twins, each twin's parameters,
//! gradients and running statistics), `scratch` (rows in flight, per model, then per twin), `out` (per
//! model: each step's loss and correct count, the totals of the last probe and evaluations, the first
//! layer's gradient), `probes` (per model and layer, `LayerStats`), `queue` (each dispatch's count of
//! claimed models) and, with twins, a staging buffer for their copies.

use bytemuck::{Pod, Zeroable};

use super::wait::Readback;
use super::{Dispatch, Gpu, Shader, Tensor};
use crate::engine::{
    Answer, BatchEngine, BatchResult, Engine, EngineError, LayerProbe, Measured, ModelJob, Optimizer, Outcome, Probe,
    Split, Work, batch_rows, batches_per_epoch, check_engine_inputs,
};
use crate::model::{MlpSpec, Norm, ParamLayout, Params};

/// The widest layer (input and output included) the executor takes: an invocation loops over a row's
/// units, so the cost per step grows with width², and wide layers belong to the layered path.
pub const FUSED_MAX_WIDTH: usize = 64;

/// Storage buffers the kernel binds (WebGPU's default limit is 8).
const FUSED_STORAGE_BUFFERS: u32 = 7;

/// The model and layer tables are uniform buffers of this many bytes (WebGPU's default binding limit):
/// CPU drivers read a storage buffer at an address that differs between invocations — and the model's
/// index, the workgroup id, counts as one — with a branch per SIMD lane, which made these tables 77 of
/// the kernel's 185 such accesses and its compile time grow with them; a uniform buffer they read with
/// straight-line loads.
const TABLE_BYTES: usize = 64 << 10;

/// Models in one batch and dense layers over its models: what the tables hold (`MAX_MODELS` and
/// `MAX_LAYERS` in fused.wgsl, checked by a test).
pub const MAX_MODELS: usize = TABLE_BYTES / size_of::<ModelDesc>();
pub const MAX_LAYERS: usize = TABLE_BYTES / size_of::<LayerDesc>();

/// Steps one dispatch may loop over, so a long epoch does not become one very long dispatch (drivers
/// reset a GPU that runs one command for seconds).
pub const FUSED_MAX_STEPS_PER_DISPATCH: usize = 256;

/// The most floats of workgroup memory the weight cache takes, whatever the adapter allows: a real
/// GPU shares its workgroup memory among the workgroups resident on a core.
const WEIGHT_CACHE_MAX: usize = 8192;

/// Floats of the kernel's reduction array (`red` in fused.wgsl: 10 sums for up to 64 invocations).
const REDUCTION_FLOATS: usize = 10 * FUSED_MAX_WIDTH;

/// Floats of workgroup memory the kernel's other variables take (`claimed` in fused.wgsl), as WebGPU
/// counts them: every workgroup variable rounded up to 16 bytes.
const OTHER_WORKGROUP_FLOATS: usize = 4;

/// A batch's scratch and arena stay under this many bytes (and the adapter's binding limit), so a big
/// sweep runs as several batches.
const BATCH_BYTES_MAX: u64 = 256 << 20;

/// The bytes one of a batch's buffers may take on `gpu`: `BATCH_BYTES_MAX`, or less where the adapter
/// binds or allocates less.
fn batch_budget(gpu: &Gpu) -> u64 {
    BATCH_BYTES_MAX.min(gpu.limits.max_storage_buffer_binding_size).min(gpu.limits.max_buffer_size)
}

/// What the kernel is compiled for, and so which models share a pipeline: the width class (the widest
/// layer rounded up to a power of two from 8 to 64, which sets the workgroup's width, `workgroup_width`)
/// and whether the parameters are cached in workgroup memory (when they fit). Never the depth,
/// activation, batch norm, init, seed or optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct KernelClass {
    pub width: u32,
    pub cached: bool,
}

/// Why `spec` cannot run on the executor on `gpu`, or its kernel class.
pub fn fused_fits(gpu: &Gpu, spec: &MlpSpec) -> Result<KernelClass, String> {
    let w = spec.max_width();
    if w > FUSED_MAX_WIDTH {
        return Err(format!("a layer is {w} wide; the fused path takes widths up to {FUSED_MAX_WIDTH}"));
    }
    let have = gpu.limits.max_storage_buffers_per_shader_stage;
    if have < FUSED_STORAGE_BUFFERS {
        return Err(format!(
            "the fused kernel binds {FUSED_STORAGE_BUFFERS} storage buffers; this adapter allows {have}"
        ));
    }
    let uniform = gpu.limits.max_uniform_buffer_binding_size as usize;
    if uniform < TABLE_BYTES {
        return Err(format!("the fused kernel binds {TABLE_BYTES}-byte uniform tables; this adapter allows {uniform}"));
    }
    if spec.num_layers() > MAX_LAYERS {
        return Err(format!("{} layers; the fused path takes up to {MAX_LAYERS}", spec.num_layers()));
    }
    let cache = weight_cache(gpu);
    Ok(KernelClass {
        width: w.max(8).next_power_of_two() as u32,
        cached: cache > 1 && spec.layout().param_len <= cache,
    })
}

/// The floats of workgroup memory the kernel may cache parameters in on `gpu`: what its workgroup
/// storage holds beside the reduction array and `claimed`, up to `WEIGHT_CACHE_MAX`; 1 means no cache.
fn weight_cache(gpu: &Gpu) -> usize {
    weight_cache_for(gpu.limits.max_compute_workgroup_storage_size)
}

fn weight_cache_for(workgroup_bytes: u32) -> usize {
    let floats = workgroup_bytes as usize / 4;
    (floats.saturating_sub(REDUCTION_FLOATS + OTHER_WORKGROUP_FLOATS) & !3).clamp(1, WEIGHT_CACHE_MAX)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RunParams {
    mode: u32,
    first: u32,
    count: u32,
    /// Evaluations of the training split: models without batch norm take the probe's numbers (the
    /// same forward pass), when a probe ran just before.
    after_probe: u32,
    /// The dispatch's counter of claimed models in the queue buffer: one per dispatch of a command
    /// buffer, all zeroed at its start (`FusedExecutor::encoder`).
    slot: u32,
    /// The table entry of the dispatch's first model: the batch's size for the twins' statistics.
    base: u32,
    /// `MODE_BESIDE`: the twins are evaluated before they are probed.
    evaluate: u32,
}

impl RunParams {
    fn new(mode: u32, slot: u32) -> Self {
        RunParams { mode, first: 0, count: 0, after_probe: 0, slot, base: 0, evaluate: 0 }
    }
}

/// Batches of up to this many models measure each chunk's end beside the next chunk's steps
/// (`MODE_BESIDE`), each model's twin holding a copy of its parameters: so few models leave most of a
/// GPU idle during their steps — and, for one model, one of lavapipe's two threads. Larger batches
/// fill the device with their own models and keep the memory.
const BESIDE_MAX_MODELS: usize = 16;

/// Counters in the queue buffer: one for each dispatch a command buffer records (steps, probe,
/// statistics, the two evaluations).
const QUEUE_SLOTS: usize = 5;
const SLOT_TRAIN: u32 = 0;
const SLOT_PROBE: u32 = 1;
const SLOT_STATS: u32 = 2;
const SLOT_EVAL_TRAIN: u32 = 3;
const SLOT_EVAL_TEST: u32 = 4;

const MODE_TRAIN: u32 = 0;
const MODE_PROBE: u32 = 1;
const MODE_EVAL_TRAIN: u32 = 2;
const MODE_EVAL_TEST: u32 = 3;
const MODE_BESIDE: u32 = 4;

/// `ModelDesc` in fused.wgsl: where one model lives.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
struct ModelDesc {
    layers: u32,
    lt: u32,
    input: u32,
    classes: u32,
    rows: u32,
    test_rows: u32,
    batch: u32,
    steps: u32,
    x: u32,
    y: u32,
    tx: u32,
    ty: u32,
    order: u32,
    sched: u32,
    metrics: u32,
    totals: u32,
    probes: u32,
    grad_w1: u32,
    po: u32,
    go: u32,
    mo: u32,
    vo: u32,
    ro: u32,
    wo: u32,
    param_len: u32,
    so: u32,
    row_cap: u32,
    scratch_loss: u32,
    optimizer: u32,
    bn: u32,
    momentum: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    bn_eps: f32,
    bn_momentum: f32,
    clip: f32,
    norms: u32,
}

/// `LayerDesc` in fused.wgsl: where one dense layer's tensors live, relative to its model's bases.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
struct LayerDesc {
    fan_in: u32,
    fan_out: u32,
    act: u32,
    norm: u32,
    w: u32,
    b: u32,
    gamma: u32,
    beta: u32,
    rmean: u32,
    rvar: u32,
    x: u32,
    z: u32,
    y: u32,
    a: u32,
    d: u32,
    dy: u32,
    stats: u32,
    alpha: f32,
    res: f32,
    o: u32,
    g: u32,
    /// A uniform buffer's array elements are 16-byte aligned.
    _pad: [u32; 3],
}

/// `LayerStats` in fused.wgsl: what a probe reduces of one layer.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
struct LayerStats {
    grad_w_sq: f32,
    grad_b_sq: f32,
    delta_sq: f32,
    weight_sq: f32,
    prev_sq: f32,
    diff_sq: f32,
    act_mean: f32,
    act_std: f32,
    saturated: f32,
    dead: f32,
    mean_grad_sq: f32,
    _pad: f32,
}

/// Floats in `out` after a model's step metrics: loss and correct count of the probe, the training
/// split's evaluation and the test split's.
const TOTALS: usize = 6;

/// One model's layer table and scratch: `(layers, floats, offset of the labels/loss/hit rows)`, its
/// per-row buffers holding `row_cap` rows.
fn scratch_plan(spec: &MlpSpec, row_cap: usize) -> (Vec<LayerDesc>, usize, usize) {
    let layout = spec.layout();
    let mut at = 0usize;
    let mut take = |len: usize| {
        let start = at;
        at += len;
        start as u32
    };
    let mut x = take(row_cap * spec.input);
    let mut descs = Vec::new();
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
        descs.push(d);
    }
    let loss = take(3 * row_cap) as usize;
    (descs, at, loss)
}

/// Rows each per-row scratch buffer holds for `job`: its largest pass (a batch, the training split
/// or the test split) rounded up to whole pairs of workgroups (the matmul phases take two rows per
/// invocation).
fn row_cap(job: &ModelJob<'_>, width: u32) -> usize {
    let batch = job.cfg.batch_size.min(job.train.len());
    batch.max(job.train.len()).max(job.test.len()).next_multiple_of(2 * width as usize)
}

/// Bytes of device memory `job` takes in a batch of kernel class `class`: scratch, arena and results
/// (its data is shared with the jobs on the same dataset and not counted).
pub fn job_bytes(job: &ModelJob<'_>, class: KernelClass) -> u64 {
    let layout = job.spec.layout();
    let steps = batches_per_epoch(job.train.len(), job.cfg.batch_size.max(1));
    let scratch = scratch_plan(&job.spec, row_cap(job, class.width)).1;
    let arena = 5 * layout.param_len + layout.running_len + steps;
    let out = 2 * steps + TOTALS + layout.weight(0).len;
    4 * (scratch + arena + out + job.train.len()) as u64
}

/// Splits `jobs` (all of kernel class `class`) into batches that fit one executor on `gpu`: within
/// `BATCH_BYTES_MAX`, the adapter's binding size, its workgroups per dimension and the tables. In order.
pub fn pack(gpu: &Gpu, jobs: &[(usize, &ModelJob<'_>)], class: KernelClass) -> Vec<Vec<usize>> {
    let budget = batch_budget(gpu);
    let max_models = MAX_MODELS.min(gpu.limits.max_compute_workgroups_per_dimension as usize);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let (mut used, mut layers) = (0u64, 0usize);
    for &(i, job) in jobs {
        let bytes = job_bytes(job, class);
        let n = job.spec.num_layers();
        match out.last_mut() {
            Some(batch) if used + bytes <= budget && batch.len() < max_models && layers + n <= MAX_LAYERS => {
                batch.push(i);
                used += bytes;
                layers += n;
            }
            _ => {
                out.push(vec![i]);
                used = bytes;
                layers = n;
            }
        }
    }
    out
}

/// A model's work per training row, roughly: its multiply-adds, and a few passes over the units of a
/// normalised layer (the order of a batch's model table is all it is used for).
fn step_work(spec: &MlpSpec) -> usize {
    (0..spec.num_layers())
        .map(|i| {
            let (fan_in, fan_out) = spec.layer_dims(i);
            let norm = if spec.norm_of(i) == Norm::None { 0 } else { 8 * fan_out };
            (fan_in + 1) * fan_out + norm
        })
        .sum()
}

/// The order of a batch's model table: heaviest first. Workgroups claim the models in table order as
/// they free up (`claim` in fused.wgsl), so the last models to start are the lightest and the threads
/// (or a GPU's cores) finish close together: the longest-job-first rule of list scheduling. Stable, so
/// models of equal work keep the jobs' order.
fn heaviest_first(work: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by_key(|&m| std::cmp::Reverse(work[m]));
    order
}

/// The host's record of one model of the batch.
struct Member {
    spec: MlpSpec,
    layout: ParamLayout,
    desc: ModelDesc,
    /// The output layer's scratch offset of z (the logits), from the model's scratch base.
    logits_at: usize,
    optimizer: Optimizer,
    rows: usize,
    test_rows: usize,
    batch: usize,
    /// Floats of scratch the model takes.
    scratch_len: usize,
}

/// The twins of a small batch's models (`MODE_BESIDE` in fused.wgsl): table entries N..2N, each a
/// model's descriptor with parameters, running statistics, gradients and scratch of its own, measured
/// in the same dispatch as the models' next steps.
struct Twins {
    /// The models' steps and the twins' measurements, then the twins' probe statistics.
    beside: Dispatch,
    stats: Dispatch,
    /// Each model's parameters and running statistics, copied to its twin's before `beside`:
    /// `(from, to, floats)` in the arena, through `staging` (a buffer is not copied into itself).
    copies: Vec<(usize, usize, usize)>,
    staging: Tensor,
}

impl Twins {
    fn record_copies(&self, encoder: &mut wgpu::CommandEncoder, arena: &Tensor) {
        let mut at = 0;
        for &(from, _, len) in &self.copies {
            arena.slice(from, len).record_copy_to(encoder, &self.staging.slice(at, len));
            at += len;
        }
        at = 0;
        for &(_, to, len) in &self.copies {
            self.staging.slice(at, len).record_copy_to(encoder, &arena.slice(to, len));
            at += len;
        }
    }
}

/// A batch of narrow models on the fused kernel.
pub struct FusedExecutor<'g> {
    gpu: &'g Gpu,
    members: Vec<Member>,
    labels: Tensor,
    arena: Tensor,
    scratch: Tensor,
    out: Tensor,
    probes: Tensor,
    /// The dispatches' counters of claimed models (`claim` in fused.wgsl).
    queue: Tensor,
    /// Small batches' twins, which measure beside the steps.
    twins: Option<Twins>,
    /// Where every model's epoch order starts in `labels`, and every model's step sizes in `arena`
    /// (both contiguous over the models, so each is one write).
    orders_at: usize,
    sched_at: usize,
    steps: usize,
    train: Dispatch,
    /// The probe's forward and backward pass, then its statistics (`fused_stats`).
    probe: [Dispatch; 2],
    /// Evaluations of the training split (alone, and after a probe) and of the test split.
    eval_train: [Dispatch; 2],
    eval_test: Dispatch,
    /// Optimiser steps taken so far (the same for every model).
    t: u32,
    /// Rows of the last probe or evaluation, whose logits are in scratch (`Engine::logits`, which
    /// single-model callers use after a probe or an evaluation of their own; after a `measure_first`
    /// call the steps or the twin hold the scratch instead).
    last_rows: usize,
    /// Keeps the tables and the data alive for the bind groups.
    _tables: [Tensor; 3],
}

fn u32_of(v: usize, what: &str) -> Result<u32, EngineError> {
    u32::try_from(v)
        .map_err(|_| EngineError::Invalid(format!("{what} ({v} words) does not fit the fused kernel's u32 offsets")))
}

/// The code the kernel is compiled with beyond the plain dense layers: what some model uses. Code no
/// model needs is left out, since CPU drivers' compile time grows faster than the kernel; a sweep
/// takes the features of all its jobs of a class (`of`), so every batch of the class shares one pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelFeatures {
    pub batch_norm: bool,
    pub layer_norm: bool,
    pub skips: bool,
    pub clip: bool,
}

impl KernelFeatures {
    pub fn of<'a, 'j: 'a>(jobs: impl IntoIterator<Item = &'a ModelJob<'j>>) -> Self {
        jobs.into_iter().fold(KernelFeatures::default(), |f, j| KernelFeatures {
            batch_norm: f.batch_norm || j.spec.norm == Norm::Batch,
            layer_norm: f.layer_norm || j.spec.norm == Norm::Layer,
            skips: f.skips || j.spec.residual.is_some(),
            clip: f.clip || j.cfg.clip_grad_norm.is_some(),
        })
    }

    /// What either uses.
    pub fn of_both(a: KernelFeatures, b: KernelFeatures) -> Self {
        KernelFeatures {
            batch_norm: a.batch_norm || b.batch_norm,
            layer_norm: a.layer_norm || b.layer_norm,
            skips: a.skips || b.skips,
            clip: a.clip || b.clip,
        }
    }

    /// Whether every feature of `other` is compiled in.
    fn covers(self, other: KernelFeatures) -> bool {
        (self.batch_norm || !other.batch_norm)
            && (self.layer_norm || !other.layer_norm)
            && (self.skips || !other.skips)
            && (self.clip || !other.clip)
    }
}

/// The kernel's workgroup width for `class` on `gpu`: the class's width (an invocation per unit of its
/// widest layer in the unit phases, and the rows spread over as many lanes), except on a CPU driver,
/// where it is one SIMD group (the adapter's subgroup size, 4 floats at llvmpipe's 128 bits). A CPU
/// driver runs a workgroup's SIMD groups one after another on one thread, so more invocations bring no
/// parallelism, only a switch between groups at every barrier and idle lanes in the unit phases (a
/// width-10 class would run 16 lanes for 10 units). The unit phases step over units in chunks of the
/// workgroup.
fn workgroup_width(gpu: &Gpu, class: KernelClass) -> u32 {
    let simd = gpu.adapter.subgroup_max_size;
    if gpu.adapter.is_cpu() && simd.is_power_of_two() && simd >= 4 { class.width.min(simd) } else { class.width }
}

/// The pipeline-overridable constants of the kernel for `class` on `gpu` with `features`.
fn overrides(gpu: &Gpu, class: KernelClass, features: KernelFeatures) -> [(&'static str, u32); 6] {
    let cache = if class.cached { weight_cache(gpu) as u32 } else { 1 };
    [
        ("WG", workgroup_width(gpu, class)),
        ("WSH", cache),
        ("BATCH_NORM", features.batch_norm.into()),
        ("LAYER_NORM", features.layer_norm.into()),
        ("SKIPS", features.skips.into()),
        ("CLIP", features.clip.into()),
    ]
}

impl<'g> FusedExecutor<'g> {
    /// An executor for `jobs`, which must all fit the fused kernel (`fused_fits`) with one kernel class
    /// and share a batch size and a number of training rows; compiled with what they use.
    pub fn new(gpu: &'g Gpu, jobs: &[ModelJob<'_>]) -> Result<Self, EngineError> {
        Self::with_features(gpu, jobs, KernelFeatures::of(jobs))
    }

    /// `new` with the kernel compiled for `features`, which must cover what `jobs` use.
    pub fn with_features(gpu: &'g Gpu, jobs: &[ModelJob<'_>], features: KernelFeatures) -> Result<Self, EngineError> {
        let Some(first) = jobs.first() else {
            return Err(EngineError::Invalid("an executor needs one or more models".into()));
        };
        let class = fused_fits(gpu, &first.spec).map_err(EngineError::Invalid)?;
        if !features.covers(KernelFeatures::of(jobs)) {
            return Err(EngineError::Invalid(
                "the kernel is compiled without a feature a model of its batch uses".into(),
            ));
        }
        for job in jobs {
            check_engine_inputs(&job.spec, job.train.len(), &job.cfg)?;
            if fused_fits(gpu, &job.spec).map_err(EngineError::Invalid)? != class {
                return Err(EngineError::Invalid("the models of one fused batch share a kernel class".into()));
            }
            if job.params.layout != job.spec.layout() {
                return Err(EngineError::Invalid("the parameters do not have this model's layout".into()));
            }
            if job.cfg.batch_size != first.cfg.batch_size || job.train.len() != first.train.len() {
                return Err(EngineError::Invalid(
                    "the models of one batch share a batch size and a number of training rows".into(),
                ));
            }
        }
        let steps = batches_per_epoch(first.train.len(), first.cfg.batch_size);

        // Every distinct dataset once (jobs on one seed share theirs), features and labels.
        let mut xs: Vec<f32> = Vec::new();
        let mut labels: Vec<u32> = Vec::new();
        let mut placed: Vec<(*const crate::data::Dataset, u32, u32)> = Vec::new();
        let mut place = |d: &crate::data::Dataset, xs: &mut Vec<f32>, labels: &mut Vec<u32>| {
            if let Some(&(_, x, y)) = placed.iter().find(|(p, _, _)| std::ptr::eq(*p, d)) {
                return Ok((x, y));
            }
            let at = (u32_of(xs.len(), "the features")?, u32_of(labels.len(), "the labels")?);
            xs.extend_from_slice(&d.x);
            labels.extend_from_slice(&d.y);
            placed.push((d as *const _, at.0, at.1));
            Ok::<_, EngineError>(at)
        };
        let (mut arena_len, mut scratch_len, mut out_len, mut probes_len) = (0usize, 0usize, 0usize, 0usize);
        let mut layer_table: Vec<LayerDesc> = Vec::new();
        let mut members = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (x, y) = place(job.train, &mut xs, &mut labels)?;
            let (tx, ty) = place(job.test, &mut xs, &mut labels)?;
            let layout = job.spec.layout();
            let cap = row_cap(job, class.width);
            let (descs, scratch, loss) = scratch_plan(&job.spec, cap);
            let (p, r) = (layout.param_len, layout.running_len);
            let consts = super::optim::OptimConsts::of(&job.cfg.optimizer);
            let desc = ModelDesc {
                layers: job.spec.num_layers() as u32,
                lt: u32_of(layer_table.len(), "the layer table")?,
                input: job.spec.input as u32,
                classes: job.spec.output.width() as u32,
                rows: job.train.len() as u32,
                test_rows: job.test.len() as u32,
                batch: job.cfg.batch_size as u32,
                steps: steps as u32,
                x,
                y,
                tx,
                ty,
                metrics: u32_of(out_len, "the results")?,
                totals: u32_of(out_len + 2 * steps, "the results")?,
                grad_w1: u32_of(out_len + 2 * steps + TOTALS, "the results")?,
                probes: u32_of(probes_len, "the probe results")?,
                po: u32_of(arena_len, "the arena")?,
                go: u32_of(arena_len + p, "the arena")?,
                mo: u32_of(arena_len + 2 * p, "the arena")?,
                vo: u32_of(arena_len + 3 * p, "the arena")?,
                wo: u32_of(arena_len + 4 * p, "the arena")?,
                ro: u32_of(arena_len + 5 * p, "the arena")?,
                param_len: p as u32,
                so: u32_of(scratch_len, "the scratch")?,
                row_cap: cap as u32,
                scratch_loss: loss as u32,
                optimizer: matches!(job.cfg.optimizer, Optimizer::Adam { .. }) as u32,
                bn: (job.spec.norm == Norm::Batch) as u32,
                momentum: consts.momentum,
                beta1: consts.beta1,
                beta2: consts.beta2,
                eps: consts.eps,
                one_minus_beta1: consts.one_minus_beta1,
                one_minus_beta2: consts.one_minus_beta2,
                bn_eps: job.spec.bn_eps as f32,
                bn_momentum: job.spec.bn_momentum as f32,
                clip: job.cfg.clip_grad_norm.unwrap_or(0.0) as f32,
                // without clipping there are no norms, and no room is taken for them
                norms: u32_of(out_len + 2 * steps + TOTALS + layout.weight(0).len, "the results")?,
                ..Default::default()
            };
            let logits_at = descs.last().expect("an output layer").z as usize;
            layer_table.extend(descs);
            arena_len += 5 * p + r;
            scratch_len += scratch;
            let norms = if job.cfg.clip_grad_norm.is_some() { steps } else { 0 };
            out_len += 2 * steps + TOTALS + layout.weight(0).len + norms;
            probes_len += job.spec.num_layers();
            members.push(Member {
                spec: job.spec.clone(),
                layout,
                desc,
                logits_at,
                optimizer: job.cfg.optimizer,
                rows: job.train.len(),
                test_rows: job.test.len(),
                batch: job.cfg.batch_size,
                scratch_len: scratch,
            });
        }
        let orders_at = labels.len();
        let sched_at = arena_len;
        for (m, member) in members.iter_mut().enumerate() {
            member.desc.order = u32_of(orders_at + m * first.train.len(), "the labels")?;
            member.desc.sched = u32_of(sched_at + m * steps, "the arena")?;
        }
        labels.resize(orders_at + jobs.len() * first.train.len(), 0);
        arena_len += jobs.len() * steps;
        if xs.is_empty() {
            xs.push(0.0);
        }
        // The twins, where the batch is small and their scratch fits: after the models in the arena
        // and in scratch, and in the table (`twins[m]` is `members[m]`'s).
        let budget = batch_budget(gpu);
        let twin_scratch: usize = members.iter().map(|m| m.scratch_len).sum();
        let twin_arena: usize = members.iter().map(|m| 2 * m.layout.param_len + m.layout.running_len).sum();
        let fits = |floats: usize| (floats as u64) * 4 <= budget;
        let mut twins: Vec<ModelDesc> = Vec::new();
        let mut copies = Vec::new();
        if members.len() <= BESIDE_MAX_MODELS && fits(scratch_len + twin_scratch) && fits(arena_len + twin_arena) {
            for m in &members {
                let (p, r) = (m.layout.param_len, m.layout.running_len);
                let twin = ModelDesc {
                    po: u32_of(arena_len, "the arena")?,
                    go: u32_of(arena_len + p, "the arena")?,
                    ro: u32_of(arena_len + 2 * p, "the arena")?,
                    so: u32_of(scratch_len, "the scratch")?,
                    ..m.desc
                };
                copies.push((m.desc.po as usize, twin.po as usize, p));
                if r > 0 {
                    copies.push((m.desc.ro as usize, twin.ro as usize, r));
                }
                arena_len += 2 * p + r;
                scratch_len += m.scratch_len;
                twins.push(twin);
            }
        }

        if members.len() > MAX_MODELS || layer_table.len() > MAX_LAYERS {
            return Err(EngineError::Invalid(format!(
                "a fused batch takes up to {MAX_MODELS} models and {MAX_LAYERS} layers; this one has {} and {}",
                members.len(),
                layer_table.len()
            )));
        }
        // The tables are bound whole: the shader declares them at their full size. A model's results
        // live at its own offsets, so the table's order changes no number, only who waits for whom.
        let work: Vec<usize> = members.iter().map(|m| step_work(&m.spec)).collect();
        let order = heaviest_first(&work);
        let mut descs: Vec<ModelDesc> = order.iter().map(|&m| members[m].desc).collect();
        descs.extend(order.iter().filter_map(|&m| twins.get(m)));
        descs.resize(MAX_MODELS, ModelDesc::default());
        layer_table.resize(MAX_LAYERS, LayerDesc::default());
        let models_t = gpu.upload_uniform("fused models", bytemuck::cast_slice::<ModelDesc, u32>(&descs))?;
        let layers_t = gpu.upload_uniform("fused layers", bytemuck::cast_slice::<LayerDesc, u32>(&layer_table))?;
        let xs_t = gpu.upload("fused features", &xs)?;
        let labels_t = gpu.upload("fused labels and orders", &labels)?;
        // Everything in these is written before it is read (the host writes each model's block of the
        // arena; the kernel the rest), so they may be buffers of an earlier batch.
        let arena = gpu.reused_tensor("fused arena", arena_len)?;
        let scratch = gpu.reused_tensor("fused scratch", scratch_len)?;
        let out = gpu.reused_tensor("fused results", out_len)?;
        let probes = gpu.reused_tensor("fused probes", probes_len * size_of::<LayerStats>() / 4)?;
        let queue = gpu.tensor("fused queue", QUEUE_SLOTS)?;
        let tensors = [&models_t, &layers_t, &xs_t, &labels_t, &arena, &scratch, &out, &probes, &queue];
        let workgroups = [u32_of(jobs.len(), "the models")?, 1, 1];
        let k = overrides(gpu, class, features);
        gpu.prepare_pipelines(Shader::Fused, &[("fused_run", &k), ("fused_stats", &k)])?;
        let dispatch = |mode: u32, after_probe: u32, slot: u32| {
            let run = RunParams { after_probe, ..RunParams::new(mode, slot) };
            gpu.dispatch_specialised(Shader::Fused, "fused_run", &k, Some(&run), &tensors, workgroups)
        };
        let run = RunParams::new(MODE_PROBE, SLOT_STATS);
        let stats = gpu.dispatch_specialised(Shader::Fused, "fused_stats", &k, Some(&run), &tensors, workgroups)?;
        let twins = if twins.is_empty() {
            None
        } else {
            let n = u32_of(members.len(), "the models")?;
            let run = RunParams::new(MODE_BESIDE, SLOT_TRAIN);
            let beside =
                gpu.dispatch_specialised(Shader::Fused, "fused_run", &k, Some(&run), &tensors, [2 * n, 1, 1])?;
            let run = RunParams { base: n, ..RunParams::new(MODE_PROBE, SLOT_STATS) };
            let stats = gpu.dispatch_specialised(Shader::Fused, "fused_stats", &k, Some(&run), &tensors, workgroups)?;
            let staging = gpu.reused_tensor("fused twin staging", copies.iter().map(|c| c.2).sum::<usize>().max(1))?;
            Some(Twins { beside, stats, copies, staging })
        };
        let mut executor = FusedExecutor {
            gpu,
            train: dispatch(MODE_TRAIN, 0, SLOT_TRAIN)?,
            probe: [dispatch(MODE_PROBE, 0, SLOT_PROBE)?, stats],
            eval_train: [
                dispatch(MODE_EVAL_TRAIN, 0, SLOT_EVAL_TRAIN)?,
                dispatch(MODE_EVAL_TRAIN, 1, SLOT_EVAL_TRAIN)?,
            ],
            eval_test: dispatch(MODE_EVAL_TEST, 0, SLOT_EVAL_TEST)?,
            members,
            labels: labels_t,
            arena,
            scratch,
            out,
            probes,
            queue,
            twins,
            orders_at,
            sched_at,
            steps,
            t: 0,
            last_rows: 0,
            _tables: [models_t, layers_t, xs_t],
        };
        for (m, job) in jobs.iter().enumerate() {
            executor.set_model_params(m, &job.params)?;
        }
        Ok(executor)
    }

    /// Writes model `m`'s parameters (and, as the previous probe's, its reference for update
    /// ratios) and clears its optimiser state.
    fn set_model_params(&mut self, m: usize, params: &Params) -> Result<(), EngineError> {
        let member = &self.members[m];
        if params.layout != member.layout {
            return Err(EngineError::Invalid("the parameters do not have this model's layout".into()));
        }
        let p = member.layout.param_len;
        let mut block = Vec::with_capacity(5 * p + member.layout.running_len);
        block.extend_from_slice(&params.values);
        block.resize(4 * p, 0.0); // gradients and the two moments
        block.extend_from_slice(&params.values);
        block.extend_from_slice(&params.running);
        self.gpu.write(&self.arena.slice(member.desc.po as usize, block.len()), &block);
        Ok(())
    }

    /// A command encoder whose first command zeroes the queue's counters, so that each dispatch
    /// recorded after it hands out the batch's models from the first.
    fn encoder(&self) -> wgpu::CommandEncoder {
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.queue.record_clear(&mut encoder);
        encoder
    }

    /// Records `dispatch` into a compute pass of its own in `encoder`.
    fn record(encoder: &mut wgpu::CommandEncoder, dispatch: &Dispatch) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        dispatch.record(&mut pass);
    }

    fn totals(out: &[f32], at: usize, rows: usize) -> BatchResult {
        BatchResult { loss: out[at] as f64, correct: out[at + 1] as usize, rows, grad_norm: None }
    }

    /// Model `m`'s probe from the results read back.
    fn probe_of(&self, m: usize, out: &[f32], stats: &[LayerStats]) -> Measured {
        let member = &self.members[m];
        let d = &member.desc;
        let layers = &stats[d.probes as usize..d.probes as usize + member.spec.num_layers()];
        let totals = Self::totals(out, d.totals as usize, member.rows);
        let update_ratio = layers
            .iter()
            .map(|l| if l.prev_sq > 0.0 { (l.diff_sq as f64).sqrt() / (l.prev_sq as f64).sqrt() } else { 0.0 })
            .collect();
        let w1 = d.grad_w1 as usize..d.grad_w1 as usize + member.layout.weight(0).len;
        let probe = Probe {
            loss: totals.loss,
            correct: totals.correct,
            rows: member.rows,
            layers: layers
                .iter()
                .map(|l| LayerProbe {
                    grad_w: (l.grad_w_sq as f64).sqrt(),
                    grad_b: (l.grad_b_sq as f64).sqrt(),
                    delta: (l.delta_sq as f64).sqrt(),
                    weight: (l.weight_sq as f64).sqrt(),
                    act_mean: l.act_mean as f64,
                    act_std: l.act_std as f64,
                    saturated: l.saturated as f64,
                    dead: l.dead as f64,
                    mean_grad_sq: l.mean_grad_sq as f64,
                })
                .collect(),
            grad_w1: out[w1].iter().map(|&v| v as f64).collect(),
        };
        Measured { probe, update_ratio }
    }

    /// Records and submits `work` and starts reading its results back: `decode` turns them into outcomes.
    /// With `measure_first`, a batch with twins measures in the same dispatch as its first steps.
    fn submit_work(&mut self, work: &Work) -> Result<Readback<'g>, EngineError> {
        let gpu = self.gpu;
        let mut encoder = self.encoder();
        let steps = work.steps.filter(|&(_, count)| count > 0);
        let beside = self.twins.is_some() && work.measure_first && work.probe && steps.is_some();
        if work.measure_first && !beside {
            self.record_measurements(&mut encoder, work);
        }
        if let Some((first, count)) = steps {
            if first + count > self.steps {
                return Err(EngineError::Invalid(format!(
                    "batches {first}..{} past the epoch's {}",
                    first + count,
                    self.steps
                )));
            }
            let mut sched = vec![0.0f32; self.members.len() * self.steps];
            for (m, member) in self.members.iter().enumerate() {
                let at = m * self.steps + first;
                sched[at..at + count].copy_from_slice(&member.optimizer.schedule(self.t + 1, count));
            }
            gpu.write(&self.arena.slice(self.sched_at, sched.len()), &sched);
            // A dispatch's range is in its uniform, which one submit cannot change: every chunk but
            // the last is submitted on its own (queue writes land before the next submit).
            let mut done = 0;
            while done < count {
                let n = (count - done).min(FUSED_MAX_STEPS_PER_DISPATCH);
                let run = RunParams {
                    first: (first + done) as u32,
                    count: n as u32,
                    ..RunParams::new(MODE_TRAIN, SLOT_TRAIN)
                };
                match self.twins.as_ref().filter(|_| beside && done == 0) {
                    Some(twins) => {
                        twins.record_copies(&mut encoder, &self.arena);
                        let run = RunParams { mode: MODE_BESIDE, evaluate: work.evaluate.into(), ..run };
                        twins.beside.write_params(gpu, &run);
                        Self::record(&mut encoder, &twins.beside);
                        Self::record(&mut encoder, &twins.stats);
                    }
                    None => {
                        self.train.write_params(gpu, &run);
                        Self::record(&mut encoder, &self.train);
                    }
                }
                done += n;
                if done < count {
                    let full = std::mem::replace(&mut encoder, self.encoder());
                    gpu.submit(full.finish());
                }
            }
            self.t += count as u32;
        }
        if !work.measure_first {
            self.record_measurements(&mut encoder, work);
        }
        let mut read = vec![&self.out];
        if work.probe {
            read.push(&self.probes);
        }
        Ok(gpu.submit_and_read(encoder, &read))
    }

    /// Records the probe and the evaluations `work` asks for.
    fn record_measurements(&mut self, encoder: &mut wgpu::CommandEncoder, work: &Work) {
        if work.probe {
            Self::record(encoder, &self.probe[0]);
            Self::record(encoder, &self.probe[1]);
            self.last_rows = self.members[0].rows;
        }
        if work.evaluate {
            Self::record(encoder, &self.eval_train[work.probe as usize]);
            Self::record(encoder, &self.eval_test);
            self.last_rows = self.members[0].test_rows;
        }
    }

    /// Each model's outcome of `work`, from what `submit_work` read back.
    fn decode(&self, work: &Work, data: &[Vec<f32>]) -> Vec<Outcome> {
        let out = &data[0];
        let stats: &[LayerStats] = if work.probe { bytemuck::cast_slice(&data[1]) } else { &[] };
        (0..self.members.len())
            .map(|m| {
                let member = &self.members[m];
                let d = &member.desc;
                let mut o = Outcome::default();
                if let Some((first, count)) = work.steps {
                    o.batches = (first..first + count)
                        .map(|b| {
                            let rows = batch_rows(member.rows, member.batch, b);
                            let norm = (d.clip > 0.0).then(|| out[d.norms as usize + b] as f64);
                            BatchResult { grad_norm: norm, ..Self::totals(out, d.metrics as usize + 2 * b, rows) }
                        })
                        .collect();
                }
                if work.probe {
                    o.probe = Some(self.probe_of(m, out, stats));
                }
                if work.evaluate {
                    o.eval_train = Some(Self::totals(out, d.totals as usize + 2, member.rows));
                    o.eval_test =
                        (member.test_rows > 0).then(|| Self::totals(out, d.totals as usize + 4, member.test_rows));
                }
                o
            })
            .collect()
    }

    /// Reads back each model's parameters and running statistics, in one copy and one map.
    fn start_params(&self) -> Readback<'g> {
        let slices: Vec<Tensor> = self
            .members
            .iter()
            .flat_map(|m| {
                let (po, ro) = (m.desc.po as usize, m.desc.ro as usize);
                [self.arena.slice(po, m.layout.param_len), self.arena.slice(ro, m.layout.running_len)]
            })
            .collect();
        self.gpu.start_read(&slices.iter().collect::<Vec<_>>())
    }

    fn params_of(&self, data: Vec<Vec<f32>>) -> Vec<Params> {
        let mut read = data.into_iter();
        self.members
            .iter()
            .map(|m| {
                let mut p = Params::zeros(m.layout.clone());
                p.values = read.next().expect("one slice of parameters per model");
                p.running = read.next().expect("one slice of running statistics per model");
                p
            })
            .collect()
    }

    /// Whether the batch has twins, so that a `Work::measure_first` measures beside its steps.
    pub fn measures_beside(&self) -> bool {
        self.twins.is_some()
    }

    fn single(&self) -> Result<(), EngineError> {
        if self.members.len() == 1 {
            Ok(())
        } else {
            Err(EngineError::Invalid("a single-model call on a batch of several models".into()))
        }
    }
}

/// The batch is done: its big buffers go to the next executor on this device (`Gpu::reused_tensor`).
impl Drop for FusedExecutor<'_> {
    fn drop(&mut self) {
        for t in [&self.arena, &self.scratch, &self.out, &self.probes] {
            self.gpu.recycle(t);
        }
        if let Some(twins) = &self.twins {
            self.gpu.recycle(&twins.staging);
        }
    }
}

impl BatchEngine for FusedExecutor<'_> {
    fn name(&self) -> String {
        super::backend::engine_name(self.gpu, "fused")
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn begin_epoch(&mut self, orders: &[Vec<u32>]) -> Result<(), EngineError> {
        let rows = self.members[0].rows;
        if orders.len() != self.members.len() || orders.iter().any(|o| o.len() != rows) {
            return Err(EngineError::Invalid("one order of every training row per model".into()));
        }
        let flat: Vec<u32> = orders.iter().flatten().copied().collect();
        if flat.iter().any(|&i| i as usize >= rows) {
            return Err(EngineError::Invalid("the epoch order is not a permutation of the training rows".into()));
        }
        self.gpu.write(&self.labels.slice(self.orders_at, flat.len()), &flat);
        Ok(())
    }

    fn run(&mut self, work: &Work) -> Result<Vec<Outcome>, EngineError> {
        let data = self.submit_work(work)?.wait()?;
        Ok(self.decode(work, &data))
    }

    fn run_async<'a>(&'a mut self, work: &'a Work) -> Answer<'a, Vec<Outcome>> {
        Box::pin(async move {
            let data = self.submit_work(work)?.done().await?;
            Ok(self.decode(work, &data))
        })
    }

    fn params(&mut self) -> Result<Vec<Params>, EngineError> {
        let data = self.start_params().wait()?;
        Ok(self.params_of(data))
    }

    fn params_async(&mut self) -> Answer<'_, Vec<Params>> {
        Box::pin(async move {
            let data = self.start_params().done().await?;
            Ok(self.params_of(data))
        })
    }
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// A batch of one's single-model reads, started (`Engine` waits for them; a web page awaits the
/// `…_async` forms).
impl<'g> FusedExecutor<'g> {
    fn start_evaluate(&mut self, split: Split) -> Result<(Readback<'g>, usize), EngineError> {
        self.single()?;
        let rows = self.split_rows(split);
        if rows == 0 {
            return Err(EngineError::Invalid(format!("the {split:?} split is empty")));
        }
        let mut encoder = self.encoder();
        Self::record(&mut encoder, if split == Split::Train { &self.eval_train[0] } else { &self.eval_test });
        let at = self.members[0].desc.totals as usize + 2 + 2 * split as usize;
        self.last_rows = rows;
        Ok((self.gpu.submit_and_read(encoder, &[&self.out.slice(at, 2)]), rows))
    }

    fn start_gradients(&self) -> Readback<'g> {
        let m = &self.members[0];
        self.gpu.start_read(&[&self.arena.slice(m.desc.go as usize, m.layout.param_len)])
    }

    fn start_logits(&self) -> Readback<'g> {
        let m = &self.members[0];
        let k = m.spec.output.width();
        self.gpu.start_read(&[&self.scratch.slice(m.desc.so as usize + m.logits_at, self.last_rows * k)])
    }

    /// `Engine::evaluate`, awaited.
    pub async fn evaluate_async(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        let (read, rows) = self.start_evaluate(split)?;
        Ok(Self::totals(&read.done().await?[0], 0, rows))
    }

    /// `Engine::gradients`, awaited.
    pub async fn gradients_async(&self) -> Result<Vec<f64>, EngineError> {
        Ok(widen(&self.start_gradients().done().await?[0]))
    }

    /// `Engine::logits`, awaited.
    pub async fn logits_async(&self) -> Result<Vec<f64>, EngineError> {
        Ok(widen(&self.start_logits().done().await?[0]))
    }
}

/// A batch of one is also a single-model `Engine`, for `vanish check`, `grads` and the tests that
/// compare one model tensor by tensor.
impl Engine for FusedExecutor<'_> {
    fn name(&self) -> String {
        BatchEngine::name(self)
    }

    fn spec(&self) -> &MlpSpec {
        &self.members[0].spec
    }

    fn params(&mut self) -> Result<Params, EngineError> {
        self.single()?;
        Ok(BatchEngine::params(self)?.swap_remove(0))
    }

    fn set_params(&mut self, params: &Params) -> Result<(), EngineError> {
        self.single()?;
        self.set_model_params(0, params)?;
        self.t = 0;
        Ok(())
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<(), EngineError> {
        self.single()?;
        BatchEngine::begin_epoch(self, &[order.to_vec()])
    }

    fn train_batches(&mut self, first: usize, count: usize) -> Result<Vec<BatchResult>, EngineError> {
        self.single()?;
        if count == 0 {
            return Ok(Vec::new());
        }
        Ok(self.run(&Work { steps: Some((first, count)), ..Default::default() })?.swap_remove(0).batches)
    }

    fn probe(&mut self, split: Split) -> Result<Probe, EngineError> {
        self.single()?;
        if split != Split::Train {
            return Err(EngineError::Invalid("the fused path probes the training split".into()));
        }
        let out = self.run(&Work { probe: true, ..Default::default() })?.swap_remove(0);
        Ok(out.probe.expect("a probe was asked for").probe)
    }

    fn evaluate(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        let (read, rows) = self.start_evaluate(split)?;
        Ok(Self::totals(&read.wait()?[0], 0, rows))
    }

    fn gradients(&mut self) -> Result<Vec<f64>, EngineError> {
        Ok(widen(&self.start_gradients().wait()?[0]))
    }

    fn logits(&mut self) -> Result<Vec<f64>, EngineError> {
        Ok(widen(&self.start_logits().wait()?[0]))
    }

    fn split_rows(&self, split: Split) -> usize {
        match split {
            Split::Train => self.members[0].rows,
            Split::Test => self.members[0].test_rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{OTHER_WORKGROUP_FLOATS, REDUCTION_FLOATS, heaviest_first, weight_cache_for};

    #[test]
    fn the_weight_cache_leaves_room_for_the_kernels_other_workgroup_variables() {
        // WebGPU counts each workgroup variable rounded up to 16 bytes: wsh, red and claimed.
        let round16 = |bytes: usize| bytes.next_multiple_of(16);
        for limit in [16384u32, 32768, 49152, 65536] {
            let wsh = weight_cache_for(limit);
            let used = round16(4 * wsh) + round16(4 * REDUCTION_FLOATS) + round16(4 * OTHER_WORKGROUP_FLOATS);
            assert!(used <= limit as usize, "{limit} bytes: {used} used");
            assert!(wsh > 1, "{limit} bytes leave room for a cache");
        }
        assert_eq!(weight_cache_for(1024), 1, "no room: no cache");
    }

    #[test]
    fn the_model_table_is_every_model_once_heaviest_first() {
        // A sweep's batch in grid order: depths 1..=20, each three times, light models first.
        let work: Vec<usize> = (1..=20).flat_map(|d| [d * 110; 3]).collect();
        let order = heaviest_first(&work);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..work.len()).collect::<Vec<_>>(), "every model once");
        assert!(order.windows(2).all(|w| work[w[0]] >= work[w[1]]), "not heaviest first: {order:?}");
        // Models of equal work keep their order.
        assert_eq!(&order[..3], &[57, 58, 59]);
    }

    #[test]
    fn the_model_table_of_none_one_or_two_models() {
        assert_eq!(heaviest_first(&[]), Vec::<usize>::new());
        assert_eq!(heaviest_first(&[5]), vec![0]);
        assert_eq!(heaviest_first(&[1, 9]), vec![1, 0]);
        assert_eq!(heaviest_first(&[9, 1]), vec![0, 1]);
    }
}
