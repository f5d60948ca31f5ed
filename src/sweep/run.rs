//! Running a sweep: every configuration of the grid (or of one shard) that the output folder does not
//! already hold, one engine per run from a caller-supplied factory (so one `Gpu`, and its compiled
//! pipelines, serves the whole sweep), each finished run saved at once as its own file.

use std::collections::HashMap;
use std::time::Instant;

use super::SweepError;
use super::boundary::decision_boundary;
use super::grid::{RunConfig, Shard};
use super::record::{EvalNumbers, RunRecord};
use super::settings::Settings;
use super::store::Store;
use crate::data::Dataset;
use crate::engine::{Engine, EngineError, Split, TrainConfig, batches_per_epoch};
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
    /// 1-based position among this shard's runs, and their number.
    pub done: usize,
    pub total: usize,
    pub id: String,
    /// Already in the output folder (a resumed sweep).
    pub skipped: bool,
    pub seconds: f64,
}

/// Runs this shard's part of `settings`' grid into `store`, skipping runs already there, and returns
/// every run of the shard as read back from its file (so outputs never depend on whether a run was
/// just computed or resumed).
pub fn run_sweep<'g>(
    store: &Store,
    settings: &Settings,
    shard: Option<Shard>,
    make_engine: &mut EngineFactory<'_, 'g>,
    on_event: &mut dyn FnMut(&RunEvent),
) -> Result<Vec<RunRecord>, SweepError> {
    settings.validate()?;
    let all = settings.grid.expand();
    let showcase = showcase(&all);
    let mine: Vec<&RunConfig> =
        all.iter().enumerate().filter(|(i, _)| shard.is_none_or(|s| s.contains(*i))).map(|(_, c)| c).collect();
    let mut data: HashMap<u64, (Dataset, Dataset)> = HashMap::new();
    for (k, config) in mine.iter().enumerate() {
        if interrupted() {
            return Err(SweepError::Interrupted { done: k, total: mine.len() });
        }
        let start = Instant::now();
        let id = config.id();
        let skipped = store.load(&id).is_some();
        if !skipped {
            let (train_set, test_set) = match data.entry(config.seed) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(settings.data.load(config.seed)?),
            };
            let boundary = config.seed == 0 && showcase.contains(&config.group_id());
            let record = match run_one(config, settings, train_set, test_set, make_engine, boundary) {
                // The run in flight stopped early: it is not complete, so it is not saved.
                Err(SweepError::Interrupted { .. }) => {
                    return Err(SweepError::Interrupted { done: k, total: mine.len() });
                }
                other => other?,
            };
            store.save(&record)?;
        }
        on_event(&RunEvent { done: k + 1, total: mine.len(), id, skipped, seconds: start.elapsed().as_secs_f64() });
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
