//! Mean-field theory of the backward signal beside the measurement: the per-layer factor of ‖δ‖ that
//! χ = n·Var[W]·E[f′(z)²] predicts, sigmoid's bound, and geometric fits of measured layer-to-layer
//! ratios.
//!
//! Why χ: with `W_{l+1}` `[n_{l+1}, n_l]`, backprop gives `δ_l = (δ_{l+1}·W_{l+1}) ⊙ f′(z_l)`. Each of
//! the `n_l` components of `δ_{l+1}·W_{l+1}` sums `n_{l+1}` terms, so for weights independent of δ
//! `E‖δ_{l+1}·W_{l+1}‖² = n_l·Var[W_{l+1}]·‖δ_{l+1}‖²`, and the elementwise f′ multiplies by
//! `E[f′(z_l)²]`. Hence `‖δ_l‖/‖δ_{l+1}‖ ≈ √χ_l` with `χ_l = n_l·Var[W_{l+1}]·E[f′(z_l)²]`. (Per unit, the
//! mean square changes by `n_{l+1}·Var·E[f′²]` instead, Glorot's fan-out form; for equal widths both are
//! the same n. We compare norms, so `n_l`.) Var[W] is the measured `‖W‖²/numel`, E[f′²] the probe's
//! measured `mean_grad_sq`, so the prediction uses no assumption about the initialiser or the data.
//! Sigmoid's f′ ≤ 1/4 bounds the factor by `¼·√(n_l·Var[W_{l+1}])`.
//!
//! Residual connections (`MlpSpec::has_skip`): write g_l = dL/d(output_l), so δ_l = c_l·g_l ⊙ f′(z_l) with
//! c_l the layer's skip scale α (1 without a skip). A skip on layer l+1 adds its output's gradient
//! unchanged: `g_l = g_{l+1} + δ_{l+1}·W_{l+1}`, and with the two terms uncorrelated
//! `E‖g_l‖² = ‖g_{l+1}‖²·(1 + c²_{l+1}·χ_{l+1})`, `χ_{l+1} = n·Var[W_{l+1}]·E[f′(z_{l+1})²]`. The residual
//! stream's gradient so grows by √(1 + α²χ) per block instead of shrinking by √χ, and ‖δ‖ follows it:
//! `(‖δ_l‖/‖δ_{l+1}‖)² = (c_l/c_{l+1})²·E[f′(z_l)²]·(s/E[f′(z_{l+1})²] + c²_{l+1}·n·Var[W_{l+1}])`, s = 1
//! with the skip and 0 without (then it is the plain χ_l above).
//!
//! Layer norm (Dense → LN → f): with x̂ = (z − mean)·rstd per row, y = γ·x̂ + β, backprop gives
//! `δ_l = rstd·P(γ ⊙ g ⊙ f′(y))`, P the projection that removes a row's mean and its component along x̂
//! (two of the n directions, so `E‖Pv‖² = (n−2)/n·‖v‖²`). rstd² = 1/(Var_row(z) + eps), and a row of
//! `z = W·a` over the layer's units has mean square `n_in·Var[W_l]·E[a²]` (E[a²] of the layer's input:
//! the previous layer's measured activation statistics, or the data's), less its mean, `(n−1)/n` of it.
//! So `χ_l = n_l·Var[W_{l+1}]·E[f′(y_l)²]·γ²·(n−2)/n / ((n−1)/n·n_in·Var[W_l]·E[a²] + eps)`, with γ = 1, its
//! initial value (after training the prediction ignores γ's drift). It shows why layer norm does not
//! rescue sigmoid: the normalised y sits where E[σ′²] ≈ 0.045, and the row's scale, set by sigmoid's
//! outputs near ½, does not make up for it.
//!
//! Batch norm divides δ by the batch's standard deviation of each unit's z, which depends on the
//! correlations between rows that the probe does not read back, and a skip beside layer norm adds the
//! stream to the normalised branch; those layers have no prediction here (`None`). Above a normalised
//! layer the plain χ still holds.

use serde::{Deserialize, Serialize};

use crate::model::{Activation, MlpSpec, Norm};

/// The measurement and the prediction for δ crossing from dense layer `layer + 1` into `layer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// 0-based dense layer that receives the signal.
    pub layer: usize,
    /// `‖δ_l‖/‖δ_{l+1}‖`, when both are positive and finite.
    pub measured: Option<f64>,
    /// `χ_l = n_l·Var[W_{l+1}]·E[f′(z_l)²]`, or behind a skip connection the squared factor of the
    /// module's residual formula, or layer norm's; `None` with batch norm and with a skip beside a norm.
    pub chi: Option<f64>,
    /// `√χ_l`, the predicted factor of ‖δ‖.
    pub predicted: Option<f64>,
    /// `¼·√(n_l·Var[W_{l+1}])` for sigmoid layers.
    pub sigmoid_bound: Option<f64>,
}

