//! `train::run`: one network trained as `vanish train` and the page's Train button both train it — the
//! settings checked, the engine built on the backend given, the epochs run through the one training loop
//! with `between` awaited after every chunk of steps, the final weights read back, and the run's
//! `metrics.json` assembled. What to do with the result (files, the page's downloads) is the caller's.

use serde::Serialize;

use super::History;
use super::settings::TrainSettings;
use super::trainer::{BetweenChunks, Pace, TrainError, TrainOptions, Trained, train_batch_async};
use crate::data::Dataset;
use crate::engine::{Backend, Counters, EngineError, ModelJob, TrainConfig, clip_scale};
use crate::memory::{Holder, check_host, history_bytes, model_bytes};
use crate::model::{MlpSpec, Params};

/// The run's settings, as `metrics.json`'s `config`.
#[derive(Serialize)]
pub struct TrainRun<'a> {
    pub dataset: &'a str,
    pub train_rows: usize,
    pub test_rows: usize,
    pub spec: &'a MlpSpec,
    pub train: TrainConfig,
    pub options: &'a TrainOptions,
}

/// `metrics.json`: the settings, the whole history and what the run cost.
#[derive(Serialize)]
pub struct TrainOutput<'a> {
    pub config: TrainRun<'a>,
    pub history: &'a History,
    /// With `--clip-grad-norm`: the fraction of steps whose gradient norm was over the limit (so scaled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipped_fraction: Option<f64>,
    /// Pipelines compiled, submits and bytes read back by the whole command.
    pub counters: Counters,
}

/// What `run` gives back: the run as trained, its final weights and what it cost.
pub struct TrainResult {
    pub dataset: String,
    pub train_rows: usize,
    pub test_rows: usize,
    pub spec: MlpSpec,
    pub cfg: TrainConfig,
    pub options: TrainOptions,
    pub trained: Trained,
    /// The weights at the end (at the last complete step of an interrupted run).
    pub last: Params,
    pub counters: Counters,
}

impl TrainResult {
    /// `metrics.json`'s object.
    pub fn output(&self) -> TrainOutput<'_> {
        TrainOutput {
            config: TrainRun {
                dataset: &self.dataset,
                train_rows: self.train_rows,
                test_rows: self.test_rows,
                spec: &self.spec,
                train: self.cfg,
                options: &self.options,
            },
            history: &self.trained.history,
            clipped_fraction: clipped_fraction(self.cfg, &self.trained.history),
            counters: self.counters,
        }
    }
}

/// With clipping, the fraction of `history`'s steps whose gradient norm was over the limit.
pub fn clipped_fraction(cfg: TrainConfig, history: &History) -> Option<f64> {
    cfg.clip_grad_norm.map(|max| {
        let clipped = history.grad_norms.iter().filter(|&&n| clip_scale(max, n) < 1.0).count();
        clipped as f64 / history.grad_norms.len().max(1) as f64
    })
}

/// Inputs or starting weights this large make a divergence theirs rather than the learning rate's.
const HUGE: f64 = 1e6;

/// `e`, pointing at the data or the starting weights where either is huge (a learning rate would not help).
fn blame_inputs(e: TrainError, params: &Params, train: &Dataset) -> TrainError {
    let TrainError::Diverged { loss, epoch, step, .. } = e else { return e };
    let largest = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold((0usize, 0f64), |m, (i, x)| if (x.abs() as f64) > m.1 { (i, x.abs() as f64) } else { m })
    };
    let (at, x) = largest(&train.x);
    let (_, w) = largest(&params.values);
    let cause = if x > HUGE {
        let column = train.feature_names.get(at % train.features.max(1)).cloned().unwrap_or_default();
        format!(
            "the inputs reach {} (feature `{column}`): standardise them (--standardize) or rescale the data",
            crate::text::number(x)
        )
    } else if w > HUGE {
        format!("the starting weights reach {}: check the --load file or the --init scale", crate::text::number(w))
    } else {
        return e;
    };
    TrainError::DivergedOnInputs { loss, epoch, step, cause }
}

/// The job `settings` describe on `(train, test)`: its network and seeded initial weights, refused
/// before anything is allocated when the host cannot hold it on `holder`'s engine.
pub fn job<'d>(
    settings: &TrainSettings,
    (train, test): (&'d Dataset, &'d Dataset),
    holder: Holder,
) -> Result<ModelJob<'d>, String> {
    let spec = settings.spec(train)?;
    let rows = train.len() + test.len();
    let steps = settings.total_steps(train.len()).map(|s| s as u64);
    let epochs = settings.epochs_on(train.len());
    let probes = steps
        .and_then(|s| (epochs as u64).checked_add(1)?.checked_add(settings.probe_every.map_or(0, |p| s / p as u64)));
    let history = steps
        .zip(probes)
        .and_then(|(s, p)| history_bytes(s, p, spec.num_layers() as u64, (spec.input * spec.hidden[0]) as u64));
    let bytes = model_bytes(&spec, rows, holder).zip(history).and_then(|(m, h)| m.checked_add(h));
    check_host(&format!("the model {} trained {} epoch(s)", spec.describe(), epochs), bytes)?;
    Ok(ModelJob { params: Params::init(&spec, settings.seed), spec, train, test, cfg: settings.config() })
}

/// Trains `job` (usually `job(settings, data)`, or weights loaded from a file) as `settings` say on
/// `backend`, pacing the loop with `pace` and awaiting `between` after every chunk of steps (which
/// stops the run where it says `true`: the result then holds what completed and says it was
/// interrupted). A run whose loss stops being finite is `TrainError::Diverged`.
pub async fn run(
    backend: &dyn Backend,
    settings: &TrainSettings,
    job: ModelJob<'_>,
    pace: Pace,
    between: &mut BetweenChunks<'_>,
) -> Result<TrainResult, TrainError> {
    settings.validate().map_err(EngineError::Invalid)?;
    let (train, test) = (job.train, job.test);
    let mut engine = backend.plan_one(&job)?.build(std::slice::from_ref(&job))?;
    let options = TrainOptions {
        // what the run records: with --steps, the epochs its steps span
        epochs: settings.epochs_on(train.len()),
        seed: settings.seed,
        shuffle: settings.shuffle,
        probe_every: settings.probe_every,
        has_test: !test.is_empty(),
        max_steps: settings.steps,
        measure_every: None,
    };
    let pace = Pace { batch_size: job.cfg.batch_size, ..pace };
    let mut trained =
        train_batch_async(engine.as_mut(), train.len(), pace, std::slice::from_ref(&options), between).await?.remove(0);
    if let Some(e) = trained.diverged.take() {
        return Err(blame_inputs(e, &job.params, train));
    }
    let last = engine.params_async().await?.remove(0);
    Ok(TrainResult {
        dataset: settings.data.dataset.clone(),
        train_rows: train.len(),
        test_rows: test.len(),
        spec: job.spec,
        cfg: job.cfg,
        options,
        trained,
        last,
        counters: backend.counters(),
    })
}
