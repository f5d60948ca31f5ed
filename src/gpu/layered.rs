//! The GPU engine's layered path: an MLP trained layer by layer with the kernels of this module, for
//! the models the fused executor (`fused.rs`) does not take.
//!
//! Everything lives on the GPU from construction on: the data, the parameter arena, the gradient and
//! optimiser arenas (same layout), every activation. A training step is a fixed list of dispatches
//! (step counter → gather → forward → loss → backward → optimiser) built once per model with its bind
//! groups; an epoch records those lists back to back into one pass and one submit per
//! `MAX_STEPS_PER_SUBMIT` steps. Nothing is read back inside a step: the per-step losses land in a
//! metrics buffer read once per `train_batches` call, and probes reduce norms on the GPU before reading
//! a few numbers per layer.
//!
//! Gradient rule: every parameter gradient is overwritten by each backward pass (dW by a matmul, db
//! by a column sum, dγ and dβ by the normalisation), so the gradient arena is never cleared; its padding
//! stays zero from creation.

use super::activation::STATS_PER_LAYER;
use std::time::Instant;

use super::batch::MAX_LAYERS;
use super::batchnorm::{BnForward, batchnorm_backward, batchnorm_forward, batchnorm_forward_eval};
use super::dense::{dense_backward_input, dense_backward_weight, dense_forward};
use super::histogram::{HistogramKernels, Source, layer_groups};
use super::layernorm::{LnTensors, layernorm_backward, layernorm_forward};
use super::optim::{OptimState, clip_grads, optimizer_step};
use super::step::{Gather, STEP_STATE_LEN, gather_rows, step_begin, step_state};
use super::{Dispatch, Gpu, GpuError, Tensor, activation, loss, reduce};
use crate::data::Dataset;
use crate::engine::{
    BatchResult, Engine, EngineError, LayerProbe, Probe, Split, TrainConfig, batch_rows, batches_per_epoch,
    check_engine_inputs,
};
use crate::histogram::LayerHistograms;
use crate::model::{Activation, MlpSpec, Norm, Params};

/// Steps recorded into one command buffer: enough to amortise the submit, few enough that a long epoch
/// (batch size 1 over a big CSV) does not build one enormous command buffer.
const MAX_STEPS_PER_SUBMIT: usize = 256;

/// One dense layer's buffers, sized for the most rows any pass uses.
struct LayerBufs {
    fan_in: usize,
    fan_out: usize,
    act: Activation,
    /// `[rows, out]` dense output, bias included (the normalisation's input).
    z: Tensor,
    /// Batch or layer norm: its output, saved statistics and output gradient.
    norm: Option<NormBufs>,
    /// `[rows, out]` activation output.
    a: Tensor,
    /// `[rows, out]` δ = dL/dz.
    dz: Tensor,
    /// A skip connection: its α and `[rows, out]` output x + α·a, the next layer's input.
    skip: Option<(f64, Tensor)>,
    /// `[rows, out]` dL/d(output), where this layer or the next has a skip connection.
    g: Option<Tensor>,
}

impl LayerBufs {
    /// What the next layer reads: the skip connection's output, or the activation.
    fn output(&self) -> &Tensor {
        self.skip.as_ref().map_or(&self.a, |(_, out)| out)
    }
}

struct ClipBufs {
    segment: Tensor,
    sq: Tensor,
    norms: Tensor,
}

struct NormBufs {
    kind: Norm,
    /// `[rows, out]` output, the activation's input.
    y: Tensor,
    /// The saved mean and 1/σ: `[out]` for batch norm, `[rows]` (one per row) for layer norm.
    mean: Tensor,
    rstd: Tensor,
    /// `[rows, out]` dL/d(output).
    dy: Tensor,
}

/// The data of one split on the GPU.
struct SplitBufs {
    x: Tensor,
    y: Tensor,
    rows: usize,
}

/// Where training time went, summed over `train_batches` calls (for `vanish bench`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct TrainTiming {
    /// Host time recording command buffers.
    pub record_s: f64,
    /// Host time from submit until the GPU finished.
    pub submit_wait_s: f64,
    pub dispatches: u64,
    pub steps: u64,
}

