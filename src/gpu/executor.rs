//! The executor: a batch of MLPs trained, probed and evaluated together on the GPU, on one of two
//! kernel families over the same buffers — the fused kernel (`fused.rs`: narrow models, one workgroup
//! per model) or the tiled kernels (`tiled.rs`: any width, one dispatch per layer over every model).
//! Models may differ in depth, widths, activations, normalisation, optimiser, data and epoch order: each
//! has a descriptor and a layer table (`batch.rs`), so one set of pipelines serves them all. A call of
//! the training loop — a measurement of where the last one left the models, then a chunk of steps — is
//! one submit (one per `MAX_STEPS_PER_SUBMIT` steps) with the readback of the per-model results in it.
//!
//! Buffers (`Buffers`): `models` and `layers` (the tables: uniform buffers of `TABLE_BYTES`, the rest
//! storage), `xs` and `labels` (every distinct dataset once, then every model's epoch order), `arena`
//! (per model: parameters, gradients, the optimiser's two moments, the parameters at the previous
//! probe, running statistics; then every model's step sizes; then, with the fused kernel's twins, each
//! twin's parameters, gradients and running statistics), `scratch` (rows in flight, per model, then per
//! twin), `out` (per model: each step's loss and correct count, the totals of the last probe and
//! evaluations, the first layer's gradient), `probes` (per model and layer, `LayerStats`) and `queue`
//! (the fused dispatches' counters of claimed models, the tiled kernels' step counter).

use super::batch::{
    LayerDesc, LayerStats, MAX_LAYERS, MAX_MODELS, ModelDesc, PASS_TOTALS, PassTotals, TABLE_BYTES, TOTALS, Totals,
    read_at, scratch_plan,
};
use super::fused::{BESIDE_MAX_MODELS, FusedKernels, FusedShape, Twins, fused_row_cap};
use super::histogram::{HistogramKernels, Source, layer_groups};
use super::tiled::{QUEUE_SLOTS, TiledKernels, TiledShapes};
use super::wait::Readback;
use super::{Gpu, Tensor};
use crate::engine::{
    Answer, BatchEngine, BatchResult, Engine, EngineError, LayerProbe, Measured, ModelJob, Optimizer, Outcome, Probe,
    Split, Work, batch_rows, batches_per_epoch, check_engine_inputs,
};
use crate::histogram::LayerHistograms;
use crate::model::{MlpSpec, Norm, ParamLayout, Params};

/// Storage buffers the kernels bind (WebGPU's default limit is 8).
const STORAGE_BUFFERS: u32 = 7;

/// Steps one submit may hold, so a long epoch does not become one very long command buffer (drivers
/// reset a GPU that runs one command for seconds); for the fused kernel, one dispatch.
pub const MAX_STEPS_PER_SUBMIT: usize = 256;

/// Dispatches one submit may hold: a very deep model's steps (several dispatches per layer) go one
/// or a few per submit, so a command buffer stays bounded whatever the depth.
const MAX_DISPATCHES_PER_SUBMIT: usize = 1 << 16;

/// A batch's scratch and arena stay under this many bytes (and the adapter's binding limit), so a big
/// sweep runs as several batches.
const BATCH_BYTES_MAX: u64 = 256 << 20;

/// The bytes one of a batch's buffers may take on `gpu`: `BATCH_BYTES_MAX`, or less where the adapter
/// binds or allocates less.
pub fn batch_budget(gpu: &Gpu) -> u64 {
    BATCH_BYTES_MAX.min(gpu.limits.max_storage_buffer_binding_size).min(gpu.limits.max_buffer_size)
}

/// Which kernels a batch runs on, and so which models share one: the fused kernel of one shape, or the
/// tiled kernels (one class for every width). Never the depth, activation, norm, init, seed or
/// optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum KernelClass {
    Fused(FusedShape),
    Tiled,
}

impl KernelClass {
    /// The path's name in messages and tables: `fused` or `tiled`.
    pub fn name(self) -> &'static str {
        match self {
            KernelClass::Fused(_) => "fused",
            KernelClass::Tiled => "tiled",
        }
    }
}

