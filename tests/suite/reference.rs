// The CPU reference on its own (no GPU): backward passes vs finite differences, whole networks, JAX fixtures, hand cases.

use crate::common;

use common::{assert_close, finite_diff, fixture_names, load_fixture, uniform, widen};
use vanish::model::{Activation, MlpSpec, Norm, Output, Params};
use vanish::reference::*;

/// Step for central differences: balances truncation (h²·f‴/6 ≈ 1e-11) against rounding
/// (ε·|L|/h ≈ 1e-11·|L|) in f64.
const H: f64 = 1e-5;
/// Finite differences carry ~1e-10 of error at the sizes used here (|L| ≲ 10, f‴ = O(1)), so
/// `1e-8 + 1e-6·|want|` leaves a margin of 100× or more, while any wrong term in a backward formula
/// (a missed factor, sign or row) moves a gradient by 1e-3 or more of its size.
const FD_ATOL: f64 = 1e-8;
const FD_RTOL: f64 = 1e-6;

/// Seeded inputs uniform in [-1, 1], as f64.
fn rand(len: usize, seed: u64) -> Vec<f64> {
    widen(&uniform(len, seed))
}

/// Seeded inputs with |v| in [0.1, 1]: at least 0.1 from the kinks of ReLU, leaky ReLU and ELU at
/// 0, so no finite-difference step (1e-5) crosses one.
fn away_from_zero(len: usize, seed: u64) -> Vec<f64> {
    rand(len, seed).into_iter().map(|u| u.signum() * (0.1 + 0.9 * u.abs())).collect()
}

/// L = Σ r ⊙ out: a scalar whose gradient w.r.t. `out` is the random `r`.
fn dot(r: &[f64], out: &[f64]) -> f64 {
    r.iter().zip(out).map(|(a, b)| a * b).sum()
}

// ---------------------------------------------------------------------------------------------
// 1. each op's backward against central finite differences

#[test]
fn activation_backward_matches_finite_differences() {
    let (m, n) = (3, 4);
    let mut acts = Activation::ALL.to_vec();
    // non-default slopes, so a forgotten alpha cannot pass as the default one
    acts.extend([Activation::LeakyRelu(0.2), Activation::Elu(0.5)]);
    for (s, &act) in acts.iter().enumerate() {
        let seed = 100 + s as u64;
        // pre-activations z + bias kept away from 0; z is drawn so that z + bias is exactly that
        let pre = away_from_zero(m * n, seed);
        let bias = rand(n, seed + 1000);
        let z: Vec<f64> = (0..m * n).map(|i| pre[i] - bias[i % n]).collect();
        let r = rand(m * n, seed + 2000);
        let loss = |z: &[f64], bias: &[f64]| {
            let (mut z, mut a) = (z.to_vec(), vec![0.0; m * n]);
            bias_activation_forward(&mut z, &mut a, Some(bias), m, n, act);
            dot(&r, &a)
        };

        let mut z_biased = z.clone();
        let mut a = vec![0.0; m * n];
        bias_activation_forward(&mut z_biased, &mut a, Some(&bias), m, n, act);
        let mut dz = vec![f64::NAN; m * n];
        activation_backward(&mut dz, &r, &z_biased, act);
        let mut db = vec![f64::NAN; n];
        bias_backward(&mut db, &dz, m, n);

        let fd_z = finite_diff(&z, H, |z| loss(z, &bias));
        let fd_b = finite_diff(&bias, H, |b| loss(&z, b));
        assert_close(&format!("{act} dz"), &dz, &fd_z, FD_ATOL, FD_RTOL);
        assert_close(&format!("{act} dbias"), &db, &fd_b, FD_ATOL, FD_RTOL);
    }
}

