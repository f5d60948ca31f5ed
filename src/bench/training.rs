//! Training speed: µs per step and samples/s for a few model shapes on every path — layered, fused,
//! 32 models batched in one fused dispatch (fewer for deep models: its layer table holds 682 layers), and the CPU reference — each validated against the
//! reference for two steps first.

use std::time::Instant;

use serde::Serialize;

use super::{BenchError, BenchOptions, Spread};
use crate::data::{self, Dataset, DatasetSpec};
use crate::engine::{BatchEngine, Engine, ModelJob, Optimizer, TrainConfig, Work, batches_per_epoch};
use crate::gpu::batch::MAX_LAYERS;
use crate::gpu::executor::{batch_budget, job_bytes};
use crate::gpu::fused::fused_shape;
use crate::gpu::{Executor, Gpu, KernelClass, LayeredEngine};
use crate::model::{Activation, MlpSpec, Output, Params};
use crate::reference::CpuEngine;
use crate::rng::{Stream, rng};
use crate::train::EpochOrders;

#[derive(Clone, Debug, Serialize)]
pub struct TrainingRow {
    pub model: String,
    pub batch: usize,
    pub path: String,
    /// Models trained together (1 except on the batched path).
    pub models: usize,
    /// Wall-clock µs per optimiser step of one model (for the batched path: per step of all models).
    pub us_per_step: Spread,
    /// Training rows processed per second, all models together.
    pub samples_per_s: f64,
    /// Optimiser steps per second summed over the models.
    pub model_steps_per_s: f64,
    pub dispatches_per_step: f64,
    /// Host µs per step spent recording command buffers, and from submit to the GPU finishing.
    pub record_us_per_step: f64,
    pub submit_wait_us_per_step: f64,
    pub readback_bytes_per_epoch: u64,
    /// Largest |loss difference| against the reference over two validation steps.
    pub validation_error: f64,
}

struct Case {
    name: &'static str,
    spec: MlpSpec,
    batch: usize,
    data: Dataset,
}

fn circles_train() -> Dataset {
    let spec = DatasetSpec::Circles { samples: 1000, noise: 0.1, factor: 0.85 };
    data::split(&data::load(&spec, 0).expect("circles"), 0.33, 0).expect("split").0
}

/// `rows` random points with `features` features and random 0/1 labels.
fn random_data(rows: usize, features: usize) -> Dataset {
    use rand::Rng;
    let mut r = rng(0, Stream::Test);
    Dataset {
        x: (0..rows * features).map(|_| r.random_range(-1.0f32..=1.0)).collect(),
        y: (0..rows).map(|_| r.random_range(0..2u32)).collect(),
        features,
        classes: 2,
        feature_names: (0..features).map(|i| format!("x{i}")).collect(),
        class_names: vec!["0".into(), "1".into()],
    }
}

fn cases(opts: &BenchOptions) -> Vec<Case> {
    let notebook = MlpSpec::new(2, &[10; 11], Activation::Sigmoid, Output::Binary);
    let mut c =
        vec![Case { name: "notebook 2→10×11→1", spec: notebook.clone(), batch: 32, data: circles_train() }];
    if !opts.quick {
        c.push(Case { name: "notebook 2→10×11→1", spec: notebook, batch: 670, data: circles_train() });
        c.push(Case {
            name: "deep narrow 2→10×50→1",
            spec: MlpSpec::new(2, &[10; 50], Activation::Tanh, Output::Binary),
            batch: 32,
            data: circles_train(),
        });
        c.push(Case {
            name: "wide 256→1024×4→1",
            spec: MlpSpec::new(256, &[1024; 4], Activation::Relu, Output::Binary),
            batch: 256,
            data: random_data(1024, 256),
        });
    }
    c
}

