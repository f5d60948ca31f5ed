//! The one training loop, over a `BatchEngine`: every model of the batch trains its epochs in its own
//! seeded order, is probed at initialisation, every `probe_every` steps and after each epoch, and is
//! evaluated at initialisation and after each epoch. Each call into the engine carries the probe and
//! evaluations of where the call before it left the models, then a chunk of steps, so a GPU engine runs
//! it as one submit and one readback, and may measure while it trains (`Work::measure_first`). A model
//! whose loss stops being finite stops being recorded; the others go on.

use rand::seq::SliceRandom;
use thiserror::Error;

use super::history::{EpochRecord, History, ProbeRecord};
use crate::engine::{BatchEngine, BatchResult, EngineError, Measured, Outcome, Work, batches_per_epoch};
#[cfg(not(target_arch = "wasm32"))]
use crate::engine::{Engine, OneAtATime};
use crate::model::Params;
use crate::rng::{Stream, rng};

use crate::interrupt::{hold_point, interrupted};

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
    /// A divergence whose likely cause is the data or the starting weights, not the learning rate.
    #[error("training diverged: the loss became {loss} at epoch {epoch}, step {step}; {cause}")]
    DivergedOnInputs { loss: f64, epoch: usize, step: usize, cause: String },
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
    /// Stop after this many optimiser steps (`--steps`), inside an epoch if need be: the last, partial
    /// epoch is then measured and recorded like a whole one, its training loss and accuracy over the rows
    /// it trained. `None`: `epochs` whole epochs (and no `max_steps` in `metrics.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Probe and evaluate after every E-th epoch and the last (`sweep --measure-every E`) instead of after
    /// each: a long run of short epochs (full-batch gradient descent) spends most of its time measuring.
    /// `None`: every epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure_every: Option<usize>,
}

impl TrainOptions {
    /// The epochs a run of `steps_per_epoch` steps per epoch trains, the last partial with `max_steps`.
    pub fn epochs_for(&self, steps_per_epoch: usize) -> usize {
        match self.max_steps {
            Some(n) if steps_per_epoch > 0 => n.div_ceil(steps_per_epoch),
            Some(_) => 0,
            None => self.epochs,
        }
    }
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

/// The order of the training rows in each epoch, one epoch at a time: one seeded shuffle stream for the
/// whole run, so both engines, and every rerun, see the same batches; data order in every epoch
/// without `shuffle`. (Made as each epoch begins: a long run's orders would not fit in memory at once.)
pub struct EpochOrders {
    rows: usize,
    shuffle: bool,
    rng: rand_chacha::ChaCha8Rng,
}

impl EpochOrders {
    pub fn new(rows: usize, seed: u64, shuffle: bool) -> Self {
        EpochOrders { rows, shuffle, rng: rng(seed, Stream::Shuffle) }
    }

    /// The next epoch's order.
    pub fn next_epoch(&mut self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.rows as u32).collect();
        if self.shuffle {
            order.shuffle(&mut self.rng);
        }
        order
    }
}

fn probe_record(epoch: usize, step: usize, m: Measured) -> ProbeRecord {
    ProbeRecord { epoch, step, probe: m.probe, update_ratio: m.update_ratio }
}

fn missing(what: &str) -> EngineError {
    EngineError::Invalid(format!("the engine returned no {what}"))
}

/// What the engine runs next: start an epoch with these orders (one per model) first, where given,
/// then `work`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub begin_epoch: Option<Vec<Vec<u32>>>,
    pub work: Work,
}

/// The steps of a request: a chunk `count` long that ends the epoch or not.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    count: usize,
    end_of_epoch: bool,
}

/// A measurement the loop owes the histories, taken by the next request before its steps (so that an
/// engine may take it while it trains them): the one at initialisation, or the probe after a chunk of
/// steps labelled `epoch` and `step`, with the epoch's record when the chunk ended one.
#[derive(Clone, Debug)]
enum Owed {
    Init,
    After { epoch: usize, step: usize, epoch_end: Option<EpochEnd> },
}

/// An epoch whose record waits for its evaluation: its number (from 1) and each model's summed batch
/// loss × rows, correct count and rows trained.
#[derive(Clone, Debug)]
struct EpochEnd {
    epoch: usize,
    sums: Vec<(f64, usize, usize)>,
}

/// The request in flight: what it measures first, then its steps.
#[derive(Clone, Debug)]
struct Pending {
    measure: Option<Owed>,
    chunk: Option<Chunk>,
}