#[test]
fn activation_values_at_hand_points() {
    let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-12, "{got} != {want}");
    close(activation(0.0, Activation::Sigmoid), 0.5);
    close(activation_grad(0.0, Activation::Sigmoid), 0.25);
    close(activation(1000.0, Activation::Sigmoid), 1.0);
    close(activation(-1000.0, Activation::Sigmoid), 0.0);
    close(activation(0.5, Activation::Tanh), 0.5f64.tanh());
    close(activation(-1.0, Activation::Relu), 0.0);
    close(activation_grad(0.0, Activation::Relu), 0.0); // ReLU′(0) = 0, as in PyTorch and JAX
    close(activation_grad(1e-300, Activation::Relu), 1.0);
    close(activation(-2.0, Activation::LeakyRelu(0.25)), -0.5);
    close(activation_grad(0.0, Activation::LeakyRelu(0.25)), 0.25);
    close(activation(-1.0, Activation::Elu(0.5)), 0.5 * ((-1.0f64).exp() - 1.0));
    close(activation(1.0, Activation::Gelu), 0.841_191_990_608_276_8); // ½(1 + tanh(√(2/π)·1.044715))
    close(activation(1.0, Activation::Silu), 1.0 / (1.0 + (-1.0f64).exp()));
    // SELU with Klambauer et al.'s λ = 1.0507009873554805, α = 1.6732632423543772.
    close(activation(2.0, Activation::Selu), 2.101_401_974_710_961);
    close(activation(-1.0, Activation::Selu), -1.111_330_737_812_562_5);
    close(activation_grad(-1.0, Activation::Selu), 0.646_768_603_034_814_1);
    close(activation(-3.0, Activation::Identity), -3.0);
    close(activation_grad(-3.0, Activation::Identity), 1.0);
}

#[test]
fn dense_backward_matches_finite_differences() {
    let (m, k, n) = (4, 3, 5);
    let (x, w, b, r) = (rand(m * k, 1), rand(n * k, 2), rand(n, 3), rand(m * n, 4));
    let loss = |x: &[f64], w: &[f64], b: &[f64]| {
        let mut z = vec![0.0; m * n];
        dense_forward(&mut z, x, w, b, m, k, n);
        dot(&r, &z)
    };
    let (mut dx, mut dw, mut db) = (vec![f64::NAN; m * k], vec![f64::NAN; n * k], vec![f64::NAN; n]);
    dense_backward(Some(&mut dx), &mut dw, &mut db, &r, &x, &w, m, k, n);
    assert_close("dx", &dx, &finite_diff(&x, H, |x| loss(x, &w, &b)), FD_ATOL, FD_RTOL);
    assert_close("dw", &dw, &finite_diff(&w, H, |w| loss(&x, w, &b)), FD_ATOL, FD_RTOL);
    assert_close("db", &db, &finite_diff(&b, H, |b| loss(&x, &w, b)), FD_ATOL, FD_RTOL);
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    let (m, n, eps) = (5, 3, 1e-5);
    let x = rand(m * n, 11);
    let gamma: Vec<f64> = rand(n, 12).iter().map(|u| 1.0 + 0.5 * u).collect();
    let beta = rand(n, 13);
    let r = rand(m * n, 14);
    let loss = |x: &[f64], gamma: &[f64], beta: &[f64]| {
        let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
        batchnorm_forward(&mut y, &mut mean, &mut rstd, x, gamma, beta, m, n, eps);
        dot(&r, &y)
    };
    let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
    batchnorm_forward(&mut y, &mut mean, &mut rstd, &x, &gamma, &beta, m, n, eps);
    let (mut dx, mut dgamma, mut dbeta) = (vec![f64::NAN; m * n], vec![f64::NAN; n], vec![f64::NAN; n]);
    batchnorm_backward(&mut dx, &mut dgamma, &mut dbeta, &r, &x, &mean, &rstd, &gamma, m, n);
    let fd_x = finite_diff(&x, H, |x| loss(x, &gamma, &beta));
    let fd_gamma = finite_diff(&gamma, H, |g| loss(&x, g, &beta));
    let fd_beta = finite_diff(&beta, H, |b| loss(&x, &gamma, b));
    assert_close("bn dx", &dx, &fd_x, FD_ATOL, FD_RTOL);
    assert_close("bn dgamma", &dgamma, &fd_gamma, FD_ATOL, FD_RTOL);
    assert_close("bn dbeta", &dbeta, &fd_beta, FD_ATOL, FD_RTOL);
}

