//! The notebook's experiment done right, as a library function the CLI (`vanish demo`) and the web page
//! both call. The notebook trained a 2→10×11→1 MLP on make_circles for one epoch with Adam and compared
//! sigmoid, tanh and ReLU by `(w_before − w_after)/lr` of the first layer. Here each configuration's true
//! per-layer gradient norms at initialisation are measured over the whole training set, beside the
//! notebook's number, and the conclusion is computed from the measurements (`render`).

mod render;

pub use render::render;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::data::{DataSettings, Dataset};
use crate::defaults;
use crate::engine::{Backend, ModelJob, Optimizer, TrainConfig};
use crate::memory::{Holder, check_host, history_bytes, model_bytes};
use crate::model::{Activation, Init, MlpSpec, Norm, Params};
use crate::record::boundary::decision_boundary;
use crate::record::{RunConfig, RunRecord, record_of};
use crate::train::{Interim, NetworkSettings, Pace, Progress, TrainOptions, Trained, train_batch_async};

/// What the demo runs, as given: the data, the networks' shared shape (their activations and norms are
/// the demo's own; `network.norm` is the fourth network's, batch norm by default), and the training
/// settings. The command line's flags and the page's fields, by the same names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct DemoSettings {
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub network: NetworkSettings,
    /// Adam's learning rate (the notebook's 1e-3)
    #[arg(long, default_value_t = defaults::LR)]
    pub lr: f64,
    #[arg(long, default_value_t = defaults::BATCH_SIZE)]
    pub batch_size: usize,
    #[arg(long, default_value_t = defaults::EPOCHS)]
    pub epochs: usize,
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
    /// Which row of the first layer's weight to show
    #[arg(long, default_value_t = 0)]
    pub row: usize,
    /// Add the cures practitioners use today: residual sigmoid, sigmoid + layer norm, ReLU + He init,
    /// SELU + LeCun-normal
    #[arg(long)]
    pub cures: bool,
    /// At most this many steps between two looks at the run, each with the networks' current weights
    /// (a page redraws its plots and decision boundaries there); `None`: as few engine calls as the
    /// trainer needs, and no weights read back until the end.
    #[arg(skip)]
    #[serde(skip)]
    pub look_every: Option<usize>,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            data: DataSettings::default(),
            network: NetworkSettings::default(),
            cures: false,
            lr: defaults::LR,
            batch_size: defaults::BATCH_SIZE,
            epochs: defaults::EPOCHS,
            seed: defaults::SEED,
            row: 0,
            look_every: None,
        }
    }
}

/// One network the demo trained: its job, what training gave it, and its final parameters.
pub struct DemoNetwork<'d> {
    pub job: ModelJob<'d>,
    pub trained: Trained,
    pub after: Params,
}

/// The demo's result: what `--json` prints, and each network for a report.
pub struct Demo<'d> {
    pub output: DemoOutput,
    pub networks: Vec<DemoNetwork<'d>>,
}

impl DemoSettings {
    /// The fourth network's normalisation: batch (the notebook's cure) or layer.
    pub fn cure_norm(&self) -> Norm {
        self.network.norm().unwrap_or(Norm::Batch)
    }

    /// How the networks train: Adam at `lr`, batches of `batch_size`.
    pub fn config(&self) -> TrainConfig {
        TrainConfig::new(Optimizer::adam(self.lr), self.batch_size)
    }

