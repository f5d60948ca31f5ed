//! `vanish train`'s settings as given — the command line's flags, or the page's fields by the same names
//! — with the defaults of `defaults`, one `validate` whose messages name the flags, and the network and
//! training configuration they describe. `NetworkSettings` (the shape flags) is shared with the demo.

use serde::{Deserialize, Serialize};

use crate::data::{DataSettings, Dataset};
use crate::defaults;
use crate::engine::{Optimizer, TrainConfig, check_scale};
use crate::memory::{Holder, check_host, layers_bytes, network};
use crate::model::{Activation, BiasInit, Init, MlpSpec, Norm, Output, OutputKind};

/// The network's shape: `depth` layers of `width` units, or the widths in `layers`; the init, the
/// normalisation and skip connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct NetworkSettings {
    /// Hidden layers
    #[arg(long, default_value_t = defaults::DEPTH)]
    pub depth: usize,
    /// Units per hidden layer
    #[arg(long, default_value_t = defaults::WIDTH)]
    pub width: usize,
    /// Hidden widths, e.g. 64,32,16 (instead of --depth and --width)
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["depth", "width"])]
    pub layers: Option<Vec<usize>>,
    /// glorot-uniform, glorot-normal, he-uniform, he-normal, lecun-normal, standard, normal:SIGMA,
    /// normal-var:SIGMA_W2 (N(0, σ_w²/fan_in)) or orthogonal[:GAIN]
    #[arg(long, default_value_t = defaults::INIT)]
    pub init: Init,
    /// The dense layers' initial biases: zero, normal:SIGMA_B or normal-var:SIGMA_B2, both N(0, σ_b²)
    #[arg(long, default_value_t = BiasInit::Zero)]
    pub bias_init: BiasInit,
    /// Dense → norm → activation on every hidden layer: none, batch or layer (`demo`: the norm of the
    /// notebook's fourth network, batch by default)
    #[arg(long, value_name = "NORM")]
    pub norm: Option<Norm>,
    /// The spelling of --norm batch
    #[arg(long, conflicts_with = "norm")]
    pub batch_norm: bool,
    /// Skip connections: every hidden layer after the first whose widths are equal computes
    /// a_in + α·f(N(W·a_in + b))
    #[arg(long)]
    pub residual: bool,
    /// The skip connections' α (finite, > 0)
    #[arg(long, value_name = "ALPHA", requires = "residual", allow_negative_numbers = true)]
    pub residual_scale: Option<f64>,
    /// The head: softmax (one logit with binary cross-entropy for two classes, softmax cross-entropy for
    /// more) or sigmoid-ce (one sigmoid output per class, the cross-entropies summed: Nielsen's cost)
    #[arg(long, value_enum, default_value_t = OutputKind::Softmax)]
    #[serde(skip_serializing_if = "OutputKind::is_default")]
    pub output: OutputKind,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            depth: defaults::DEPTH,
            width: defaults::WIDTH,
            layers: None,
            init: defaults::INIT,
            bias_init: BiasInit::Zero,
            norm: None,
            batch_norm: false,
            residual: false,
            residual_scale: None,
            output: OutputKind::Softmax,
        }
    }
}

impl NetworkSettings {
    /// The hidden widths; the message names the flag. A depth and width whose network the host could not
    /// hold are refused before the list is built.
    pub fn hidden(&self) -> Result<Vec<usize>, String> {
        let hidden = match &self.layers {
            Some(l) if l.is_empty() => return Err("--layers needs at least one width".into()),
            Some(l) => l.clone(),
            None if self.depth == 0 => return Err("--depth must be at least 1".into()),
            None => {
                // A lower bound (one input, one output, one row): the job's own check counts the rest.
                let layers = network(1, self.width as u64, self.depth as u64, 1, self.norm().unwrap_or(Norm::None));
                let least = [Holder::Cpu, Holder::Gpu].map(|h| layers_bytes(layers, 1, h)).into_iter().flatten().min();
                let what = format!("--depth {} × --width {}", self.depth, self.width);
                check_host(&what, least)?;
                vec![self.width; self.depth]
            }
        };
        if let Some(i) = hidden.iter().position(|&w| w == 0) {
            return Err(format!("hidden layer {i} has width 0: --width and --layers values must be at least 1"));
        }
        Ok(hidden)
    }

    /// `--norm`, or batch for `--batch-norm`; `None` when neither was given.
    pub fn norm(&self) -> Option<Norm> {
        self.norm.or(self.batch_norm.then_some(Norm::Batch))
    }

    /// `--residual-scale`'s α, checked (1 by default).
    pub fn residual_scale(&self) -> Result<f64, String> {
        let alpha = self.residual_scale.unwrap_or(1.0);
        check_scale("--residual-scale", alpha)?;
        Ok(alpha)
    }

