//! The network a file describes, inferred from its tensor shapes: dense layers `layers.0 …` up to the
//! first missing weight, widths from the `[out, in]` weights (which must chain), batch norm from the
//! presence of `layers.{i}.bn.gamma` and layer norm from `layers.{i}.ln.gamma`, the output from the last layer's width (1 logit: binary
//! cross-entropy; k ≥ 2: softmax over k classes). The activation, which shapes cannot show, comes from
//! the caller or the `spec` metadata. Also the batch (`x` `[N, in]`, `y` `[N]`) for `vanish grads`.

use crate::data::Dataset;
use crate::model::{Activation, MlpSpec, Norm, Output, ParamKind, Params};

use super::manifest::{RecordedLoss, RecordedSpec, recorded_spec};
use super::{InterchangeError, TensorFile};

/// A network read from a file, at the file's precision.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    pub spec: MlpSpec,
    /// The trainable tensors in `spec.layout()`'s arena, widened exactly from the file; padding zero.
    pub values: Vec<f64>,
    /// Running means and variances in the layout's running arena; 0 and 1 where the file has none.
    pub running: Vec<f64>,
    /// What the file's `spec` metadata records, for callers that compare it with their own settings.
    pub recorded: RecordedSpec,
}

/// The first value of `values` whose magnitude f32 cannot hold (it would become infinite), as its index.
fn past_f32(values: &[f64]) -> Option<usize> {
    values.iter().position(|v| v.abs() > f32::MAX as f64)
}

impl ModelFile {
    /// The parameters rounded to f32, the precision both engines start from; a value past f32's range is
    /// an error naming its tensor (it would be infinite, and training would blame the learning rate).
    pub fn params_f32(&self, file: &TensorFile) -> Result<Params, InterchangeError> {
        let layout = self.spec.layout();
        for (slot, arena) in
            layout.params.iter().map(|s| (s, &self.values)).chain(layout.running.iter().map(|s| (s, &self.running)))
        {
            if let Some(i) = past_f32(&arena[slot.range()]) {
                return Err(file.value_error(
                    &slot.name,
                    format!(
                        "element {} is {}, outside f32's range (±3.4e38), which both engines start from",
                        super::read::element(i, &slot.shape),
                        crate::text::number(arena[slot.range()][i])
                    ),
                ));
            }
        }
        Ok(self.params())
    }

    /// The parameters rounded to f32 (values past f32's range become infinite: see `params_f32`).
    pub fn params(&self) -> Params {
        let mut p = Params::zeros(self.spec.layout());
        p.values = self.values.iter().map(|&v| v as f32).collect();
        p.running = self.running.iter().map(|&v| v as f32).collect();
        p
    }
}

/// Tensor names vanish knows under `layers.{i}.`; `bn.num_batches_tracked` (which PyTorch's state dict
/// carries) is accepted and ignored.
const LAYER_SUFFIXES: [&str; 9] = [
    "weight",
    "bias",
    "bn.gamma",
    "bn.beta",
    "bn.running_mean",
    "bn.running_var",
    "bn.num_batches_tracked",
    "ln.gamma",
    "ln.beta",
];

/// The tensors of a batch a network file may carry beside the network (`vanish grads` reads them).
const BATCH_TENSORS: [&str; 2] = ["x", "y"];

/// `layers.{i}.{suffix}` → `(i, suffix)`.
fn layer_name(name: &str) -> Option<(usize, &str)> {
    let (index, suffix) = name.strip_prefix("layers.")?.split_once('.')?;
    // Reject `+1`, `01` and the like, so a name maps to one layer only.
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || (index.len() > 1 && index.starts_with('0')) {
        return None;
    }
    Some((index.parse().ok()?, suffix))
}

