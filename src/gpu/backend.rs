//! The GPU backend: how each model trains, decided once by `plan` — the executor on the fused kernel
//! for narrow models, on the tiled kernels for the rest — and the plan of a whole list of jobs
//! (`GpuBackend::plan`): batches of one kernel class with the features their kernels are compiled for.
//! Nothing is built for a path that is not taken.

use super::executor::{Executor, KernelClass, KernelFeatures, Refusal, check_job_sizes, executor_fits, pack};
use super::fused::{FUSED_MAX_WIDTH, fused_shape};
use super::{Gpu, LayeredEngine};
use crate::engine::{Backend, BatchEngine, BatchPlan, Counters, Engine, EngineError, ModelJob, OneAtATime};

/// The largest batch size the automatic choice gives the fused kernel: one workgroup per model cannot
/// use a whole GPU (or more than one core of lavapipe) on large batches, where the tiled kernels' many
/// workgroups win.
pub const FUSED_AUTO_MAX_BATCH: usize = 128;

/// Which path the caller asks for (`--path`); `plan` turns it into the path a model takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainPath {
    /// The fused kernel for narrow models (every width ≤ 64) at batch ≤ 128, the tiled kernels otherwise
    #[default]
    Auto,
    /// The executor's tiled kernels: one dispatch per layer and phase over every model (any width)
    Tiled,
    /// The executor's fused kernel: one workgroup per model (hidden and output widths ≤ 64)
    Fused,
    /// One model at a time, three dispatches per layer per pass (the first GPU path, kept for comparison)
    Layered,
}

/// The path a model takes on the GPU, decided once by `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The executor, in a batch of this kernel class.
    Executor(KernelClass),
    /// One dispatch per kernel per layer, one model at a time.
    Layered,
}

/// The one decision of which path `job` takes on `gpu`, given `request`; an error says why the path
/// asked for cannot run the model.
pub fn plan(gpu: &Gpu, job: &ModelJob<'_>, request: TrainPath) -> Result<Plan, EngineError> {
    let refused =
        |path: &str, why: Refusal| EngineError::Invalid(format!("the {path} path cannot run this model: {why}"));
    let fits = executor_fits(gpu, &job.spec);
    let fused = || {
        fused_shape(gpu, &job.spec)
            .ok_or(Refusal::TooWideForFused { width: job.spec.max_units(), max: FUSED_MAX_WIDTH })
    };
    match request {
        TrainPath::Layered => Ok(Plan::Layered),
        TrainPath::Tiled => fits.map(|()| Plan::Executor(KernelClass::Tiled)).map_err(|r| refused("tiled", r)),
        TrainPath::Fused => {
            fits.and_then(|()| fused()).map(|s| Plan::Executor(KernelClass::Fused(s))).map_err(|r| refused("fused", r))
        }
        TrainPath::Auto => match fits {
            Err(r) => Err(refused("GPU", r)),
            Ok(()) => Ok(Plan::Executor(match fused() {
                Ok(shape) if job.cfg.batch_size <= FUSED_AUTO_MAX_BATCH && job.spec.input <= FUSED_MAX_WIDTH => {
                    KernelClass::Fused(shape)
                }
                _ => KernelClass::Tiled,
            })),
        },
    }
}

impl Plan {
    /// How an engine on this path names itself: `gpu: ADAPTER, fused path`.
    pub fn engine_name(self, gpu: &Gpu) -> String {
        engine_name(
            gpu,
            match self {
                Plan::Executor(class) => class.name(),
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
        Plan::Executor(class) => Box::new(Executor::new(gpu, std::slice::from_ref(job), class)?),
        Plan::Layered => Box::new(LayeredEngine::new(gpu, &job.spec, &job.params, job.train, job.test, job.cfg)?),
    })
}

/// The GPU as a `Backend`.
pub struct GpuBackend<'g> {
    pub gpu: &'g Gpu,
    pub request: TrainPath,
    /// Refuse what would take the layered path, whose reads block: a web page awaits every read.
    executor_only: bool,
}

