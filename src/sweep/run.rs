//! Running a sweep: every configuration of the grid (or of one shard) that the output folder does not
//! already hold, trained in the batches the backend makes of them (on a GPU, every narrow run of a
//! width class shares one fused dispatch stream, whatever its depth, activation, batch norm, init,
//! seed or optimiser), each finished run saved at once as its own file.

use std::collections::HashMap;
use web_time::Instant;

use super::SweepError;
use super::grid::Shard;
use super::settings::Settings;
use super::store::RunStore;
use crate::data::{Dataset, Files};
use crate::engine::{Backend, ModelJob, batches_per_epoch};
use crate::interrupt::{hold_point, interrupted};
use crate::memory;
use crate::memory::Holder;
use crate::model::{Output, Params};
use crate::record::boundary::decision_boundary;
use crate::record::{RunConfig, RunRecord, record_of, showcase, spec_for};
use crate::train::{BetweenChunks, Pace, TrainOptions, train_batch_async};

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
    let mut between = |look: &crate::train::Interim<'_>| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        hold_point("STEPS", look.progress.step);
        Box::pin(std::future::ready(interrupted()))
    };
    crate::engine::block_on(run_sweep_async(
        store,
        settings,
        &crate::data::Disk,
        shard,
        backend,
        on_event,
        &mut between,
    ))
}

/// `run_sweep` for a driver that must not block (a web page, into a `MemoryStore`, its data from the
/// files the visitor picked): the same runs, every engine answer awaited and `between` awaited after
/// each chunk of steps.
pub async fn run_sweep_async(
    store: &dyn RunStore,
    settings: &Settings,
    files: &dyn Files,
    shard: Option<Shard>,
    backend: &dyn Backend,
    on_event: &mut dyn FnMut(&RunEvent),
    between: &mut BetweenChunks<'_>,
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
            e.insert(settings.data.load_from(files, c.seed)?);
        }
    }
    check_memory(&todo, &data, settings)?;
    let mut specs = Vec::with_capacity(todo.len());
    for c in &todo {
        let train_set = &data[&c.seed].0;
        let spec = spec_for(c, train_set.features, Output::of(settings.output, train_set.classes));
        spec.validate().map_err(SweepError::Invalid)?;
        specs.push(spec);
    }
    let mut jobs = Vec::with_capacity(todo.len());
    for (c, spec) in todo.iter().zip(&specs) {
        let (train_set, test_set) = &data[&c.seed];
        let cfg = settings.train_config(&c.optimizer, c.clip);
        jobs.push(ModelJob {
            params: Params::init(spec, c.seed),
            spec: spec.clone(),
            train: train_set,
            test: test_set,
            cfg,
        });
    }
    for planned in backend.plan(&jobs)? {
        if interrupted() {
            return Err(SweepError::Interrupted { done: finished, total });
        }
        let start = Instant::now();
        let batch = planned.members();
        let batch_jobs: Vec<ModelJob<'_>> = batch.iter().map(|&j| jobs[j].clone()).collect();
        let mut engine = planned.build(&batch_jobs)?;
        let train_rows = batch_jobs[0].train.len();
        let opts: Vec<TrainOptions> = batch
            .iter()
            .map(|&j| TrainOptions {
                epochs: settings.epochs,
                seed: todo[j].seed,
                shuffle: true,
                probe_every: None,
                has_test: !jobs[j].test.is_empty(),
                max_steps: settings.steps,
                measure_every: settings.measure_every,
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

/// Refuses a sweep whose runs the host cannot hold, counted from their configurations before any
/// network is built: every run still to do keeps its network and initial weights (f32) until it trains,
/// and the largest one trains on an engine of its own (counted as the reference's, the larger of the two).
fn check_memory(
    todo: &[&RunConfig],
    data: &HashMap<u64, (Dataset, Dataset)>,
    settings: &Settings,
) -> Result<(), SweepError> {
    let rows = data.values().map(|(train, test)| train.len() + test.len()).max().unwrap_or(0);
    let layers = |c: &RunConfig| {
        let train = &data[&c.seed].0;
        let output = Output::of(settings.output, train.classes).width();
        memory::network(train.features as u64, c.width as u64, c.depth as u64, output as u64, c.norm)
    };
    // Each kept run: its initial weights, its spec's per-layer lists (widths, activations), and its
    // record: every step's loss, and per epoch every layer's numbers.
    let kept = |c: &RunConfig| {
        let weights = memory::layers_params(layers(c))?.checked_mul(4)?;
        let (steps, epochs) = settings.steps_and_epochs(data[&c.seed].0.len())?;
        let record = memory::history_bytes(steps as u64, (epochs as u64).checked_add(1)?, c.depth as u64 + 1, 0)?;
        weights.checked_add((c.depth as u64).checked_mul(32)?)?.checked_add(record)
    };
    let all = todo.iter().try_fold(0u64, |sum, c| sum.checked_add(kept(c)?));
    let largest = todo.iter().try_fold(0u64, |m, c| Some(m.max(memory::layers_bytes(layers(c), rows, Holder::Cpu)?)));
    let bytes = all.zip(largest).and_then(|(w, l)| w.checked_add(l));
    memory::check_host(&format!("the sweep's {} runs", todo.len()), bytes).map_err(SweepError::Invalid)
}