/// The network in `file`. `activations` (one for every hidden layer, or one per layer) overrides the
/// file's `spec` metadata; without either, it is an error that says how to give one.
pub fn read_model(file: &TensorFile, activations: Option<&[Activation]>) -> Result<ModelFile, InterchangeError> {
    let widths = layer_widths(file)?;
    let layers = widths.len() - 1;
    let hidden = &widths[1..layers];
    let norm = norm_layers(file, layers)?;
    let recorded = recorded_spec(file, hidden.len())?;

    let output = match (widths[layers], recorded.loss) {
        (k, Some(RecordedLoss::SigmoidCe)) if k >= 2 => Output::SigmoidCe(k),
        (1, _) => Output::Binary,
        (k, _) => Output::Softmax(k),
    };
    if let Some(w) = &recorded.widths
        && *w != widths
    {
        return Err(file.metadata_error("spec", format!("widths {w:?}, but the weight shapes give {widths:?}")));
    }
    if let Some(r) = recorded.norm
        && r != norm
    {
        let found = match norm {
            Norm::None => "there are no bn.gamma or ln.gamma tensors".to_string(),
            n => format!("the tensors are {}.*", n.prefix().unwrap_or_default()),
        };
        return Err(file.metadata_error("spec", format!("norm {r}, but {found}")));
    }
    if let Some(recorded) = recorded.loss
        && (recorded == RecordedLoss::Binary) != (output == Output::Binary)
    {
        let loss = match recorded {
            RecordedLoss::Binary => "bce_with_logits, which needs 1 logit",
            RecordedLoss::Softmax => "softmax, which needs 2 or more logits",
            RecordedLoss::SigmoidCe => "sigmoid_cross_entropy, which needs 2 or more outputs",
        };
        return Err(
            file.metadata_error("spec", format!("output {loss}, but the last layer has {} outputs", widths[layers]))
        );
    }
    let activations = match (activations, &recorded.activations) {
        (Some([one]), _) => vec![*one; hidden.len()],
        (Some(given), _) if given.len() == hidden.len() => given.to_vec(),
        (Some(given), _) => {
            return Err(file.model_error(format!(
                "{} activations given for the file's {} hidden layers (give one, or one per layer)",
                given.len(),
                hidden.len()
            )));
        }
        (None, Some(rec)) => rec.clone(),
        // A network without hidden layers has no activation to choose.
        (None, None) if hidden.is_empty() => Vec::new(),
        (None, None) => {
            return Err(file.model_error(
                "the activation is not recorded (no metadata `spec` with `activations`); pass --activation NAME".into(),
            ));
        }
    };
    let mut spec = MlpSpec::new(widths[0], hidden, Activation::Identity, output).with_norm(norm);
    spec.activations = activations;
    spec.bn_eps = recorded.bn_eps.unwrap_or(spec.bn_eps);
    // Residual connections leave no tensors behind: only the `spec` metadata (or the caller) knows.
    spec.residual = recorded.residual.flatten();
    spec.validate().map_err(|e| file.model_error(e))?;

    let layout = spec.layout();
    let mut values = vec![0.0; layout.param_len];
    for slot in &layout.params {
        // Shapes were checked above; `floats` checks dtype and finiteness.
        values[slot.range()].copy_from_slice(&file.floats(&slot.name, "a trainable parameter")?);
    }
    let mut running = vec![0.0; layout.running_len];
    for slot in &layout.running {
        if !file.contains(&slot.name) {
            // A fresh batch norm: running mean 0, running variance 1, as `Params::init` starts.
            if slot.kind == ParamKind::RunningVar {
                running[slot.range()].fill(1.0);
            }
        } else {
            let v = file.floats(&slot.name, "a running statistic")?;
            if slot.kind == ParamKind::RunningVar
                && let Some(i) = v.iter().position(|&x| x < 0.0)
            {
                return Err(file.value_error(
                    &slot.name,
                    format!("element {} is {}; a variance is >= 0", super::read::element(i, &slot.shape), v[i]),
                ));
            }
            running[slot.range()].copy_from_slice(&v);
        }
    }
    Ok(ModelFile { spec, values, running, recorded })
}