#[test]
fn batchnorm_running_stats_use_the_unbiased_variance() {
    // one feature, x = 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3
    let (x, gamma, beta) = ([1.0, 2.0, 3.0, 4.0], [1.0], [0.0]);
    let (mut y, mut mean, mut rstd) = ([0.0; 4], [0.0], [0.0]);
    batchnorm_forward(&mut y, &mut mean, &mut rstd, &x, &gamma, &beta, 4, 1, 1e-5);
    let (mut rm, mut rv) = ([0.0], [1.0]);
    batchnorm_update_running(&mut rm, &mut rv, &mean, &rstd, 4, 0.1, 1e-5);
    // the variance comes back from rstd, so allow its round trip (≈1e-16 relative)
    assert_close("running_mean", &rm, &[0.25], 1e-12, 0.0);
    assert_close("running_var", &rv, &[0.9 + 0.1 * 5.0 / 3.0], 1e-12, 0.0);

    // a batch of one: the biased variance (0), not 0/0
    let (mut y1, mut mean1, mut rstd1) = ([0.0], [0.0], [0.0]);
    batchnorm_forward(&mut y1, &mut mean1, &mut rstd1, &[7.0], &gamma, &beta, 1, 1, 1e-5);
    let (mut rm, mut rv) = ([0.0], [1.0]);
    batchnorm_update_running(&mut rm, &mut rv, &mean1, &rstd1, 1, 0.1, 1e-5);
    assert_close("running_mean m=1", &rm, &[0.7], 1e-12, 0.0);
    assert_close("running_var m=1", &rv, &[0.9], 1e-12, 0.0);

    // eval mode with the biased batch statistics reproduces the training-mode output
    let mut y_eval = [0.0; 4];
    batchnorm_forward_eval(&mut y_eval, &x, &gamma, &beta, &[2.5], &[1.25], 4, 1, 1e-5);
    assert_close("eval == train", &y_eval, &y, 1e-15, 1e-14);
}

#[test]
fn bce_with_logits_matches_finite_differences_and_naive_form() {
    let n = 8;
    let logits: Vec<f64> = rand(n, 21).iter().map(|u| 3.0 * u).collect();
    let y: Vec<f64> = rand(n, 22).iter().map(|&u| (u > 0.0) as u8 as f64).collect();
    let mut dlogits = vec![f64::NAN; n];
    let (loss, correct) = bce_with_logits(&mut dlogits, &logits, &y, n);
    let fd = finite_diff(&logits, H, |z| bce_with_logits(&mut vec![0.0; n], z, &y, n).0);
    assert_close("bce dlogits", &dlogits, &fd, FD_ATOL, FD_RTOL);

    // for moderate logits the naive softplus(z) − y·z is accurate enough to compare with
    let naive: f64 = (0..n).map(|i| (1.0 + logits[i].exp()).ln() - y[i] * logits[i]).sum::<f64>() / n as f64;
    assert_close("bce loss", &[loss], &[naive], 0.0, 1e-14);
    let want_correct = (0..n).filter(|&i| (logits[i] > 0.0) == (y[i] == 1.0)).count();
    assert_eq!(correct, want_correct);

    // stable at extreme logits, and z == 0 predicts class 0
    let mut d = [0.0; 3];
    let (loss, correct) = bce_with_logits(&mut d, &[1000.0, -1000.0, 0.0], &[0.0, 1.0, 0.0], 3);
    assert_close("bce extreme", &[loss], &[2000.0 / 3.0 + 2f64.ln() / 3.0], 0.0, 1e-14);
    assert_close("bce extreme grad", &d, &[1.0 / 3.0, -1.0 / 3.0, 0.5 / 3.0], 0.0, 1e-14);
    assert_eq!(correct, 1);
}

#[test]
fn softmax_cross_entropy_matches_finite_differences_and_naive_form() {
    let (n, k) = (4, 3);
    let logits: Vec<f64> = rand(n * k, 31).iter().map(|u| 3.0 * u).collect();
    let labels = [0u32, 2, 1, 2];
    let mut dlogits = vec![f64::NAN; n * k];
    let (loss, correct) = softmax_cross_entropy(&mut dlogits, &logits, &labels, n, k);
    let fd = finite_diff(&logits, H, |z| softmax_cross_entropy(&mut vec![0.0; n * k], z, &labels, n, k).0);
    assert_close("softmax dlogits", &dlogits, &fd, FD_ATOL, FD_RTOL);

    let mut naive = 0.0;
    let mut want_correct = 0;
    for i in 0..n {
        let row = &logits[i * k..(i + 1) * k];
        let sum: f64 = row.iter().map(|z| z.exp()).sum();
        naive += sum.ln() - row[labels[i] as usize];
        let argmax = (0..k).fold(0, |best, c| if row[c] > row[best] { c } else { best });
        want_correct += (argmax == labels[i] as usize) as usize;
    }
    assert_close("softmax loss", &[loss], &[naive / n as f64], 0.0, 1e-14);
    assert_eq!(correct, want_correct);

    // stable at extreme logits; ties go to the first maximum
    let mut d = [0.0; 3];
    let (loss, correct) = softmax_cross_entropy(&mut d, &[1000.0, 1000.0, -1000.0], &[1], 1, 3);
    assert_close("softmax extreme", &[loss], &[2f64.ln()], 0.0, 1e-14);
    assert_close("softmax extreme grad", &d, &[0.5, -0.5, 0.0], 0.0, 1e-14);
    assert_eq!(correct, 0, "a tie predicts the first class");
}