/// What a pass does besides forward and loss.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Training step: batch statistics (running statistics updated), backward, optimiser step.
    Train,
    /// Batch statistics, backward, no update of anything.
    Probe,
    /// Running statistics, forward and loss only.
    Eval,
}

/// The dispatches of one probe's reductions and where they write.
struct ProbeReductions {
    dispatches: Vec<Dispatch>,
    grad_norms: Tensor,
    weight_norms: Tensor,
    delta_norms: Vec<Tensor>,
    act_stats: Tensor,
    /// With `TrainConfig::histograms`.
    hists: Option<HistogramKernels>,
}

pub struct LayeredEngine<'g> {
    gpu: &'g Gpu,
    spec: MlpSpec,
    cfg: TrainConfig,
    params_template: Params,
    params: Tensor,
    grads: Tensor,
    /// `[2, param_len]`: SGD's velocity or Adam's m, then Adam's v.
    opt: Tensor,
    opt_m: Tensor,
    opt_v: Tensor,
    running: Tensor,
    layers: Vec<LayerBufs>,
    train: SplitBufs,
    test: SplitBufs,
    order: Tensor,
    state: Tensor,
    schedule: Tensor,
    /// `weight_mask` with weight decay, a single 0 without.
    weight_mask: Tensor,
    metrics: Tensor,
    /// Step counter and metrics of probe and eval passes, separate from training's.
    probe_state: Tensor,
    probe_metrics: Tensor,
    /// `--clip-grad-norm`: the arena as one segment, its Σg², and each step's norm before clipping.
    clip: Option<ClipBufs>,
    /// Optimiser steps taken so far.
    t: u32,
    /// Rows of the last probe or evaluation, whose logits are in the output layer's `z`.
    last_rows: usize,
    full_step: Vec<Dispatch>,
    last_step: Option<Vec<Dispatch>>,
    timing: TrainTiming,
    probe_passes: [(Vec<Dispatch>, ProbeReductions); 2],
    eval_passes: [Vec<Dispatch>; 2],
}

fn upload_split(gpu: &Gpu, name: &str, d: &Dataset) -> Result<SplitBufs, GpuError> {
    Ok(SplitBufs {
        x: gpu.upload(&format!("{name} x"), if d.x.is_empty() { &[0.0f32] } else { &d.x })?,
        y: gpu.upload(&format!("{name} y"), if d.y.is_empty() { &[0u32] } else { &d.y })?,
        rows: d.len(),
    })
}

/// Memory mappings a layer's bind groups and buffers take in a driver that maps each descriptor pool
/// and buffer (lavapipe: ~13 per layer measured at depth 4,000), rounded up.
const MAPPINGS_PER_LAYER: usize = 16;

/// The deepest model the layered path can build on this host: Linux caps a process's memory mappings
/// (`vm.max_map_count`, 65,530 by default), and past it the driver's allocations fail without an error
/// wgpu can report (a crash). A reserve is left for everything else. `None` where there is no such cap.
fn max_layers() -> Option<usize> {
    let maps: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()?;
    Some(maps.saturating_sub(8192) / MAPPINGS_PER_LAYER)
}

/// Checks the layered engine's largest buffers against the adapter's limits before anything is
/// allocated (so a sweep can refuse a run before it trains any): a layer's values over the larger split,
/// the optimiser state, the training inputs.
pub fn check_sizes(gpu: &Gpu, spec: &MlpSpec, train: &Dataset, test: &Dataset) -> Result<(), GpuError> {
    // Bounded like the executor's uniform layer table, so the path's bind groups are too, on any host;
    // the executor (`--path auto`) trains deeper models in a fixed number of them.
    let limit = max_layers().map_or(MAX_LAYERS, |host| host.min(MAX_LAYERS));
    if spec.num_layers() > limit {
        return Err(GpuError::TooDeep(format!(
            "a model of {} layers on the layered path, which keeps about {MAPPINGS_PER_LAYER} bind groups \
                 (driver memory mappings) per layer and builds up to {limit} layers; --path auto trains deeper \
                 models on the executor",
            spec.num_layers()
        )));
    }
    let rows = train.len().max(test.len());
    let widest = (0..spec.num_layers()).map(|i| spec.layer_dims(i).1).max().unwrap_or(1);
    let params = crate::memory::param_count(spec).map_or(usize::MAX, |p| usize::try_from(p).unwrap_or(usize::MAX));
    gpu.check_size("the widest layer's values over the whole split", rows.saturating_mul(widest))?;
    gpu.check_size("the optimiser state", params.saturating_mul(2))?;
    gpu.check_size("the training inputs", train.x.len().max(test.x.len()))
}

