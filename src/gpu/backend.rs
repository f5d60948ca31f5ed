//! The GPU backend: which path each model takes, decided once by `plan`, and the engines for
//! batches of models — the fused executor for narrow models, the layered engine (one model at a
//! time) for the rest. Nothing is built for a path that is not taken.

use std::sync::Mutex;

use super::fused::{FusedExecutor, KernelClass, KernelFeatures, fused_fits, pack};
use super::{Gpu, LayeredEngine};
use crate::engine::{Backend, BatchEngine, Counters, Engine, EngineError, ModelJob, OneAtATime};

/// The largest batch size the automatic choice gives the fused path: one workgroup per model cannot
/// use a whole GPU (or more than one core of lavapipe) on large batches, where the layered path's many
/// workgroups win.
pub const FUSED_AUTO_MAX_BATCH: usize = 128;

/// Which path the caller asks for (`--path`); `plan` turns it into the path a model takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainPath {
    /// The fused executor for narrow models (every width ≤ 64) at batch ≤ 128, layered otherwise
    #[default]
    Auto,
    /// One dispatch per kernel per layer
    Layered,
    /// Whole steps, probes and evaluations in one dispatch stream (every width ≤ 64)
    Fused,
}

/// The path a model takes on the GPU, decided once by `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The fused executor, in a batch of this kernel class.
    Fused(KernelClass),
    /// One dispatch per kernel per layer.
    Layered,
}

/// The one decision of which path `spec` takes at `batch_size` on `gpu`, given `request`; an error
/// says why a forced fused path cannot run the model.
pub fn plan(gpu: &Gpu, job: &ModelJob<'_>, request: TrainPath) -> Result<Plan, EngineError> {
    let fits = fused_fits(gpu, &job.spec);
    match request {
        TrainPath::Layered => Ok(Plan::Layered),
        TrainPath::Fused => fits
            .map(Plan::Fused)
            .map_err(|why| EngineError::Invalid(format!("the fused path cannot run this model: {why}"))),
        TrainPath::Auto => Ok(match fits {
            Ok(class) if job.cfg.batch_size <= FUSED_AUTO_MAX_BATCH => Plan::Fused(class),
            _ => Plan::Layered,
        }),
    }
}

impl Plan {
    /// How an engine on this path names itself: `gpu: ADAPTER, fused path`.
    pub fn engine_name(self, gpu: &Gpu) -> String {
        engine_name(
            gpu,
            match self {
                Plan::Fused(_) => "fused",
                Plan::Layered => "layered",
            },
        )
    }
}

/// `gpu: ADAPTER, PATH path`: every GPU engine's name.
pub(crate) fn engine_name(gpu: &Gpu, path: &str) -> String {
    format!("gpu: {}, {path} path", gpu.adapter.describe())
}

/// A single-model engine on the path `request` gives `job` (for `check`, `grads` and tests that
/// compare one model tensor by tensor).
pub fn single_engine<'g>(
    gpu: &'g Gpu,
    job: &ModelJob<'_>,
    request: TrainPath,
) -> Result<Box<dyn Engine + 'g>, EngineError> {
    Ok(match plan(gpu, job, request)? {
        Plan::Fused(_) => Box::new(FusedExecutor::new(gpu, std::slice::from_ref(job))?),
        Plan::Layered => Box::new(LayeredEngine::new(gpu, &job.spec, &job.params, job.train, job.test, job.cfg)?),
    })
}

/// The GPU as a `Backend`.
pub struct GpuBackend<'g> {
    pub gpu: &'g Gpu,
    pub request: TrainPath,
    /// What the fused jobs of each kernel class use, over every job `batches` has seen: each batch is
    /// compiled with its class's features, so the batches of a sweep share one pipeline.
    features: Mutex<Vec<(KernelClass, KernelFeatures)>>,
}

impl<'g> GpuBackend<'g> {
    pub fn new(gpu: &'g Gpu, request: TrainPath) -> Self {
        GpuBackend { gpu, request, features: Mutex::new(Vec::new()) }
    }
}

impl Backend for GpuBackend<'_> {
    fn name(&self) -> String {
        format!("gpu: {}", self.gpu.adapter.describe())
    }

    /// Fused jobs of one kernel class, batch size and training-set size share executors (packed to
    /// the memory budget); layered jobs run alone. Batches come in the order of their first job.
    fn batches(&self, jobs: &[ModelJob<'_>]) -> Result<Vec<Vec<usize>>, EngineError> {
        type Key = (KernelClass, usize, usize);
        let mut fused: Vec<(Key, Vec<(usize, &ModelJob<'_>)>)> = Vec::new();
        let mut batches: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match plan(self.gpu, job, self.request)? {
                Plan::Layered => {
                    // Refused now, before any batch trains, rather than when its turn comes.
                    super::layered::check_sizes(self.gpu, &job.spec, job.train, job.test)?;
                    batches.push((i, vec![i]));
                }
                Plan::Fused(class) => {
                    let key = (class, job.cfg.batch_size, job.train.len());
                    match fused.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, members)) => members.push((i, job)),
                        None => fused.push((key, vec![(i, job)])),
                    }
                }
            }
        }
        let mut features = self.features.lock().expect("kernel features");
        for ((class, _, _), members) in &fused {
            let used = KernelFeatures::of(members.iter().map(|(_, j)| *j));
            match features.iter_mut().find(|(c, _)| c == class) {
                Some((_, f)) => *f = KernelFeatures::of_both(*f, used),
                None => features.push((*class, used)),
            }
            batches.extend(pack(self.gpu, members, *class).into_iter().map(|b| (b[0], b)));
        }
        batches.sort_by_key(|(first, _)| *first);
        Ok(batches.into_iter().map(|(_, b)| b).collect())
    }

    fn build<'b>(&'b self, jobs: &[ModelJob<'_>]) -> Result<Box<dyn BatchEngine + 'b>, EngineError> {
        let Some(first) = jobs.first() else {
            return Err(EngineError::Invalid("a batch needs one or more models".into()));
        };
        match plan(self.gpu, first, self.request)? {
            Plan::Fused(class) => {
                let own = KernelFeatures::of(jobs);
                let planned =
                    self.features.lock().expect("kernel features").iter().find(|(c, _)| *c == class).map(|f| f.1);
                Ok(Box::new(FusedExecutor::with_features(
                    self.gpu,
                    jobs,
                    planned.map_or(own, |f| KernelFeatures::of_both(f, own)),
                )?))
            }
            Plan::Layered => {
                let engines = jobs
                    .iter()
                    .map(|j| single_engine(self.gpu, j, TrainPath::Layered))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(OneAtATime::new(engines)?))
            }
        }
    }

    fn describe(&self, job: &ModelJob<'_>) -> String {
        plan(self.gpu, job, self.request).map_or_else(|_| self.name(), |p| p.engine_name(self.gpu))
    }

    fn counters(&self) -> Counters {
        self.gpu.counters()
    }
}