/// `[in, out₀, out₁, …]` from the weights, after checking that every `layers.*` tensor belongs to a
/// layer that exists, that every weight is a non-empty matrix whose input width is the previous
/// layer's output width, and that every layer has a bias of its output width.
fn layer_widths(file: &TensorFile) -> Result<Vec<usize>, InterchangeError> {
    let layers = (0..).take_while(|i| file.contains(&format!("layers.{i}.weight"))).count();
    if layers == 0 {
        return Err(InterchangeError::Missing {
            path: file.path().to_path_buf(),
            tensor: "layers.0.weight".into(),
            why: "the first dense layer's weight, [out, in]; is this a vanish, PyTorch or JAX MLP file?".into(),
        });
    }
    if let Some(name) = file.names().find(|n| !n.starts_with("layers.") && !BATCH_TENSORS.contains(n)) {
        return Err(file.model_error(format!(
            "unexpected tensor `{}`; a network file holds `layers.*` tensors and may hold a batch (`x`, `y`)",
            crate::text::quote(name)
        )));
    }
    for name in file.names().filter(|n| n.starts_with("layers.")) {
        match layer_name(name) {
            Some((i, suffix)) if LAYER_SUFFIXES.contains(&suffix) && i < layers => {}
            Some((i, _)) if i >= layers => {
                return Err(file.model_error(format!(
                    "unexpected tensor `{name}`: `layers.{layers}.weight` is missing, so the network ends at \
                     layer {}",
                    layers - 1
                )));
            }
            _ => {
                return Err(file.model_error(format!(
                    "unexpected tensor `{name}`; a layer holds weight, bias, bn.gamma, bn.beta, bn.running_mean \
                     and bn.running_var"
                )));
            }
        }
    }
    let mut widths = Vec::with_capacity(layers + 1);
    for i in 0..layers {
        let name = format!("layers.{i}.weight");
        let shape = file.shape(&name).expect("counted above");
        if shape.len() != 2 || shape.contains(&0) {
            return Err(file.shape_error(&name, "a matrix [out, in] with out, in >= 1".into()));
        }
        let (out, input) = (shape[0], shape[1]);
        match widths.last() {
            None => widths.push(input),
            Some(&prev) if prev != input => {
                return Err(file.shape_error(
                    &name,
                    format!("[{out}, {prev}]: its input width must be layers.{}.weight's output width {prev}", i - 1),
                ));
            }
            Some(_) => {}
        }
        widths.push(out);
        expect_vector(file, &format!("layers.{i}.bias"), out, true)?;
    }
    Ok(widths)
}

/// Which normalisation the hidden layers have: batch norm (`bn.*`) or layer norm (`ln.*`) on all or
/// none of them, never both kinds, never the output layer, γ and β together, and batch norm's running
/// statistics only beside its γ and β (and both or neither).
fn norm_layers(file: &TensorFile, layers: usize) -> Result<Norm, InterchangeError> {
    let has = |i: usize, what: &str| file.contains(&format!("layers.{i}.{what}"));
    let with = |prefix: &str| -> Vec<usize> {
        (0..layers).filter(|&i| has(i, &format!("{prefix}.gamma")) || has(i, &format!("{prefix}.beta"))).collect()
    };
    let (bn, ln) = (with("bn"), with("ln"));
    let (norm, with) = match (bn.is_empty(), ln.is_empty()) {
        (true, true) => (Norm::None, Vec::new()),
        (false, true) => (Norm::Batch, bn),
        (true, false) => (Norm::Layer, ln),
        (false, false) => {
            return Err(file.model_error(format!(
                "batch norm tensors (bn.*) on layers {bn:?} and layer norm tensors (ln.*) on layers {ln:?}; \
                 vanish puts one kind on every hidden layer"
            )));
        }
    };
    let prefix = norm.prefix().unwrap_or("bn");
    let name = if norm == Norm::Layer { "layer norm" } else { "batch norm" };
    if with.contains(&(layers - 1)) {
        return Err(file.model_error(format!(
            "the output layer (layers.{}) has {name}; vanish puts it on hidden layers only",
            layers - 1
        )));
    }
    if norm != Norm::None && with.len() != layers - 1 {
        let without: Vec<usize> = (0..layers - 1).filter(|i| !with.contains(i)).collect();
        return Err(file.model_error(format!(
            "{name} on layers {with:?} but not on {without:?}; vanish needs it on every hidden layer or none \
             (missing `layers.{}.{prefix}.gamma`)",
            without[0]
        )));
    }
    for i in 0..layers {
        let width = file.shape(&format!("layers.{i}.weight")).expect("checked")[0];
        let (mean, var) = (has(i, "bn.running_mean"), has(i, "bn.running_var"));
        if (mean || var) && norm != Norm::Batch {
            let name = format!("layers.{i}.bn.running_{}", if mean { "mean" } else { "var" });
            return Err(file.model_error(format!("unexpected tensor `{name}` on a layer without bn.gamma and bn.beta")));
        }
        if norm != Norm::None && i + 1 < layers {
            expect_vector(file, &format!("layers.{i}.{prefix}.gamma"), width, true)?;
            expect_vector(file, &format!("layers.{i}.{prefix}.beta"), width, true)?;
        }
        if norm == Norm::Batch && i + 1 < layers {
            // Running statistics are optional (a fresh 0 and 1 otherwise), but come in pairs.
            expect_vector(file, &format!("layers.{i}.bn.running_mean"), width, var)?;
            expect_vector(file, &format!("layers.{i}.bn.running_var"), width, mean)?;
        }
    }
    Ok(norm)
}