impl<'g> LayeredEngine<'g> {
    pub fn new(
        gpu: &'g Gpu,
        spec: &MlpSpec,
        params: &Params,
        train: &Dataset,
        test: &Dataset,
        cfg: TrainConfig,
    ) -> Result<Self, EngineError> {
        check_engine_inputs(spec, train.len(), &cfg)?;
        check_sizes(gpu, spec, train, test)?;
        let layout = spec.layout();
        // Probes and evaluations run a whole split at once, so every buffer holds the larger split.
        let rows = train.len().max(test.len());
        let mut layers = Vec::new();
        for i in 0..spec.num_layers() {
            let (fan_in, fan_out) = spec.layer_dims(i);
            let t = |what: &str| gpu.tensor(&format!("layers.{i} {what}"), rows * fan_out);
            let norm = match spec.norm_of(i) {
                Norm::None => None,
                kind => {
                    let stats = if kind == Norm::Layer { rows } else { fan_out };
                    Some(NormBufs {
                        kind,
                        y: t("norm output")?,
                        mean: gpu.tensor("norm mean", stats)?,
                        rstd: gpu.tensor("norm rstd", stats)?,
                        dy: t("norm output gradient")?,
                    })
                }
            };
            let skip = if spec.has_skip(i) { Some((spec.skip_scale(i), t("skip output")?)) } else { None };
            let g = if spec.has_skip(i) || spec.has_skip(i + 1) { Some(t("output gradient")?) } else { None };
            layers.push(LayerBufs {
                fan_in,
                fan_out,
                act: spec.activation(i),
                z: t("pre-activation")?,
                norm,
                a: t("activation")?,
                dz: t("delta")?,
                skip,
                g,
            });
        }
        let steps = batches_per_epoch(train.len(), cfg.batch_size);
        let opt = gpu.tensor("optimiser state", 2 * layout.param_len)?;
        let mut engine = LayeredEngine {
            gpu,
            spec: spec.clone(),
            cfg,
            params_template: Params::zeros(layout.clone()),
            params: gpu.tensor("params", layout.param_len)?,
            grads: gpu.tensor("grads", layout.param_len)?,
            opt_m: opt.slice(0, layout.param_len),
            opt_v: opt.slice(layout.param_len, layout.param_len),
            opt,
            running: gpu.tensor("running statistics", layout.running_len)?,
            layers,
            train: upload_split(gpu, "train", train)?,
            test: upload_split(gpu, "test", test)?,
            order: gpu.tensor("order", train.len())?,
            state: gpu.tensor("step state", STEP_STATE_LEN)?,
            schedule: gpu.tensor("step sizes", steps)?,
            weight_mask: match cfg.weight_decay {
                Some(_) => gpu.upload("weight mask", &super::optim::weight_mask(&layout))?,
                None => gpu.upload("weight mask", &[0.0f32])?,
            },
            metrics: gpu.tensor("metrics", 2 * steps)?,
            probe_state: gpu.tensor("probe step state", STEP_STATE_LEN)?,
            probe_metrics: gpu.tensor("probe metrics", 2)?,
            clip: match cfg.clip_grad_norm {
                None => None,
                Some(_) => Some(ClipBufs {
                    segment: gpu.upload("clip segment", &[0u32, layout.param_len as u32])?,
                    sq: gpu.tensor("clip sum of squares", 2)?,
                    norms: gpu.tensor("clip norms", steps)?,
                }),
            },
            t: 0,
            last_rows: 0,
            full_step: Vec::new(),
            last_step: None,
            timing: TrainTiming::default(),
            probe_passes: [(Vec::new(), ProbeReductions::empty(gpu)?), (Vec::new(), ProbeReductions::empty(gpu)?)],
            eval_passes: [Vec::new(), Vec::new()],
        };
        engine.xb_yb_and_plans(train)?;
        engine.set_params(params)?;
        Ok(engine)
    }

