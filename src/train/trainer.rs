//! The training loop over any `Engine`.

use rand::seq::SliceRandom;
use thiserror::Error;

use super::history::{EpochRecord, History, ProbeRecord};
use crate::engine::{Engine, EngineError, Split, batches_per_epoch};
use crate::model::Params;
use crate::rng::{Stream, rng};

use super::interrupt::interrupted;

/// The most steps trained between two checks for Ctrl-C.
const MAX_STEPS_BETWEEN_CHECKS: usize = 64;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "training diverged: the loss became {loss} at epoch {epoch}, step {step} (batch {batch} of the epoch); \
         try a smaller learning rate, batch norm, or a different initialisation"
    )]
    Diverged { loss: f64, epoch: usize, step: usize, batch: usize },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TrainOptions {
    pub epochs: usize,
    /// Seeds the epoch order (`Stream::Shuffle`).
    pub seed: u64,
    /// Probe the training set every N optimiser steps, besides at initialisation and after each epoch.
    pub probe_every: Option<usize>,
    /// Whether the test split has rows to evaluate.
    pub has_test: bool,
}

/// Where a run is, for progress bars.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    pub last_loss: f64,
}

/// The order of the training rows in each epoch: one seeded shuffle stream for the whole run, so
/// both engines, and every rerun, see the same batches.
pub fn epoch_order(rows: usize, seed: u64, epochs: usize) -> Vec<Vec<u32>> {
    let mut r = rng(seed, Stream::Shuffle);
    (0..epochs)
        .map(|_| {
            let mut order: Vec<u32> = (0..rows as u32).collect();
            order.shuffle(&mut r);
            order
        })
        .collect()
}

fn update_ratio(engine: &dyn Engine, prev: &Params, now: &Params) -> Vec<f64> {
    (0..engine.spec().num_layers())
        .map(|i| {
            let (a, b) = (prev.weight(i), now.weight(i));
            let diff: f64 = a.iter().zip(b).map(|(x, y)| ((y - x) as f64).powi(2)).sum::<f64>().sqrt();
            let base: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            if base > 0.0 { diff / base } else { 0.0 }
        })
        .collect()
}

/// A history holding the probe at initialisation.
pub fn start_history(engine: &mut dyn Engine) -> Result<History, TrainError> {
    Ok(History {
        engine: engine.name(),
        probes: vec![ProbeRecord {
            epoch: 0,
            step: 0,
            probe: engine.probe(Split::Train)?,
            update_ratio: vec![0.0; engine.spec().num_layers()],
        }],
        epochs: Vec::new(),
        batch_losses: Vec::new(),
        interrupted: false,
    })
}

/// A probe of the training set after `epoch` epochs and `step` steps, with each layer's update ratio
/// since `prev`, which becomes the weights now.
pub fn probe_record(
    engine: &mut dyn Engine,
    prev: &mut Params,
    epoch: usize,
    step: usize,
) -> Result<ProbeRecord, TrainError> {
    let now = engine.params()?;
    let record =
        ProbeRecord { epoch, step, probe: engine.probe(Split::Train)?, update_ratio: update_ratio(engine, prev, &now) };
    *prev = now;
    Ok(record)
}

/// The record of `epoch` (1-based) from its batches as trained (`loss_sum` weighted by rows, `correct`)
/// and an evaluation of the engine's weights now.
pub fn epoch_record(
    engine: &mut dyn Engine,
    epoch: usize,
    (loss_sum, correct): (f64, usize),
    train_rows: usize,
    has_test: bool,
) -> Result<EpochRecord, TrainError> {
    let eval_train = engine.evaluate(Split::Train)?;
    let test = if has_test { Some(engine.evaluate(Split::Test)?) } else { None };
    Ok(EpochRecord {
        epoch,
        train_loss: loss_sum / train_rows as f64,
        train_acc: correct as f64 / train_rows as f64,
        eval_train_loss: eval_train.loss,
        eval_train_acc: eval_train.correct as f64 / eval_train.rows as f64,
        test_loss: test.map(|t| t.loss),
        test_acc: test.map(|t| t.correct as f64 / t.rows as f64),
    })
}

/// Trains `engine` (holding `train_rows` training rows) for `opts.epochs` epochs.
pub fn train(
    engine: &mut dyn Engine,
    train_rows: usize,
    batch_size: usize,
    opts: &TrainOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<History, TrainError> {
    let steps_per_epoch = batches_per_epoch(train_rows, batch_size);
    let total_steps = steps_per_epoch * opts.epochs;
    let mut prev = engine.params()?;
    let mut history = start_history(engine)?;
    let chunk = opts.probe_every.unwrap_or(steps_per_epoch).max(1);
    // Steps submitted between checks for Ctrl-C: few enough to stop promptly, many enough that the
    // per-call readback stays negligible.
    let max_call = MAX_STEPS_BETWEEN_CHECKS;
    let mut step = 0;
    for (e, order) in epoch_order(train_rows, opts.seed, opts.epochs).into_iter().enumerate() {
        engine.begin_epoch(&order)?;
        let (mut loss_sum, mut correct) = (0.0, 0);
        let mut b = 0;
        while b < steps_per_epoch {
            // Stop at the next multiple of probe_every, counted in steps over the whole run.
            let count = (chunk - step % chunk).min(steps_per_epoch - b).min(max_call);
            let results = engine.train_batches(b, count)?;
            for (i, r) in results.iter().enumerate() {
                if !r.loss.is_finite() {
                    return Err(TrainError::Diverged { loss: r.loss, epoch: e + 1, step: step + i + 1, batch: b + i });
                }
                loss_sum += r.loss * r.rows as f64;
                correct += r.correct;
                history.batch_losses.push(r.loss);
            }
            b += count;
            step += count;
            on_progress(Progress {
                step,
                total_steps,
                epoch: e + 1,
                last_loss: results.last().map_or(f64::NAN, |r| r.loss),
            });
            if interrupted() {
                history.interrupted = true;
                return Ok(history);
            }
            if opts.probe_every.is_some_and(|p| step % p == 0) && b < steps_per_epoch {
                history.probes.push(probe_record(engine, &mut prev, e, step)?);
            }
        }
        history.epochs.push(epoch_record(engine, e + 1, (loss_sum, correct), train_rows, opts.has_test)?);
        history.probes.push(probe_record(engine, &mut prev, e + 1, step)?);
    }
    Ok(history)
}
