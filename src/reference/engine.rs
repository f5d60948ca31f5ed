//! The CPU reference as an `Engine`: the same training loop as the GPU engine, in f64, built from the
//! reference kernels, so any GPU run can be replayed here and compared number by number.

use super::mlp::Gradients;
use super::{activation_stats, adam_step, batchnorm_update_running, forward_backward, forward_eval, sgd_step};
use crate::data::Dataset;
use crate::engine::{
    BatchResult, Engine, EngineError, LayerProbe, Optimizer, Probe, Split, TrainConfig, batch_rows, batches_per_epoch,
    check_engine_inputs, clip_scale,
};
use crate::histogram::{Histogram, LayerHistograms};
use crate::model::{MlpSpec, ParamKind, ParamLayout, Params};

pub struct CpuEngine {
    spec: MlpSpec,
    cfg: TrainConfig,
    template: Params,
    params: Vec<f64>,
    running: Vec<f64>,
    opt_m: Vec<f64>,
    opt_v: Vec<f64>,
    train: Dataset,
    test: Dataset,
    order: Vec<u32>,
    /// The gradient arena of the last backward pass.
    grads: Vec<f64>,
    /// The logits of the last probe or evaluation.
    logits: Vec<f64>,
    /// Optimiser steps taken so far.
    t: u32,
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

impl CpuEngine {
    pub fn new(
        spec: &MlpSpec,
        params: &Params,
        train: &Dataset,
        test: &Dataset,
        cfg: TrainConfig,
    ) -> Result<Self, EngineError> {
        check_engine_inputs(spec, train.len(), &cfg)?;
        let mut engine = CpuEngine {
            spec: spec.clone(),
            cfg,
            template: Params::zeros(spec.layout()),
            params: Vec::new(),
            running: Vec::new(),
            opt_m: Vec::new(),
            opt_v: Vec::new(),
            train: train.clone(),
            test: test.clone(),
            order: (0..train.len() as u32).collect(),
            grads: vec![0.0; spec.layout().param_len],
            logits: Vec::new(),
            t: 0,
        };
        engine.set_params(params)?;
        Ok(engine)
    }

    /// The gradients the optimiser steps on: `grads` plus (λ/n)·w on the dense weights with
    /// `--weight-decay` (a copy only then).
    fn decayed<'g>(&self, grads: &'g [f64]) -> std::borrow::Cow<'g, [f64]> {
        let c = self.cfg.decay_per_row(self.train.len());
        if c == 0.0 {
            return std::borrow::Cow::Borrowed(grads);
        }
        let mut out = grads.to_vec();
        for slot in self.template.layout.params.iter().filter(|s| s.kind == ParamKind::Weight) {
            for i in slot.range() {
                out[i] += c * self.params[i];
            }
        }
        std::borrow::Cow::Owned(out)
    }

    fn data(&self, split: Split) -> &Dataset {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }
}

impl Engine for CpuEngine {
    fn name(&self) -> String {
        "cpu reference (f64)".into()
    }

    fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    fn params(&mut self) -> Result<Params, EngineError> {
        let mut p = self.template.clone();
        p.values = self.params.iter().map(|&v| v as f32).collect();
        p.running = self.running.iter().map(|&v| v as f32).collect();
        Ok(p)
    }