    /// Builds every pass once: the full and the short training step, and probe and eval per split.
    fn xb_yb_and_plans(&mut self, train: &Dataset) -> Result<(), EngineError> {
        let gpu = self.gpu;
        let b = self.cfg.batch_size.min(train.len());
        let xb = gpu.tensor("batch x", b * train.features)?;
        let yb = gpu.tensor("batch y", b)?;
        self.full_step = self.train_pass(b, &xb, &yb)?;
        let last = train.len() % self.cfg.batch_size;
        self.last_step = if last != 0 && last != b { Some(self.train_pass(last, &xb, &yb)?) } else { None };
        for (k, split) in [Split::Train, Split::Test].into_iter().enumerate() {
            let (x, y, rows) = {
                let s = self.split(split);
                (s.x.clone(), s.y.clone(), s.rows)
            };
            if rows == 0 {
                continue;
            }
            let mut probe = self.forward_loss(rows, &x, &y, Mode::Probe, &self.probe_state, &self.probe_metrics)?;
            probe.extend(self.backward(rows, &x)?);
            let reductions = self.probe_reductions(rows)?;
            self.probe_passes[k] = (probe, reductions);
            self.eval_passes[k] =
                self.forward_loss(rows, &x, &y, Mode::Eval, &self.probe_state, &self.probe_metrics)?;
        }
        Ok(())
    }

    fn split(&self, split: Split) -> &SplitBufs {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// One training step on `rows` rows gathered into `xb`, `yb`.
    fn train_pass(&self, rows: usize, xb: &Tensor, yb: &Tensor) -> Result<Vec<Dispatch>, EngineError> {
        let gpu = self.gpu;
        let g = Gather { x: &self.train.x, y: &self.train.y, order: &self.order, state: &self.state, xb, yb };
        let mut pass =
            vec![step_begin(gpu, &self.state)?, gather_rows(gpu, &g, rows, self.spec.input, self.cfg.batch_size)?];
        pass.extend(self.forward_loss(rows, xb, yb, Mode::Train, &self.state, &self.metrics)?);
        pass.extend(self.backward(rows, xb)?);
        if let (Some(c), Some(max)) = (&self.clip, self.cfg.clip_grad_norm) {
            pass.push(reduce::segment_stats(gpu, &c.sq, &self.grads, &c.segment, 1)?);
            pass.push(clip_grads(gpu, &self.grads, &c.sq, &self.state, &c.norms, max)?);
        }
        let s = OptimState {
            params: &self.params,
            grads: &self.grads,
            m: &self.opt_m,
            v: &self.opt_v,
            state: &self.state,
            schedule: &self.schedule,
            weights: &self.weight_mask,
            decay: self.cfg.decay_per_row(self.train.rows),
        };
        pass.push(optimizer_step(gpu, &self.cfg.optimizer, &s)?);
        Ok(pass)
    }

    /// Forward through every layer, then the loss into `metrics` (slot from `state`).
    fn forward_loss(
        &self,
        m: usize,
        x: &Tensor,
        y: &Tensor,
        mode: Mode,
        state: &Tensor,
        metrics: &Tensor,
    ) -> Result<Vec<Dispatch>, EngineError> {
        let gpu = self.gpu;
        let layout = self.params_template.layout.clone();
        let p = |slot: &crate::model::TensorSlot| self.params.slice(slot.offset, slot.len);
        let r = |slot: &crate::model::TensorSlot| self.running.slice(slot.offset, slot.len);
        let mut pass = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let input = if i == 0 { x } else { self.layers[i - 1].output() };
            let (k, n) = (l.fan_in, l.fan_out);
            let w = p(layout.weight(i));
            let b = p(layout.bias(i));
            match &l.norm {
                None => pass.push(dense_forward(gpu, &l.z, &l.a, input, &w, &b, (m, k, n), l.act)?),
                Some(norm) => {
                    // z = x·Wᵀ + b (the identity "activation" writes a copy into y, which the norm overwrites).
                    pass.push(dense_forward(gpu, &l.z, &norm.y, input, &w, &b, (m, k, n), Activation::Identity)?);
                    let gamma = p(layout.gamma(i).expect("a normalised layer has gamma"));
                    let beta = p(layout.beta(i).expect("a normalised layer has beta"));
                    let eps = self.spec.bn_eps;
                    pass.push(match (norm.kind, mode) {
                        (Norm::Layer, _) => {
                            let t = LnTensors { x: &l.z, gamma: &gamma, mean: &norm.mean, rstd: &norm.rstd };
                            layernorm_forward(gpu, &norm.y, &t, &beta, (m, n), eps)?
                        }
                        (_, Mode::Eval) => {
                            let rm = r(layout.running_mean(i).expect("bn layer has running mean"));
                            let rv = r(layout.running_var(i).expect("bn layer has running var"));
                            batchnorm_forward_eval(gpu, &norm.y, &l.z, &gamma, &beta, &rm, &rv, (m, n), eps)?
                        }
                        _ => {
                            let rm = r(layout.running_mean(i).expect("bn layer has running mean"));
                            let rv = r(layout.running_var(i).expect("bn layer has running var"));
                            let f = BnForward {
                                y: &norm.y,
                                mean: &norm.mean,
                                rstd: &norm.rstd,
                                running_mean: &rm,
                                running_var: &rv,
                                x: &l.z,
                                gamma: &gamma,
                                beta: &beta,
                            };
                            let momentum = (mode == Mode::Train).then_some(self.spec.bn_momentum);
                            batchnorm_forward(gpu, &f, (m, n), eps, momentum)?
                        }
                    });
                    pass.push(activation::bias_activation_forward(gpu, &norm.y, &l.a, None, (m, n), l.act)?);
                }
            }
            if let Some((alpha, out)) = &l.skip {
                pass.push(activation::skip_forward(gpu, out, input, &l.a, (m, n), *alpha)?);
            }
        }
        let out = self.layers.last().expect("at least the output layer");
        pass.push(loss::cross_entropy(gpu, &out.dz, metrics, &out.z, y, state, m, self.spec.output)?);
        Ok(pass)
    }

