//! `vanish grads` as a library: the loss, logits and every parameter gradient of one batch in training
//! mode (batch statistics), on an engine (f32 on the GPU) or on the reference straight from the file's
//! numbers (f64, no rounding to f32, so it matches an independent f64 implementation to ~1e-12), and
//! the tensors to write: `loss` `[]`, `logits` `[N]` (one logit) or `[N, k]`, `grad.` + each name.

use std::collections::HashMap;

use crate::engine::{Engine, EngineError, Split};
use crate::model::MlpSpec;
use crate::reference::forward_backward;

use super::{Batch, ModelFile, NamedTensor, Precision};

/// One batch's loss, logits and gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchGradients {
    pub loss: f64,
    /// `[rows, outputs]`.
    pub logits: Vec<f64>,
    /// The gradient arena, in `spec.layout()` order (padding included).
    pub grads: Vec<f64>,
    pub rows: usize,
    /// The precision the numbers were computed at, and so are written at.
    pub precision: Precision,
}

/// On the f64 reference, from the file's values exactly (an f32 file widens exactly).
pub fn reference_gradients(model: &ModelFile, batch: &Batch) -> BatchGradients {
    let g = forward_backward(&model.spec, &model.values, &batch.x, &batch.y, batch.rows);
    BatchGradients { loss: g.loss, logits: g.logits, grads: g.grads, rows: batch.rows, precision: Precision::F64 }
}

/// On `engine`, which must hold the batch as its whole training split: one probe is a forward and
/// backward pass over all of it in training mode, without an update.
pub fn engine_gradients(engine: &mut dyn Engine, precision: Precision) -> Result<BatchGradients, EngineError> {
    let probe = engine.probe(Split::Train)?;
    Ok(BatchGradients {
        loss: probe.loss,
        logits: engine.logits()?,
        grads: engine.gradients()?,
        rows: probe.rows,
        precision,
    })
}

/// The output tensors: `loss`, `logits` and `grad.<name>` for every trainable parameter.
pub fn gradient_tensors(spec: &MlpSpec, g: &BatchGradients) -> Vec<NamedTensor> {
    let k = spec.output.width();
    let logits_shape = if k == 1 { vec![g.rows] } else { vec![g.rows, k] };
    let mut out = vec![
        NamedTensor { name: "loss".into(), shape: Vec::new(), values: vec![g.loss] },
        NamedTensor { name: "logits".into(), shape: logits_shape, values: g.logits.clone() },
    ];
    for slot in &spec.layout().params {
        out.push(NamedTensor {
            name: format!("grad.{}", slot.name),
            shape: slot.shape.clone(),
            values: g.grads[slot.range()].to_vec(),
        });
    }
    out
}

/// ‖grad‖ (Frobenius) per parameter name, as the fixtures' `grad_norms` metadata holds them.
pub fn gradient_norms(spec: &MlpSpec, g: &BatchGradients) -> Vec<(String, f64)> {
    spec.layout()
        .params
        .iter()
        .map(|s| (s.name.clone(), g.grads[s.range()].iter().map(|v| v * v).sum::<f64>().sqrt()))
        .collect()
}

/// `grad_norms` metadata: a JSON object from parameter name to norm.
pub fn gradient_norms_metadata(spec: &MlpSpec, g: &BatchGradients) -> HashMap<String, String> {
    let norms: serde_json::Map<String, serde_json::Value> =
        gradient_norms(spec, g).into_iter().map(|(n, v)| (n, serde_json::json!(v))).collect();
    HashMap::from([("grad_norms".to_string(), serde_json::Value::Object(norms).to_string())])
}