/// What the theory needs of one dense layer at one moment.
#[derive(Clone, Copy, Debug)]
pub struct LayerInput {
    pub delta: f64,
    /// ‖W‖ (Frobenius).
    pub weight: f64,
    /// E[f′(z)²] over the layer's activation inputs.
    pub mean_grad_sq: f64,
    /// E[a²] of the layer's activation output (mean² + std²), the next layer's input.
    pub act_sq: f64,
}

/// The measured second moment of a weight, `‖W‖²/numel`, for dense layer `i`.
pub fn weight_variance(spec: &MlpSpec, i: usize, weight_norm: f64) -> f64 {
    let (fan_in, fan_out) = spec.layer_dims(i);
    weight_norm * weight_norm / (fan_in * fan_out) as f64
}

/// One `Transition` per dense layer but the output layer (`spec.num_layers() − 1` of them). `input_sq` is
/// the data's E[x²], which layer norm's prediction for the first layer needs.
pub fn transitions(spec: &MlpSpec, layers: &[LayerInput], input_sq: Option<f64>) -> Vec<Transition> {
    (0..spec.num_layers() - 1)
        .map(|l| {
            let n = spec.layer_dims(l + 1).0 as f64;
            let var = weight_variance(spec, l + 1, layers[l + 1].weight);
            let residual = spec.has_skip(l) || spec.has_skip(l + 1);
            let normalised = |i: usize| spec.norm_of(i) != Norm::None;
            let chi = if spec.has_ln(l) && !residual {
                let (fan_in, width) = spec.layer_dims(l);
                let n_l = width as f64;
                let in_sq = if l == 0 { input_sq } else { Some(layers[l - 1].act_sq) };
                in_sq.map(|in_sq| {
                    let row_var =
                        (n_l - 1.0) / n_l * fan_in as f64 * weight_variance(spec, l, layers[l].weight) * in_sq;
                    let projection = ((n_l - 2.0) / n_l).max(0.0);
                    n * var * layers[l].mean_grad_sq * projection / (row_var + spec.bn_eps)
                })
            } else if normalised(l) || (residual && normalised(l + 1)) {
                None
            } else if residual {
                let scale = |i: usize| if spec.has_skip(i) { spec.skip_scale(i) } else { 1.0 };
                let (c, c_next) = (scale(l), scale(l + 1));
                let skip = if spec.has_skip(l + 1) { 1.0 / layers[l + 1].mean_grad_sq } else { 0.0 };
                Some((c / c_next).powi(2) * layers[l].mean_grad_sq * (skip + c_next * c_next * n * var))
            } else {
                Some(n * var * layers[l].mean_grad_sq)
            };
            let chi = chi.filter(|c| c.is_finite());
            let sigmoid = spec.activation(l) == Activation::Sigmoid && !residual;
            Transition {
                layer: l,
                measured: positive_ratio(layers[l].delta, layers[l + 1].delta),
                chi,
                predicted: chi.map(f64::sqrt),
                sigmoid_bound: (sigmoid && !normalised(l)).then(|| 0.25 * (n * var).sqrt()),
            }
        })
        .collect()
}

/// `a/b` when both are positive and finite.
pub fn positive_ratio(a: f64, b: f64) -> Option<f64> {
    let r = a / b;
    (a > 0.0 && b > 0.0 && r.is_finite()).then_some(r)
}

/// A geometric mean of ratios and its spread (the geometric standard deviation, ≥ 1: a ratio typically
/// lies within ×/÷ spread of the mean).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub factor: f64,
    pub spread: f64,
    pub count: usize,
}

/// The fit of `ratios`; `None` when there are none or any is not a positive finite number (a zero
/// gradient has no logarithm: the verdict calls that layer dead instead).
pub fn geometric_fit(ratios: &[Option<f64>]) -> Option<Fit> {
    let logs: Vec<f64> =
        ratios.iter().map(|r| r.filter(|v| *v > 0.0 && v.is_finite()).map(f64::ln)).collect::<Option<_>>()?;
    if logs.is_empty() {
        return None;
    }
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
    Some(Fit { factor: mean.exp(), spread: var.sqrt().exp(), count: logs.len() })
}