/// The training loop as a state machine that never calls the engine itself: `next_request` says what to run,
/// `absorb` takes what the engine returned. `train_batch` drives it with the native engines' blocking
/// calls; a driver that must not block (WebGPU in a browser) awaits each run between the two instead.
/// Either way the loop — chunking, probes, evaluations, divergence per model — is this one. Each
/// request measures what the one before it left (`Work::measure_first`) and then trains the next chunk;
/// the last measures alone.
pub struct BatchTrainer {
    engine: String,
    steps_per_epoch: usize,
    total_steps: usize,
    epochs: usize,
    probe_every: Option<usize>,
    /// `TrainOptions::measure_every`, 1 for every epoch.
    measure_every: usize,
    chunk: usize,
    orders: Vec<EpochOrders>,
    runs: Vec<Trained>,
    /// Where training is: epoch `epoch` (0-based), batch `b` of it, `step` steps over the whole run.
    epoch: usize,
    b: usize,
    step: usize,
    /// The epoch's summed batch loss × rows, correct count and rows trained, per model.
    sums: Vec<(f64, usize, usize)>,
    /// The measurement the next request takes first.
    owed: Option<Owed>,
    /// The request in flight.
    pending: Option<Pending>,
    done: bool,
    /// The most steps one request carries.
    max_steps: usize,
}

impl BatchTrainer {
    /// A loop for `models` models (named `engine` in their histories) training `opts[m].epochs` epochs
    /// on `train_rows` rows in batches of `batch_size` (the same for every model; the seeds, and so the
    /// epoch orders, may differ).
    pub fn new(
        engine: String,
        models: usize,
        train_rows: usize,
        batch_size: usize,
        opts: &[TrainOptions],
    ) -> Result<Self, TrainError> {
        if opts.len() != models || models == 0 {
            return Err(EngineError::Invalid(format!("{} training options for {models} models", opts.len())).into());
        }
        let (max_steps, probe_every, measure_every) = (opts[0].max_steps, opts[0].probe_every, opts[0].measure_every);
        let steps_per_epoch = batches_per_epoch(train_rows, batch_size);
        let epochs = opts[0].epochs_for(steps_per_epoch);
        if opts.iter().any(|o| {
            o.epochs_for(steps_per_epoch) != epochs
                || o.max_steps != max_steps
                || o.probe_every != probe_every
                || o.measure_every != measure_every
        }) {
            return Err(EngineError::Invalid("the models of one batch train the same epochs and probes".into()).into());
        }
        if probe_every.is_some() && measure_every.is_some() {
            // A probe inside an unmeasured epoch would have no evaluation to record beside it.
            return Err(EngineError::Invalid(
                "probes every N steps and measurements every E epochs do not combine".into(),
            )
            .into());
        }
        let whole = steps_per_epoch.checked_mul(epochs).ok_or_else(|| {
            EngineError::Invalid(format!("{epochs} epochs of {steps_per_epoch} steps: too many steps"))
        })?;
        let total_steps = max_steps.map_or(whole, |n| n.min(whole));
        Ok(BatchTrainer {
            engine,
            steps_per_epoch,
            total_steps,
            epochs,
            probe_every,
            measure_every: measure_every.unwrap_or(1).max(1),
            chunk: probe_every.unwrap_or(steps_per_epoch).max(1),
            orders: opts.iter().map(|o| EpochOrders::new(train_rows, o.seed, o.shuffle)).collect(),
            runs: Vec::with_capacity(models),
            epoch: 0,
            b: 0,
            step: 0,
            sums: vec![(0.0, 0, 0); models],
            owed: Some(Owed::Init),
            pending: None,
            done: false,
            max_steps: MAX_STEPS_BETWEEN_CHECKS,
        })
    }

    /// What the engine runs next, or `None` when training is over (every epoch done and measured, every
    /// model diverged, or `stop` called — after `stop`, one more request measures where the last chunk
    /// left the models, if a probe was due there, so the histories end with complete epochs). Each
    /// request must be answered by `absorb` before the next.
    pub fn next_request(&mut self) -> Option<Request> {
        assert!(self.pending.is_none(), "absorb the engine's answer to the last request first");
        if self.epoch >= self.epochs || self.steps_per_epoch == 0 {
            self.done = true;
        }
        if self.done && !self.runs.is_empty() && self.runs.iter().all(|r| r.diverged.is_some()) {
            self.owed = None; // nobody to record it for
        }
        let measure = self.owed.take();
        let chunk = (!self.done).then(|| {
            // Stop at the next multiple of probe_every, counted in steps over the whole run.
            let (b, step) = (self.b, self.step);
            let count = (self.chunk - step % self.chunk)
                .min(self.steps_per_epoch - b)
                .min(self.max_steps)
                .min(self.total_steps - step);
            // The last step of a run ends its epoch, whole or not (`--steps`).
            Chunk { count, end_of_epoch: b + count == self.steps_per_epoch || step + count == self.total_steps }
        });
        if measure.is_none() && chunk.is_none() {
            return None;
        }
        let begin_epoch =
            chunk.filter(|_| self.b == 0).map(|_| self.orders.iter_mut().map(EpochOrders::next_epoch).collect());
        let evaluate = match &measure {
            Some(Owed::Init) => true,
            Some(Owed::After { epoch_end, .. }) => epoch_end.is_some(),
            None => false,
        };
        let work = Work {
            steps: chunk.map(|c| (self.b, c.count)),
            probe: measure.is_some(),
            evaluate,
            measure_first: measure.is_some(),
        };
        self.pending = Some(Pending { measure, chunk });
        Some(Request { begin_epoch, work })
    }

