//! What a network is: `MlpSpec` (widths, activations, normalisation, skips, output, initialiser), the
//! layout of its parameters in one flat arena, and seeded initial weights that both engines share.
//!
//! Conventions (DESIGN.md): a dense layer's weight is `[out, in]`, so `Z = X·Wᵀ + b`. Dense layer `i`
//! counts from 0 (the first hidden layer); the output layer is the last. With a normalisation (batch or
//! layer norm), every hidden layer is Dense → norm → activation; the output layer has none.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::rng::{Stream, rng};
use crate::serde_string::serde_as_string;

/// Every tensor in an arena starts on a multiple of this many floats (256 bytes), the largest
/// `min_storage_buffer_offset_alignment` that adapters report, so any tensor can be bound on its own.
pub const ARENA_ALIGN: usize = 64;

/// A hidden layer's nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Activation {
    Identity,
    Sigmoid,
    Tanh,
    /// ReLU′(0) is taken as 0, as in PyTorch, JAX and the fixtures.
    Relu,
    /// `z` for z > 0, `alpha·z` otherwise (default alpha 0.01, PyTorch's).
    LeakyRelu(f32),
    /// `z` for z > 0, `alpha·(eᶻ − 1)` otherwise (default alpha 1).
    Elu(f32),
    /// GELU in its tanh form: `½z(1 + tanh(√(2/π)(z + 0.044715z³)))`.
    Gelu,
    /// `z·σ(z)`.
    Silu,
    /// Self-normalising: `λz` for z > 0, `λα(eᶻ − 1)` otherwise (Klambauer et al. 2017, `SELU_LAMBDA`,
    /// `SELU_ALPHA`); with LeCun-normal init it keeps activations near zero mean and unit variance.
    Selu,
}

/// SELU's λ and α (Klambauer et al. 2017, as PyTorch and JAX spell them).
pub const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;

impl Activation {
    pub const ALL: [Activation; 9] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu(0.01),
        Activation::Elu(1.0),
        Activation::Gelu,
        Activation::Silu,
        Activation::Selu,
    ];

    /// The code the WGSL kernels switch on (`shaders/activation.wgsl` lists the same numbers).
    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Sigmoid => 1,
            Activation::Tanh => 2,
            Activation::Relu => 3,
            Activation::LeakyRelu(_) => 4,
            Activation::Elu(_) => 5,
            Activation::Gelu => 6,
            Activation::Silu => 7,
            Activation::Selu => 8,
        }
    }

    /// The activation's parameter (leaky ReLU's slope, ELU's alpha); 0 for the others.
    pub fn alpha(self) -> f32 {
        match self {
            Activation::LeakyRelu(a) | Activation::Elu(a) => a,
            _ => 0.0,
        }
    }

    /// The largest value of f′, used to call a unit saturated when f′ < 1% of it.
    /// `None` for activations without a saturating regime.
    pub fn max_derivative(self) -> Option<f64> {
        match self {
            Activation::Sigmoid => Some(0.25),
            Activation::Tanh => Some(1.0),
            _ => None,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Activation::Identity => f.write_str("identity"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu(0.01) => f.write_str("leaky_relu"),
            Activation::LeakyRelu(a) => write!(f, "leaky_relu:{a}"),
            Activation::Elu(1.0) => f.write_str("elu"),
            Activation::Elu(a) => write!(f, "elu:{a}"),
            Activation::Gelu => f.write_str("gelu"),
            Activation::Silu => f.write_str("silu"),
            Activation::Selu => f.write_str("selu"),
        }
    }
}

impl FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let alpha = |default: f32| -> Result<f32, String> {
            match arg {
                None => Ok(default),
                Some(a) => a
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("activation '{s}': '{a}' is not a finite number")),
            }
        };
        let act = match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "identity" | "linear" => Activation::Identity,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" | "leakyrelu" => Activation::LeakyRelu(alpha(0.01)?),
            "elu" => Activation::Elu(alpha(1.0)?),
            "gelu" => Activation::Gelu,
            "silu" | "swish" => Activation::Silu,
            "selu" => Activation::Selu,
            _ => {
                return Err(format!(
                    "unknown activation '{s}' (expected identity, sigmoid, tanh, relu, \
                     leaky_relu[:ALPHA], elu[:ALPHA], gelu, silu or selu)"
                ));
            }
        };
        if arg.is_some() && !matches!(act, Activation::LeakyRelu(_) | Activation::Elu(_)) {
            return Err(format!("activation '{s}' takes no parameter"));
        }
        Ok(act)
    }
}

serde_as_string!(Activation);

/// The normalisation between a hidden layer's dense output and its activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Norm {
    #[default]
    None,
    /// Batch norm: each unit over the batch (batch statistics in training, running ones in evaluation).
    Batch,
    /// Layer norm (PyTorch's `nn.LayerNorm(width)`): each row over the layer's units, biased variance,
    /// learnable gain and bias, no running statistics, so training and evaluation compute the same.
    Layer,
}

impl Norm {
    pub const ALL: [Norm; 3] = [Norm::None, Norm::Batch, Norm::Layer];