/// Why a model cannot run on the executor, or on the kernels asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the executor binds {need} storage buffers; this adapter allows {have}")]
    StorageBuffers { need: u32, have: u32 },
    #[error("the executor binds {need}-byte uniform tables; this adapter allows {have}")]
    UniformTables { need: usize, have: usize },
    #[error("a layer is {width} wide; the fused kernel takes widths up to {max}")]
    TooWideForFused { width: usize, max: usize },
}

/// Whether the executor can hold `spec` on `gpu` at all (either kernel family). A model deeper than the
/// uniform layer table (`MAX_LAYERS`) takes a batch of its own with the table in one more storage buffer
/// (`Shader::FusedDeep`, `Shader::TiledDeep`), so the kernels keep a fixed number of buffers and bind
/// groups at any depth.
pub fn executor_fits(gpu: &Gpu, spec: &MlpSpec) -> Result<(), Refusal> {
    let deep = spec.num_layers() > MAX_LAYERS;
    let need = STORAGE_BUFFERS + deep as u32;
    let have = gpu.limits.max_storage_buffers_per_shader_stage;
    if have < need {
        return Err(Refusal::StorageBuffers { need, have });
    }
    let uniform = gpu.limits.max_uniform_buffer_binding_size as usize;
    if uniform < TABLE_BYTES {
        return Err(Refusal::UniformTables { need: TABLE_BYTES, have: uniform });
    }
    Ok(())
}

fn u32_of(v: usize, what: &str) -> Result<u32, EngineError> {
    u32::try_from(v)
        .map_err(|_| EngineError::Invalid(format!("{what} ({v} words) does not fit the executor's u32 offsets")))
}

/// The code the fused kernel is compiled with beyond the plain dense layers: what some model uses.
/// Code no model needs is left out, since CPU drivers' compile time grows faster than the kernel; a
/// sweep's plan takes the features of all its jobs of a class, so every batch of the class shares one
/// pipeline. (The tiled kernels read each layer's norm and skip from its table entry.)
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

/// Rows each per-row scratch buffer of `job` holds on `class`: its largest pass (a batch, the training
/// split or the test split), for the fused kernel rounded up to its row blocks.
fn row_cap(job: &ModelJob<'_>, class: KernelClass) -> usize {
    let batch = job.cfg.batch_size.min(job.train.len());
    let largest = batch.max(job.train.len()).max(job.test.len()).max(1);
    match class {
        KernelClass::Fused(shape) => fused_row_cap(largest, shape),
        KernelClass::Tiled => largest,
    }
}

/// Bytes of device memory `job` takes in a batch of `class`: scratch, arena and results (its data is
/// shared with the jobs on the same dataset and not counted).
pub fn job_bytes(job: &ModelJob<'_>, class: KernelClass) -> u64 {
    let layout = job.spec.layout();
    let steps = batches_per_epoch(job.train.len(), job.cfg.batch_size.max(1));
    let scratch = scratch_plan(&job.spec, row_cap(job, class), gathers_input(class)).floats;
    let arena = 5 * layout.param_len + layout.running_len + steps;
    let out = PASS_TOTALS * steps + TOTALS + layout.weight(0).len;
    4 * (scratch + arena + out + job.train.len()) as u64
}

/// Refuses `job` on `class` where its own part of a batch's buffers would pass what `gpu` binds, naming
/// the part: called by the plan, so a sweep is refused before any batch trains.
pub fn check_job_sizes(gpu: &Gpu, job: &ModelJob<'_>, class: KernelClass) -> Result<(), super::GpuError> {
    let params = crate::memory::param_count(&job.spec).map_or(usize::MAX, |p| usize::try_from(p).unwrap_or(usize::MAX));
    gpu.check_size("the parameters, gradients and optimiser state", params.saturating_mul(5))?;
    gpu.check_size("the training inputs", job.train.x.len().max(job.test.x.len()))?;
    let rows = row_cap(job, class);
    gpu.check_size("the widest layer's values over the largest pass", rows.saturating_mul(job.spec.max_units()))?;
    gpu.check_size(
        "the activations of every layer over the largest pass",
        scratch_plan(&job.spec, rows, gathers_input(class)).floats,
    )
}

