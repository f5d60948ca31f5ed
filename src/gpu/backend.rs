//! The GPU backend: which path each model takes, decided once by `choose_path`, and the engines for
//! batches of models — the fused executor for narrow models, the layered engine (one model at a
//! time) for the rest. Nothing is built for a path that is not taken.

use std::sync::Mutex;

use super::fused::{FusedExecutor, KernelClass, KernelFeatures, fused_fits, pack};
use super::{Gpu, GpuEngine};
use crate::engine::{Backend, BatchEngine, Counters, Each, Engine, EngineError, ModelJob};

/// The largest batch size the automatic choice gives the fused path: one workgroup per model cannot
/// use a whole GPU (or more than one core of lavapipe) on large batches, where the layered path's many
/// workgroups win.
pub const FUSED_AUTO_MAX_BATCH: usize = 128;

/// Which path the caller asks for (`--path`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathRequest {
    /// The fused executor for narrow models at small batches, the layered path otherwise.
    #[default]
    Auto,
    Layered,
    Fused,
}

/// The path a model takes on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The fused executor, in a batch of this kernel class.
    Fused(KernelClass),
    /// One dispatch per kernel per layer.
    Layered,
}

/// The one decision of which path `spec` takes at `batch_size` on `gpu`, given `request`; an error
/// says why a forced fused path cannot run the model.
pub fn choose_path(gpu: &Gpu, job: &ModelJob<'_>, request: PathRequest) -> Result<Path, EngineError> {
    let fits = fused_fits(gpu, &job.spec);
    match request {
        PathRequest::Layered => Ok(Path::Layered),
        PathRequest::Fused => fits
            .map(Path::Fused)
            .map_err(|why| EngineError::Invalid(format!("the fused path cannot run this model: {why}"))),
        PathRequest::Auto => Ok(match fits {
            Ok(class) if job.cfg.batch_size <= FUSED_AUTO_MAX_BATCH => Path::Fused(class),
            _ => Path::Layered,
        }),
    }
}

/// A single-model engine on the path `request` gives `job` (for `check`, `grads` and tests that
/// compare one model tensor by tensor).
pub fn single_engine<'g>(
    gpu: &'g Gpu,
    job: &ModelJob<'_>,
    request: PathRequest,
) -> Result<Box<dyn Engine + 'g>, EngineError> {
    Ok(match choose_path(gpu, job, request)? {
        Path::Fused(_) => Box::new(FusedExecutor::new(gpu, std::slice::from_ref(job))?),
        Path::Layered => Box::new(GpuEngine::new(gpu, &job.spec, &job.params, job.train, job.test, job.cfg)?),
    })
}

/// The GPU as a `Backend`.
pub struct GpuBackend<'g> {
    pub gpu: &'g Gpu,
    pub request: PathRequest,
    /// What the fused jobs of each kernel class use, over every job `batches` has seen: each batch is
    /// compiled with its class's features, so the batches of a sweep share one pipeline.
    features: Mutex<Vec<(KernelClass, KernelFeatures)>>,
}

impl<'g> GpuBackend<'g> {
    pub fn new(gpu: &'g Gpu, request: PathRequest) -> Self {
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
            match choose_path(self.gpu, job, self.request)? {
                Path::Layered => {
                    // Refused now, before any batch trains, rather than when its turn comes.
                    super::engine::check_sizes(self.gpu, &job.spec, job.train, job.test)?;
                    batches.push((i, vec![i]));
                }
                Path::Fused(class) => {
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
        match choose_path(self.gpu, first, self.request)? {
            Path::Fused(class) => {
                let own = KernelFeatures::of(jobs);
                let planned =
                    self.features.lock().expect("kernel features").iter().find(|(c, _)| *c == class).map(|f| f.1);
                Ok(Box::new(FusedExecutor::with_features(
                    self.gpu,
                    jobs,
                    planned.map_or(own, |f| KernelFeatures::of_both(f, own)),
                )?))
            }
            Path::Layered => {
                let engines = jobs
                    .iter()
                    .map(|j| single_engine(self.gpu, j, PathRequest::Layered))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(Each::new(engines)?))
            }
        }
    }

    fn counters(&self) -> Counters {
        self.gpu.counters()
    }
}