/// Checks that tensor `name` has shape `[len]`; a missing one is an error only when `required`.
fn expect_vector(file: &TensorFile, name: &str, len: usize, required: bool) -> Result<(), InterchangeError> {
    match file.shape(name) {
        None if !required => Ok(()),
        None => Err(InterchangeError::Missing {
            path: file.path().to_path_buf(),
            tensor: name.to_string(),
            why: format!("expected shape [{len}]"),
        }),
        Some(s) if s == [len] => Ok(()),
        Some(_) => Err(file.shape_error(name, format!("[{len}]"))),
    }
}

/// One batch: `x` `[rows, input]` at the file's precision and the class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f64>,
    pub y: Vec<u32>,
    pub rows: usize,
}

impl Batch {
    /// Refuses inputs the GPU's f32 cannot hold, naming the tensor and element (the f64 reference takes
    /// them as they are).
    pub fn check_f32(&self, file: &TensorFile, spec: &MlpSpec) -> Result<(), InterchangeError> {
        match past_f32(&self.x) {
            None => Ok(()),
            Some(i) => Err(file.value_error(
                "x",
                format!(
                    "element {} is {}, outside f32's range (±3.4e38) in which the GPU computes; use --device cpu",
                    super::read::element(i, &[self.rows, spec.input]),
                    crate::text::number(self.x[i])
                ),
            )),
        }
    }

    /// The batch as a dataset (f32, for the engines), with `spec`'s classes.
    pub fn dataset(&self, spec: &MlpSpec) -> Dataset {
        let classes = spec.output.width().max(2);
        Dataset {
            x: self.x.iter().map(|&v| v as f32).collect(),
            y: self.y.clone(),
            features: spec.input,
            classes,
            feature_names: (0..spec.input).map(|i| format!("x{i}")).collect(),
            class_names: (0..classes).map(|c| c.to_string()).collect(),
        }
    }
}

/// The batch in `file` for `spec`: `x` `[N, spec.input]` (N ≥ 1) and `y` `[N]`, labels 0/1 for one
/// logit or 0..k for k.
pub fn read_batch(file: &TensorFile, spec: &MlpSpec) -> Result<Batch, InterchangeError> {
    let missing = |tensor: &str, why: String| InterchangeError::Missing {
        path: file.path().to_path_buf(),
        tensor: tensor.into(),
        why,
    };
    let x_shape = file.shape("x").ok_or_else(|| missing("x", format!("the batch's inputs, [N, {}]", spec.input)))?;
    if x_shape.len() != 2 || x_shape[1] != spec.input || x_shape[0] == 0 {
        return Err(
            file.shape_error("x", format!("[N, {}] with N >= 1 (the first layer takes {})", spec.input, spec.input))
        );
    }
    let rows = x_shape[0];
    match file.shape("y") {
        None => return Err(missing("y", format!("the batch's labels, [{rows}]"))),
        Some(s) if s != [rows] => return Err(file.shape_error("y", format!("[{rows}], one label per row of x"))),
        Some(_) => {}
    }
    let x = file.floats("x", "the batch's inputs")?;
    let y = file.labels("y", spec.output.width().max(2), "the batch's labels")?;
    Ok(Batch { x, y, rows })
}
