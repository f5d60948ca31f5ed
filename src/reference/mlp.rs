//! The whole network for one batch, f64: forward (training-mode normalisation), loss, and the backward
//! pass into a gradient arena with the parameter arena's layout. The oracle that a whole GPU training
//! step is compared with, layer by layer and tensor by tensor.
//!
//! Per dense layer `i`: `z = x·Wᵀ + b`, then, on hidden layers with a normalisation, `y = BN(z)` or
//! `y = LN(z)`, then `a = f(y or z)`; the next layer's input is `a`, or `x + α·a` behind a skip
//! connection (`MlpSpec::has_skip`). The output layer has neither a normalisation nor an activation:
//! its `a = z` are the logits. Parameter gradients are overwritten, never accumulated: the arena starts at zero.

use super::activation::{activation_backward, bias_activation_forward};
use super::batchnorm::{batchnorm_backward, batchnorm_forward, batchnorm_forward_eval};
use super::layernorm::{layernorm_backward, layernorm_forward};
use super::loss::output_loss;
use super::matmul::{dense_backward, dense_forward};
use crate::model::{MlpSpec, Norm, TensorSlot};

/// What a normalisation saved on one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NormForward {
    /// Batch or layer norm.
    pub kind: Norm,
    /// Batch norm: the batch mean per unit, [out] (empty in evaluation mode); layer norm: each row's
    /// mean, [m].
    pub mean: Vec<f64>,
    /// 1/√(biased variance + eps), the same shape as `mean`.
    pub rstd: Vec<f64>,
    /// The normalised, scaled and shifted output, [m, out]: the activation's input.
    pub y: Vec<f64>,
}

/// What one dense layer computed in the forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerForward {
    /// The layer's input, [m, in]: the data for layer 0, the previous layer's `a` otherwise.
    pub x: Vec<f64>,
    /// The dense output, bias included, [m, out].
    pub z: Vec<f64>,
    /// Present where a normalisation follows this layer.
    pub norm: Option<NormForward>,
    /// The activation's output, [m, out]; for the output layer, the logits (= z).
    pub a: Vec<f64>,
}

impl LayerForward {
    /// The activation's input, [m, out]: the normalisation's output where there is one, else z.
    pub fn pre_activation(&self) -> &[f64] {
        match &self.norm {
            Some(norm) => &norm.y,
            None => &self.z,
        }
    }

    /// Batch norm's saved statistics, where batch norm follows this layer.
    pub fn batch_norm(&self) -> Option<&NormForward> {
        self.norm.as_ref().filter(|n| n.kind == Norm::Batch)
    }
}

/// Every intermediate of one forward pass, one entry per dense layer (the output layer last).
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    pub layers: Vec<LayerForward>,
}

/// The result of one forward and backward pass over a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Rows whose prediction matches the label.
    pub correct: usize,
    /// [m, out_width].
    pub logits: Vec<f64>,
    /// dL/dθ in `ParamLayout.params` layout (the offsets of `Params.values`); padding 0.
    pub grads: Vec<f64>,
    /// Per dense layer: dL/dz_i, [m, out] — the gradient w.r.t. the dense output before any normalisation.
    pub deltas: Vec<Vec<f64>>,
    pub forward: Forward,
}

/// The parameter tensor at `slot` in an arena.
fn slice<'a>(arena: &'a [f64], slot: &TensorSlot) -> &'a [f64] {
    &arena[slot.range()]
}

/// One forward pass. `running` is None for training mode (batch statistics, saved in `norm`) and the
/// running arena for eval mode (then batch norm's `norm` holds no mean or rstd). Layer norm computes
/// the same in both modes.
fn forward(spec: &MlpSpec, params: &[f64], running: Option<&[f64]>, x: &[f64], m: usize) -> Forward {
    let layout = spec.layout();
    assert_eq!(params.len(), layout.param_len, "params is one arena in the spec's layout");
    assert_eq!(x.len(), m * spec.input, "x is [m, input]");
    let mut layers = Vec::with_capacity(spec.num_layers());
    let mut input = x.to_vec();
    for i in 0..spec.num_layers() {
        let (fan_in, fan_out) = spec.layer_dims(i);
        let w = slice(params, layout.weight(i));
        let b = slice(params, layout.bias(i));
        let mut z = vec![0.0; m * fan_out];
        dense_forward(&mut z, &input, w, b, m, fan_in, fan_out);

        let norm = match spec.norm_of(i) {
            Norm::None => None,
            kind => {
                let gamma = slice(params, layout.gamma(i).expect("a normalised layer has gamma"));
                let beta = slice(params, layout.beta(i).expect("a normalised layer has beta"));
                let mut y = vec![0.0; m * fan_out];
                let stats = if kind == Norm::Layer { m } else { fan_out };
                let (mut mean, mut rstd) = (vec![0.0; stats], vec![0.0; stats]);
                match (kind, running) {
                    (Norm::Layer, _) => {
                        layernorm_forward(&mut y, &mut mean, &mut rstd, &z, gamma, beta, m, fan_out, spec.bn_eps)
                    }
                    (_, None) => {
                        batchnorm_forward(&mut y, &mut mean, &mut rstd, &z, gamma, beta, m, fan_out, spec.bn_eps)
                    }
                    (_, Some(running)) => {
                        let rm = slice(running, layout.running_mean(i).expect("running mean"));
                        let rv = slice(running, layout.running_var(i).expect("running var"));
                        batchnorm_forward_eval(&mut y, &z, gamma, beta, rm, rv, m, fan_out, spec.bn_eps);
                        (mean, rstd) = (Vec::new(), Vec::new());
                    }
                }
                Some(NormForward { kind, mean, rstd, y })
            }
        };

        // the bias is already in z, so the fused kernel runs with no bias here
        let mut pre = match &norm {
            Some(norm) => norm.y.clone(),
            None => z.clone(),
        };
        let mut a = vec![0.0; m * fan_out];
        bias_activation_forward(&mut pre, &mut a, None, m, fan_out, spec.activation(i));

        // the next layer's input: the activation, or with a skip connection x + α·f(…)
        let next = if spec.has_skip(i) {
            let alpha = spec.skip_scale(i);
            input.iter().zip(&a).map(|(x, f)| x + alpha * f).collect()
        } else {
            a.clone()
        };
        layers.push(LayerForward { x: input, z, norm, a });
        input = next;
    }
    Forward { layers }
}

