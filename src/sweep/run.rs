//! Running a sweep: every configuration of the grid (or of one shard) that the output folder does not
//! already hold, one engine per run from a caller-supplied factory (so one `Gpu`, and its compiled
//! pipelines, serves the whole sweep), each finished run saved at once as its own file. Given a GPU,
//! runs that can share a fused dispatch train together (`batched.rs`), with the same records.

use std::collections::HashMap;
use std::time::Instant;

use super::SweepError;
use super::batched::{batchable, fused_on, run_group};
use super::boundary::decision_boundary;
use super::grid::{RunConfig, Shard};
use super::record::{EvalNumbers, RunRecord};
use super::settings::Settings;
use super::store::Store;
use crate::data::Dataset;
use crate::engine::{Engine, EngineError, Split, TrainConfig, batches_per_epoch};
use crate::gpu::Gpu;
use crate::model::{Activation, MlpSpec, Output, Params};
use crate::train::{TrainError, TrainOptions, interrupted, train};

/// Builds the engine for one run: `(spec, initial params, train, test, config)`.
pub type EngineFactory<'a, 'g> =
    dyn FnMut(&MlpSpec, &Params, &Dataset, &Dataset, TrainConfig) -> Result<Box<dyn Engine + 'g>, EngineError> + 'a;

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
        batch_norm: config.batch_norm,
        init: config.init,
        ..MlpSpec::new(features, &vec![config.width; config.depth], Activation::Identity, Output::for_classes(classes))
    }
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
/// just computed or resumed). With `gpu`, runs that take the fused path and share a seed, shape and
/// optimiser train together, sharing each fused dispatch.
pub fn run_sweep<'g>(
    store: &Store,
    settings: &Settings,
    shard: Option<Shard>,
    gpu: Option<&'g Gpu>,
    make_engine: &mut EngineFactory<'_, 'g>,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<Vec<RunRecord>, SweepError> {
    settings.validate()?;
    let all = settings.grid.expand();
    let showcase = showcase(&all);
    let boundary = |c: &RunConfig| c.seed == 0 && showcase.contains(&c.group_id());
    let mine: Vec<&RunConfig> =
        all.iter().enumerate().filter(|(i, _)| shard.is_none_or(|s| s.contains(*i))).map(|(_, c)| c).collect();
    let total = mine.len();
    let mut data: HashMap<u64, (Dataset, Dataset)> = HashMap::new();
    let mut done = vec![false; total];
    let mut finished = 0;
    for k in 0..total {
        if done[k] {
            continue;
        }
        if interrupted() {
            return Err(SweepError::Interrupted { done: finished, total });
        }
        let start = Instant::now();
        let config = mine[k];
        if store.load(&config.id()).is_some() {
            done[k] = true;
            finished += 1;
            on_event(&RunEvent { done: finished, total, id: config.id(), skipped: true, seconds: 0.0 });
            continue;
        }
        let (train_set, test_set) = match data.entry(config.seed) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(settings.data.load(config.seed)?),
        };
        // This run and the later ones of the shard that can share its dispatch, not yet in the folder.
        let mut group = vec![k];
        if let Some(gpu) = gpu.filter(|g| fused_on(g, config, settings, train_set)) {
            group.extend(
                (k + 1..total)
                    .filter(|&j| !done[j] && batchable(config, mine[j]) && store.load(&mine[j].id()).is_none()),
            );
            group.retain(|&j| fused_on(gpu, mine[j], settings, train_set));
        }
        let records = match gpu {
            Some(gpu) if group.len() > 1 => {
                let configs: Vec<&RunConfig> = group.iter().map(|&j| mine[j]).collect();
                run_group(gpu, &configs, settings, (train_set, test_set), make_engine, &boundary)
            }
            _ => run_one(config, settings, train_set, test_set, make_engine, boundary(config)).map(|r| vec![r]),
        };
        let records = match records {
            // The runs in flight stopped early: they are not complete, so they are not saved.
            Err(SweepError::Interrupted { .. }) => return Err(SweepError::Interrupted { done: finished, total }),
            other => other?,
        };
        let seconds = start.elapsed().as_secs_f64() / records.len() as f64;
        for (&j, record) in group.iter().zip(&records) {
            store.save(record)?;
            done[j] = true;
            finished += 1;
            on_event(&RunEvent { done: finished, total, id: record.config.id(), skipped: false, seconds });
        }
    }
    mine.iter()
        .map(|c| {
            store
                .load(&c.id())
                .ok_or_else(|| SweepError::Invalid(format!("run {} vanished from the output folder", c.id())))
        })
        .collect()
}

/// One run: initial evaluation, training with probes after each epoch, and the record.
pub fn run_one<'g>(
    config: &RunConfig,
    settings: &Settings,
    train_set: &Dataset,
    test_set: &Dataset,
    make_engine: &mut EngineFactory<'_, 'g>,
    boundary: bool,
) -> Result<RunRecord, SweepError> {
    let spec = spec_for(config, train_set.features, train_set.classes);
    spec.validate().map_err(SweepError::Invalid)?;
    let params = Params::init(&spec, config.seed);
    let cfg = TrainConfig { optimizer: config.optimizer.with_lr(settings.lr), batch_size: settings.batch_size };
    let has_test = !test_set.is_empty();
    let steps_per_epoch = batches_per_epoch(train_set.len(), settings.batch_size);
    let mut engine = make_engine(&spec, &params, train_set, test_set, cfg)?;
    let eval_train = engine.evaluate(Split::Train)?;
    let eval_test = if has_test { Some(engine.evaluate(Split::Test)?) } else { None };
    let init_eval = EvalNumbers::from_results(&eval_train, eval_test.as_ref());
    let opts = TrainOptions { epochs: settings.epochs, seed: config.seed, probe_every: None, has_test };
    let mut record = match train(engine.as_mut(), train_set.len(), settings.batch_size, &opts, &mut |_| {}) {
        Ok(history) if history.interrupted => return Err(SweepError::Interrupted { done: 0, total: 1 }),
        Ok(history) => RunRecord::from_history(config.clone(), &spec, &history, Some(init_eval), steps_per_epoch),
        Err(TrainError::Diverged { loss, epoch, step, batch }) => {
            // Keep what was measured at initialisation, from a fresh engine, and say why it stops there.
            engine = make_engine(&spec, &params, train_set, test_set, cfg)?;
            let at_init = TrainOptions { epochs: 0, ..opts };
            let history = train(engine.as_mut(), train_set.len(), settings.batch_size, &at_init, &mut |_| {})?;
            let mut r = RunRecord::from_history(config.clone(), &spec, &history, Some(init_eval), steps_per_epoch);
            r.diverged = Some(format!("the loss became {loss} at epoch {epoch}, step {step} (batch {batch})"));
            r
        }
        Err(e) => return Err(e.into()),
    };
    if boundary {
        record.boundary = decision_boundary(&spec, &engine.params()?, train_set);
    }
    Ok(record)
}
