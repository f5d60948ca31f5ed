//! The metadata that travels in a safetensors file. vanish writes a manifest into every file (`spec`,
//! `seed`, `vanish_version`, `adapter`, `content`); when reading, only `spec` matters, in the format the
//! JAX fixtures use: JSON with `widths`, `activations` and `batchnorm` (each one value for every hidden
//! layer or one per layer), `output`, `bn_eps`, and `norm` (`none`, `batch` or `layer`), `residual`,
//! `residual_scale`. Unknown keys are ignored, so files from other tools with extra fields still load.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::{InterchangeError, TensorFile};
use crate::model::{Activation, MlpSpec, Norm, Output};

/// The metadata key holding the spec JSON.
pub const SPEC_KEY: &str = "spec";

/// The loss names `output` may hold, as the fixtures write them.
const BINARY_LOSS: &str = "bce_with_logits";
const SOFTMAX_LOSS: &str = "softmax_cross_entropy";
const SIGMOID_LOSS: &str = "sigmoid_cross_entropy";

/// What vanish records about a file it writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub spec: MlpSpec,
    /// The run's seed, where the file came from a seeded run (not for `vanish grads`).
    pub seed: Option<u64>,
    /// The engine that computed the contents, e.g. `gpu: llvmpipe …` or `cpu reference (f64)`.
    pub adapter: String,
    /// What the file holds: `initial weights`, `final weights` or `gradients`.
    pub content: String,
    /// The settings of the command that wrote it (`vanish train`'s, as JSON), where they decide the
    /// contents: a rerun with other settings is another configuration's output.
    pub settings: Option<String>,
}

impl Manifest {
    /// The safetensors metadata map.
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert(SPEC_KEY.to_string(), spec_json(&self.spec));
        if let Some(seed) = self.seed {
            m.insert("seed".to_string(), seed.to_string());
        }
        m.insert("vanish_version".to_string(), env!("CARGO_PKG_VERSION").to_string());
        m.insert("adapter".to_string(), self.adapter.clone());
        m.insert("content".to_string(), self.content.clone());
        if let Some(settings) = &self.settings {
            m.insert("settings".to_string(), settings.clone());
        }
        m
    }
}

impl Manifest {
    /// Whether the file at `path` is one vanish wrote with this manifest's content, network, seed and
    /// settings: a rerun of the same command may replace it.
    pub fn matches_file(&self, path: &Path) -> bool {
        let Some(found) = TensorFile::read_metadata(path) else { return false };
        let want = self.to_metadata();
        ["content", SPEC_KEY, "seed", "settings"].iter().all(|k| found.get(*k) == want.get(*k))
            && found.contains_key("vanish_version")
    }
}

/// The `spec` JSON for `spec`: the fixtures' keys, activations per layer, plus vanish's `init` and
/// `bn_momentum` so a file records how it was made.
pub fn spec_json(spec: &MlpSpec) -> String {
    let widths: Vec<usize> =
        std::iter::once(spec.input).chain(spec.hidden.iter().copied()).chain([spec.output.width()]).collect();
    let output = match spec.output {
        Output::Binary => BINARY_LOSS,
        Output::Softmax(_) => SOFTMAX_LOSS,
        Output::SigmoidCe(_) => SIGMOID_LOSS,
    };
    json!({
        "widths": widths,
        "activations": spec.activations.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "batchnorm": spec.norm == Norm::Batch,
        "output": output,
        "bn_eps": spec.bn_eps,
        "bn_momentum": spec.bn_momentum,
        "init": spec.init.to_string(),
        "norm": spec.norm.to_string(),
        "residual": spec.residual.is_some(),
        "residual_scale": spec.residual.unwrap_or(1.0),
    })
    .to_string()
}

/// One value for every hidden layer, or one per layer.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

#[derive(Deserialize)]
struct RawSpec {
    widths: Option<Vec<usize>>,
    activations: Option<OneOrMany<String>>,
    batchnorm: Option<OneOrMany<bool>>,
    output: Option<String>,
    bn_eps: Option<f64>,
    /// Residual connections and their scale α (absent: none).
    residual: Option<bool>,
    residual_scale: Option<f64>,
    /// `none`, `batch` or `layer`; an unknown kind is refused, since reading such a file as another
    /// network would compute other gradients than the file's.
    norm: Option<String>,
}