    /// Backward from the loss's dlogits (already in the output layer's `dz`) to every gradient.
    fn backward(&self, m: usize, x: &Tensor) -> Result<Vec<Dispatch>, EngineError> {
        let gpu = self.gpu;
        let layout = &self.params_template.layout;
        let g = |slot: &crate::model::TensorSlot| self.grads.slice(slot.offset, slot.len);
        let mut pass = Vec::new();
        for i in (0..self.layers.len()).rev() {
            // δ of layer i is complete in its dz: the loss wrote it, or layer i + 1's backward below.
            let l = &self.layers[i];
            let (k, n) = (l.fan_in, l.fan_out);
            let input = if i == 0 { x } else { self.layers[i - 1].output() };
            pass.push(dense_backward_weight(gpu, &g(layout.weight(i)), &g(layout.bias(i)), &l.dz, input, (m, k, n))?);
            if i == 0 {
                continue;
            }
            let w = self.params.slice(layout.weight(i).offset, n * k);
            let prev = &self.layers[i - 1];
            // Into the layer below's activation input (its z, or the norm's y, whose gradient goes to dy).
            let (pre, dst) = match &prev.norm {
                None => (&prev.z, &prev.dz),
                Some(norm) => (&norm.y, &norm.dy),
            };
            match &prev.g {
                // No skip connection on either side: δ·W and f′ in one kernel.
                None => pass.push(dense_backward_input(gpu, dst, &l.dz, &w, pre, &prev.a, (m, k, n), prev.act)?),
                // δ·W alone, then the skips: this layer's adds its output's gradient, the layer below's
                // keeps the sum and scales its branch by α.
                Some(out_grad) => {
                    let dims = (m, k, n);
                    pass.push(dense_backward_input(
                        gpu,
                        out_grad,
                        &l.dz,
                        &w,
                        pre,
                        &prev.a,
                        dims,
                        Activation::Identity,
                    )?);
                    let skip = if l.skip.is_some() { l.g.as_ref() } else { None };
                    let alpha = prev.skip.as_ref().map_or(1.0, |(a, _)| *a);
                    pass.push(activation::skip_backward(
                        gpu,
                        dst,
                        out_grad,
                        skip,
                        pre,
                        &prev.a,
                        (m, k),
                        prev.act,
                        alpha,
                    )?);
                }
            }
            if let Some(norm) = &prev.norm {
                let gamma = self.params.slice(layout.gamma(i - 1).expect("gamma").offset, k);
                let dgamma = g(layout.gamma(i - 1).expect("gamma"));
                let dbeta = g(layout.beta(i - 1).expect("beta"));
                let (mean, rstd) = (&norm.mean, &norm.rstd);
                match norm.kind {
                    Norm::Layer => {
                        let t = LnTensors { x: &prev.z, gamma: &gamma, mean, rstd };
                        pass.extend(layernorm_backward(gpu, (&prev.dz, &dgamma, &dbeta), &norm.dy, &t, (m, k))?);
                    }
                    _ => pass.push(batchnorm_backward(
                        gpu,
                        &prev.dz,
                        &dgamma,
                        &dbeta,
                        &norm.dy,
                        &prev.z,
                        mean,
                        rstd,
                        &gamma,
                        (m, k),
                    )?),
                }
            }
        }
        Ok(pass)
    }