    fn set_params(&mut self, params: &Params) -> Result<(), EngineError> {
        if params.layout != self.template.layout {
            return Err(EngineError::Invalid("the parameters do not have this model's layout".into()));
        }
        self.params = widen(&params.values);
        self.running = widen(&params.running);
        self.opt_m = vec![0.0; self.params.len()];
        self.opt_v = vec![0.0; self.params.len()];
        self.t = 0;
        Ok(())
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<(), EngineError> {
        if order.len() != self.train.len() || order.iter().any(|&i| i as usize >= self.train.len()) {
            return Err(EngineError::Invalid("the epoch order is not a permutation of the training rows".into()));
        }
        self.order = order.to_vec();
        Ok(())
    }

    fn train_batches(&mut self, first: usize, count: usize) -> Result<Vec<BatchResult>, EngineError> {
        let (n, bs) = (self.train.len(), self.cfg.batch_size);
        let steps = batches_per_epoch(n, bs);
        if first + count > steps {
            return Err(EngineError::Invalid(format!("batches {first}..{} past the epoch's {steps}", first + count)));
        }
        let layout = self.template.layout.clone();
        let mut results = Vec::with_capacity(count);
        for b in first..first + count {
            let rows = batch_rows(n, bs, b);
            let idx: Vec<usize> = self.order[b * bs..b * bs + rows].iter().map(|&i| i as usize).collect();
            let batch = self.train.subset(&idx);
            let g = forward_backward(&self.spec, &self.params, &widen(&batch.x), &batch.y, rows);
            for (i, layer) in g.forward.layers.iter().enumerate() {
                if let Some(bn) = layer.batch_norm() {
                    let (rm, rv) = (layout.running_mean(i).expect("bn"), layout.running_var(i).expect("bn"));
                    let (mean_part, var_part) = split_two(&mut self.running, rm.range(), rv.range());
                    batchnorm_update_running(
                        mean_part,
                        var_part,
                        &bn.mean,
                        &bn.rstd,
                        rows,
                        self.spec.bn_momentum,
                        self.spec.bn_eps,
                    );
                }
            }
            self.t += 1;
            let mut g = g;
            // PyTorch's clip_grad_norm_: every gradient scaled by one factor from their joint norm.
            let grad_norm = self.cfg.clip_grad_norm.map(|max| {
                let norm = g.grads.iter().map(|v| v * v).sum::<f64>().sqrt();
                let scale = clip_scale(max, norm);
                g.grads.iter_mut().for_each(|v| *v *= scale);
                norm
            });
            // Weight decay after clipping, inside the step: the optimiser sees ∇C₀ + (λ/n)·w; the
            // gradient kept for the host stays ∇C₀, clipped.
            let decayed = self.decayed(&g.grads);
            match self.cfg.optimizer {
                Optimizer::Sgd { lr, momentum } => sgd_step(&mut self.params, &decayed, &mut self.opt_m, lr, momentum),
                Optimizer::Adam { lr, beta1, beta2, eps } => adam_step(
                    &mut self.params,
                    &decayed,
                    &mut self.opt_m,
                    &mut self.opt_v,
                    lr,
                    beta1,
                    beta2,
                    eps,
                    self.t,
                ),
            }
            results.push(BatchResult { loss: g.loss, correct: g.correct, rows, grad_norm });
            self.grads = g.grads;
        }
        Ok(results)
    }

    fn probe(&mut self, split: Split) -> Result<Probe, EngineError> {
        let data = self.data(split);
        if data.is_empty() {
            return Err(EngineError::Invalid(format!("the {split:?} split is empty")));
        }
        let rows = data.len();
        let g = forward_backward(&self.spec, &self.params, &widen(&data.x), &data.y, rows);
        let layout = &self.template.layout;
        let layers = g
            .forward
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let stats = activation_stats(&l.a, l.pre_activation(), rows, l.a.len() / rows, self.spec.activation(i));
                LayerProbe {
                    grad_w: norm(&g.grads[layout.weight(i).range()]),
                    grad_b: norm(&g.grads[layout.bias(i).range()]),
                    delta: norm(&g.deltas[i]),
                    weight: norm(&self.params[layout.weight(i).range()]),
                    act_mean: stats.mean,
                    act_std: stats.std,
                    saturated: stats.saturated,
                    dead: stats.dead,
                    mean_grad_sq: stats.mean_grad_sq,
                }
            })
            .collect();
        let grad_w1 = g.grads[layout.weight(0).range()].to_vec();
        let histograms = if self.cfg.histograms { histograms(&g, layout) } else { Vec::new() };
        self.grads = g.grads;
        self.logits = g.logits;
        Ok(Probe { loss: g.loss, correct: g.correct, rows, layers, grad_w1, histograms })
    }

    fn evaluate(&mut self, split: Split) -> Result<BatchResult, EngineError> {
        let data = self.data(split);
        if data.is_empty() {
            return Err(EngineError::Invalid(format!("the {split:?} split is empty")));
        }
        let rows = data.len();
        let logits = forward_eval(&self.spec, &self.params, &self.running, &widen(&data.x), rows);
        let mut dl = vec![0.0; logits.len()];
        let (loss, correct) = super::output_loss(self.spec.output, &mut dl, &logits, &data.y, rows);
        self.logits = logits;
        Ok(BatchResult { loss, correct, rows, grad_norm: None })
    }

    fn gradients(&mut self) -> Result<Vec<f64>, EngineError> {
        Ok(self.grads.clone())
    }

    fn logits(&mut self) -> Result<Vec<f64>, EngineError> {
        Ok(self.logits.clone())
    }

    fn split_rows(&self, split: Split) -> usize {
        self.data(split).len()
    }
}