    /// The code the fused kernel switches on (`LayerDesc.norm` in shaders/fused.wgsl).
    pub fn code(self) -> u32 {
        match self {
            Norm::None => 0,
            Norm::Batch => 1,
            Norm::Layer => 2,
        }
    }

    /// The interchange prefix of its γ and β (`layers.{i}.bn.gamma`, `layers.{i}.ln.gamma`).
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            Norm::None => None,
            Norm::Batch => Some("bn"),
            Norm::Layer => Some("ln"),
        }
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Norm::None => "none",
            Norm::Batch => "batch",
            Norm::Layer => "layer",
        })
    }
}

impl FromStr for Norm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "none" | "off" => Ok(Norm::None),
            "batch" | "bn" | "batch-norm" => Ok(Norm::Batch),
            "layer" | "ln" | "layer-norm" => Ok(Norm::Layer),
            _ => Err(format!("unknown normalisation '{s}' (expected none, batch or layer)")),
        }
    }
}

impl Serialize for Norm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Norm {
    /// A name, or the `true`/`false` that files from before layer norm recorded for batch norm.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(on) => Ok(if on { Norm::Batch } else { Norm::None }),
            Raw::Name(name) => name.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// How the initial weights are drawn (biases start at zero; a normalisation's γ at 1, β at 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Init {
    /// U(±√(6/(fan_in + fan_out))): Keras's default.
    GlorotUniform,
    /// Truncated normal, std √(2/(fan_in + fan_out)), as Keras draws it.
    GlorotNormal,
    /// U(±√(6/fan_in)).
    HeUniform,
    /// Truncated normal, std √(2/fan_in).
    HeNormal,
    /// Truncated normal, std √(1/fan_in).
    LecunNormal,
    /// U(±1/√fan_in): the "standard" initialisation Glorot and Bengio (2010) criticised.
    Standard,
    /// N(0, σ²), not truncated.
    Normal(f64),
    /// N(0, σ_w²/fan_in), not truncated: the mean-field parameterisation (`vanish theory`).
    NormalVar(f64),
    /// `gain` times a (semi-)orthogonal matrix: the Q of a Gaussian matrix's QR with R's diagonal made
    /// positive, as `torch.nn.init.orthogonal_` draws it. A layer with more outputs than inputs gets
    /// orthonormal columns, one with fewer gets orthonormal rows.
    Orthogonal(f64),
}

/// How the initial biases of the dense layers are drawn (a normalisation's β always starts at 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum BiasInit {
    #[default]
    Zero,
    /// N(0, σ_b²), with σ_b given: Nielsen's N(0, 1).
    Normal(f64),
    /// N(0, σ_b²), with σ_b² given, as the mean-field studies and `--sigma-b2` give it.
    NormalVar(f64),
}

impl fmt::Display for BiasInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BiasInit::Zero => f.write_str("zero"),
            BiasInit::Normal(s) => write!(f, "normal:{s}"),
            BiasInit::NormalVar(v) => write!(f, "normal-var:{v}"),
        }
    }
}

impl FromStr for BiasInit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "zero" | "zeros" => Ok(BiasInit::Zero),
            _ => match lower.split_once(':') {
                Some(("normal", sigma)) => Ok(BiasInit::Normal(positive(s, "sigma", sigma)?)),
                Some(("normal-var", var)) => Ok(BiasInit::NormalVar(positive(s, "sigma_b2", var)?)),
                _ => Err(format!("unknown bias init '{s}' (expected zero, normal:SIGMA_B or normal-var:SIGMA_B2)")),
            },
        }
    }
}

serde_as_string!(BiasInit);

impl BiasInit {
    /// σ_b², the biases' variance.
    pub fn variance(self) -> f64 {
        match self {
            BiasInit::Zero => 0.0,
            BiasInit::Normal(s) => s * s,
            BiasInit::NormalVar(v) => v,
        }
    }
}

/// The number after an initialiser's colon: finite and > 0, or a message naming `what` in `spec`.
fn positive(spec: &str, what: &str, value: &str) -> Result<f64, String> {
    let v: f64 = value.parse().map_err(|_| format!("init '{spec}': '{value}' is not a number"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("init '{spec}': {what} must be finite and > 0"));
    }
    Ok(v)
}

impl Init {
    /// The initialisers without a parameter (`normal:SIGMA` and `normal-var:SIGMA_W2` take one, and
    /// `orthogonal` may), for lists of choices.
    pub const NAMED: [Init; 7] = [
        Init::GlorotUniform,
        Init::GlorotNormal,
        Init::HeUniform,
        Init::HeNormal,
        Init::LecunNormal,
        Init::Standard,
        Init::Orthogonal(1.0),
    ];
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::GlorotUniform => f.write_str("glorot-uniform"),
            Init::GlorotNormal => f.write_str("glorot-normal"),
            Init::HeUniform => f.write_str("he-uniform"),
            Init::HeNormal => f.write_str("he-normal"),
            Init::LecunNormal => f.write_str("lecun-normal"),
            Init::Standard => f.write_str("standard"),
            Init::Normal(s) => write!(f, "normal:{s}"),
            Init::NormalVar(v) => write!(f, "normal-var:{v}"),
            Init::Orthogonal(g) => write!(f, "orthogonal:{g}"),
        }
    }
}