/// The fused kernel copies each pass's input rows into scratch; the tiled kernels read them in place.
fn gathers_input(class: KernelClass) -> bool {
    matches!(class, KernelClass::Fused(_))
}

/// Splits `jobs` (all of `class`) into batches that fit one executor on `gpu`: within
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

/// The order of a batch's model table: heaviest first. The fused kernel's workgroups claim the models
/// in table order as they free up (`claim` in fused.wgsl), so the last models to start are the lightest
/// and the threads (or a GPU's cores) finish close together: the longest-job-first rule of list
/// scheduling. Stable, so models of equal work keep the jobs' order.
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
    /// `TrainConfig::histograms`.
    histograms: bool,
}

/// A batch's buffers, which both kernel families bind in this order.
pub struct Buffers {
    pub models: Tensor,
    pub layers: Tensor,
    pub xs: Tensor,
    pub labels: Tensor,
    pub arena: Tensor,
    pub scratch: Tensor,
    pub out: Tensor,
    pub probes: Tensor,
    pub queue: Tensor,
}

impl Buffers {
    pub fn bindings(&self) -> [&Tensor; 9] {
        [
            &self.models,
            &self.layers,
            &self.xs,
            &self.labels,
            &self.arena,
            &self.scratch,
            &self.out,
            &self.probes,
            &self.queue,
        ]
    }
}

enum Kernels {
    /// Boxed: its nine dispatches are most of the executor's size.
    Fused(Box<FusedKernels>),
    Tiled(TiledKernels),
}

impl Kernels {
    fn begin(&self, gpu: &Gpu, bufs: &Buffers) -> wgpu::CommandEncoder {
        match self {
            Kernels::Fused(k) => k.begin(gpu, bufs),
            Kernels::Tiled(k) => k.begin(gpu),
        }
    }

    fn record_probe(&self, encoder: &mut wgpu::CommandEncoder) {
        match self {
            Kernels::Fused(k) => k.record_probe(encoder),
            Kernels::Tiled(k) => k.record_probe(encoder),
        }
    }

    fn record_eval(&self, encoder: &mut wgpu::CommandEncoder, test: bool, after_probe: bool) {
        match self {
            Kernels::Fused(k) => k.record_eval(encoder, test, after_probe),
            Kernels::Tiled(k) => k.record_eval(encoder, test),
        }
    }
}

/// A batch of models on the GPU.
pub struct Executor<'g> {
    gpu: &'g Gpu,
    class: KernelClass,
    members: Vec<Member>,
    bufs: Buffers,
    kernels: Kernels,
    /// Where every model's epoch order starts in `labels`, and every model's step sizes in `arena`
    /// (both contiguous over the models, so each is one write).
    orders_at: usize,
    sched_at: usize,
    steps: usize,
    /// Optimiser steps taken so far (the same for every model).
    t: u32,
    /// Rows of the last probe or evaluation, whose logits are in scratch (`Engine::logits`, which
    /// single-model callers use after a probe or an evaluation of their own; after a `measure_first`
    /// call the steps or the twin hold the scratch instead).
    last_rows: usize,
    /// Where a job asks for histograms (`TrainConfig::histograms`): the probe's, and the twins' where a
    /// probe runs beside the steps; and each model's first slot, its four groups of layers from there.
    hists: Option<(HistogramKernels, Option<HistogramKernels>)>,
    hist_first: Vec<usize>,
}