    /// Takes the engine's answer to the last request; says where training is after a chunk of steps
    /// (`None` after a request that only measured).
    pub fn absorb(&mut self, outcomes: Vec<Outcome>) -> Result<Option<Progress>, TrainError> {
        let Pending { measure, chunk } = self.pending.take().expect("a request in flight");
        if outcomes.len() != self.sums.len() {
            return Err(missing("outcome for every model").into());
        }
        match measure {
            Some(Owed::Init) => {
                for out in &outcomes {
                    self.runs.push(Trained {
                        history: History {
                            engine: self.engine.clone(),
                            probes: vec![probe_record(0, 0, out.probe.clone().ok_or_else(|| missing("probe"))?)],
                            epochs: Vec::new(),
                            batch_losses: Vec::new(),
                            grad_norms: Vec::new(),
                            interrupted: false,
                        },
                        init_train: out.eval_train.ok_or_else(|| missing("evaluation"))?,
                        init_test: out.eval_test,
                        diverged: None,
                    });
                }
            }
            Some(Owed::After { epoch, step, epoch_end }) => {
                for (m, (run, out)) in self.runs.iter_mut().zip(&outcomes).enumerate() {
                    if run.diverged.is_some() {
                        continue;
                    }
                    if let Some(end) = &epoch_end {
                        let eval_train = out.eval_train.ok_or_else(|| missing("evaluation"))?;
                        let (loss, correct, rows) = end.sums[m];
                        let rows = rows.max(1) as f64;
                        run.history.epochs.push(EpochRecord {
                            epoch: end.epoch,
                            train_loss: loss / rows,
                            train_acc: correct as f64 / rows,
                            eval_train_loss: eval_train.loss,
                            eval_train_acc: eval_train.correct as f64 / eval_train.rows as f64,
                            test_loss: out.eval_test.map(|t| t.loss),
                            test_acc: out.eval_test.map(|t| t.correct as f64 / t.rows as f64),
                        });
                    }
                    let m = out.probe.clone().ok_or_else(|| missing("probe"))?;
                    run.history.probes.push(probe_record(epoch, step, m));
                }
            }
            None => {}
        }
        let Some(Chunk { count, end_of_epoch }) = chunk else {
            return Ok(None);
        };
        if self.b == 0 {
            self.sums.iter_mut().for_each(|s| *s = (0.0, 0, 0));
        }
        let (e, b, step) = (self.epoch, self.b, self.step);
        for ((run, out), sum) in self.runs.iter_mut().zip(outcomes).zip(&mut self.sums) {
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
                sum.2 += r.rows;
                run.history.batch_losses.push(r.loss);
                run.history.grad_norms.extend(r.grad_norm);
            }
        }
        // The epoch's end is measured every `measure_every` epochs and at the run's last step.
        let measured_end =
            end_of_epoch && ((e + 1).is_multiple_of(self.measure_every) || step + count == self.total_steps);
        let probe = measured_end || self.probe_every.is_some_and(|p| (step + count).is_multiple_of(p));
        if probe {
            let epoch_end = measured_end.then(|| EpochEnd { epoch: e + 1, sums: self.sums.clone() });
            self.owed = Some(Owed::After { epoch: e + usize::from(end_of_epoch), step: step + count, epoch_end });
        }
        self.step += count;
        self.b += count;
        if end_of_epoch {
            (self.epoch, self.b) = (self.epoch + 1, 0);
        }
        if self.runs.iter().all(|r| r.diverged.is_some()) {
            self.done = true;
        }
        let last_loss = self.runs[0].history.batch_losses.last().copied().unwrap_or(f64::NAN);
        Ok(Some(Progress { step: self.step, total_steps: self.total_steps, epoch: e + 1, last_loss }))
    }

    /// Ends training where it is (Ctrl-C, a stop button): what is complete is kept (a measurement due
    /// after the last chunk is still taken, by one more request; with `measure_every` the last measured
    /// epoch may be a few before the last trained), and every history says it was interrupted.
    pub fn stop(&mut self) {
        for run in &mut self.runs {
            run.history.interrupted = true;
        }
        self.done = true;
    }

    /// What training gave each model.
    pub fn finish(self) -> Vec<Trained> {
        self.runs
    }
}