    /// The network for `data` with these `activations` (one, or one per hidden layer) and `norm`.
    pub fn spec(&self, data: &Dataset, activations: &[Activation], norm: Norm) -> Result<MlpSpec, String> {
        let hidden = self.hidden()?;
        let activations = match activations.len() {
            1 => vec![activations[0]; hidden.len()],
            n if n == hidden.len() => activations.to_vec(),
            n => {
                return Err(format!(
                    "--activation gives {n} activations for {} hidden layers (give one, or one per layer)",
                    hidden.len()
                ));
            }
        };
        let spec = MlpSpec {
            activations,
            norm,
            init: self.init,
            bias_init: self.bias_init,
            residual: if self.residual { Some(self.residual_scale()?) } else { None },
            ..MlpSpec::new(data.features, &hidden, Activation::Identity, Output::of(self.output, data.classes))
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    Sgd,
    Adam,
}

/// Everything `vanish train` and the page's Train button take: the command line's flags and the page's
/// fields, by the same names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct TrainSettings {
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub network: NetworkSettings,
    /// One activation for every hidden layer, or one per layer: identity, sigmoid, tanh, relu,
    /// leaky_relu[:ALPHA], elu[:ALPHA], gelu, silu, selu
    #[arg(long, value_delimiter = ',', default_values_t = [defaults::ACTIVATION])]
    pub activation: Vec<Activation>,
    #[arg(long, value_enum, default_value_t = OptimizerName::Adam)]
    pub optimizer: OptimizerName,
    /// Learning rate, finite and > 0
    #[arg(long, default_value_t = defaults::LR, allow_negative_numbers = true)]
    pub lr: f64,
    /// SGD momentum, in [0, 1)
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub momentum: f64,
    #[arg(long, default_value_t = defaults::BATCH_SIZE)]
    pub batch_size: usize,
    #[arg(long, default_value_t = defaults::EPOCHS)]
    pub epochs: usize,
    /// Train this many optimiser steps instead of whole epochs (the last epoch may be partial; it is
    /// probed and recorded like a whole one)
    #[arg(long, value_name = "N", conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Seeds the weights, the data, the split and the shuffle
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
    /// Scale all gradients together to a global norm of at most X before each step (PyTorch's
    /// clip_grad_norm_); finite and > 0
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub clip_grad_norm: Option<f64>,
    /// L2 regularisation in Nielsen's form: each step adds (λ/n)·w to every dense weight's gradient,
    /// n the training rows (biases and normalisation parameters are not decayed); finite and > 0
    #[arg(long, value_name = "λ", allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Also probe the gradients every N optimiser steps
    #[arg(long)]
    pub probe_every: Option<usize>,
    /// Each probe also counts every layer's pre-activations, activations, δ and dW into 32 bins (Glorot &
    /// Bengio's histograms), recorded in the run files and drawn in the report
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub histograms: bool,
    /// Train every epoch in data order (as `shuffle=False`), e.g. to replay a run from another framework
    #[arg(long = "no-shuffle", action = clap::ArgAction::SetFalse)]
    pub shuffle: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            data: DataSettings::default(),
            network: NetworkSettings::default(),
            activation: vec![defaults::ACTIVATION],
            optimizer: OptimizerName::Adam,
            lr: defaults::LR,
            momentum: 0.0,
            batch_size: defaults::BATCH_SIZE,
            epochs: defaults::EPOCHS,
            steps: None,
            seed: defaults::SEED,
            clip_grad_norm: None,
            weight_decay: None,
            probe_every: None,
            histograms: false,
            shuffle: true,
        }
    }
}

impl TrainSettings {
    /// Checks every setting that does not need the data; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        self.data.validate().map_err(|e| e.to_string())?;
        self.network.hidden()?;
        if self.network.residual {
            self.network.residual_scale()?;
        }
        if self.activation.is_empty() {
            return Err("--activation needs at least one activation".into());
        }
        if self.momentum != 0.0 && self.optimizer != OptimizerName::Sgd {
            return Err("--momentum applies to --optimizer sgd only".into());
        }
        if self.probe_every == Some(0) {
            return Err("--probe-every must be at least 1".into());
        }
        self.config().validate()
    }

    pub fn optimizer(&self) -> Optimizer {
        match self.optimizer {
            OptimizerName::Sgd => Optimizer::sgd(self.lr, self.momentum),
            OptimizerName::Adam => Optimizer::adam(self.lr),
        }
    }

    /// The optimiser steps a run on `train_rows` rows trains: `--steps`, or the epochs' steps.
    pub fn total_steps(&self, train_rows: usize) -> Option<usize> {
        match self.steps {
            Some(n) => Some(n),
            None => crate::engine::batches_per_epoch(train_rows, self.batch_size).checked_mul(self.epochs),
        }
    }

    /// The epochs such a run records (the last partial with `--steps`).
    pub fn epochs_on(&self, train_rows: usize) -> usize {
        let spe = crate::engine::batches_per_epoch(train_rows, self.batch_size);
        match self.steps {
            Some(n) if spe > 0 => n.div_ceil(spe),
            Some(_) => 0,
            None => self.epochs,
        }
    }

    /// How steps are taken: the optimiser, the batch size and clipping.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            optimizer: self.optimizer(),
            batch_size: self.batch_size,
            clip_grad_norm: self.clip_grad_norm,
            weight_decay: self.weight_decay,
            histograms: self.histograms,
        }
    }

    /// The network for `data`.
    pub fn spec(&self, data: &Dataset) -> Result<MlpSpec, String> {
        self.network.spec(data, &self.activation, self.network.norm().unwrap_or(Norm::None))
    }
}