/// Times whole epochs: one warm-up, then `reps`.
fn epochs(reps: usize, mut epoch: impl FnMut() -> Result<(), BenchError>) -> Result<Vec<f64>, BenchError> {
    epoch()?;
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            epoch()?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

/// Two steps on `engine` against the reference from the same weights: the largest loss difference.
fn validate(engine: &mut dyn Engine, case: &Case, cfg: TrainConfig, order: &[u32]) -> Result<f64, BenchError> {
    let params = Params::init(&case.spec, 0);
    let mut cpu = CpuEngine::new(&case.spec, &params, &case.data, &case.data, cfg)?;
    engine.set_params(&params)?;
    engine.begin_epoch(order)?;
    cpu.begin_epoch(order)?;
    let steps = batches_per_epoch(case.data.len(), case.batch).min(2);
    let (g, c) = (engine.train_batches(0, steps)?, cpu.train_batches(0, steps)?);
    let err = g.iter().zip(&c).map(|(a, b)| (a.loss - b.loss).abs()).fold(0.0, f64::max);
    // Losses of order 1 after two f32 steps agree to ~1e-6; 1e-4 leaves room and still catches a bug.
    if err > 1e-4 {
        return Err(BenchError::Invalid {
            what: format!("{} training", engine.name()),
            detail: format!("loss differs by {err:e}"),
        });
    }
    engine.set_params(&params)?;
    Ok(err)
}

pub fn training_section(gpu: &Gpu, opts: &BenchOptions) -> Result<Vec<TrainingRow>, BenchError> {
    let mut rows = Vec::new();
    let reps = if opts.quick { 3 } else { 5 };
    for case in cases(opts) {
        let cfg = TrainConfig::new(Optimizer::adam(1e-3), case.batch);
        let n = case.data.len();
        let steps = batches_per_epoch(n, case.batch);
        let order: Vec<u32> = EpochOrders::new(n, 0, true).next_epoch();
        let params = Params::init(&case.spec, 0);
        let row =
            |path: &str, models: usize, times: &[f64], timing: Option<crate::gpu::TrainTiming>, read: u64, err: f64| {
                let per_step = Spread::of(times).map(|t| t / steps as f64 * 1e6);
                let per_call = |v: f64| timing.map_or(f64::NAN, |t| v / t.steps.max(1) as f64 * 1e6);
                TrainingRow {
                    model: case.name.into(),
                    batch: case.batch,
                    path: path.into(),
                    models,
                    us_per_step: per_step,
                    samples_per_s: (models * n) as f64 / (per_step.median * steps as f64 * 1e-6),
                    model_steps_per_s: models as f64 / (per_step.median * 1e-6),
                    dispatches_per_step: timing.map_or(f64::NAN, |t| t.dispatches as f64 / t.steps.max(1) as f64),
                    record_us_per_step: per_call(timing.map_or(0.0, |t| t.record_s)),
                    submit_wait_us_per_step: per_call(timing.map_or(0.0, |t| t.submit_wait_s)),
                    readback_bytes_per_epoch: read,
                    validation_error: err,
                }
            };
        let mut layered = LayeredEngine::new(gpu, &case.spec, &params, &case.data, &case.data, cfg)?;
        let err = validate(&mut layered, &case, cfg, &order)?;
        // The timing columns describe training, not validation: lavapipe compiles (or loads from its
        // cache) a pipeline at its first dispatch, which validation pays.
        layered.take_timing();
        layered.begin_epoch(&order)?;
        let before = gpu.counters().bytes_read_back;
        let times = epochs(reps, || {
            layered.train_batches(0, steps)?;
            Ok(())
        })?;
        let read = (gpu.counters().bytes_read_back - before) / (reps as u64 + 1);
        let timing = layered.take_timing();
        rows.push(row("layered", 1, &times, Some(timing), read, err));
        let classes = fused_shape(gpu, &case.spec).map(KernelClass::Fused).into_iter().chain([KernelClass::Tiled]);
        for class in classes {
            // 32 models in one batch, or as many as the executor's layer table and memory budget hold
            let one =
                ModelJob { spec: case.spec.clone(), params: params.clone(), train: &case.data, test: &case.data, cfg };
            let by_memory = batch_budget(gpu) / job_bytes(&one, class).max(1);
            let batch = 32.min(MAX_LAYERS / case.spec.num_layers()).min(by_memory as usize);
            let counts: &[usize] = if batch > 1 { &[1, batch] } else { &[1] };
            for &models in counts {
                let jobs: Vec<ModelJob<'_>> = (0..models as u64)
                    .map(|s| ModelJob {
                        spec: case.spec.clone(),
                        params: Params::init(&case.spec, s),
                        train: &case.data,
                        test: &case.data,
                        cfg,
                    })
                    .collect();
                let mut executor = Executor::new(gpu, &jobs, class)?;
                let err = if models == 1 { validate(&mut executor, &case, cfg, &order)? } else { f64::NAN };
                let orders: Vec<Vec<u32>> =
                    (0..models as u64).map(|s| EpochOrders::new(n, s, true).next_epoch()).collect();
                BatchEngine::begin_epoch(&mut executor, &orders)?;
                let work = Work { steps: Some((0, steps)), ..Default::default() };
                let before = gpu.counters();
                let times = epochs(reps, || {
                    executor.run(&work)?;
                    Ok(())
                })?;
                let after = gpu.counters();
                let read = (after.bytes_read_back - before.bytes_read_back) / (reps as u64 + 1);
                let dispatches = (after.dispatches - before.dispatches) as f64 / ((reps + 1) * steps) as f64;
                let name = match models {
                    1 => class.name().to_string(),
                    _ => format!("{}, {models} models", class.name()),
                };
                let mut r = row(&name, models, &times, None, read, err);
                r.dispatches_per_step = dispatches;
                rows.push(r);
            }
        }
        // The reference is f64 and single-threaded: one timed epoch is enough to place it.
        let mut cpu = CpuEngine::new(&case.spec, &params, &case.data, &case.data, cfg)?;
        cpu.begin_epoch(&order)?;
        let cpu_steps = if case.spec.max_width() > 64 { 1 } else { steps };
        let start = Instant::now();
        cpu.train_batches(0, cpu_steps)?;
        let t = start.elapsed().as_secs_f64() * steps as f64 / cpu_steps as f64;
        let mut r = row("cpu reference (f64)", 1, &[t], None, 0, 0.0);
        r.dispatches_per_step = 0.0;
        rows.push(r);
    }
    Ok(rows)
}