    /// Norms of every gradient and weight, ‖δ‖ and activation statistics per layer, for `rows` rows.
    fn probe_reductions(&self, rows: usize) -> Result<ProbeReductions, EngineError> {
        let gpu = self.gpu;
        let slots = &self.params_template.layout.params;
        let table: Vec<u32> = slots.iter().flat_map(|s| [s.offset as u32, s.len as u32]).collect();
        let segments = gpu.upload("param segments", &table)?;
        let grad_norms = gpu.tensor("grad norms", 2 * slots.len())?;
        let weight_norms = gpu.tensor("param norms", 2 * slots.len())?;
        let act_stats = gpu.tensor("activation stats", STATS_PER_LAYER * self.layers.len())?;
        let mut dispatches = vec![
            reduce::segment_stats(gpu, &grad_norms, &self.grads, &segments, slots.len())?,
            reduce::segment_stats(gpu, &weight_norms, &self.params, &segments, slots.len())?,
        ];
        let mut delta_norms = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let whole = gpu.upload("delta segment", &[0u32, (rows * l.fan_out) as u32])?;
            let out = gpu.tensor("delta norm", 2)?;
            dispatches.push(reduce::segment_stats(gpu, &out, &l.dz, &whole, 1)?);
            delta_norms.push(out);
            let pre = l.norm.as_ref().map_or(&l.z, |b| &b.y);
            dispatches.push(activation::activation_stats(gpu, &act_stats, i, pre, &l.a, (rows, l.fan_out), l.act)?);
        }
        let hists = match self.cfg.histograms {
            true => Some(self.histogram_kernels(rows)?),
            false => None,
        };
        Ok(ProbeReductions { dispatches, grad_norms, weight_norms, delta_norms, act_stats, hists })
    }

    /// The histograms of every layer's pre-activations, activations (the output layer's logits), δ and
    /// dW over `rows` rows.
    fn histogram_kernels(&self, rows: usize) -> Result<HistogramKernels, GpuError> {
        let last = self.layers.len() - 1;
        let mut tensors = vec![&self.grads];
        let mut groups: [Vec<Source>; 4] = Default::default();
        for (i, l) in self.layers.iter().enumerate() {
            let pre = l.norm.as_ref().map_or(&l.z, |b| &b.y);
            let act = if i == last { &l.z } else { &l.a };
            for (q, t) in [pre, act, &l.dz].into_iter().enumerate() {
                groups[q].push(Source { buffer: tensors.len(), offset: 0, len: rows * l.fan_out });
                tensors.push(t);
            }
            let w = self.params_template.layout.weight(i);
            groups[3].push(Source { buffer: 0, offset: w.offset, len: w.len });
        }
        HistogramKernels::new(self.gpu, &tensors, &layer_groups(groups))
    }

    /// Records `passes` in order into one compute pass.
    fn encode(&self, passes: &[&[Dispatch]]) -> wgpu::CommandBuffer {
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for d in passes.iter().flat_map(|p| p.iter()) {
                d.record(&mut pass);
            }
        }
        encoder.finish()
    }

    fn run(&self, passes: &[&[Dispatch]]) -> Result<(), GpuError> {
        self.gpu.submit(self.encode(passes));
        self.gpu.wait()
    }

    /// What training has cost since the last call, and resets the counters.
    pub fn take_timing(&mut self) -> TrainTiming {
        std::mem::take(&mut self.timing)
    }
}