    /// Checks every setting that does not need the data; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.data.validate().map_err(|e| e.to_string())?;
        let hidden = self.network.hidden()?;
        self.network.residual_scale()?;
        self.config().validate()?;
        if self.row >= hidden[0] {
            return Err(format!("--row must be below the first layer's width {}, got {}", hidden[0], self.row));
        }
        if self.cure_norm() == Norm::None {
            return Err("--norm none: the demo's --norm is the fourth network's normalisation, batch or layer".into());
        }
        Ok(())
    }

    /// The shape every network shares, for `data` (its activations and norm are replaced per network).
    fn base(&self, data: &Dataset) -> Result<MlpSpec, String> {
        self.network.spec(data, &[Activation::Identity], Norm::None)
    }

    /// The networks for `data`, in the order they are shown: the notebook's four, then the cures.
    pub fn specs(&self, data: &Dataset) -> Result<Vec<MlpSpec>, String> {
        let base = self.base(data)?;
        let mut configs: Vec<Config> = Vec::new();
        let cure_norm = self.cure_norm();
        let notebook = NOTEBOOK.map(|c| if c.norm == Norm::None { c } else { Config { norm: cure_norm, ..c } });
        for c in notebook.iter().chain(if self.cures { &CURES[..] } else { &[] }) {
            // `--norm layer --cures` would list sigmoid + layer norm twice
            if !configs.contains(c) {
                configs.push(*c);
            }
        }
        let alpha = self.network.residual_scale()?;
        configs
            .iter()
            .map(|c| {
                let spec = MlpSpec {
                    activations: vec![c.activation; base.hidden.len()],
                    norm: c.norm,
                    init: c.init.unwrap_or(base.init),
                    residual: if c.residual { Some(alpha) } else { base.residual },
                    ..base.clone()
                };
                spec.validate()?;
                Ok(spec)
            })
            .collect()
    }
}

/// What `run` awaits after every chunk of steps: where training is and the networks in training as
/// report records so far (with their decision boundaries when `look_every` is set); `true` stops.
pub type DemoBetween<'a> =
    dyn FnMut(Progress, &[RunRecord]) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> + 'a;

/// Trains the demo's networks on `backend` (together, where it can batch them: the GPU's fused path
/// does), awaiting each engine answer and `between` after every chunk of steps — which stops the demo
/// where it says `true` (an error naming how far it got).
pub async fn run<'d>(
    backend: &dyn Backend,
    settings: &DemoSettings,
    (train, test): (&'d Dataset, &'d Dataset),
    between: &mut DemoBetween<'_>,
) -> Result<Demo<'d>> {
    settings.validate().map_err(anyhow::Error::msg)?;
    let cfg = settings.config();
    let specs = settings.specs(train).map_err(anyhow::Error::msg)?;
    check_memory(settings, &specs, train.len() + test.len()).map_err(anyhow::Error::msg)?;
    let jobs: Vec<ModelJob<'d>> = specs
        .into_iter()
        .map(|spec| ModelJob { params: Params::init(&spec, settings.seed), spec, train, test, cfg })
        .collect();
    let opts = TrainOptions {
        epochs: settings.epochs,
        seed: settings.seed,
        shuffle: true,
        probe_every: None,
        has_test: !test.is_empty(),
        max_steps: None,
        measure_every: None,
    };
    let mut runs = Vec::new();
    let mut networks = Vec::new();
    let mut engine_name = String::new();
    for planned in backend.plan(&jobs)? {
        let batch = planned.members();
        let batch_jobs: Vec<ModelJob<'d>> = batch.iter().map(|&j| jobs[j].clone()).collect();
        let mut engine = planned.build(&batch_jobs)?;
        let options = vec![opts.clone(); batch.len()];
        let steps = crate::engine::batches_per_epoch(train.len(), settings.batch_size);
        let mut look = |l: &Interim<'_>| {
            let records: Vec<RunRecord> = batch_jobs
                .iter()
                .zip(l.histories)
                .enumerate()
                .map(|(k, (j, t))| {
                    let config = RunConfig::from_spec(&j.spec, cfg.optimizer, settings.seed);
                    let mut record = record_of(config, &j.spec, t, steps, train);
                    record.boundary = l.params.and_then(|p| decision_boundary(&j.spec, &p[k], train));
                    record
                })
                .collect();
            between(l.progress, &records)
        };
        let pace = Pace {
            batch_size: settings.batch_size,
            steps_per_look: settings.look_every,
            read_params: settings.look_every.is_some(),
        };
        let trained = train_batch_async(engine.as_mut(), train.len(), pace, &options, &mut look).await?;
        if trained.iter().any(|t| t.history.interrupted) {
            bail!("interrupted after {} of {} configurations", runs.len(), jobs.len());
        }
        let finals = engine.params_async().await?;
        for ((job, t), after) in batch_jobs.into_iter().zip(trained).zip(finals) {
            if let Some(e) = &t.diverged {
                bail!("{}: {e}", job.spec.describe());
            }
            runs.push(demo_run(settings, &job, &t, &after));
            engine_name = t.history.engine.clone();
            networks.push(DemoNetwork { job, trained: t, after });
        }
    }
    let config = DemoConfig {
        dataset: settings.data.dataset.clone(),
        samples: settings.data.samples,
        noise: settings.data.noise,
        factor: settings.data.factor,
        train_rows: train.len(),
        test_rows: test.len(),
        hidden: settings.network.hidden().map_err(anyhow::Error::msg)?,
        init: settings.network.init.to_string(),
        optimizer: cfg.optimizer,
        batch_size: settings.batch_size,
        epochs: settings.epochs,
        seed: settings.seed,
        row: settings.row,
        engine: engine_name,
    };
    Ok(Demo { output: DemoOutput { config, runs }, networks })
}