/// The file's recorded spec, each field `None` where it is not recorded.
/// The losses a file's `output` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordedLoss {
    /// bce_with_logits: one logit
    Binary,
    /// softmax_cross_entropy: two or more logits
    Softmax,
    /// sigmoid_cross_entropy: one sigmoid output per class, two or more
    SigmoidCe,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedSpec {
    pub widths: Option<Vec<usize>>,
    /// Expanded to one per hidden layer when recorded as one name.
    pub activations: Option<Vec<Activation>>,
    /// From `norm`, or from `batchnorm` (true: batch) in files without it.
    pub norm: Option<Norm>,
    /// The recorded head's loss.
    pub loss: Option<RecordedLoss>,
    pub bn_eps: Option<f64>,
    /// `Some(Some(α))`: residual connections of scale α; `Some(None)`: recorded as off; `None`: not recorded.
    pub residual: Option<Option<f64>>,
}

/// Parses the file's `spec` metadata for a network with `hidden` hidden layers; no `spec` key gives an
/// empty record. Bad JSON, unknown names and wrong counts are errors naming the key.
pub fn recorded_spec(file: &TensorFile, hidden: usize) -> Result<RecordedSpec, InterchangeError> {
    let Some(text) = file.metadata(SPEC_KEY) else {
        return Ok(RecordedSpec::default());
    };
    let bad = |message: String| file.metadata_error(SPEC_KEY, message);
    let raw: RawSpec = serde_json::from_str(text).map_err(|e| bad(format!("not the expected JSON object ({e})")))?;
    let per_layer = |n: usize, what: &str| -> Result<(), InterchangeError> {
        if n == hidden {
            Ok(())
        } else {
            Err(bad(format!("{n} {what} listed, but the weights give {hidden} hidden layers")))
        }
    };
    let activations = match raw.activations {
        None => None,
        Some(OneOrMany::One(name)) => Some(vec![parse_activation(&name).map_err(bad)?; hidden]),
        Some(OneOrMany::Many(names)) => {
            per_layer(names.len(), "activations")?;
            Some(names.iter().map(|n| parse_activation(n)).collect::<Result<_, _>>().map_err(bad)?)
        }
    };
    let batch_norm = match raw.batchnorm {
        None => None,
        Some(OneOrMany::One(b)) => Some(b),
        Some(OneOrMany::Many(flags)) => {
            per_layer(flags.len(), "batchnorm flags")?;
            if flags.windows(2).any(|w| w[0] != w[1]) {
                return Err(bad(format!("batchnorm {flags:?} is on some layers only; vanish needs all or none")));
            }
            flags.first().copied()
        }
    };
    if let Some(alpha) = raw.residual_scale
        && !(alpha.is_finite() && alpha > 0.0)
    {
        return Err(bad(format!("residual_scale {alpha} is not a finite number > 0")));
    }
    let residual = raw.residual.map(|on| on.then(|| raw.residual_scale.unwrap_or(1.0)));
    let norm = match raw.norm.as_deref() {
        None => batch_norm.map(|on| if on { Norm::Batch } else { Norm::None }),
        Some(name) => {
            let norm = name
                .parse::<Norm>()
                .map_err(|_| bad(format!("records norm `{name}`; this version of vanish has none, batch or layer")))?;
            if let Some(on) = batch_norm
                && on != (norm == Norm::Batch)
            {
                return Err(bad(format!("batchnorm {on} contradicts norm `{name}`")));
            }
            Some(norm)
        }
    };
    let loss = match raw.output.as_deref() {
        None => None,
        Some(BINARY_LOSS | "binary") => Some(RecordedLoss::Binary),
        Some(SOFTMAX_LOSS | "softmax") => Some(RecordedLoss::Softmax),
        Some(SIGMOID_LOSS | "sigmoid-ce") => Some(RecordedLoss::SigmoidCe),
        Some(other) => {
            return Err(bad(format!("output `{other}` is not one of {BINARY_LOSS}, {SOFTMAX_LOSS}, {SIGMOID_LOSS}")));
        }
    };
    if let Some(eps) = raw.bn_eps
        && !(eps.is_finite() && eps > 0.0)
    {
        return Err(bad(format!("bn_eps {eps} must be finite and > 0")));
    }
    Ok(RecordedSpec { widths: raw.widths, activations, norm, loss, bn_eps: raw.bn_eps, residual })
}

fn parse_activation(name: &str) -> Result<Activation, String> {
    name.parse::<Activation>()
}