/// The loss on the logits: (loss, correct, dL/dlogits [m, out_width]).
fn loss(spec: &MlpSpec, logits: &[f64], labels: &[u32], m: usize) -> (f64, usize, Vec<f64>) {
    let mut dlogits = vec![0.0; logits.len()];
    let (loss, correct) = output_loss(spec.output, &mut dlogits, logits, labels, m);
    (loss, correct, dlogits)
}

/// params: f32 arenas widened to f64; x [m, spec.input] f32; labels [m] (0/1 for Output::Binary, class for Softmax)
/// One training-mode forward pass, the loss, and the backward pass to every parameter.
/// Running statistics are not touched: update them with `batchnorm_update_running` from `forward`.
pub fn forward_backward(spec: &MlpSpec, params: &[f64], x: &[f64], labels: &[u32], m: usize) -> Gradients {
    assert_eq!(labels.len(), m, "labels is [m]");
    let layout = spec.layout();
    let fwd = forward(spec, params, None, x, m);
    let logits = fwd.layers.last().expect("at least the output layer").a.clone();
    let (loss, correct, dlogits) = loss(spec, &logits, labels, m);

    let mut grads = vec![0.0; layout.param_len];
    let mut deltas = vec![Vec::new(); spec.num_layers()];
    // da: dL/d(output of layer i); for the output layer a = z, so it starts as dL/dlogits.
    let mut da = dlogits;
    for i in (0..spec.num_layers()).rev() {
        let (fan_in, fan_out) = spec.layer_dims(i);
        let layer = &fwd.layers[i];

        // through the activation: d(pre-activation) = da ⊙ f′(pre), times α behind a skip connection
        let mut dpre = vec![0.0; m * fan_out];
        if spec.has_skip(i) {
            let alpha = spec.skip_scale(i);
            let branch: Vec<f64> = da.iter().map(|d| alpha * d).collect();
            activation_backward(&mut dpre, &branch, layer.pre_activation(), spec.activation(i));
        } else {
            activation_backward(&mut dpre, &da, layer.pre_activation(), spec.activation(i));
        }

        // through the normalisation, to dz (the dense output)
        let dz = match &layer.norm {
            None => dpre,
            Some(norm) => {
                let gamma_slot = layout.gamma(i).expect("a normalised layer has gamma");
                let beta_slot = layout.beta(i).expect("a normalised layer has beta");
                let mut dz = vec![0.0; m * fan_out];
                let mut dgamma = vec![0.0; fan_out];
                let mut dbeta = vec![0.0; fan_out];
                let gamma = slice(params, gamma_slot);
                let backward = match norm.kind {
                    Norm::Layer => layernorm_backward,
                    _ => batchnorm_backward,
                };
                backward(&mut dz, &mut dgamma, &mut dbeta, &dpre, &layer.z, &norm.mean, &norm.rstd, gamma, m, fan_out);
                grads[gamma_slot.range()].copy_from_slice(&dgamma);
                grads[beta_slot.range()].copy_from_slice(&dbeta);
                dz
            }
        };

        // through the dense layer; the first layer's input is data, which needs no gradient
        let w_slot = layout.weight(i);
        let b_slot = layout.bias(i);
        let mut dw = vec![0.0; fan_out * fan_in];
        let mut db = vec![0.0; fan_out];
        let mut dx = vec![0.0; m * fan_in];
        let dx_out = if i > 0 { Some(dx.as_mut_slice()) } else { None };
        let w = slice(params, w_slot);
        dense_backward(dx_out, &mut dw, &mut db, &dz, &layer.x, w, m, fan_in, fan_out);
        grads[w_slot.range()].copy_from_slice(&dw);
        grads[b_slot.range()].copy_from_slice(&db);

        // the skip carries da to the layer's input unchanged
        if spec.has_skip(i) {
            for (d, skip) in dx.iter_mut().zip(&da) {
                *d += skip;
            }
        }
        deltas[i] = dz;
        da = dx;
    }

    Gradients { loss, correct, logits, grads, deltas, forward: fwd }
}

/// eval mode (batch norm with running stats from `running`; layer norm as in training): logits [m, out_width]
/// params and running are the two arenas of the spec's layout, widened to f64; x is [m, spec.input].
pub fn forward_eval(spec: &MlpSpec, params: &[f64], running: &[f64], x: &[f64], m: usize) -> Vec<f64> {
    assert_eq!(running.len(), spec.layout().running_len, "running is the spec's running arena");
    let fwd = forward(spec, params, Some(running), x, m);
    fwd.layers.last().expect("at least the output layer").a.clone()
}