/// Refuses networks the host cannot hold on either engine, with their histories over the epochs asked
/// for, before any weights are drawn.
fn check_memory(settings: &DemoSettings, specs: &[MlpSpec], rows: usize) -> Result<(), String> {
    let steps =
        (crate::engine::batches_per_epoch(rows, settings.batch_size) as u64).checked_mul(settings.epochs as u64);
    let bytes = specs.iter().try_fold(0u64, |sum, spec| {
        let model =
            [Holder::Cpu, Holder::Gpu].iter().try_fold(0u64, |m, &h| Some(m.max(model_bytes(spec, rows, h)?)))?;
        let layers = spec.num_layers() as u64;
        let history = history_bytes(
            steps?,
            (settings.epochs as u64).checked_add(1)?,
            layers,
            (spec.input * spec.hidden[0]) as u64,
        )?;
        sum.checked_add(model)?.checked_add(history)
    });
    check_host(&format!("the demo's {} networks over {} epoch(s)", specs.len(), settings.epochs), bytes)
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoConfig {
    pub dataset: String,
    pub samples: usize,
    pub noise: Option<f64>,
    pub factor: f64,
    pub train_rows: usize,
    pub test_rows: usize,
    pub hidden: Vec<usize>,
    pub init: String,
    pub optimizer: Optimizer,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    pub row: usize,
    pub engine: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoRun {
    /// e.g. `sigmoid + batch norm`, `residual sigmoid`, `relu + he-normal`.
    pub name: String,
    /// e.g. `2→10×11→1`.
    pub shape: String,
    pub activation: Activation,
    /// Batch norm (as before layer norm existed); `norm` names the kind.
    pub batch_norm: bool,
    pub norm: Norm,
    pub residual: bool,
    pub init: String,
    /// ‖dL/dW‖ per dense layer at initialisation over the whole training set, first to output.
    pub grad_norms_init: Vec<f64>,
    /// ‖δ‖ = ‖dL/dz‖ per dense layer at initialisation.
    pub delta_norms_init: Vec<f64>,
    pub first_last_ratio: f64,
    /// Geometric mean of the layer-to-layer ratios of ‖dW‖, output to input.
    pub decay_per_layer: f64,
    /// Per hidden layer at initialisation.
    pub saturated_init: Vec<f64>,
    pub dead_init: Vec<f64>,
    pub w1_row_before: Vec<f64>,
    pub w1_row_after: Vec<f64>,
    /// Row `row` of the mean gradient dL/dW₁ at initialisation over the training set.
    pub grad_row: Vec<f64>,
    /// The notebook's `(w_before − w_after)/lr` for the same row.
    pub notebook_row: Vec<f64>,
    pub steps: usize,
    pub loss_after: f64,
    pub acc_after: f64,
    pub test_acc_after: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DemoOutput {
    pub config: DemoConfig,
    pub runs: Vec<DemoRun>,
}

/// One of the demo's networks.
#[derive(Clone, Copy, PartialEq)]
struct Config {
    activation: Activation,
    norm: Norm,
    residual: bool,
    /// `None`: the `--init` flag's.
    init: Option<Init>,
}

const fn config(activation: Activation, norm: Norm, residual: bool, init: Option<Init>) -> Config {
    Config { activation, norm, residual, init }
}

/// The notebook's networks; the fourth's norm is `--norm`'s (batch, the notebook's cure, by default).
const NOTEBOOK: [Config; 4] = [
    config(Activation::Sigmoid, Norm::None, false, None),
    config(Activation::Tanh, Norm::None, false, None),
    config(Activation::Relu, Norm::None, false, None),
    config(Activation::Sigmoid, Norm::Batch, false, None),
];

/// `--cures`: what practitioners reach for today.
const CURES: [Config; 4] = [
    config(Activation::Sigmoid, Norm::None, true, None),
    config(Activation::Sigmoid, Norm::Layer, false, None),
    config(Activation::Relu, Norm::None, false, Some(Init::HeNormal)),
    config(Activation::Selu, Norm::None, false, Some(Init::LecunNormal)),
];

/// A configuration's name: the activation, then what was added to it.
pub fn run_name(spec: &MlpSpec, flag_init: Init) -> String {
    let act = spec.activations[0];
    let mut name = if spec.residual.is_some() { format!("residual {act}") } else { act.to_string() };
    match spec.norm {
        Norm::None => {}
        Norm::Batch => name += " + batch norm",
        Norm::Layer => name += " + layer norm",
    }
    if spec.init != flag_init {
        name += &format!(" + {}", spec.init);
    }
    name
}

/// What the demo shows of one trained configuration: `job` as trained in `t`, `after` its weights at
/// the end.
fn demo_run(s: &DemoSettings, job: &ModelJob<'_>, t: &Trained, after: &Params) -> DemoRun {
    let spec = &job.spec;
    let init = t.history.init_probe();
    let fan_in = spec.input;
    let r = s.row * fan_in..(s.row + 1) * fan_in;
    let before: Vec<f64> = job.params.weight(0)[r.clone()].iter().map(|&v| v as f64).collect();
    let after_row: Vec<f64> = after.weight(0)[r.clone()].iter().map(|&v| v as f64).collect();
    let notebook_row = before.iter().zip(&after_row).map(|(b, a)| (b - a) / s.lr).collect();
    let grad_norms: Vec<f64> = init.layers.iter().map(|l| l.grad_w).collect();
    let ratio = grad_norms[0] / grad_norms[grad_norms.len() - 1];
    let hidden = spec.hidden.len();
    // The evaluation after the last epoch (at initialisation for --epochs 0).
    let (loss_after, acc_after, test_acc_after) = match t.history.epochs.last() {
        Some(e) => (e.eval_train_loss, e.eval_train_acc, e.test_acc.unwrap_or(f64::NAN)),
        None => (
            t.init_train.loss,
            t.init_train.correct as f64 / t.init_train.rows as f64,
            t.init_test.map_or(f64::NAN, |r| r.correct as f64 / r.rows as f64),
        ),
    };
    DemoRun {
        name: run_name(spec, s.network.init),
        shape: spec.describe().split(' ').next().unwrap_or_default().to_string(),
        activation: spec.activations[0],
        batch_norm: spec.norm == Norm::Batch,
        norm: spec.norm,
        residual: spec.residual.is_some(),
        init: spec.init.to_string(),
        decay_per_layer: ratio.powf(1.0 / (grad_norms.len() - 1).max(1) as f64),
        grad_norms_init: grad_norms,
        delta_norms_init: init.layers.iter().map(|l| l.delta).collect(),
        first_last_ratio: ratio,
        saturated_init: init.layers[..hidden].iter().map(|l| l.saturated).collect(),
        dead_init: init.layers[..hidden].iter().map(|l| l.dead).collect(),
        w1_row_before: before,
        w1_row_after: after_row,
        grad_row: init.grad_w1[r].to_vec(),
        notebook_row,
        steps: t.history.batch_losses.len(),
        loss_after,
        acc_after,
        test_acc_after,
    }
}
