//! `ModelBatch`: M models of one narrow shape (different initial weights, activations or epoch
//! orders) trained side by side by the fused kernel, one model per workgroup of the same dispatch.
//! Each model has its own slice of every arena, its own layer table and its own epoch order, so
//! model m follows exactly the steps a single fused `GpuEngine` would take with the same spec,
//! weights and order.

use super::fused::{FusedBuffers, FusedKernel, FusedPlan, kernel_fits, same_shape};
use super::{Gpu, Tensor};
use crate::data::Dataset;
use crate::engine::{BatchResult, EngineError, TrainConfig, batch_rows, batches_per_epoch};
use crate::model::{MlpSpec, Params};

pub struct ModelBatch<'g> {
    gpu: &'g Gpu,
    cfg: TrainConfig,
    models: usize,
    rows: usize,
    template: Params,
    params: Tensor,
    running: Tensor,
    order: Tensor,
    schedule: Tensor,
    metrics: Tensor,
    plan: FusedPlan,
    /// Kept alive for the plan's bind group.
    _bufs: [Tensor; 4],
    /// Optimiser steps taken so far (the same for every model).
    t: u32,
}

impl<'g> ModelBatch<'g> {
    /// Model m is `specs[m]` starting from `params[m]`; all of one shape (`same_shape`), trained on
    /// `train` by `kernel` (`fused::auto_kernel` chooses one).
    pub fn new(
        gpu: &'g Gpu,
        kernel: FusedKernel,
        specs: &[MlpSpec],
        params: &[Params],
        train: &Dataset,
        cfg: TrainConfig,
    ) -> Result<Self, EngineError> {
        let Some(spec) = specs.first() else {
            return Err(EngineError::Invalid("a model batch needs one or more models".into()));
        };
        kernel_fits(gpu, spec, kernel).map_err(EngineError::Invalid)?;
        let layout = spec.layout();
        if specs.len() != params.len()
            || specs.iter().any(|s| !same_shape(s, spec))
            || params.iter().any(|p| p.layout != layout)
        {
            return Err(EngineError::Invalid(
                "a model batch needs one spec and one set of parameters per model, all of one shape".into(),
            ));
        }
        if train.is_empty() || cfg.batch_size == 0 {
            return Err(EngineError::Invalid("a model batch needs training rows and a batch size ≥ 1".into()));
        }
        let models = params.len();
        let (p, r) = (layout.param_len, layout.running_len);
        let steps = batches_per_epoch(train.len(), cfg.batch_size);
        let values: Vec<f32> = params.iter().flat_map(|q| q.values.iter().copied()).collect();
        let running: Vec<f32> = params.iter().flat_map(|q| q.running.iter().copied()).collect();
        let x = gpu.upload("batch x", &train.x)?;
        let y = gpu.upload("batch y", &train.y)?;
        let grads = gpu.tensor("batch grads", models * p)?;
        let opt = gpu.tensor("batch optimiser state", 2 * models * p)?;
        let params_t = gpu.upload("batch params", &values)?;
        let running_t = gpu.upload("batch running", &running)?;
        let order = gpu.tensor("batch orders", models * train.len())?;
        let schedule = gpu.tensor("batch step sizes", steps)?;
        let metrics = gpu.tensor("batch metrics", models * 2 * steps)?;
        let b = FusedBuffers {
            x: &x,
            y: &y,
            order: &order,
            schedule: &schedule,
            params: &params_t,
            grads: &grads,
            opt: &opt,
            running: &running_t,
            metrics: &metrics,
        };
        let plan = FusedPlan::new(gpu, kernel, specs, &cfg.optimizer, (train.len(), cfg.batch_size), &b)?;
        debug_assert_eq!(running.len(), models * r);
        Ok(ModelBatch {
            gpu,
            cfg,
            models,
            rows: train.len(),
            template: Params::zeros(layout),
            params: params_t,
            running: running_t,
            order,
            schedule,
            metrics,
            plan,
            _bufs: [x, y, grads, opt],
            t: 0,
        })
    }

    pub fn models(&self) -> usize {
        self.models
    }

    /// Trains one whole epoch, model m in `orders[m]`; returns each model's batch results.
    pub fn train_epoch(&mut self, orders: &[Vec<u32>]) -> Result<Vec<Vec<BatchResult>>, EngineError> {
        if orders.len() != self.models || orders.iter().any(|o| o.len() != self.rows) {
            return Err(EngineError::Invalid("one order of every training row per model".into()));
        }
        let flat: Vec<u32> = orders.iter().flatten().copied().collect();
        if flat.iter().any(|&i| i as usize >= self.rows) {
            return Err(EngineError::Invalid("an order names a row past the training set".into()));
        }
        let (n, bs) = (self.rows, self.cfg.batch_size);
        let steps = batches_per_epoch(n, bs);
        let gpu = self.gpu;
        gpu.write(&self.order, &flat);
        gpu.write(&self.schedule, &self.cfg.optimizer.schedule(self.t + 1, steps));
        gpu.queue.submit(self.plan.encode(gpu, 0, steps));
        self.t += steps as u32;
        let metrics = gpu.read(&self.metrics)?;
        Ok(metrics
            .chunks(2 * steps)
            .map(|m| {
                m.chunks(2)
                    .enumerate()
                    .map(|(b, v)| BatchResult { loss: v[0] as f64, correct: v[1] as usize, rows: batch_rows(n, bs, b) })
                    .collect()
            })
            .collect())
    }

    /// Every model's parameters and running statistics.
    pub fn params(&self) -> Result<Vec<Params>, EngineError> {
        let mut out = self.gpu.read_many(&[&self.params, &self.running])?;
        let running = out.pop().expect("two tensors");
        let values = out.pop().expect("two tensors");
        let (p, r) = (self.template.layout.param_len, self.template.layout.running_len);
        Ok((0..self.models)
            .map(|m| {
                let mut q = self.template.clone();
                q.values = values[m * p..(m + 1) * p].to_vec();
                q.running = running[m * r..(m + 1) * r].to_vec();
                q
            })
            .collect())
    }
}