// ---------------------------------------------------------------------------------------------
// 2. whole networks against finite differences on every parameter

/// Random trainable values: the seeded initial weights, plus nonzero biases, γ and β so that no
/// term of the backward pass is hidden by a zero.
fn random_params(spec: &MlpSpec, seed: u64) -> Vec<f64> {
    let init = Params::init(spec, seed);
    let mut p = widen(&init.values);
    let layout = spec.layout();
    for (s, slot) in layout.params.iter().enumerate() {
        let u = rand(slot.len, seed * 100 + s as u64);
        let values = &mut p[slot.range()];
        match slot.kind {
            vanish::model::ParamKind::Bias | vanish::model::ParamKind::Beta => {
                values.iter_mut().zip(&u).for_each(|(v, u)| *v = 0.2 * u)
            }
            vanish::model::ParamKind::Gamma => values.iter_mut().zip(&u).for_each(|(v, u)| *v = 1.0 + 0.5 * u),
            _ => {}
        }
    }
    p
}

#[test]
fn forward_backward_matches_finite_differences_on_every_parameter() {
    let mixed = {
        let mut s = MlpSpec::new(3, &[4, 5], Activation::Tanh, Output::Softmax(3));
        s.activations = vec![Activation::Tanh, Activation::Gelu];
        s
    };
    // smooth activations only: a network's pre-activations cannot all be kept off a kink
    let specs = [
        MlpSpec::new(3, &[4, 5], Activation::Tanh, Output::Binary),
        mixed,
        MlpSpec::new(3, &[4, 5], Activation::Sigmoid, Output::Binary).with_batch_norm(true),
        MlpSpec::new(2, &[6, 4, 5], Activation::Silu, Output::Softmax(4)).with_batch_norm(true),
        MlpSpec::new(3, &[4, 5], Activation::Sigmoid, Output::Binary).with_norm(Norm::Layer),
        MlpSpec::new(2, &[5, 5, 5], Activation::Tanh, Output::Softmax(3))
            .with_norm(Norm::Layer)
            .with_residual(Some(0.5)),
    ];
    let m = 6;
    for (s, spec) in specs.iter().enumerate() {
        let name = spec.describe();
        let seed = 40 + s as u64;
        let params = random_params(spec, seed);
        let x = rand(m * spec.input, seed + 1);
        let k = spec.output.width();
        let labels: Vec<u32> = (0..m).map(|i| ((i * 7 + s) % k.max(2)) as u32).collect();

        let g = forward_backward(spec, &params, &x, &labels, m);
        // every parameter, padding included (its gradient must be exactly 0)
        let fd = finite_diff(&params, H, |p| forward_backward(spec, p, &x, &labels, m).loss);
        assert_close(&format!("{name}: grads"), &g.grads, &fd, FD_ATOL, FD_RTOL);

        // deltas are dL/dz, so each bias gradient is their column sum (z includes the bias)
        let layout = spec.layout();
        for i in 0..spec.num_layers() {
            let out = spec.layer_dims(i).1;
            let mut db = vec![0.0; out];
            bias_backward(&mut db, &g.deltas[i], m, out);
            assert_close(&format!("{name}: Σ deltas[{i}]"), &db, &g.grads[layout.bias(i).range()], 1e-15, 1e-12);
        }

        // eval mode with running statistics equal to this batch's gives the same logits
        let mut running = vec![0.0; layout.running_len];
        for (i, layer) in g.forward.layers.iter().enumerate() {
            if let Some(bn) = layer.batch_norm() {
                running[layout.running_mean(i).unwrap().range()].copy_from_slice(&bn.mean);
                let var: Vec<f64> = bn.rstd.iter().map(|r| 1.0 / (r * r) - spec.bn_eps).collect();
                running[layout.running_var(i).unwrap().range()].copy_from_slice(&var);
            }
        }
        let eval = forward_eval(spec, &params, &running, &x, m);
        assert_close(&format!("{name}: eval logits"), &eval, &g.logits, 1e-12, 1e-10);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. the JAX float64 fixtures

/// JAX and this reference do the same f64 arithmetic in a different order, so they agree to round-off:
/// measured worst 4e-13 relative (the 12-layer sigmoid's first layer, where the gradient has passed
/// through 11 sigmoids); 1e-9 leaves a wide margin and still catches any real error, which is O(1e-3)+.
const FIXTURE_RTOL: f64 = 1e-9;

#[test]
fn forward_backward_matches_the_jax_fixtures() {
    let names = fixture_names();
    assert!(names.len() >= 4, "expected the four fixtures, found {names:?}");
    for name in names {
        let f = load_fixture(&name);
        let g = forward_backward(&f.spec, &f.params, &f.x, &f.labels, f.m);
        assert_close(&format!("{name}: loss"), &[g.loss], &[f.loss], 0.0, FIXTURE_RTOL);
        assert_close(&format!("{name}: logits"), &g.logits, &f.expected["logits"], 0.0, FIXTURE_RTOL);

        let layout = f.spec.layout();
        let mut compared = 0;
        for slot in &layout.params {
            let want = &f.expected[&format!("grad.{}", slot.name)];
            let got = &g.grads[slot.range()];
            let bias_before_bn = slot.kind == vanish::model::ParamKind::Bias && f.spec.has_bn(slot.layer);
            if bias_before_bn {
                // exactly zero in exact arithmetic (batch norm removes the batch mean); both sides hold
                // round-off (measured up to 6e-15·‖dW‖), so bound it by the layer's weight gradient
                let w_norm =
                    f.expected[&format!("grad.layers.{}.weight", slot.layer)].iter().map(|v| v * v).sum::<f64>().sqrt();
                assert_close(&format!("{name}: grad.{}", slot.name), got, want, 1e-12 * w_norm, 0.0);
            } else {
                assert_close(&format!("{name}: grad.{}", slot.name), got, want, 0.0, FIXTURE_RTOL);
            }
            compared += 1;
        }
        let expected_grads = f.expected.keys().filter(|k| k.starts_with("grad.")).count();
        assert_eq!(compared, expected_grads, "{name}: every grad.* tensor is compared");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. hand-checkable cases

#[test]
fn matmul_all_transpose_combinations_match_a_naive_loop() {
    for &(m, k, n) in &[(1, 1, 1), (3, 5, 2), (4, 1, 6), (7, 3, 1), (6, 8, 5)] {
        // the logical operands op(A) [m,k] and op(B) [k,n]
        let a = rand(m * k, (m * 100 + k) as u64);
        let b = rand(k * n, (k * 100 + n) as u64);
        let mut want = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    want[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        let transpose = |v: &[f64], rows: usize, cols: usize| -> Vec<f64> {
            let mut t = vec![0.0; v.len()];
            for r in 0..rows {
                for c in 0..cols {
                    t[c * rows + r] = v[r * cols + c];
                }
            }
            t
        };
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            // store each operand as the flags say: transposed storage of the logical matrix
            let a_stored = if trans_a { transpose(&a, m, k) } else { a.clone() };
            let b_stored = if trans_b { transpose(&b, k, n) } else { b.clone() };
            let mut c = vec![f64::NAN; m * n];
            matmul(&mut c, &a_stored, &b_stored, m, k, n, trans_a, trans_b);
            let name = format!("matmul {m}x{k}x{n} trans_a={trans_a} trans_b={trans_b}");
            // the same products summed in the same order: equal to the last bit
            assert_close(&name, &c, &want, 0.0, 0.0);
        }
    }
}

#[test]
fn segment_stats_by_hand() {
    let data = [3.0, -4.0, 0.0, 1.0, -2.0, 0.5, 9.0];
    let stats = segment_stats(&data, &[(0, 2), (2, 0), (3, 3), (6, 1)]);
    assert_eq!(stats, vec![(25.0, 4.0), (0.0, 0.0), (5.25, 2.0), (81.0, 9.0)]);
}

#[test]
fn activation_stats_by_hand() {
    // relu, m = 2 rows, n = 2 units: unit 0 is zero on both rows (dead), unit 1 is not.
    // a = [0, 1, 0, 3]: mean 1, squared deviations 1 + 0 + 1 + 4 = 6, so std √(6/4)
    let relu = activation_stats(&[0.0, 1.0, 0.0, 3.0], &[-1.0, 1.0, -2.0, 3.0], 2, 2, Activation::Relu);
    assert_eq!(relu.mean, 1.0);
    assert_close("relu std", &[relu.std], &[1.5f64.sqrt()], 0.0, 1e-15);
    assert_eq!((relu.dead, relu.saturated), (0.5, 0.0), "relu has dead units, no saturation");

    // tanh at z = 0, 4, −4, 0.5: tanh′(±4) ≈ 0.0013 < 1% of tanh′'s max 1; the others are not
    let z = [0.0f64, 4.0, -4.0, 0.5];
    let a: Vec<f64> = z.iter().map(|z| z.tanh()).collect();
    let tanh = activation_stats(&a, &z, 2, 2, Activation::Tanh);
    assert_eq!((tanh.saturated, tanh.dead), (0.5, 0.0));
    assert_close("tanh mean", &[tanh.mean], &[0.5f64.tanh() / 4.0], 0.0, 1e-15);

    // sigmoid: σ′(0) = 0.25 is the max, σ′(10) ≈ 4.5e-5 is below 1% of it
    let z = [0.0, 10.0];
    let a: Vec<f64> = z.iter().map(|&z| activation(z, Activation::Sigmoid)).collect();
    assert_eq!(activation_stats(&a, &z, 1, 2, Activation::Sigmoid).saturated, 0.5);
    // neither saturation nor dead units are defined for the others
    let gelu = activation_stats(&[0.0, 0.0], &[-9.0, -9.0], 2, 1, Activation::Gelu);
    assert_eq!((gelu.saturated, gelu.dead), (0.0, 0.0));
}

#[test]
fn sgd_step_by_hand() {
    // p = 1, g = 0.5, lr = 0.1, momentum 0.9: v = 0.5, p = 0.95; then v = 0.95, p = 0.855
    let (mut p, mut v) = ([1.0], [0.0]);
    sgd_step(&mut p, &[0.5], &mut v, 0.1, 0.9);
    assert_close("sgd step 1", &p, &[0.95], 0.0, 1e-15);
    sgd_step(&mut p, &[0.5], &mut v, 0.1, 0.9);
    assert_close("sgd step 2 velocity", &v, &[0.95], 0.0, 1e-15);
    assert_close("sgd step 2", &p, &[0.855], 0.0, 1e-15);
    // momentum 0 is plain SGD
    let (mut p, mut v) = ([1.0], [0.0]);
    sgd_step(&mut p, &[0.5], &mut v, 0.1, 0.0);
    sgd_step(&mut p, &[0.5], &mut v, 0.1, 0.0);
    assert_close("plain sgd", &p, &[0.9], 0.0, 1e-15);
}

#[test]
fn adam_step_by_hand() {
    // with eps = 0 and a constant gradient the bias-corrected step is exactly lr:
    // t = 1: m = 0.05, v = 0.00025, alpha = 0.1·√0.001/0.1, alpha·m/√v = 0.1.
    // t = 2: m = 0.095, v = 0.00049975, alpha = 0.1·√0.001999/0.19, and 0.001999 = 4·0.00049975,
    // so alpha·m/√v = 0.1·2·0.095/0.19 = 0.1.
    let (mut p, mut m, mut v) = ([1.0], [0.0], [0.0]);
    adam_step(&mut p, &[0.5], &mut m, &mut v, 0.1, 0.9, 0.999, 0.0, 1);
    assert_close("adam t=1", &p, &[0.9], 0.0, 1e-14);
    assert_close("adam t=1 m, v", &[m[0], v[0]], &[0.05, 0.00025], 0.0, 1e-14);
    adam_step(&mut p, &[0.5], &mut m, &mut v, 0.1, 0.9, 0.999, 0.0, 2);
    assert_close("adam t=2", &p, &[0.8], 0.0, 1e-14);

    // Keras puts eps beside √v, not √v̂: with eps = 1e-3 the first step is
    // 0.1·√0.001/0.1 · 0.05/(√0.00025 + 1e-3) = 0.0940517 (the paper's form would give 0.0998)
    let (mut p, mut m, mut v) = ([1.0], [0.0], [0.0]);
    adam_step(&mut p, &[0.5], &mut m, &mut v, 0.1, 0.9, 0.999, 1e-3, 1);
    assert_close("adam eps placement", &p, &[0.905_948_348_715_197_5], 0.0, 1e-14);
}