impl FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        Ok(match norm.as_str() {
            "glorot-uniform" | "glorot" | "xavier-uniform" => Init::GlorotUniform,
            "glorot-normal" | "xavier-normal" => Init::GlorotNormal,
            "he-uniform" => Init::HeUniform,
            "he-normal" | "he" | "kaiming-normal" => Init::HeNormal,
            "lecun-normal" => Init::LecunNormal,
            "standard" => Init::Standard,
            "orthogonal" => Init::Orthogonal(1.0),
            _ => match norm.split_once(':') {
                Some(("normal", sigma)) => Init::Normal(positive(s, "sigma", sigma)?),
                Some(("normal-var", var)) => Init::NormalVar(positive(s, "sigma_w2", var)?),
                Some(("orthogonal", gain)) => Init::Orthogonal(positive(s, "the gain", gain)?),
                _ => {
                    return Err(format!(
                        "unknown init '{s}' (expected glorot-uniform, glorot-normal, he-uniform, \
                         he-normal, lecun-normal, standard, normal:SIGMA, normal-var:SIGMA_W2 or \
                         orthogonal[:GAIN])"
                    ));
                }
            },
        })
    }
}

serde_as_string!(Init);

/// The network's head and loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// One logit, binary cross-entropy from logits; labels 0/1.
    Binary,
    /// `k` logits, softmax cross-entropy; labels 0..k.
    Softmax(usize),
    /// `k` sigmoid outputs, each with binary cross-entropy against its class's one-hot target, summed
    /// over the outputs (Nielsen's cost in "Neural Networks and Deep Learning"); labels 0..k.
    SigmoidCe(usize),
}

/// `--output`: the kind of head, whatever the number of classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    /// One logit with binary cross-entropy for two classes, softmax cross-entropy for more
    #[default]
    Softmax,
    /// One sigmoid output per class, the cross-entropies summed over them (Nielsen's cost)
    SigmoidCe,
}

impl OutputKind {
    /// Whether this is the default head (settings leave it out of their files, so older files keep
    /// their checksums).
    pub fn is_default(&self) -> bool {
        *self == OutputKind::default()
    }
}

impl fmt::Display for OutputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputKind::Softmax => "softmax",
            OutputKind::SigmoidCe => "sigmoid-ce",
        })
    }
}

impl Output {
    /// The output for a dataset with `classes` classes.
    pub fn for_classes(classes: usize) -> Output {
        Output::of(OutputKind::Softmax, classes)
    }

    /// The output of `kind` for `classes` classes.
    pub fn of(kind: OutputKind, classes: usize) -> Output {
        match kind {
            OutputKind::Softmax if classes <= 2 => Output::Binary,
            OutputKind::Softmax => Output::Softmax(classes),
            OutputKind::SigmoidCe => Output::SigmoidCe(classes.max(2)),
        }
    }

    pub fn kind(self) -> OutputKind {
        match self {
            Output::Binary | Output::Softmax(_) => OutputKind::Softmax,
            Output::SigmoidCe(_) => OutputKind::SigmoidCe,
        }
    }

    pub fn width(self) -> usize {
        match self {
            Output::Binary => 1,
            Output::Softmax(k) | Output::SigmoidCe(k) => k,
        }
    }
}

/// A multilayer perceptron: `input → hidden[0] → … → hidden[D−1] → output`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    pub input: usize,
    pub hidden: Vec<usize>,
    /// One per hidden layer.
    pub activations: Vec<Activation>,
    /// The hidden layers' normalisation (`batch_norm: true` in files from before layer norm).
    #[serde(alias = "batch_norm")]
    pub norm: Norm,
    pub output: Output,
    pub init: Init,
    /// The dense layers' initial biases (zero in files from before bias inits).
    #[serde(default)]
    pub bias_init: BiasInit,
    pub bn_eps: f64,
    /// Weight of the new batch statistic in the running mean and variance (PyTorch's momentum, 0.1).
    pub bn_momentum: f64,
    /// Residual connections with this scale α: a hidden layer after the first whose input and output
    /// widths are equal computes `a_in + α·f(N(W·a_in + b))` (`has_skip`). `None`: a plain MLP.
    #[serde(default)]
    pub residual: Option<f64>,
}

impl MlpSpec {
    /// A spec with one activation for every hidden layer, Glorot-uniform init and no normalisation.
    pub fn new(input: usize, hidden: &[usize], activation: Activation, output: Output) -> Self {
        MlpSpec {
            input,
            hidden: hidden.to_vec(),
            activations: vec![activation; hidden.len()],
            norm: Norm::None,
            output,
            init: Init::GlorotUniform,
            bias_init: BiasInit::Zero,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
            residual: None,
        }
    }