/// Every layer's histograms of a probe's forward and backward pass (`crate::histogram`).
fn histograms(g: &Gradients, layout: &ParamLayout) -> Vec<LayerHistograms> {
    let layers = &g.forward.layers;
    let pre: Vec<&[f64]> = layers.iter().map(|l| l.pre_activation()).collect();
    let act: Vec<&[f64]> = layers.iter().map(|l| &l.a[..]).collect();
    let delta: Vec<&[f64]> = g.deltas.iter().map(|d| &d[..]).collect();
    let grad: Vec<&[f64]> = (0..layers.len()).map(|i| &g.grads[layout.weight(i).range()]).collect();
    LayerHistograms::from_groups([pre, act, delta, grad].map(|v| Histogram::layers(&v)))
}

/// Two disjoint ranges of one slice, mutably.
fn split_two(v: &mut [f64], a: std::ops::Range<usize>, b: std::ops::Range<usize>) -> (&mut [f64], &mut [f64]) {
    assert!(a.end <= b.start, "ranges in layout order");
    let (lo, hi) = v.split_at_mut(b.start);
    (&mut lo[a], &mut hi[..b.end - b.start])
}

/// The CPU reference as a `Backend`: every job is a batch of one (the reference runs one model at a
/// time, on one thread).
pub struct CpuBackend;

impl crate::engine::Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu reference (f64)".into()
    }

    fn plan<'b>(
        &'b self,
        jobs: &[crate::engine::ModelJob<'_>],
    ) -> Result<Vec<Box<dyn crate::engine::BatchPlan<'b> + 'b>>, EngineError> {
        Ok((0..jobs.len())
            .map(|i| Box::new(CpuBatch { members: vec![i] }) as Box<dyn crate::engine::BatchPlan<'b>>)
            .collect())
    }

    fn counters(&self) -> crate::engine::Counters {
        crate::engine::Counters::default()
    }
}

/// A batch of the CPU reference's plan: one job.
struct CpuBatch {
    members: Vec<usize>,
}

impl<'b> crate::engine::BatchPlan<'b> for CpuBatch {
    fn members(&self) -> &[usize] {
        &self.members
    }

    fn engine_name(&self) -> String {
        crate::engine::Backend::name(&CpuBackend)
    }

    fn build(
        &self,
        jobs: &[crate::engine::ModelJob<'_>],
    ) -> Result<Box<dyn crate::engine::BatchEngine + 'b>, EngineError> {
        let engines = jobs
            .iter()
            .map(|j| CpuEngine::new(&j.spec, &j.params, j.train, j.test, j.cfg).map(|e| Box::new(e) as Box<dyn Engine>))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Box::new(crate::engine::OneAtATime::new(engines)?))
    }
}