/// Where training stands between two chunks of steps: what the driver is shown (a page redraws its plots
/// from it).
pub struct Interim<'a> {
    pub progress: Progress,
    /// Every model's history so far: its batch losses to the chunk just trained, its probes and epoch
    /// records to the chunk before (each chunk's end is measured by the call that trains the next).
    pub histories: &'a [Trained],
    /// Every model's parameters now, where the pace asks for them (`Pace::read_params`).
    pub params: Option<&'a [Params]>,
}

/// What the driver awaits after every chunk of steps, shown the `Interim`: `true` to stop.
pub type BetweenChunks<'a> = dyn FnMut(&Interim<'_>) -> Answer + 'a;

/// How a non-blocking run is paced: its batch size, at most how many steps between two looks (`None`:
/// as few engine calls as the trainer needs), and whether each look reads the parameters back.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub batch_size: usize,
    pub steps_per_look: Option<usize>,
    pub read_params: bool,
}

impl Pace {
    /// Batches of `batch_size`, nothing more.
    pub fn batch(batch_size: usize) -> Self {
        Pace { batch_size, steps_per_look: None, read_params: false }
    }
}

/// Trains every model of `engine` for `opts[m].epochs` epochs on `train_rows` rows: `BatchTrainer`
/// driven with each engine answer awaited (`BatchEngine::run_async`) and, after every chunk of steps
/// (paced by `pace`), `between(interim)` awaited — a web page yields to its event loop and redraws
/// there, so it stays responsive and shows the run as it trains. Stops where `between` says `true`.
pub async fn train_batch_async(
    engine: &mut dyn BatchEngine,
    train_rows: usize,
    pace: Pace,
    opts: &[TrainOptions],
    between: &mut BetweenChunks<'_>,
) -> Result<Vec<Trained>, TrainError> {
    let mut trainer = BatchTrainer::new(engine.name(), engine.len(), train_rows, pace.batch_size, opts)?;
    if let Some(n) = pace.steps_per_look {
        trainer.max_steps = n.clamp(1, MAX_STEPS_BETWEEN_CHECKS);
    }
    while let Some(request) = trainer.next_request() {
        if let Some(orders) = &request.begin_epoch {
            engine.begin_epoch(orders)?;
        }
        let outcomes = engine.run_async(&request.work).await?;
        if let Some(progress) = trainer.absorb(outcomes)? {
            let params = if pace.read_params { Some(engine.params_async().await?) } else { None };
            let interim = Interim { progress, histories: &trainer.runs, params: params.as_deref() };
            if between(&interim).await {
                trainer.stop();
            }
        }
    }
    Ok(trainer.finish())
}

/// `train_batch_async` driven natively, blocking: `on_progress` after every chunk, stopping at Ctrl-C or
/// SIGTERM (and, for tests, holding where `VANISH_TEST_HOLD_AFTER_STEPS` says).
#[cfg(not(target_arch = "wasm32"))]
pub fn train_batch(
    engine: &mut dyn BatchEngine,
    train_rows: usize,
    batch_size: usize,
    opts: &[TrainOptions],
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Trained>, TrainError> {
    let mut between = native_between(on_progress);
    crate::engine::block_on(train_batch_async(engine, train_rows, Pace::batch(batch_size), opts, &mut between))
}

/// What a native, blocking driver does between chunks: report progress, hold for a test's signal, and
/// stop once a stop signal has arrived.
pub fn native_between<'a>(on_progress: &'a mut dyn FnMut(Progress)) -> impl FnMut(&Interim<'_>) -> Answer + 'a {
    move |interim: &Interim<'_>| {
        on_progress(interim.progress);
        hold_point("STEPS", interim.progress.step);
        Box::pin(std::future::ready(interrupted()))
    }
}

/// What `BetweenChunks` returns: whether to stop, once awaited.
pub type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = bool>>>;

/// Trains one `engine` (holding `train_rows` training rows) for `opts.epochs` epochs: a batch of one.
/// A diverging run is an error.
#[cfg(not(target_arch = "wasm32"))]
pub fn train(
    engine: &mut dyn Engine,
    train_rows: usize,
    batch_size: usize,
    opts: &TrainOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<History, TrainError> {
    let mut batch = OneAtATime::of(engine)?;
    let run = train_batch(&mut batch, train_rows, batch_size, std::slice::from_ref(opts), on_progress)?
        .pop()
        .expect("one model");
    match run.diverged {
        Some(e) => Err(e),
        None => Ok(run.history),
    }
}