    /// The same network with residual connections of scale `alpha` (or none).
    pub fn with_residual(mut self, alpha: Option<f64>) -> Self {
        self.residual = alpha;
        self
    }

    /// Whether dense layer `i` has a skip connection: residual on, a hidden layer other than the first
    /// (whose input is the data, not a representation), with equal input and output widths.
    pub fn has_skip(&self, i: usize) -> bool {
        self.residual.is_some() && i > 0 && i < self.hidden.len() && self.hidden[i - 1] == self.hidden[i]
    }

    /// The skip's branch scale α of layer `i`, 0 where it has no skip.
    pub fn skip_scale(&self, i: usize) -> f64 {
        if self.has_skip(i) { self.residual.unwrap_or(0.0) } else { 0.0 }
    }

    pub fn with_norm(mut self, norm: Norm) -> Self {
        self.norm = norm;
        self
    }

    /// Batch norm on every hidden layer, or no normalisation.
    pub fn with_batch_norm(self, on: bool) -> Self {
        self.with_norm(if on { Norm::Batch } else { Norm::None })
    }

    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    pub fn with_bias_init(mut self, bias_init: BiasInit) -> Self {
        self.bias_init = bias_init;
        self
    }

    /// Number of dense layers, the output layer included.
    pub fn num_layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// `(in, out)` of dense layer `i`.
    pub fn layer_dims(&self, i: usize) -> (usize, usize) {
        let fan_in = if i == 0 { self.input } else { self.hidden[i - 1] };
        let fan_out = if i < self.hidden.len() { self.hidden[i] } else { self.output.width() };
        (fan_in, fan_out)
    }

    /// The normalisation after dense layer `i` (hidden layers only; the output layer has none).
    pub fn norm_of(&self, i: usize) -> Norm {
        if i < self.hidden.len() { self.norm } else { Norm::None }
    }

    /// Whether dense layer `i` is followed by batch norm.
    pub fn has_bn(&self, i: usize) -> bool {
        self.norm_of(i) == Norm::Batch
    }

    /// Whether dense layer `i` is followed by layer norm.
    pub fn has_ln(&self, i: usize) -> bool {
        self.norm_of(i) == Norm::Layer
    }

    /// The activation after dense layer `i`; the output layer's is the identity (the loss takes logits).
    pub fn activation(&self, i: usize) -> Activation {
        self.activations.get(i).copied().unwrap_or(Activation::Identity)
    }

    /// The widest activation, which sizes the engines' scratch buffers.
    /// The widest layer's units (hidden and output widths, not the input).
    pub fn max_units(&self) -> usize {
        (0..self.num_layers()).map(|i| self.layer_dims(i).1).max().unwrap_or(1)
    }

    pub fn max_width(&self) -> usize {
        (0..self.num_layers()).map(|i| self.layer_dims(i).1).chain([self.input]).max().unwrap_or(1)
    }

    /// Checks the spec is one both engines can build; the message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.input == 0 {
            return Err("the input width must be at least 1".into());
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(format!("hidden layer {i} has width 0; widths must be at least 1"));
        }
        if self.activations.len() != self.hidden.len() {
            return Err(format!(
                "{} activations given for {} hidden layers (give one, or one per layer)",
                self.activations.len(),
                self.hidden.len()
            ));
        }
        if let Output::Softmax(k) | Output::SigmoidCe(k) = self.output
            && k < 2
        {
            return Err(format!("a softmax or sigmoid-ce output needs at least 2 classes, not {k}"));
        }
        if !(self.bn_eps.is_finite() && self.bn_eps > 0.0) {
            return Err("the normalisation's eps must be finite and > 0".into());
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return Err("batch-norm momentum must be in [0, 1]".into());
        }
        if let Some(alpha) = self.residual
            && !(alpha.is_finite() && alpha > 0.0)
        {
            return Err(format!("--residual-scale must be finite and > 0, got {alpha}"));
        }
        Ok(())
    }

    pub fn layout(&self) -> ParamLayout {
        ParamLayout::new(self)
    }

    /// A short human name such as `2→10×11→1 sigmoid+bn` (`+ln` for layer norm).
    pub fn describe(&self) -> String {
        let mut widths = String::new();
        let mut i = 0;
        while i < self.hidden.len() {
            let w = self.hidden[i];
            let run = self.hidden[i..].iter().take_while(|&&x| x == w).count();
            widths.push_str(&if run > 1 { format!("→{w}×{run}") } else { format!("→{w}") });
            i += run;
        }
        let mut acts: Vec<String> = self.activations.iter().map(|a| a.to_string()).collect();
        acts.dedup();
        let residual = match self.residual {
            None => String::new(),
            Some(1.0) => " residual".into(),
            Some(a) => format!(" residual×{a}"),
        };
        format!(
            "{}{}→{} {}{}{residual}",
            self.input,
            widths,
            self.output.width(),
            acts.join(","),
            self.norm.prefix().map_or(String::new(), |p| format!("+{p}"))
        )
    }
}

/// What a parameter tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamKind {
    Weight,
    Bias,
    Gamma,
    Beta,
    RunningMean,
    RunningVar,
}

