//! The one training loop, over a `BatchEngine`: every model of the batch trains its epochs in its own
//! seeded order, is probed at initialisation, every `probe_every` steps and after each epoch, and is
//! evaluated at initialisation and after each epoch. Each call into the engine carries a chunk of
//! steps with the probe and evaluations that follow it, so a GPU engine runs it as a few submits and
//! one readback. A model whose loss stops being finite stops being recorded; the others go on.

use rand::seq::SliceRandom;
use thiserror::Error;

use super::history::{EpochRecord, History, ProbeRecord};
use crate::engine::{BatchEngine, BatchResult, Each, Engine, EngineError, Measured, Outcome, Work, batches_per_epoch};
use crate::rng::{Stream, rng};

use super::interrupt::{hold_point, interrupted};

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
    /// Whether each epoch shuffles the rows; `false` trains them in data order (`shuffle=False`, to replay a
    /// run from another framework step for step).
    pub shuffle: bool,
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

/// What training gave one model of a batch.
#[derive(Debug)]
pub struct Trained {
    /// The probes, epochs and batch losses up to the end (or up to the last finite loss).
    pub history: History,
    /// The evaluation at initialisation: the training split and, when it has rows, the test split.
    pub init_train: BatchResult,
    pub init_test: Option<BatchResult>,
    /// `TrainError::Diverged` when the loss stopped being finite; `history` then ends before it.
    pub diverged: Option<TrainError>,
}

/// The order of the training rows in each epoch: one seeded shuffle stream for the whole run, so
/// both engines, and every rerun, see the same batches; data order in every epoch without `shuffle`.
pub fn epoch_order(rows: usize, seed: u64, epochs: usize, shuffle: bool) -> Vec<Vec<u32>> {
    let mut r = rng(seed, Stream::Shuffle);
    (0..epochs)
        .map(|_| {
            let mut order: Vec<u32> = (0..rows as u32).collect();
            if shuffle {
                order.shuffle(&mut r);
            }
            order
        })
        .collect()
}

fn probe_record(epoch: usize, step: usize, m: Measured) -> ProbeRecord {
    ProbeRecord { epoch, step, probe: m.probe, update_ratio: m.update_ratio }
}

fn missing(what: &str) -> EngineError {
    EngineError::Invalid(format!("the engine returned no {what}"))
}

