//! Running a sweep: every configuration of the grid (or of one shard) that the output folder does not
//! already hold, trained in the batches the backend makes of them (on a GPU, every narrow run of a
//! width class shares one fused dispatch stream, whatever its depth, activation, batch norm, init,
//! seed or optimiser), each finished run saved at once as its own file.

use std::collections::HashMap;
use web_time::Instant;

use super::SweepError;
use super::boundary::decision_boundary;
use super::grid::{RunConfig, Shard};
use super::record::{EvalNumbers, RunRecord};
use super::settings::Settings;
use super::store::RunStore;
use crate::data::Dataset;
use crate::engine::{Backend, ModelJob, TrainConfig, batches_per_epoch};
use crate::memory;
use crate::model::{Activation, MlpSpec, Output, Params};
use crate::train::{
    Between, History, Pace, TrainError, TrainOptions, Trained, hold_point, interrupted, train_batch_async,
};

/// Plots draw one line per group while there are at most this many groups, else one per family at
/// its deepest depth.
pub const MAX_LINES: usize = 8;

/// The groups (runs minus the seed) that the per-layer plots, heatmaps, loss curves and decision
/// boundaries show, in grid order: all of them when few, else each family's deepest.
pub fn showcase<'a>(configs: impl IntoIterator<Item = &'a RunConfig>) -> Vec<String> {
    let configs: Vec<&RunConfig> = configs.into_iter().collect();
    let mut groups: Vec<String> = Vec::new();
    for c in &configs {
        if !groups.contains(&c.group_id()) {
            groups.push(c.group_id());
        }
    }
    if groups.len() <= MAX_LINES {
        return groups;
    }
    let mut deepest: Vec<(String, usize, String)> = Vec::new(); // (family, depth, group)
    for c in &configs {
        match deepest.iter_mut().find(|(f, _, _)| *f == c.family_id()) {
            Some(entry) if entry.1 < c.depth => *entry = (c.family_id(), c.depth, c.group_id()),
            Some(_) => {}
            None => deepest.push((c.family_id(), c.depth, c.group_id())),
        }
    }
    deepest.into_iter().map(|(_, _, g)| g).collect()
}

/// The network of `config` for a dataset with `features` inputs and `classes` classes.
pub fn spec_for(config: &RunConfig, features: usize, classes: usize) -> MlpSpec {
    MlpSpec {
        activations: vec![config.activation; config.depth],
        norm: config.norm,
        init: config.init,
        residual: config.residual,
        ..MlpSpec::new(features, &vec![config.width; config.depth], Activation::Identity, Output::for_classes(classes))
    }
}

/// The record of a finished run: its history and evaluation at initialisation; a diverged run keeps
/// what was measured at initialisation and says where the loss stopped being finite. `train` is the
/// data it trained on.
pub fn record_of(
    config: RunConfig,
    spec: &MlpSpec,
    trained: &Trained,
    steps_per_epoch: usize,
    train: &Dataset,
) -> RunRecord {
    let sizes = (steps_per_epoch, Some(train.mean_square()));
    let init_eval = EvalNumbers::from_results(&trained.init_train, trained.init_test.as_ref());
    match &trained.diverged {
        Some(TrainError::Diverged { loss, epoch, step, batch }) => {
            let history = History {
                probes: trained.history.probes[..1].to_vec(),
                epochs: Vec::new(),
                batch_losses: Vec::new(),
                ..trained.history.clone()
            };
            let mut r = RunRecord::from_history(config, spec, &history, Some(init_eval), sizes);
            r.diverged = Some(format!("the loss became {loss} at epoch {epoch}, step {step} (batch {batch})"));
            r
        }
        _ => RunRecord::from_history(config, spec, &trained.history, Some(init_eval), sizes),
    }
}

/// A finished run as a report record, with its decision boundary (from `last`, its final weights)
/// for 2-D data.
pub fn record_run(
    spec: &MlpSpec,
    (cfg, seed): (TrainConfig, u64),
    trained: &Trained,
    last: &Params,
    train_set: &Dataset,
) -> RunRecord {
    let config = RunConfig { clip: cfg.clip_grad_norm, ..RunConfig::from_spec(spec, cfg.optimizer, seed) };
    let steps = batches_per_epoch(train_set.len(), cfg.batch_size);
    let mut record = record_of(config, spec, trained, steps, train_set);
    record.boundary = decision_boundary(spec, last, train_set);
    record
}

/// Progress of a sweep, after each run.
#[derive(Clone, Debug)]
pub struct RunEvent {
    /// Runs of this shard finished so far (this one included), and their number.
    pub done: usize,
    pub total: usize,
    pub id: String,
    /// Already in the output folder (a resumed sweep).
    pub skipped: bool,
    /// Wall time of this run (of its batch, divided by the runs in it).
    pub seconds: f64,
}

/// Runs this shard's part of `settings`' grid into `store`, skipping runs already there, and returns
/// every run of the shard as read back from its file (so outputs never depend on whether a run was
/// just computed or resumed). The runs still to do train in the batches `backend` makes of them.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_sweep(
    store: &super::store::Store,
    settings: &Settings,
    shard: Option<Shard>,
    backend: &dyn Backend,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<Vec<RunRecord>, SweepError> {
    // As `train_batch`: Ctrl-C or SIGTERM stop the runs in flight after their current chunk of steps.
    let mut between = |look: &crate::train::Look<'_>| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        hold_point("STEPS", look.progress.step);
        Box::pin(std::future::ready(interrupted()))
    };
    crate::engine::block_on(run_sweep_async(store, settings, shard, backend, on_event, &mut between))
}