/// One tensor's place in an arena.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorSlot {
    /// The interchange name, e.g. `layers.0.weight`, `layers.2.bn.gamma` or `layers.2.ln.beta`.
    pub name: String,
    pub layer: usize,
    pub kind: ParamKind,
    pub shape: Vec<usize>,
    /// In floats from the arena's start; a multiple of [`ARENA_ALIGN`].
    pub offset: usize,
    pub len: usize,
}

impl TensorSlot {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// Where every tensor lives. Trainable tensors (weights, biases, γ, β) share the parameter arena, and
/// gradients and optimiser state use arenas of the same layout, so an optimiser step, zeroing and
/// per-tensor norms are each one pass over one buffer. Batch norm's running statistics, which are not
/// trained, live in a second, smaller arena. γ and β are batch norm's or layer norm's, as the spec says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamLayout {
    pub params: Vec<TensorSlot>,
    pub param_len: usize,
    pub running: Vec<TensorSlot>,
    pub running_len: usize,
}

fn push_slot(
    slots: &mut Vec<TensorSlot>,
    len: &mut usize,
    layer: usize,
    kind: ParamKind,
    shape: Vec<usize>,
    norm: Norm,
) {
    let prefix = norm.prefix().unwrap_or("bn");
    let name = match kind {
        ParamKind::Weight => format!("layers.{layer}.weight"),
        ParamKind::Bias => format!("layers.{layer}.bias"),
        ParamKind::Gamma => format!("layers.{layer}.{prefix}.gamma"),
        ParamKind::Beta => format!("layers.{layer}.{prefix}.beta"),
        ParamKind::RunningMean => format!("layers.{layer}.{prefix}.running_mean"),
        ParamKind::RunningVar => format!("layers.{layer}.{prefix}.running_var"),
    };
    let n: usize = shape.iter().product();
    slots.push(TensorSlot { name, layer, kind, shape, offset: *len, len: n });
    *len += n.div_ceil(ARENA_ALIGN) * ARENA_ALIGN;
}

impl ParamLayout {
    fn new(spec: &MlpSpec) -> Self {
        let (mut params, mut param_len) = (Vec::new(), 0);
        let (mut running, mut running_len) = (Vec::new(), 0);
        for i in 0..spec.num_layers() {
            let (fan_in, fan_out) = spec.layer_dims(i);
            let norm = spec.norm_of(i);
            push_slot(&mut params, &mut param_len, i, ParamKind::Weight, vec![fan_out, fan_in], norm);
            push_slot(&mut params, &mut param_len, i, ParamKind::Bias, vec![fan_out], norm);
            if norm != Norm::None {
                push_slot(&mut params, &mut param_len, i, ParamKind::Gamma, vec![fan_out], norm);
                push_slot(&mut params, &mut param_len, i, ParamKind::Beta, vec![fan_out], norm);
            }
            if norm == Norm::Batch {
                push_slot(&mut running, &mut running_len, i, ParamKind::RunningMean, vec![fan_out], norm);
                push_slot(&mut running, &mut running_len, i, ParamKind::RunningVar, vec![fan_out], norm);
            }
        }
        ParamLayout { params, param_len: param_len.max(1), running, running_len: running_len.max(1) }
    }

    /// Layer `layer`'s tensor of `kind`: slots are in layer order, so a binary search finds the layer's
    /// few (a linear scan made every lookup, and a deep model's passes, quadratic in depth).
    fn find(slots: &[TensorSlot], layer: usize, kind: ParamKind) -> Option<&TensorSlot> {
        let first = slots.partition_point(|s| s.layer < layer);
        slots[first..].iter().take_while(|s| s.layer == layer).find(|s| s.kind == kind)
    }

    pub fn weight(&self, layer: usize) -> &TensorSlot {
        Self::find(&self.params, layer, ParamKind::Weight).expect("every dense layer has a weight")
    }

    pub fn bias(&self, layer: usize) -> &TensorSlot {
        Self::find(&self.params, layer, ParamKind::Bias).expect("every dense layer has a bias")
    }

    pub fn gamma(&self, layer: usize) -> Option<&TensorSlot> {
        Self::find(&self.params, layer, ParamKind::Gamma)
    }

    pub fn beta(&self, layer: usize) -> Option<&TensorSlot> {
        Self::find(&self.params, layer, ParamKind::Beta)
    }

    pub fn running_mean(&self, layer: usize) -> Option<&TensorSlot> {
        Self::find(&self.running, layer, ParamKind::RunningMean)
    }

    pub fn running_var(&self, layer: usize) -> Option<&TensorSlot> {
        Self::find(&self.running, layer, ParamKind::RunningVar)
    }

    /// A trainable tensor or running statistic by interchange name.
    pub fn by_name(&self, name: &str) -> Option<&TensorSlot> {
        self.params.iter().chain(&self.running).find(|s| s.name == name)
    }
}

