//! Every default value of the commands' settings, written once: the command line's flags
//! (`default_value_t`), the settings types' `Default` impls and the web page (which asks the library
//! for its controls' starting values) all read them here.

use serde::Serialize;

use crate::model::{Activation, Init, Norm, OutputKind};

/// The notebook's data: scikit-learn's `make_circles(n_samples=1000, factor=0.85, noise=0.1)`, a third
/// of it held out (its 670/330 split).
pub const DATASET: &str = "circles";
pub const SAMPLES: usize = 1000;
pub const FACTOR: f64 = 0.85;
pub const CLASSES: usize = 2;
pub const TEST_FRACTION: f64 = 0.33;

/// The notebook's network: 11 hidden layers of 10 units, Glorot-uniform weights.
pub const DEPTH: usize = 11;
pub const WIDTH: usize = 10;
pub const INIT: Init = Init::GlorotUniform;
/// `vanish train`'s activation: the one that shows the problem.
pub const ACTIVATION: Activation = Activation::Sigmoid;

/// The notebook's training: Adam (Keras's defaults), batch 32, one epoch.
pub const LR: f64 = 1e-3;
pub const BATCH_SIZE: usize = 32;
pub const EPOCHS: usize = 1;
pub const SEED: u64 = 0;

/// `vanish sweep`'s grid without a preset.
pub const SWEEP_DEPTHS: &str = "1..=10";
pub const SWEEP_WIDTHS: &str = "10";
pub const SWEEP_ACTIVATIONS: &str = "sigmoid,tanh,relu";
pub const SWEEP_NORMS: &str = "none";
pub const SWEEP_INITS: &str = "glorot-uniform";
pub const SWEEP_OPTIMIZERS: &str = "adam";
pub const SWEEP_SEEDS: u64 = 1;

/// The values a setting can take where they are a short list (the page's drop-down menus).
#[derive(Clone, Debug, Serialize)]
pub struct Choices {
    pub dataset: Vec<String>,
    pub activation: Vec<String>,
    pub init: Vec<String>,
    pub norm: Vec<String>,
    pub optimizer: Vec<String>,
    pub output: Vec<String>,
}

/// Every short list of values, by the settings' names.
pub fn choices() -> Choices {
    let names = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>();
    Choices {
        dataset: crate::data::SYNTHETIC.iter().map(|s| s.to_string()).collect(),
        activation: names(&mut Activation::ALL.iter().map(Activation::to_string)),
        init: names(&mut Init::NAMED.iter().map(Init::to_string)),
        norm: names(&mut Norm::ALL.iter().map(Norm::to_string)),
        optimizer: vec!["adam".into(), "sgd".into()],
        output: names(&mut [OutputKind::Softmax, OutputKind::SigmoidCe].iter().map(OutputKind::to_string)),
    }
}