/// `run_sweep` for a driver that must not block (a web page, into a `MemoryStore`): the same runs,
/// every engine answer awaited and `between` awaited after each chunk of steps.
pub async fn run_sweep_async(
    store: &dyn RunStore,
    settings: &Settings,
    shard: Option<Shard>,
    backend: &dyn Backend,
    on_event: &mut dyn FnMut(&RunEvent),
    between: &mut Between<'_>,
) -> Result<Vec<RunRecord>, SweepError> {
    settings.validate()?;
    let all = settings.grid.expand();
    let showcase = showcase(&all);
    let boundary = |c: &RunConfig| c.seed == 0 && showcase.contains(&c.group_id());
    let mine: Vec<&RunConfig> =
        all.iter().enumerate().filter(|(i, _)| shard.is_none_or(|s| s.contains(*i))).map(|(_, c)| c).collect();
    let total = mine.len();
    let mut finished = 0;
    let mut todo = Vec::new();
    for config in &mine {
        if store.load(config).is_some() {
            finished += 1;
            on_event(&RunEvent { done: finished, total, id: config.id(), skipped: true, seconds: 0.0 });
        } else {
            todo.push(*config);
        }
    }
    let mut data: HashMap<u64, (Dataset, Dataset)> = HashMap::new();
    for c in &todo {
        if let std::collections::hash_map::Entry::Vacant(e) = data.entry(c.seed) {
            e.insert(settings.data.load(c.seed)?);
        }
    }
    let mut specs = Vec::with_capacity(todo.len());
    for c in &todo {
        let train_set = &data[&c.seed].0;
        let spec = spec_for(c, train_set.features, train_set.classes);
        spec.validate().map_err(SweepError::Invalid)?;
        specs.push(spec);
    }
    check_memory(&specs, &data)?;
    let mut jobs = Vec::with_capacity(todo.len());
    for (c, spec) in todo.iter().zip(&specs) {
        let (train_set, test_set) = &data[&c.seed];
        let cfg = TrainConfig {
            optimizer: c.optimizer.with_lr(settings.lr),
            batch_size: settings.batch_size,
            clip_grad_norm: c.clip,
        };
        jobs.push(ModelJob {
            params: Params::init(spec, c.seed),
            spec: spec.clone(),
            train: train_set,
            test: test_set,
            cfg,
        });
    }
    for batch in backend.batches(&jobs)? {
        if interrupted() {
            return Err(SweepError::Interrupted { done: finished, total });
        }
        let start = Instant::now();
        let batch_jobs: Vec<ModelJob<'_>> = batch.iter().map(|&j| jobs[j].clone()).collect();
        let mut engine = backend.build(&batch_jobs)?;
        let train_rows = batch_jobs[0].train.len();
        let opts: Vec<TrainOptions> = batch
            .iter()
            .map(|&j| TrainOptions {
                epochs: settings.epochs,
                seed: todo[j].seed,
                shuffle: true,
                probe_every: None,
                has_test: !jobs[j].test.is_empty(),
            })
            .collect();
        let trained =
            train_batch_async(engine.as_mut(), train_rows, Pace::batch(settings.batch_size), &opts, between).await?;
        if trained.iter().any(|t| t.history.interrupted) {
            // The runs in flight stopped early: they are not complete, so they are not saved.
            return Err(SweepError::Interrupted { done: finished, total });
        }
        let finals = if batch.iter().any(|&j| boundary(todo[j])) { Some(engine.params_async().await?) } else { None };
        let steps_per_epoch = batches_per_epoch(train_rows, settings.batch_size);
        let seconds = start.elapsed().as_secs_f64() / batch.len() as f64;
        let records: Vec<RunRecord> = batch
            .iter()
            .zip(&trained)
            .enumerate()
            .map(|(k, (&j, t))| {
                let mut record = record_of(todo[j].clone(), &specs[j], t, steps_per_epoch, jobs[j].train);
                if boundary(todo[j]) {
                    let params = match (&t.diverged, &finals) {
                        (None, Some(finals)) => &finals[k],
                        _ => &jobs[j].params,
                    };
                    record.boundary = decision_boundary(&specs[j], params, jobs[j].train);
                }
                record
            })
            .collect();
        store.save_all(&records)?;
        for record in &records {
            finished += 1;
            on_event(&RunEvent { done: finished, total, id: record.config.id(), skipped: false, seconds });
        }
        hold_point("RUNS", finished);
    }
    mine.iter()
        .map(|c| {
            store.load(c).ok_or_else(|| SweepError::Invalid(format!("run {} vanished from the output folder", c.id())))
        })
        .collect()
}

/// Refuses a sweep whose runs the host cannot hold: every run still to do keeps its initial weights (f32)
/// until it trains, and the largest one trains on an engine of its own (counted as the reference's,
/// the larger of the two).
fn check_memory(specs: &[MlpSpec], data: &HashMap<u64, (Dataset, Dataset)>) -> Result<(), SweepError> {
    let rows = data.values().map(|(train, test)| train.len() + test.len()).max().unwrap_or(0);
    let weights = specs.iter().try_fold(0u64, |sum, s| sum.checked_add(memory::param_count(s)?.checked_mul(4)?));
    let largest = specs.iter().try_fold(0u64, |m, s| Some(m.max(memory::model_bytes(s, rows, memory::Holder::Cpu)?)));
    let bytes = weights.zip(largest).and_then(|(w, l)| w.checked_add(l));
    memory::check_host(&format!("the sweep's {} runs", specs.len()), bytes).map_err(SweepError::Invalid)
}