/// The geometric mean of the values, when all are positive and finite and there is at least one.
pub fn geometric_mean(values: &[Option<f64>]) -> Option<f64> {
    geometric_fit(values).map(|f| f.factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Output;

    #[test]
    fn chi_uses_the_receiving_width_and_the_measured_weights() {
        // 2 → 4 → 3 → 1: the transition into layer 0 crosses W₁ [3, 4], so n = 4.
        let spec = MlpSpec::new(2, &[4, 3], Activation::Tanh, Output::Binary);
        let w1_var = 0.5;
        let layers = [
            LayerInput { delta: 1.0, weight: 1.0, mean_grad_sq: 0.8, act_sq: 0.5 },
            LayerInput { delta: 2.0, weight: (w1_var * 12.0f64).sqrt(), mean_grad_sq: 0.9, act_sq: 0.5 },
            LayerInput { delta: 4.0, weight: 1.0, mean_grad_sq: 1.0, act_sq: 0.0 },
        ];
        let t = transitions(&spec, &layers, None);
        assert_eq!(t.len(), 2);
        assert!((t[0].chi.unwrap() - 4.0 * w1_var * 0.8).abs() < 1e-12, "{:?}", t[0]);
        assert_eq!(t[0].measured, Some(0.5));
        assert_eq!(t[0].sigmoid_bound, None, "tanh has no sigmoid bound");
    }

    #[test]
    fn batch_norm_layers_have_no_prediction() {
        let spec = MlpSpec::new(2, &[4, 4], Activation::Sigmoid, Output::Binary).with_batch_norm(true);
        let l = LayerInput { delta: 1.0, weight: 1.0, mean_grad_sq: 0.05, act_sq: 0.3 };
        assert!(transitions(&spec, &[l, l, l], Some(1.0)).iter().all(|t| t.chi.is_none() && t.sigmoid_bound.is_none()));
    }

    #[test]
    fn layer_norm_divides_chi_by_the_rows_variance() {
        // 3 → 8 → 8 → 1 with every weight variance 1/8 (‖W‖² = numel/8) and E[f′²] = 0.05, E[a²] = 0.3:
        // into layer 1, n = 8 (the output layer's fan-in), n_in = 8, so
        // χ = 8·(1/8)·0.05·(6/8) / ((7/8)·8·(1/8)·0.3 + eps).
        let spec = MlpSpec::new(3, &[8, 8], Activation::Sigmoid, Output::Binary).with_norm(Norm::Layer);
        let w = |numel: f64| (numel / 8.0).sqrt();
        let l = |numel| LayerInput { delta: 1.0, weight: w(numel), mean_grad_sq: 0.05, act_sq: 0.3 };
        let t = transitions(&spec, &[l(24.0), l(64.0), l(8.0)], Some(2.0));
        let want = 0.05 * 0.75 / (0.875 * 0.3 + 1e-5);
        assert!((t[1].chi.unwrap() - want).abs() < 1e-12, "{:?}", t[1]);
        // into layer 0 the row's input is the data: n_in = 3, E[x²] = 2
        let want0 = 0.05 * 0.75 / (0.875 * 3.0 / 8.0 * 2.0 + 1e-5);
        assert!((t[0].chi.unwrap() - want0).abs() < 1e-12, "{:?}", t[0]);
        assert_eq!(transitions(&spec, &[l(24.0), l(64.0), l(8.0)], None)[0].chi, None, "no data statistic");
        assert!(t.iter().all(|t| t.sigmoid_bound.is_none()), "a normalised sigmoid has no ¼ bound");
    }

    #[test]
    fn a_skip_connection_adds_one_to_chi() {
        // 2 → 4 → 4 → 4 → 1 with α = 0.5: layers 1 and 2 have skips; f′ statistics equal everywhere,
        // so a transition between two skip layers predicts √(1 + α²χ), χ = n·Var·E[f′²].
        let spec = MlpSpec::new(2, &[4, 4, 4], Activation::Tanh, Output::Binary).with_residual(Some(0.5));
        let var = 0.25;
        let w = (var * 16.0f64).sqrt();
        let l = LayerInput { delta: 1.0, weight: w, mean_grad_sq: 0.8, act_sq: 0.5 };
        let t = transitions(&spec, &[l, l, l, l], None);
        let chi = 4.0 * var * 0.8;
        assert!((t[1].chi.unwrap() - (1.0 + 0.25 * chi)).abs() < 1e-12, "{:?}", t[1]);
        // into layer 0 (no skip) from layer 1 (skip, c = α): (1/α)²·f′²·(1/f′² + α²·n·Var)
        assert!((t[0].chi.unwrap() - 4.0 * 0.8 * (1.0 / 0.8 + 0.25 * 4.0 * var)).abs() < 1e-12, "{:?}", t[0]);
        // into layer 2 from the output layer (no skip): α²·χ, the plain formula times the branch scale
        let out = LayerInput { delta: 1.0, weight: 0.5, mean_grad_sq: 1.0, act_sq: 0.0 };
        let t = transitions(&spec, &[l, l, l, out], None);
        let var_out = 0.25 / 4.0;
        assert!((t[2].chi.unwrap() - 0.25 * 0.8 * 4.0 * var_out).abs() < 1e-12, "{:?}", t[2]);
    }

    #[test]
    fn fits_are_geometric() {
        let f = geometric_fit(&[Some(0.5), Some(2.0), Some(1.0)]).unwrap();
        assert!((f.factor - 1.0).abs() < 1e-12);
        assert!(f.spread > 1.5 && f.spread < 2.0, "{f:?}");
        assert_eq!(geometric_fit(&[Some(0.5), None]), None);
        assert_eq!(geometric_fit(&[]), None);
        assert_eq!(geometric_fit(&[Some(0.0)]), None);
    }
}