impl ProbeReductions {
    fn empty(gpu: &Gpu) -> Result<Self, GpuError> {
        Ok(ProbeReductions {
            dispatches: Vec::new(),
            grad_norms: gpu.tensor("unused", 1)?,
            weight_norms: gpu.tensor("unused", 1)?,
            delta_norms: Vec::new(),
            act_stats: gpu.tensor("unused", 1)?,
            hists: None,
        })
    }
}

impl Engine for LayeredEngine<'_> {
    fn name(&self) -> String {
        super::backend::engine_name(self.gpu, "layered")
    }

    fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    fn params(&mut self) -> Result<Params, EngineError> {
        let mut out = self.gpu.read_many(&[&self.params, &self.running])?;
        let mut p = self.params_template.clone();
        p.running = out.pop().expect("two tensors read");
        p.values = out.pop().expect("two tensors read");
        Ok(p)
    }

    fn set_params(&mut self, params: &Params) -> Result<(), EngineError> {
        if params.layout != self.params_template.layout {
            return Err(EngineError::Invalid("the parameters do not have this model's layout".into()));
        }
        self.gpu.write(&self.params, &params.values);
        self.gpu.write(&self.running, &params.running);
        self.gpu.write(&self.opt, &vec![0.0f32; 2 * params.values.len()]);
        self.t = 0;
        Ok(())
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<(), EngineError> {
        if order.len() != self.train.rows || order.iter().any(|&i| i as usize >= self.train.rows) {
            return Err(EngineError::Invalid("the epoch order is not a permutation of the training rows".into()));
        }
        self.gpu.write(&self.order, order);
        Ok(())
    }

    fn train_batches(&mut self, first: usize, count: usize) -> Result<Vec<BatchResult>, EngineError> {
        let (n, bs) = (self.train.rows, self.cfg.batch_size);
        let steps = batches_per_epoch(n, bs);
        if first + count > steps {
            return Err(EngineError::Invalid(format!("batches {first}..{} past the epoch's {steps}", first + count)));
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        let gpu = self.gpu;
        gpu.write(&self.state, &step_state(self.t, first as u32));
        gpu.write(&self.schedule.slice(first, count), &self.cfg.optimizer.schedule(self.t + 1, count));
        let batches: Vec<usize> = (first..first + count).collect();
        let started = Instant::now();
        let mut buffers = Vec::new();
        let mut dispatches = 0;
        for chunk in batches.chunks(MAX_STEPS_PER_SUBMIT) {
            let plans: Vec<&[Dispatch]> = chunk
                .iter()
                .map(|&b| match &self.last_step {
                    Some(last) if batch_rows(n, bs, b) != bs.min(n) => last.as_slice(),
                    _ => self.full_step.as_slice(),
                })
                .collect();
            dispatches += plans.iter().map(|p| p.len()).sum::<usize>();
            buffers.push(self.encode(&plans));
        }
        let recorded = Instant::now();
        for b in buffers {
            gpu.submit(b);
        }
        gpu.wait()?;
        self.timing.record_s += (recorded - started).as_secs_f64();
        self.timing.submit_wait_s += recorded.elapsed().as_secs_f64();
        self.timing.dispatches += dispatches as u64;
        self.timing.steps += count as u64;
        self.t += count as u32;
        let metrics = gpu.read(&self.metrics.slice(2 * first, 2 * count))?;
        let norms = match &self.clip {
            Some(c) => gpu.read(&c.norms.slice(first, count))?.into_iter().map(|v| Some(v as f64)).collect(),
            None => vec![None; count],
        };
        Ok(batches
            .iter()
            .zip(metrics.chunks(2))
            .zip(norms)
            .map(|((&b, m), grad_norm)| BatchResult {
                loss: m[0] as f64,
                correct: m[1] as usize,
                rows: batch_rows(n, bs, b),
                grad_norm,
            })
            .collect())
    }

    fn probe(&mut self, split: Split) -> Result<Probe, EngineError> {
        let rows = self.split(split).rows;
        if rows == 0 {
            return Err(EngineError::Invalid(format!("the {split:?} split is empty")));
        }
        self.last_rows = rows;
        let (pass, red) = &self.probe_passes[split as usize];
        self.gpu.write(&self.probe_state, &[0u32; STEP_STATE_LEN]);
        let hist_dispatches = red.hists.as_ref().map_or(&[][..], |h| h.dispatches());
        self.run(&[pass, &red.dispatches, hist_dispatches])?;
        let layout = &self.params_template.layout;
        let w1 = layout.weight(0);
        let grad_w1 = self.grads.slice(w1.offset, w1.len);
        let mut tensors = vec![&self.probe_metrics, &red.grad_norms, &red.weight_norms, &red.act_stats, &grad_w1];
        tensors.extend(red.delta_norms.iter());
        tensors.extend(red.hists.as_ref().map(|h| &h.out));
        let out = self.gpu.read_many(&tensors)?;
        let histograms = match &red.hists {
            Some(h) => {
                let (words, l) = (out.last().expect("the histograms"), self.layers.len());
                LayerHistograms::from_groups([0, 1, 2, 3].map(|q| h.decode(words, q * l, l)))
            }
            None => Vec::new(),
        };
        let (metrics, gn, wn, stats, gw1) = (&out[0], &out[1], &out[2], &out[3], &out[4]);
        let norm_of = |norms: &[f32], name: &str| {
            let s = layout.params.iter().position(|s| s.name == name).expect("slot exists");
            (norms[2 * s] as f64).sqrt()
        };
        let layers = (0..self.layers.len())
            .map(|i| LayerProbe {
                grad_w: norm_of(gn, &layout.weight(i).name),
                grad_b: norm_of(gn, &layout.bias(i).name),
                delta: (out[5 + i][0] as f64).sqrt(),
                weight: norm_of(wn, &layout.weight(i).name),
                act_mean: stats[STATS_PER_LAYER * i] as f64,
                act_std: stats[STATS_PER_LAYER * i + 1] as f64,
                saturated: stats[STATS_PER_LAYER * i + 2] as f64,
                dead: stats[STATS_PER_LAYER * i + 3] as f64,
                mean_grad_sq: stats[STATS_PER_LAYER * i + 4] as f64,
            })
            .collect();
        Ok(Probe {
            loss: metrics[0] as f64,
            correct: metrics[1] as usize,
            rows,
            layers,
            grad_w1: gw1.iter().map(|&v| v as f64).collect(),
            histograms,
        })
    }

    fn evaluate(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        let rows = self.split(split).rows;
        if rows == 0 {
            return Err(EngineError::Invalid(format!("the {split:?} split is empty")));
        }
        self.gpu.write(&self.probe_state, &[0u32; STEP_STATE_LEN]);
        self.last_rows = rows;
        self.run(&[&self.eval_passes[split as usize]])?;
        let m = self.gpu.read(&self.probe_metrics)?;
        Ok(BatchResult { loss: m[0] as f64, correct: m[1] as usize, rows, grad_norm: None })
    }

    fn gradients(&mut self) -> Result<Vec<f64>, EngineError> {
        Ok(self.gpu.read(&self.grads)?.into_iter().map(f64::from).collect())
    }

    fn logits(&mut self) -> Result<Vec<f64>, EngineError> {
        let out = self.layers.last().expect("at least the output layer");
        let z = out.z.slice(0, self.last_rows * out.fan_out);
        Ok(self.gpu.read(&z)?.into_iter().map(f64::from).collect())
    }

    fn split_rows(&self, split: Split) -> usize {
        self.split(split).rows
    }
}