/// Trains every model of `engine` for `opts[m].epochs` epochs on `train_rows` rows in batches of
/// `batch_size` (the same for every model; the seeds, and so the epoch orders, may differ).
pub fn train_batch(
    engine: &mut dyn BatchEngine,
    train_rows: usize,
    batch_size: usize,
    opts: &[TrainOptions],
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Trained>, TrainError> {
    let models = engine.len();
    if opts.len() != models || models == 0 {
        return Err(EngineError::Invalid(format!("{} training options for {models} models", opts.len())).into());
    }
    let (epochs, probe_every) = (opts[0].epochs, opts[0].probe_every);
    if opts.iter().any(|o| o.epochs != epochs || o.probe_every != probe_every) {
        return Err(EngineError::Invalid("the models of one batch train the same epochs and probes".into()).into());
    }
    let steps_per_epoch = batches_per_epoch(train_rows, batch_size);
    let total_steps = steps_per_epoch * epochs;
    let name = engine.name();
    let init = engine.run(&Work { steps: None, probe: true, evaluate: true })?;
    let mut runs = Vec::with_capacity(models);
    for out in init {
        let Outcome { probe, eval_train, eval_test, .. } = out;
        runs.push(Trained {
            history: History {
                engine: name.clone(),
                probes: vec![probe_record(0, 0, probe.ok_or_else(|| missing("probe"))?)],
                epochs: Vec::new(),
                batch_losses: Vec::new(),
                grad_norms: Vec::new(),
                interrupted: false,
            },
            init_train: eval_train.ok_or_else(|| missing("evaluation"))?,
            init_test: eval_test,
            diverged: None,
        });
    }
    let orders: Vec<Vec<Vec<u32>>> = opts.iter().map(|o| epoch_order(train_rows, o.seed, epochs, o.shuffle)).collect();
    let chunk = probe_every.unwrap_or(steps_per_epoch).max(1);
    let mut step = 0;
    for e in 0..epochs {
        engine.begin_epoch(&orders.iter().map(|o| o[e].clone()).collect::<Vec<_>>())?;
        let mut sums = vec![(0.0, 0usize); models];
        let mut b = 0;
        while b < steps_per_epoch {
            // Stop at the next multiple of probe_every, counted in steps over the whole run.
            let count = (chunk - step % chunk).min(steps_per_epoch - b).min(MAX_STEPS_BETWEEN_CHECKS);
            let end_of_epoch = b + count == steps_per_epoch;
            let probe = end_of_epoch || probe_every.is_some_and(|p| (step + count) % p == 0);
            let outcomes = engine.run(&Work { steps: Some((b, count)), probe, evaluate: end_of_epoch })?;
            for ((run, out), sum) in runs.iter_mut().zip(outcomes).zip(&mut sums) {
                if run.diverged.is_some() {
                    continue;
                }
                if let Some((i, r)) = out.batches.iter().enumerate().find(|(_, r)| !r.loss.is_finite()) {
                    run.history.batch_losses.extend(out.batches[..i].iter().map(|r| r.loss));
                    run.history.grad_norms.extend(out.batches[..i].iter().filter_map(|r| r.grad_norm));
                    let (loss, batch) = (r.loss, b + i);
                    run.diverged = Some(TrainError::Diverged { loss, epoch: e + 1, step: step + i + 1, batch });
                    continue;
                }
                for r in &out.batches {
                    sum.0 += r.loss * r.rows as f64;
                    sum.1 += r.correct;
                    run.history.batch_losses.push(r.loss);
                    run.history.grad_norms.extend(r.grad_norm);
                }
                if end_of_epoch {
                    let eval_train = out.eval_train.ok_or_else(|| missing("evaluation"))?;
                    run.history.epochs.push(EpochRecord {
                        epoch: e + 1,
                        train_loss: sum.0 / train_rows as f64,
                        train_acc: sum.1 as f64 / train_rows as f64,
                        eval_train_loss: eval_train.loss,
                        eval_train_acc: eval_train.correct as f64 / eval_train.rows as f64,
                        test_loss: out.eval_test.map(|t| t.loss),
                        test_acc: out.eval_test.map(|t| t.correct as f64 / t.rows as f64),
                    });
                }
                if let Some(m) = out.probe {
                    run.history.probes.push(probe_record(e + usize::from(end_of_epoch), step + count, m));
                }
            }
            b += count;
            step += count;
            let last_loss = runs[0].history.batch_losses.last().copied().unwrap_or(f64::NAN);
            on_progress(Progress { step, total_steps, epoch: e + 1, last_loss });
            hold_point("STEPS", step);
            if interrupted() {
                for run in &mut runs {
                    run.history.interrupted = true;
                }
                return Ok(runs);
            }
            if runs.iter().all(|r| r.diverged.is_some()) {
                return Ok(runs);
            }
        }
    }
    Ok(runs)
}

/// Trains one `engine` (holding `train_rows` training rows) for `opts.epochs` epochs: a batch of one.
/// A diverging run is an error.
pub fn train(
    engine: &mut dyn Engine,
    train_rows: usize,
    batch_size: usize,
    opts: &TrainOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<History, TrainError> {
    let mut batch = Each::of(engine)?;
    let run = train_batch(&mut batch, train_rows, batch_size, std::slice::from_ref(opts), on_progress)?
        .pop()
        .expect("one model");
    match run.diverged {
        Some(e) => Err(e),
        None => Ok(run.history),
    }
}