impl<'g> Executor<'g> {
    /// An executor for `jobs` on `class`, which must all fit it and share a batch size and a number of
    /// training rows; the fused kernel compiled with what they use.
    pub fn new(gpu: &'g Gpu, jobs: &[ModelJob<'_>], class: KernelClass) -> Result<Self, EngineError> {
        Self::with_features(gpu, jobs, class, KernelFeatures::of(jobs))
    }

    /// `new` with the fused kernel compiled for `features`, which must cover what `jobs` use.
    pub fn with_features(
        gpu: &'g Gpu,
        jobs: &[ModelJob<'_>],
        class: KernelClass,
        features: KernelFeatures,
    ) -> Result<Self, EngineError> {
        let Some(first) = jobs.first() else {
            return Err(EngineError::Invalid("an executor needs one or more models".into()));
        };
        if !features.covers(KernelFeatures::of(jobs)) {
            return Err(EngineError::Invalid(
                "the kernel is compiled without a feature a model of its batch uses".into(),
            ));
        }
        for job in jobs {
            check_engine_inputs(&job.spec, job.train.len(), &job.cfg)?;
            executor_fits(gpu, &job.spec).map_err(|r| EngineError::Invalid(r.to_string()))?;
            if let KernelClass::Fused(shape) = class
                && super::fused::fused_shape(gpu, &job.spec) != Some(shape)
            {
                return Err(EngineError::Invalid("the models of one fused batch share a kernel shape".into()));
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
            let cap = row_cap(job, class);
            let plan = scratch_plan(&job.spec, cap, gathers_input(class));
            let (descs, scratch, loss) = (plan.layers, plan.floats, plan.loss);
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
                totals: u32_of(out_len + PASS_TOTALS * steps, "the results")?,
                grad_w1: u32_of(out_len + PASS_TOTALS * steps + TOTALS, "the results")?,
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
                loss: super::batch::loss_code(job.spec.output),
                decay: job.cfg.decay_per_row(job.train.len()) as f32,
                // without clipping there are no norms, and no room is taken for them
                norms: u32_of(out_len + PASS_TOTALS * steps + TOTALS + layout.weight(0).len, "the results")?,
                ..Default::default()
            };
            let logits_at = descs.last().expect("an output layer").z as usize;
            layer_table.extend(descs);
            arena_len += 5 * p + r;
            scratch_len += scratch;
            let norms = if job.cfg.clip_grad_norm.is_some() { steps } else { 0 };
            out_len += PASS_TOTALS * steps + TOTALS + layout.weight(0).len + norms;
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
                histograms: job.cfg.histograms,
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
        // The fused kernel's twins, where the batch is small and their scratch fits: after the models in the arena
        // and in scratch, and in the table (`twins[m]` is `members[m]`'s).
        let budget = batch_budget(gpu);
        let twin_scratch: usize = members.iter().map(|m| m.scratch_len).sum();
        let twin_arena: usize = members.iter().map(|m| 2 * m.layout.param_len + m.layout.running_len).sum();
        let fits = |floats: usize| (floats as u64) * 4 <= budget;
        let mut twins: Vec<ModelDesc> = Vec::new();
        let mut copies = Vec::new();
        let small = matches!(class, KernelClass::Fused(_)) && members.len() <= BESIDE_MAX_MODELS;
        if small && fits(scratch_len + twin_scratch) && fits(arena_len + twin_arena) {
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

        // More layers than the uniform table holds: the kernels read a storage table instead (`FusedDeep`,
        // `TiledDeep`), for a batch of one model (`pack` gives a deep model a batch of its own).
        let deep_table = layer_table.len() > MAX_LAYERS;
        if members.len() > MAX_MODELS || (deep_table && members.len() > 1) {
            return Err(EngineError::Invalid(format!(
                "a batch takes up to {MAX_MODELS} models and {MAX_LAYERS} layers (one model any deeper); this one has \
                 {} and {}",
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
        let models_t = gpu.upload_uniform("batch models", bytemuck::cast_slice::<ModelDesc, u32>(&descs))?;
        let layers_t = if deep_table {
            gpu.upload("batch layers", bytemuck::cast_slice::<LayerDesc, u32>(&layer_table))?
        } else {
            layer_table.resize(MAX_LAYERS, LayerDesc::default());
            gpu.upload_uniform("batch layers", bytemuck::cast_slice::<LayerDesc, u32>(&layer_table))?
        };
        let xs_t = gpu.upload("batch features", &xs)?;
        let labels_t = gpu.upload("batch labels and orders", &labels)?;
        // Everything in these is written before it is read (the host writes each model's block of the
        // arena; the kernel the rest), so they may be buffers of an earlier batch.
        let arena = gpu.reused_tensor("batch arena", arena_len)?;
        let scratch = gpu.reused_tensor("batch scratch", scratch_len)?;
        let out = gpu.reused_tensor("batch results", out_len)?;
        let probes = gpu.reused_tensor("batch probes", probes_len * size_of::<LayerStats>() / 4)?;
        let queue = gpu.tensor("batch queue", QUEUE_SLOTS)?;
        let bufs = Buffers {
            models: models_t,
            layers: layers_t,
            xs: xs_t,
            labels: labels_t,
            arena,
            scratch,
            out,
            probes,
            queue,
        };
        let n = u32_of(members.len(), "the models")?;
        let kernels = match class {
            KernelClass::Fused(shape) => {
                let twins = (!twins.is_empty()).then_some(Twins { copies });
                Kernels::Fused(Box::new(FusedKernels::new(gpu, &bufs, (n, deep_table), shape, features, twins)?))
            }
            KernelClass::Tiled => {
                let shapes = TiledShapes {
                    specs: members.iter().map(|m| &m.spec).collect(),
                    clip: members.iter().any(|m| m.desc.clip > 0.0),
                    batch: first.cfg.batch_size,
                    rows: first.train.len(),
                    test_rows: members.iter().map(|m| m.test_rows).max().unwrap_or(0),
                    deep_table,
                };
                Kernels::Tiled(TiledKernels::new(gpu, &bufs, &shapes)?)
            }
        };
        let (hists, hist_first) = if jobs.iter().any(|j| j.cfg.histograms) {
            let tensors = [&bufs.scratch, &bufs.arena];
            let groups = |descs: &mut dyn Iterator<Item = &ModelDesc>| -> Vec<Vec<Source>> {
                layer_groups(
                    descs.flat_map(|d| histogram_groups(d, &layer_table[d.lt as usize..(d.lt + d.layers) as usize])),
                )
            };
            let models = HistogramKernels::new(gpu, &tensors, &groups(&mut members.iter().map(|m| &m.desc)))?;
            let twins = match twins.is_empty() {
                true => None,
                false => Some(models.alike(gpu, &tensors, &groups(&mut twins.iter()))?),
            };
            let first =
                members.iter().scan(0, |at, m| Some(std::mem::replace(at, *at + 4 * m.spec.num_layers()))).collect();
            (Some((models, twins)), first)
        } else {
            (None, Vec::new())
        };
        let mut executor = Executor {
            gpu,
            class,
            members,
            bufs,
            kernels,
            orders_at,
            sched_at,
            steps,
            t: 0,
            last_rows: 0,
            hists,
            hist_first,
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
        self.gpu.write(&self.bufs.arena.slice(member.desc.po as usize, block.len()), &block);
        Ok(())
    }

    fn result(t: PassTotals, rows: usize) -> BatchResult {
        BatchResult { loss: t.loss as f64, correct: t.correct as usize, rows, grad_norm: None }
    }

    /// Model `m`'s probe from the results read back.
    fn probe_of(&self, m: usize, out: &[f32], stats: &[LayerStats]) -> Measured {
        let member = &self.members[m];
        let d = &member.desc;
        let layers = &stats[d.probes as usize..d.probes as usize + member.spec.num_layers()];
        let totals = Self::result(read_at::<Totals>(out, d.totals as usize).probe, member.rows);
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
            histograms: Vec::new(),
        };
        Measured { probe, update_ratio }
    }

    /// Model `m`'s histograms from the words read back, where its job asked for them.
    fn histograms_of(&self, m: usize, words: &[f32]) -> Vec<LayerHistograms> {
        match &self.hists {
            Some((h, _)) if self.members[m].histograms => {
                let l = self.members[m].spec.num_layers();
                let group = |q: usize| h.decode(words, self.hist_first[m] + q * l, l);
                LayerHistograms::from_groups([0, 1, 2, 3].map(group))
            }
            _ => Vec::new(),
        }
    }

    /// Records and submits `work` and starts reading its results back: `decode` turns them into outcomes.
    /// With `measure_first`, a fused batch with twins measures in the same dispatch as its first steps.
    fn submit_work(&mut self, work: &Work) -> Result<Readback<'g>, EngineError> {
        let gpu = self.gpu;
        let steps = work.steps.filter(|&(_, count)| count > 0);
        let beside = self.measures_beside() && work.measure_first && work.probe && steps.is_some();
        let mut encoder = self.kernels.begin(gpu, &self.bufs);
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
            gpu.write(&self.bufs.arena.slice(self.sched_at, sched.len()), &sched);
            // A chunk's first step is a queue write (the fused dispatch's uniform, the tiled kernels'
            // step counter), which one submit cannot change: every chunk but the last is submitted on
            // its own (queue writes land before the next submit).
            let mut done = 0;
            while done < count {
                let n = (count - done).min(self.steps_per_submit());
                match &self.kernels {
                    Kernels::Fused(k) => {
                        let with_twins = (beside && done == 0).then_some(work.evaluate);
                        k.record_steps(gpu, &self.bufs, &mut encoder, first + done, n, with_twins);
                        if let (Some(_), Some((_, Some(twins)))) = (with_twins, &self.hists) {
                            twins.record(&mut encoder);
                        }
                    }
                    Kernels::Tiled(k) => k.record_steps(gpu, &mut encoder, first + done, n),
                }
                done += n;
                if done < count {
                    let full = std::mem::replace(&mut encoder, self.kernels.begin(gpu, &self.bufs));
                    gpu.submit(full.finish());
                }
            }
            self.t += count as u32;
        }
        if !work.measure_first {
            self.record_measurements(&mut encoder, work);
        }
        let mut read = vec![&self.bufs.out];
        if work.probe {
            read.push(&self.bufs.probes);
            if let Some((h, _)) = &self.hists {
                read.push(&h.out);
            }
        }
        Ok(gpu.submit_and_read(encoder, &read))
    }

    /// Records the probe and the evaluations `work` asks for.
    fn record_measurements(&mut self, encoder: &mut wgpu::CommandEncoder, work: &Work) {
        if work.probe {
            self.kernels.record_probe(encoder);
            if let Some((h, _)) = &self.hists {
                h.record(encoder); // before an evaluation reuses the scratch
            }
            self.last_rows = self.members[0].rows;
        }
        if work.evaluate {
            self.kernels.record_eval(encoder, false, work.probe);
            self.kernels.record_eval(encoder, true, false);
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
                            let t = read_at::<PassTotals>(out, d.metrics as usize + PASS_TOTALS * b);
                            BatchResult { grad_norm: norm, ..Self::result(t, rows) }
                        })
                        .collect();
                }
                if work.probe {
                    let mut measured = self.probe_of(m, out, stats);
                    measured.probe.histograms = self.histograms_of(m, data.get(2).map_or(&[], Vec::as_slice));
                    o.probe = Some(measured);
                }
                if work.evaluate {
                    let t = read_at::<Totals>(out, d.totals as usize);
                    o.eval_train = Some(Self::result(t.eval_train, member.rows));
                    o.eval_test = (member.test_rows > 0).then(|| Self::result(t.eval_test, member.test_rows));
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
                [self.bufs.arena.slice(po, m.layout.param_len), self.bufs.arena.slice(ro, m.layout.running_len)]
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

    /// Steps one submit holds: `MAX_STEPS_PER_SUBMIT`, fewer where a step is many dispatches.
    fn steps_per_submit(&self) -> usize {
        match &self.kernels {
            Kernels::Fused(_) => MAX_STEPS_PER_SUBMIT,
            Kernels::Tiled(k) => {
                (MAX_DISPATCHES_PER_SUBMIT / k.dispatches_per_step().max(1)).clamp(1, MAX_STEPS_PER_SUBMIT)
            }
        }
    }

    /// Whether the batch has twins, so that a `Work::measure_first` measures beside its steps.
    pub fn measures_beside(&self) -> bool {
        matches!(&self.kernels, Kernels::Fused(k) if k.measures_beside())
    }

    /// The kernels the batch runs on.
    pub fn class(&self) -> KernelClass {
        self.class
    }

    fn single(&self) -> Result<(), EngineError> {
        if self.members.len() == 1 {
            Ok(())
        } else {
            Err(EngineError::Invalid("a single-model call on a batch of several models".into()))
        }
    }
}

/// Where a model's layers' values lie for the histograms (`HistogramKernels`), as groups of pre-
/// activations, activations, δ and dW; buffer 0 is the scratch, 1 the arena. The output layer's
/// activation is the identity: its logits.
fn histogram_groups(d: &ModelDesc, layers: &[LayerDesc]) -> [Vec<Source>; 4] {
    let rows = d.rows as usize;
    let scratch =
        |at: u32, l: &LayerDesc| Source { buffer: 0, offset: (d.so + at) as usize, len: rows * l.fan_out as usize };
    let last = layers.len() - 1;
    [
        layers.iter().map(|l| scratch(if l.norm != 0 { l.y } else { l.z }, l)).collect(),
        layers.iter().enumerate().map(|(i, l)| scratch(if i == last { l.z } else { l.a }, l)).collect(),
        layers.iter().map(|l| scratch(l.d, l)).collect(),
        layers
            .iter()
            .map(|l| Source { buffer: 1, offset: (d.go + l.w) as usize, len: (l.fan_out * l.fan_in) as usize })
            .collect(),
    ]
}

/// The batch is done: its big buffers go to the next executor on this device (`Gpu::reused_tensor`).
impl Drop for Executor<'_> {
    fn drop(&mut self) {
        for t in [&self.bufs.arena, &self.bufs.scratch, &self.bufs.out, &self.bufs.probes] {
            self.gpu.recycle(t);
        }
        if let Kernels::Fused(k) = &self.kernels {
            k.recycle(self.gpu);
        }
    }
}

impl BatchEngine for Executor<'_> {
    fn name(&self) -> String {
        super::backend::engine_name(self.gpu, self.class.name())
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
        self.gpu.write(&self.bufs.labels.slice(self.orders_at, flat.len()), &flat);
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
impl<'g> Executor<'g> {
    fn start_evaluate(&mut self, split: Split) -> Result<(Readback<'g>, usize), EngineError> {
        self.single()?;
        let rows = self.split_rows(split);
        if rows == 0 {
            return Err(EngineError::Invalid(format!("the {split:?} split is empty")));
        }
        let mut encoder = self.kernels.begin(self.gpu, &self.bufs);
        self.kernels.record_eval(&mut encoder, split == Split::Test, false);
        let field = match split {
            Split::Train => std::mem::offset_of!(Totals, eval_train),
            Split::Test => std::mem::offset_of!(Totals, eval_test),
        };
        let at = self.members[0].desc.totals as usize + field / size_of::<f32>();
        self.last_rows = rows;
        Ok((self.gpu.submit_and_read(encoder, &[&self.bufs.out.slice(at, PASS_TOTALS)]), rows))
    }

    fn start_gradients(&self) -> Readback<'g> {
        let m = &self.members[0];
        self.gpu.start_read(&[&self.bufs.arena.slice(m.desc.go as usize, m.layout.param_len)])
    }

    fn start_logits(&self) -> Readback<'g> {
        let m = &self.members[0];
        let k = m.spec.output.width();
        self.gpu.start_read(&[&self.bufs.scratch.slice(m.desc.so as usize + m.logits_at, self.last_rows * k)])
    }

    /// `Engine::evaluate`, awaited.
    pub async fn evaluate_async(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        let (read, rows) = self.start_evaluate(split)?;
        Ok(Self::result(read_at(&read.done().await?[0], 0), rows))
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
impl Engine for Executor<'_> {
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
            return Err(EngineError::Invalid("the executor probes the training split".into()));
        }
        let out = self.run(&Work { probe: true, ..Default::default() })?.swap_remove(0);
        Ok(out.probe.expect("a probe was asked for").probe)
    }

    fn evaluate(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        let (read, rows) = self.start_evaluate(split)?;
        Ok(Self::result(read_at(&read.wait()?[0], 0), rows))
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
    use super::heaviest_first;

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