impl<'g> GpuBackend<'g> {
    pub fn new(gpu: &'g Gpu, request: TrainPath) -> Self {
        GpuBackend { gpu, request, executor_only: false }
    }

    /// The backend of a web page: the executor's plan (`TrainPath::Auto`), never the layered path.
    pub fn for_page(gpu: &'g Gpu) -> Self {
        GpuBackend { gpu, request: TrainPath::Auto, executor_only: true }
    }
}

/// One batch of the GPU's plan.
struct GpuBatch<'g> {
    gpu: &'g Gpu,
    members: Vec<usize>,
    plan: Plan,
    /// What the fused kernel is compiled with: what every job of the plan on its kernel class uses, so
    /// the batches of a sweep share one pipeline.
    features: KernelFeatures,
}

impl Backend for GpuBackend<'_> {
    fn name(&self) -> String {
        format!("gpu: {}", self.gpu.adapter.describe())
    }

    /// Executor jobs of one kernel class, batch size and training-set size share executors (packed to
    /// the memory budget); layered jobs run alone.
    fn plan<'b>(&'b self, jobs: &[ModelJob<'_>]) -> Result<Vec<Box<dyn BatchPlan<'b> + 'b>>, EngineError> {
        type Key = (KernelClass, usize, usize);
        let mut groups: Vec<(Key, Vec<(usize, &ModelJob<'_>)>)> = Vec::new();
        let mut batches: Vec<GpuBatch<'b>> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            match plan(self.gpu, job, self.request)? {
                Plan::Layered if self.executor_only => {
                    return Err(EngineError::Invalid(
                        "the layered path reads back synchronously, which a web page cannot: use the fused or tiled \
                         kernels (--path auto)"
                            .into(),
                    ));
                }
                Plan::Layered => {
                    // Refused now, before any batch trains, rather than when its turn comes.
                    super::layered::check_sizes(self.gpu, &job.spec, job.train, job.test)?;
                    let features = KernelFeatures::default();
                    batches.push(GpuBatch { gpu: self.gpu, members: vec![i], plan: Plan::Layered, features });
                }
                Plan::Executor(class) => {
                    check_job_sizes(self.gpu, job, class)?;
                    let key = (class, job.cfg.batch_size, job.train.len());
                    match groups.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, members)) => members.push((i, job)),
                        None => groups.push((key, vec![(i, job)])),
                    }
                }
            }
        }
        for ((class, _, _), members) in &groups {
            let features = groups
                .iter()
                .filter(|((c, _, _), _)| c == class)
                .map(|(_, m)| KernelFeatures::of(m.iter().map(|(_, j)| *j)))
                .fold(KernelFeatures::default(), KernelFeatures::of_both);
            for b in pack(self.gpu, members, *class) {
                batches.push(GpuBatch { gpu: self.gpu, members: b, plan: Plan::Executor(*class), features });
            }
        }
        batches.sort_by_key(|b| b.members[0]);
        Ok(batches.into_iter().map(|b| Box::new(b) as Box<dyn BatchPlan<'b>>).collect())
    }

    fn counters(&self) -> Counters {
        self.gpu.counters()
    }
}

impl<'g> BatchPlan<'g> for GpuBatch<'g> {
    fn members(&self) -> &[usize] {
        &self.members
    }

    fn engine_name(&self) -> String {
        self.plan.engine_name(self.gpu)
    }

    fn build(&self, jobs: &[ModelJob<'_>]) -> Result<Box<dyn BatchEngine + 'g>, EngineError> {
        match self.plan {
            Plan::Executor(class) => {
                let features = KernelFeatures::of_both(self.features, KernelFeatures::of(jobs));
                Ok(Box::new(Executor::with_features(self.gpu, jobs, class, features)?))
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
}
