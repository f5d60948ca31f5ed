//! Runs of a sweep trained together: runs that share a seed (so their data and epoch order), a shape
//! and an optimiser, and differ only in activation or initialisation, train as one `ModelBatch`, one
//! model per workgroup of one fused dispatch. Each run's record is the one it would get alone on the
//! fused path: `ModelBatch` takes exactly a fused `GpuEngine`'s steps, and after every epoch each
//! run's weights go to an engine of its own for the evaluation and the probe.

use super::SweepError;
use super::boundary::decision_boundary;
use super::grid::RunConfig;
use super::record::{EvalNumbers, RunRecord};
use super::run::{EngineFactory, spec_for};
use super::settings::Settings;
use crate::data::Dataset;
use crate::engine::{Engine, Split, TrainConfig, batches_per_epoch};
use crate::gpu::fused::auto_kernel;
use crate::gpu::{Gpu, ModelBatch, fused_by_default};
use crate::model::{MlpSpec, Params};
use crate::train::{History, TrainError, epoch_order, epoch_record, interrupted, probe_record, start_history};

/// Whether `a` and `b` can train in one dispatch: same seed, depth, width, batch norm and optimiser.
pub fn batchable(a: &RunConfig, b: &RunConfig) -> bool {
    a.seed == b.seed
        && a.depth == b.depth
        && a.width == b.width
        && a.batch_norm == b.batch_norm
        && a.optimizer == b.optimizer
}

/// Whether runs of `config`'s shape train on the fused path by default on `gpu`, the one path a model
/// batch reproduces.
pub fn fused_on(gpu: &Gpu, config: &RunConfig, settings: &Settings, train_set: &Dataset) -> bool {
    let spec = spec_for(config, train_set.features, train_set.classes);
    spec.validate().is_ok() && fused_by_default(gpu, &spec, settings.batch_size)
}

/// One run of the group while it trains.
struct Member<'e> {
    config: RunConfig,
    spec: MlpSpec,
    init: Params,
    engine: Box<dyn Engine + 'e>,
    init_eval: EvalNumbers,
    history: History,
    prev: Params,
    /// Why this run stopped early (the loss became non-finite), as the single-run path words it.
    diverged: Option<TrainError>,
}

/// Trains `configs` (all `batchable` with each other) together; returns their records in order.
/// `boundary(config)` says whose decision boundary the report shows.
pub fn run_group<'g>(
    gpu: &'g Gpu,
    configs: &[&RunConfig],
    settings: &Settings,
    (train_set, test_set): (&Dataset, &Dataset),
    make_engine: &mut EngineFactory<'_, 'g>,
    boundary: &dyn Fn(&RunConfig) -> bool,
) -> Result<Vec<RunRecord>, SweepError> {
    let cfg = TrainConfig { optimizer: configs[0].optimizer.with_lr(settings.lr), batch_size: settings.batch_size };
    let has_test = !test_set.is_empty();
    let rows = train_set.len();
    let steps_per_epoch = batches_per_epoch(rows, settings.batch_size);
    let mut members = Vec::new();
    for &config in configs {
        let spec = spec_for(config, train_set.features, train_set.classes);
        spec.validate().map_err(SweepError::Invalid)?;
        let init = Params::init(&spec, config.seed);
        let mut engine = make_engine(&spec, &init, train_set, test_set, cfg)?;
        let eval_train = engine.evaluate(Split::Train)?;
        let eval_test = if has_test { Some(engine.evaluate(Split::Test)?) } else { None };
        let init_eval = EvalNumbers::from_results(&eval_train, eval_test.as_ref());
        let history = start_history(engine.as_mut())?;
        let prev = init.clone();
        members.push(Member { config: config.clone(), spec, init, engine, init_eval, history, prev, diverged: None });
    }
    let specs: Vec<MlpSpec> = members.iter().map(|m| m.spec.clone()).collect();
    let inits: Vec<Params> = members.iter().map(|m| m.init.clone()).collect();
    let model_steps = (members.len() * settings.epochs * steps_per_epoch) as u64;
    let kernel = auto_kernel(gpu, &specs[0], model_steps);
    let mut batch = ModelBatch::new(gpu, kernel, &specs, &inits, train_set, cfg)?;
    // Every run of the group has the same seed, so the same epoch orders.
    let orders = epoch_order(rows, configs[0].seed, settings.epochs);
    for (e, order) in orders.iter().enumerate() {
        if interrupted() {
            return Err(SweepError::Interrupted { done: 0, total: configs.len() });
        }
        let results = batch.train_epoch(&vec![order.clone(); members.len()])?;
        let trained = batch.params()?;
        for ((m, results), params) in members.iter_mut().zip(results).zip(trained) {
            if m.diverged.is_some() {
                continue;
            }
            if let Some((i, r)) = results.iter().enumerate().find(|(_, r)| !r.loss.is_finite()) {
                let step = e * steps_per_epoch + i + 1;
                m.diverged = Some(TrainError::Diverged { loss: r.loss, epoch: e + 1, step, batch: i });
                continue;
            }
            m.history.batch_losses.extend(results.iter().map(|r| r.loss));
            let loss_sum: f64 = results.iter().map(|r| r.loss * r.rows as f64).sum();
            let correct: usize = results.iter().map(|r| r.correct).sum();
            m.engine.set_params(&params)?;
            let record = epoch_record(m.engine.as_mut(), e + 1, (loss_sum, correct), rows, has_test)?;
            m.history.epochs.push(record);
            let probe = probe_record(m.engine.as_mut(), &mut m.prev, e + 1, (e + 1) * steps_per_epoch)?;
            m.history.probes.push(probe);
        }
    }
    members
        .into_iter()
        .map(|mut m| {
            let mut record = match m.diverged {
                None => {
                    RunRecord::from_history(m.config.clone(), &m.spec, &m.history, Some(m.init_eval), steps_per_epoch)
                }
                Some(TrainError::Diverged { loss, epoch, step, batch }) => {
                    // As a single run: keep what was measured at initialisation, and say why it stops there.
                    m.engine.set_params(&m.init)?;
                    let history = start_history(m.engine.as_mut())?;
                    let mut r = RunRecord::from_history(
                        m.config.clone(),
                        &m.spec,
                        &history,
                        Some(m.init_eval),
                        steps_per_epoch,
                    );
                    r.diverged = Some(format!("the loss became {loss} at epoch {epoch}, step {step} (batch {batch})"));
                    r
                }
                Some(other) => return Err(other.into()),
            };
            if boundary(&m.config) {
                record.boundary = decision_boundary(&m.spec, &m.engine.params()?, train_set);
            }
            Ok(record)
        })
        .collect()
}