/// A network's parameters as f32 arenas (the GPU's precision, so both engines start from the same
/// numbers; the reference widens them to f64 exactly).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub layout: ParamLayout,
    /// Trainable tensors at `layout.params` offsets; padding is zero.
    pub values: Vec<f32>,
    /// Running mean and variance at `layout.running` offsets.
    pub running: Vec<f32>,
}

impl Params {
    /// Zeros everywhere (running variances too): a template to fill.
    pub fn zeros(layout: ParamLayout) -> Self {
        Params { values: vec![0.0; layout.param_len], running: vec![0.0; layout.running_len], layout }
    }

    /// Seeded initial weights: for each dense layer in order, the weight drawn row-major from the
    /// `Init` stream of `seed`, and its bias from the `Bias` stream if `bias_init` draws one (so the
    /// weights are the same whatever the biases); β zero, γ one, running mean 0 and running variance 1.
    pub fn init(spec: &MlpSpec, seed: u64) -> Self {
        let mut p = Params::zeros(spec.layout());
        let mut rng = rng(seed, Stream::Init);
        let mut bias_rng = crate::rng::rng(seed, Stream::Bias);
        for i in 0..spec.num_layers() {
            let (fan_in, fan_out) = spec.layer_dims(i);
            let w = p.layout.weight(i).range();
            if let Init::Orthogonal(gain) = spec.init {
                let q = orthogonal(fan_out, fan_in, &mut rng);
                for (v, q) in p.values[w].iter_mut().zip(q) {
                    *v = (gain * q) as f32;
                }
            } else {
                for v in &mut p.values[w] {
                    *v = draw_weight(spec.init, fan_in, fan_out, &mut rng) as f32;
                }
            }
            if spec.bias_init != BiasInit::Zero {
                let normal = Normal::new(0.0, spec.bias_init.variance().sqrt()).expect("sigma validated as > 0");
                let b = p.layout.bias(i).range();
                for v in &mut p.values[b] {
                    *v = normal.sample(&mut bias_rng) as f32;
                }
            }
            if let Some(g) = p.layout.gamma(i).map(|s| s.range()) {
                p.values[g].fill(1.0);
            }
            if let Some(rv) = p.layout.running_var(i).map(|s| s.range()) {
                p.running[rv].fill(1.0);
            }
        }
        p
    }

    pub fn tensor(&self, slot: &TensorSlot) -> &[f32] {
        match slot.kind {
            ParamKind::RunningMean | ParamKind::RunningVar => &self.running[slot.range()],
            _ => &self.values[slot.range()],
        }
    }

    pub fn tensor_mut(&mut self, slot: &TensorSlot) -> &mut [f32] {
        match slot.kind {
            ParamKind::RunningMean | ParamKind::RunningVar => &mut self.running[slot.range()],
            _ => &mut self.values[slot.range()],
        }
    }

    /// The weight of dense layer `i`, `[out, in]` row-major.
    pub fn weight(&self, i: usize) -> &[f32] {
        self.tensor(self.layout.weight(i))
    }
}

/// Keras draws its "normal" initialisers from a normal truncated at two standard deviations, with the
/// scale divided by this constant (the std of a unit normal truncated to [−2, 2]) so the variance is
/// the intended one.
const TRUNCATED_NORMAL_STD: f64 = 0.879_625_661_034_239_8;

fn truncated_normal<R: Rng>(std: f64, rng: &mut R) -> f64 {
    loop {
        let z: f64 = StandardNormal.sample(rng);
        if z.abs() <= 2.0 {
            return z * std / TRUNCATED_NORMAL_STD;
        }
    }
}

fn draw_weight<R: Rng>(init: Init, fan_in: usize, fan_out: usize, rng: &mut R) -> f64 {
    let (fi, fo) = (fan_in as f64, fan_out as f64);
    let uniform = |limit: f64, rng: &mut R| rng.random_range(-limit..=limit);
    match init {
        Init::GlorotUniform => uniform((6.0 / (fi + fo)).sqrt(), rng),
        Init::GlorotNormal => truncated_normal((2.0 / (fi + fo)).sqrt(), rng),
        Init::HeUniform => uniform((6.0 / fi).sqrt(), rng),
        Init::HeNormal => truncated_normal((2.0 / fi).sqrt(), rng),
        Init::LecunNormal => truncated_normal((1.0 / fi).sqrt(), rng),
        Init::Standard => uniform(1.0 / fi.sqrt(), rng),
        Init::Normal(sigma) => Normal::new(0.0, sigma).expect("sigma validated as > 0").sample(rng),
        Init::NormalVar(var) => Normal::new(0.0, (var / fi).sqrt()).expect("sigma_w2 validated as > 0").sample(rng),
        Init::Orthogonal(_) => unreachable!("orthogonal weights are drawn a matrix at a time"),
    }
}

/// A `[rows, cols]` row-major matrix with orthonormal rows (rows ≤ cols) or columns (rows > cols): the
/// Q factor of a standard Gaussian matrix, with R's diagonal positive (the unique such QR, which is what
/// `torch.nn.init.orthogonal_`'s sign fix gives). Q comes from classical Gram–Schmidt applied twice
/// ("twice is enough", Giraud et al. 2005), which keeps it orthonormal to rounding for Gaussian
/// matrices and gives R a positive diagonal by construction.
fn orthogonal<R: Rng>(rows: usize, cols: usize, rng: &mut R) -> Vec<f64> {
    // Orthonormalise the `k` vectors of length `n` of the tall side.
    let (k, n) = if rows > cols { (cols, rows) } else { (rows, cols) };
    let draws: Vec<f64> = (0..rows * cols).map(|_| StandardNormal.sample(rng)).collect();
    // vectors[j] is column j of the tall matrix: a column of the draws when rows > cols, else a row.
    let mut vectors: Vec<Vec<f64>> = (0..k)
        .map(|j| (0..n).map(|i| if rows > cols { draws[i * cols + j] } else { draws[j * cols + i] }).collect())
        .collect();
    for j in 0..k {
        let (done, rest) = vectors.split_at_mut(j);
        let v = &mut rest[0];
        for _ in 0..2 {
            let dots: Vec<f64> = done.iter().map(|u| u.iter().zip(v.iter()).map(|(a, b)| a * b).sum()).collect();
            for (u, d) in done.iter().zip(dots) {
                v.iter_mut().zip(u).for_each(|(x, u)| *x -= d * u);
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0.0; rows * cols];
    for (j, v) in vectors.iter().enumerate() {
        for (i, x) in v.iter().enumerate() {
            if rows > cols {
                out[i * cols + j] = *x;
            } else {
                out[j * cols + i] = *x;
            }
        }
    }
    out
}

impl Init {
    /// The variance of one weight under this initialiser, for the theory overlay.
    pub fn weight_variance(self, fan_in: usize, fan_out: usize) -> f64 {
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        match self {
            Init::GlorotUniform | Init::GlorotNormal => 2.0 / (fi + fo),
            Init::HeUniform | Init::HeNormal => 2.0 / fi,
            Init::LecunNormal => 1.0 / fi,
            Init::Standard => 1.0 / (3.0 * fi),
            Init::Normal(s) => s * s,
            Init::NormalVar(v) => v / fi,
            // ‖W‖² = gain²·min(fan_in, fan_out) over fan_in·fan_out entries
            Init::Orthogonal(g) => g * g / fi.max(fo),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
        }
        assert_eq!("leaky_relu:0.2".parse::<Activation>().unwrap(), Activation::LeakyRelu(0.2));
        assert!("relu:3".parse::<Activation>().is_err());
        assert!("softsign".parse::<Activation>().is_err());
    }

    #[test]
    fn init_names_round_trip() {
        for i in Init::NAMED.into_iter().chain([Init::Normal(0.5)]) {
            assert_eq!(i.to_string().parse::<Init>().unwrap(), i);
        }
        assert!("normal:-1".parse::<Init>().is_err());
    }

    #[test]
    fn layout_is_aligned_and_disjoint() {
        let spec = MlpSpec::new(2, &[10, 7], Activation::Tanh, Output::Softmax(3)).with_batch_norm(true);
        let l = spec.layout();
        assert_eq!(l.params.len(), 3 * 2 + 2 * 2);
        let mut end = 0;
        for s in &l.params {
            assert_eq!(s.offset % ARENA_ALIGN, 0, "{}", s.name);
            assert!(s.offset >= end, "{} overlaps", s.name);
            end = s.offset + s.len;
        }
        assert_eq!(l.weight(2).shape, vec![3, 7]);
        assert!(l.gamma(2).is_none(), "the output layer has no batch norm");
        assert_eq!(l.by_name("layers.1.bn.running_var").unwrap().len, 7);
    }

    #[test]
    fn init_is_seeded_and_bounded() {
        let spec = MlpSpec::new(2, &[10; 11], Activation::Sigmoid, Output::Binary);
        let a = Params::init(&spec, 7);
        assert_eq!(a, Params::init(&spec, 7));
        assert_ne!(a, Params::init(&spec, 8));
        let limit = (6.0f32 / 12.0).sqrt();
        let w0 = a.weight(0);
        assert!(w0.iter().all(|w| w.abs() <= limit) && w0.iter().any(|w| w.abs() > limit / 2.0));
        assert!(a.tensor(a.layout.bias(0)).iter().all(|&b| b == 0.0));
    }

    #[test]
    fn truncated_normal_has_the_intended_std() {
        let mut r = rng(1, Stream::Test);
        let n = 200_000;
        let var = (0..n).map(|_| truncated_normal(0.5, &mut r).powi(2)).sum::<f64>() / n as f64;
        assert!((var.sqrt() - 0.5).abs() < 0.005, "std {}", var.sqrt());
    }

    #[test]
    fn layer_norm_has_gain_and_bias_but_no_running_statistics() {
        let spec = MlpSpec::new(2, &[6, 6], Activation::Sigmoid, Output::Binary).with_norm(Norm::Layer);
        let l = spec.layout();
        assert_eq!(l.gamma(1).unwrap().name, "layers.1.ln.gamma");
        assert_eq!(l.beta(0).unwrap().name, "layers.0.ln.beta");
        assert!(l.gamma(2).is_none() && l.running.is_empty());
        assert_eq!(Params::init(&spec, 1).tensor(l.gamma(0).unwrap()), &[1.0; 6]);
        assert_eq!(spec.describe(), "2→6×2→1 sigmoid+ln");
        for n in Norm::ALL {
            assert_eq!(n.to_string().parse::<Norm>().unwrap(), n);
        }
        assert!("group".parse::<Norm>().is_err());
    }

    #[test]
    fn old_spec_json_reads_batch_norm_as_a_norm() {
        let mut json = serde_json::to_value(MlpSpec::new(2, &[3], Activation::Tanh, Output::Binary)).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("norm");
        obj.insert("batch_norm".into(), true.into());
        let spec: MlpSpec = serde_json::from_value(json).unwrap();
        assert_eq!(spec.norm, Norm::Batch);
    }

    #[test]
    fn describe_groups_repeated_widths() {
        let spec = MlpSpec::new(2, &[10; 11], Activation::Sigmoid, Output::Binary).with_batch_norm(true);
        assert_eq!(spec.describe(), "2→10×11→1 sigmoid+bn");
    }

    #[test]
    fn orthogonal_weights_are_semi_orthogonal_with_the_gain() {
        // fan_in → fan_out: square, wider (orthonormal rows) and narrower (orthonormal columns) layers
        for (fan_in, fan_out, gain) in [(6, 6, 1.0), (9, 4, 2.0), (4, 9, 0.5), (784, 30, 1.0)] {
            let spec =
                MlpSpec::new(fan_in, &[fan_out], Activation::Tanh, Output::Binary).with_init(Init::Orthogonal(gain));
            let p = Params::init(&spec, 3);
            let w: Vec<f64> = p.weight(0).iter().map(|&v| v as f64).collect(); // [fan_out, fan_in]
            let (rows, cols) = (fan_out, fan_in);
            let k = rows.min(cols);
            // the Gram matrix of the short side's vectors is gain²·I
            for a in 0..k {
                for b in 0..k {
                    let dot: f64 = if rows <= cols {
                        (0..cols).map(|j| w[a * cols + j] * w[b * cols + j]).sum()
                    } else {
                        (0..rows).map(|i| w[i * cols + a] * w[i * cols + b]).sum()
                    };
                    let want = if a == b { gain * gain } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5 * gain * gain, "{fan_in}→{fan_out}: ({a},{b}) = {dot}");
                }
            }
            let sq: f64 = w.iter().map(|v| v * v).sum::<f64>() / (rows * cols) as f64;
            let var = spec.init.weight_variance(fan_in, fan_out);
            assert!((sq - var).abs() < 1e-5 * var, "‖W‖²/numel {sq} vs {var}");
        }
    }

    #[test]
    fn normal_var_and_bias_inits_draw_the_stated_variances() {
        let spec = MlpSpec::new(400, &[400], Activation::Tanh, Output::Binary)
            .with_init(Init::NormalVar(2.0))
            .with_bias_init(BiasInit::Normal(0.5));
        let p = Params::init(&spec, 1);
        let var = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64;
        // 160,000 draws: the sample variance is within 1% (≈3 standard errors of 0.35%)
        let w = var(p.weight(0));
        assert!((w / (2.0 / 400.0) - 1.0).abs() < 0.01, "weight variance {w}");
        // 400 draws: within 25% (≈3.5 standard errors of 7%)
        let b = var(p.tensor(p.layout.bias(0)));
        assert!((b / 0.25 - 1.0).abs() < 0.25, "bias variance {b}");
        // the biases have their own stream: every weight is that of zero biases
        let zero = Params::init(&spec.clone().with_bias_init(BiasInit::Zero), 1);
        for i in 0..spec.num_layers() {
            assert_eq!(p.weight(i), zero.weight(i), "layer {i}");
        }
        assert!(zero.tensor(zero.layout.bias(0)).iter().all(|&b| b == 0.0));
    }

    #[test]
    fn init_names_round_trip_and_bad_ones_are_named() {
        for init in [Init::NormalVar(1.76), Init::Orthogonal(1.0), Init::Orthogonal(2.5), Init::Normal(0.1)] {
            assert_eq!(init.to_string().parse::<Init>().unwrap(), init);
        }
        assert_eq!("orthogonal".parse::<Init>().unwrap(), Init::Orthogonal(1.0));
        for b in [BiasInit::Zero, BiasInit::Normal(1.0), BiasInit::NormalVar(0.05)] {
            assert_eq!(b.to_string().parse::<BiasInit>().unwrap(), b);
        }
        for bad in ["normal-var:0", "normal-var:x", "orthogonal:-1", "orthogonal:inf"] {
            let e = bad.parse::<Init>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!("normal:-1".parse::<BiasInit>().unwrap_err().contains("normal:-1"));
        assert!("uniform".parse::<BiasInit>().unwrap_err().contains("zero, normal:SIGMA_B or normal-var:SIGMA_B2"));
    }
}
