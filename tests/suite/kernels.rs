//! Every WGSL kernel against its CPU twin in `vanish::reference`, on seeded inputs over the shared shape
//! table, plus the typed errors for sizes an adapter cannot hold. Outputs are pre-filled with NaN so a
//! missed write fails.

use crate::common;

use common::{SHAPES, assert_close, assert_close_f32, gpu, uniform, widen};
use vanish::engine::Optimizer;
use vanish::gpu::layernorm::{LnTensors, layernorm_backward, layernorm_forward};
use vanish::gpu::matmul::{MatmulVariant, matmul};
use vanish::gpu::optim::{OptimState, optimizer_step};
use vanish::gpu::{Gpu, GpuError, Tensor, activation, batchnorm, dense, loss, reduce, step};
use vanish::model::{Activation, Output};
use vanish::reference;

fn nans(gpu: &Gpu, len: usize) -> Tensor {
    gpu.upload("out", &vec![f32::NAN; len]).unwrap()
}

/// Rounding bound for an f32 dot product of `k` terms of magnitude ≤ 1: each partial sum is rounded
/// once, so the error is at most k·u·Σ|aᵢbᵢ| ≤ k²·u in the worst case and ~√k·k·u in practice; we
/// allow 4·k·u·(√k + 1), which still catches a single wrong term (an error of order 1).
fn dot_atol(k: usize) -> f64 {
    4.0 * k as f64 * f32::EPSILON as f64 * ((k as f64).sqrt() + 1.0)
}

#[test]
fn matmul_matches_reference_for_every_shape_transpose_and_variant() {
    let Some(gpu) = gpu() else { return };
    for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
        for (trans_a, trans_b) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = uniform(m * k, 10 + s as u64);
            let b = uniform(k * n, 20 + s as u64);
            let mut want = vec![0.0; m * n];
            reference::matmul(&mut want, &widen(&a), &widen(&b), m, k, n, trans_a, trans_b);
            let (ga, gb) = (gpu.upload("a", &a).unwrap(), gpu.upload("b", &b).unwrap());
            for variant in MatmulVariant::ALL {
                let c = nans(gpu, m * n);
                let d = matmul(gpu, variant, &c, &ga, &gb, (m, k, n), trans_a, trans_b).unwrap();
                gpu.run(&[&d]).unwrap();
                let name = format!("matmul_{} {m}x{k}x{n} ta={trans_a} tb={trans_b}", variant.name());
                assert_close_f32(&name, &gpu.read(&c).unwrap(), &want, dot_atol(k), 1e-5);
            }
        }
    }
}

/// The dense layer's three products through the GPU launcher agree with `reference::dense_*`.
#[test]
fn matmul_computes_the_dense_layer_forms() {
    let Some(gpu) = gpu() else { return };
    let (m, k, n) = (33, 10, 7);
    let (x, w, dz) = (uniform(m * k, 1), uniform(n * k, 2), uniform(m * n, 3));
    let (mut z, mut dx, mut dw, mut db) = (vec![0.0; m * n], vec![0.0; m * k], vec![0.0; n * k], vec![0.0; n]);
    reference::dense_forward(&mut z, &widen(&x), &widen(&w), &vec![0.0; n], m, k, n);
    reference::dense_backward(Some(&mut dx), &mut dw, &mut db, &widen(&dz), &widen(&x), &widen(&w), m, k, n);
    let (gx, gw, gdz) = (gpu.upload("x", &x).unwrap(), gpu.upload("w", &w).unwrap(), gpu.upload("dz", &dz).unwrap());
    let (oz, odx, odw) = (nans(gpu, m * n), nans(gpu, m * k), nans(gpu, n * k));
    let v = MatmulVariant::Blocked;
    let fwd = matmul(gpu, v, &oz, &gx, &gw, (m, k, n), false, true).unwrap();
    let bx = matmul(gpu, v, &odx, &gdz, &gw, (m, n, k), false, false).unwrap();
    let bw = matmul(gpu, v, &odw, &gdz, &gx, (n, m, k), true, false).unwrap();
    gpu.run(&[&fwd, &bx, &bw]).unwrap();
    assert_close_f32("Z = X·Wᵀ", &gpu.read(&oz).unwrap(), &z, dot_atol(k), 1e-5);
    assert_close_f32("dX = dZ·W", &gpu.read(&odx).unwrap(), &dx, dot_atol(n), 1e-5);
    assert_close_f32("dW = dZᵀ·X", &gpu.read(&odw).unwrap(), &dw, dot_atol(m), 1e-5);
}

/// The fused dense kernels against the reference's dense layer and activations, over the shape table.
#[test]
fn dense_kernels_match_reference() {
    let Some(gpu) = gpu() else { return };
    for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
        for act in [Activation::Sigmoid, Activation::Relu, Activation::Gelu, Activation::Elu(0.5)] {
            let seed = 200 + 10 * s as u64;
            let (x, w, b) = (uniform(m * k, seed), uniform(n * k, seed + 1), uniform(n, seed + 2));
            let (dz, zp) = (uniform(m * n, seed + 3), uniform(m * k, seed + 4));
            let ap: Vec<f32> = zp.iter().map(|&v| reference::activation(v as f64, act) as f32).collect();
            let up = |name, v: &[f32]| gpu.upload(name, v).unwrap();
            let (gx, gw, gb, gdz, gzp, gap) =
                (up("x", &x), up("w", &w), up("b", &b), up("dz", &dz), up("zp", &zp), up("ap", &ap));
            let (oz, oa, oin, odw, odb) =
                (nans(gpu, m * n), nans(gpu, m * n), nans(gpu, m * k), nans(gpu, n * k), nans(gpu, n));
            let d = [
                dense::dense_forward(gpu, &oz, &oa, &gx, &gw, &gb, (m, k, n), act).unwrap(),
                dense::dense_backward_input(gpu, &oin, &gdz, &gw, &gzp, &gap, (m, k, n), act).unwrap(),
                dense::dense_backward_weight(gpu, &odw, &odb, &gdz, &gx, (m, k, n)).unwrap(),
            ];
            gpu.run(&d.iter().collect::<Vec<_>>()).unwrap();
            let (mut z, mut dx, mut dw, mut db) = (vec![0.0; m * n], vec![0.0; m * k], vec![0.0; n * k], vec![0.0; n]);
            reference::dense_forward(&mut z, &widen(&x), &widen(&w), &widen(&b), m, k, n);
            let a: Vec<f64> = z.iter().map(|&v| reference::activation(v, act)).collect();
            reference::dense_backward(Some(&mut dx), &mut dw, &mut db, &widen(&dz), &widen(&x), &widen(&w), m, k, n);
            let din: Vec<f64> =
                dx.iter().zip(&zp).map(|(g, &v)| g * reference::activation_grad(v as f64, act)).collect();
            let name = format!("dense {act} {m}x{k}x{n}");
            // The products: f32 dot products (dot_atol); the activations add their few-ulp error.
            assert_close_f32(&format!("{name} z"), &gpu.read(&oz).unwrap(), &z, dot_atol(k), 1e-5);
            assert_close_f32(&format!("{name} a"), &gpu.read(&oa).unwrap(), &a, dot_atol(k) + 4e-6, 1e-5);
            assert_close_f32(&format!("{name} d_prev"), &gpu.read(&oin).unwrap(), &din, dot_atol(n) + 4e-6, 1e-5);
            assert_close_f32(&format!("{name} dW"), &gpu.read(&odw).unwrap(), &dw, dot_atol(m), 1e-5);
            assert_close_f32(&format!("{name} db"), &gpu.read(&odb).unwrap(), &db, dot_atol(m), 1e-5);
        }
    }
}

const ELEMENTWISE_SHAPES: &[(usize, usize)] = &[(1, 1), (7, 7), (32, 10), (65, 63), (670, 10), (256, 257)];

#[test]
fn bias_activation_forward_matches_reference() {
    let Some(gpu) = gpu() else { return };
    for act in Activation::ALL.into_iter().chain([Activation::LeakyRelu(0.2), Activation::Elu(0.5)]) {
        for (s, &(m, n)) in ELEMENTWISE_SHAPES.iter().enumerate() {
            for with_bias in [false, true] {
                // Scaled to [-4, 4] so sigmoid and tanh reach their flat tails.
                let z: Vec<f32> = uniform(m * n, 30 + s as u64).iter().map(|v| 4.0 * v).collect();
                let bias = uniform(n, 40 + s as u64);
                let (mut wz, mut wa) = (widen(&z), vec![0.0; m * n]);
                let wb = widen(&bias);
                reference::bias_activation_forward(&mut wz, &mut wa, with_bias.then_some(&wb[..]), m, n, act);
                let (gz, gb, ga) = (gpu.upload("z", &z).unwrap(), gpu.upload("b", &bias).unwrap(), nans(gpu, m * n));
                let d =
                    activation::bias_activation_forward(gpu, &gz, &ga, with_bias.then_some(&gb), (m, n), act).unwrap();
                gpu.run(&[&d]).unwrap();
                let name = format!("{act} forward {m}x{n} bias={with_bias}");
                // z + b is one f32 addition (half an ulp); f is built from exp/tanh, which Vulkan lets
                // drivers compute to a few ulp: 1e-6 absolute plus 1e-5 relative covers both.
                assert_close_f32(&format!("{name} z"), &gpu.read(&gz).unwrap(), &wz, 1e-6, 1e-6);
                assert_close_f32(&format!("{name} a"), &gpu.read(&ga).unwrap(), &wa, 1e-6, 1e-5);
            }
        }
    }
}

#[test]
fn activation_backward_matches_reference() {
    let Some(gpu) = gpu() else { return };
    for act in Activation::ALL.into_iter().chain([Activation::LeakyRelu(0.2), Activation::Elu(0.5)]) {
        for (s, &(m, n)) in ELEMENTWISE_SHAPES.iter().enumerate() {
            let z: Vec<f32> = uniform(m * n, 50 + s as u64).iter().map(|v| 4.0 * v).collect();
            let da = uniform(m * n, 60 + s as u64);
            // The kernel reads f′ from the saved output where that is exact, so give it the f32 output
            // the forward kernel would have saved.
            let a: Vec<f32> = z.iter().map(|&v| reference::activation(v as f64, act) as f32).collect();
            let mut want = vec![0.0; m * n];
            reference::activation_backward(&mut want, &widen(&da), &widen(&z), act);
            let (gda, gz, ga) =
                (gpu.upload("da", &da).unwrap(), gpu.upload("z", &z).unwrap(), gpu.upload("a", &a).unwrap());
            let gdz = nans(gpu, m * n);
            let d = activation::activation_backward(gpu, &gdz, &gda, &gz, &ga, (m, n), act).unwrap();
            gpu.run(&[&d]).unwrap();
            // f′ from an f32 output (σ(1−σ), 1−tanh²) carries the output's rounding, ~1e-7 absolute.
            // GELU′ = ½(1 + t) + ½z(1 − t²)·…, with t = tanh(…) → −1 for z ≪ 0: both terms cancel, and
            // t's f32 rounding (~6e-8) times |z| ≤ 4 and the constants leaves ~1e-6 absolute.
            let atol = if act == Activation::Gelu { 4e-6 } else { 1e-6 };
            assert_close_f32(&format!("{act} backward {m}x{n}"), &gpu.read(&gdz).unwrap(), &want, atol, 1e-5);
        }
    }
}

#[test]
fn bias_backward_matches_reference() {
    let Some(gpu) = gpu() else { return };
    for (s, &(m, _, n)) in SHAPES.iter().enumerate() {
        let dz = uniform(m * n, 70 + s as u64);
        let mut want = vec![0.0; n];
        reference::bias_backward(&mut want, &widen(&dz), m, n);
        let (gdz, gdb) = (gpu.upload("dz", &dz).unwrap(), nans(gpu, n));
        gpu.run(&[&reduce::bias_backward(gpu, &gdb, &gdz, (m, n)).unwrap()]).unwrap();
        assert_close_f32(&format!("bias_backward {m}x{n}"), &gpu.read(&gdb).unwrap(), &want, dot_atol(m), 1e-5);
    }
}

const BN_SHAPES: &[(usize, usize)] = &[(1, 1), (2, 3), (7, 10), (32, 10), (65, 63), (670, 10), (256, 1)];

#[test]
fn batchnorm_forward_and_running_update_match_reference() {
    let Some(gpu) = gpu() else { return };
    let (eps, momentum) = (1e-5, 0.1);
    for (s, &(m, n)) in BN_SHAPES.iter().enumerate() {
        // An offset and scale per column, so the mean and variance matter.
        let x: Vec<f32> =
            uniform(m * n, 80 + s as u64).iter().enumerate().map(|(i, v)| 3.0 * v + (i % n) as f32).collect();
        let gamma: Vec<f32> = uniform(n, 81).iter().map(|v| 1.0 + 0.5 * v).collect();
        let beta = uniform(n, 82);
        let run_mean = uniform(n, 83);
        let run_var: Vec<f32> = uniform(n, 84).iter().map(|v| 1.0 + 0.5 * v).collect();
        let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
        reference::batchnorm_forward(
            &mut y,
            &mut mean,
            &mut rstd,
            &widen(&x),
            &widen(&gamma),
            &widen(&beta),
            m,
            n,
            eps,
        );
        let (mut rm, mut rv) = (widen(&run_mean), widen(&run_var));
        reference::batchnorm_update_running(&mut rm, &mut rv, &mean, &rstd, m, momentum, eps);

        let up = |name, v: &[f32]| gpu.upload(name, v).unwrap();
        let (gx, gg, gb) = (up("x", &x), up("gamma", &gamma), up("beta", &beta));
        let (grm, grv) = (up("running_mean", &run_mean), up("running_var", &run_var));
        let (gy, gmean, grstd) = (nans(gpu, m * n), nans(gpu, n), nans(gpu, n));
        let b = batchnorm::BnForward {
            y: &gy,
            mean: &gmean,
            rstd: &grstd,
            running_mean: &grm,
            running_var: &grv,
            x: &gx,
            gamma: &gg,
            beta: &gb,
        };
        gpu.run(&[&batchnorm::batchnorm_forward(gpu, &b, (m, n), eps, Some(momentum)).unwrap()]).unwrap();
        let name = format!("batchnorm_forward {m}x{n}");
        // rstd multiplies the f32 rounding of x − mean (inputs up to ~|x| ≤ 3 + n) by up to 1/√eps when a
        // column is constant (m = 1); relative 1e-4 on y and 1e-5 on the statistics covers that.
        assert_close_f32(&format!("{name} mean"), &gpu.read(&gmean).unwrap(), &mean, 1e-5, 1e-5);
        assert_close_f32(&format!("{name} rstd"), &gpu.read(&grstd).unwrap(), &rstd, 1e-5, 1e-4);
        assert_close_f32(&format!("{name} y"), &gpu.read(&gy).unwrap(), &y, 1e-4, 1e-4);
        assert_close_f32(&format!("{name} running_mean"), &gpu.read(&grm).unwrap(), &rm, 1e-5, 1e-5);
        assert_close_f32(&format!("{name} running_var"), &gpu.read(&grv).unwrap(), &rv, 1e-5, 1e-4);

        // Evaluation mode normalises with the (just updated) running statistics.
        let mut ye = vec![0.0; m * n];
        reference::batchnorm_forward_eval(&mut ye, &widen(&x), &widen(&gamma), &widen(&beta), &rm, &rv, m, n, eps);
        let gye = nans(gpu, m * n);
        let d = batchnorm::batchnorm_forward_eval(gpu, &gye, &gx, &gg, &gb, &grm, &grv, (m, n), eps).unwrap();
        gpu.run(&[&d]).unwrap();
        assert_close_f32(&format!("{name} eval"), &gpu.read(&gye).unwrap(), &ye, 1e-4, 1e-4);
    }
}

#[test]
fn batchnorm_backward_matches_reference() {
    let Some(gpu) = gpu() else { return };
    let eps = 1e-5;
    for (s, &(m, n)) in BN_SHAPES.iter().enumerate().filter(|(_, (m, _))| *m > 1) {
        let x = uniform(m * n, 90 + s as u64);
        let dy = uniform(m * n, 91 + s as u64);
        let gamma: Vec<f32> = uniform(n, 92).iter().map(|v| 1.0 + 0.5 * v).collect();
        let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
        reference::batchnorm_forward(
            &mut y,
            &mut mean,
            &mut rstd,
            &widen(&x),
            &widen(&gamma),
            &vec![0.0; n],
            m,
            n,
            eps,
        );
        let (mut dx, mut dg, mut db) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
        reference::batchnorm_backward(
            &mut dx,
            &mut dg,
            &mut db,
            &widen(&dy),
            &widen(&x),
            &mean,
            &rstd,
            &widen(&gamma),
            m,
            n,
        );
        // The kernel takes the saved statistics as f32, as the forward kernel would have left them.
        let mean32: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
        let rstd32: Vec<f32> = rstd.iter().map(|&v| v as f32).collect();
        let up = |name, v: &[f32]| gpu.upload(name, v).unwrap();
        let (gdy, gx, gm, gr, gg) =
            (up("dy", &dy), up("x", &x), up("mean", &mean32), up("rstd", &rstd32), up("g", &gamma));
        let (gdx, gdg, gdb) = (nans(gpu, m * n), nans(gpu, n), nans(gpu, n));
        let d = batchnorm::batchnorm_backward(gpu, &gdx, &gdg, &gdb, &gdy, &gx, &gm, &gr, &gg, (m, n)).unwrap();
        gpu.run(&[&d]).unwrap();
        let name = format!("batchnorm_backward {m}x{n}");
        // dx subtracts two sums of m terms from m·dy: cancellation costs up to ~m ulp of the sums.
        assert_close_f32(&format!("{name} dbeta"), &gpu.read(&gdb).unwrap(), &db, dot_atol(m), 1e-5);
        assert_close_f32(&format!("{name} dgamma"), &gpu.read(&gdg).unwrap(), &dg, dot_atol(m), 1e-4);
        assert_close_f32(&format!("{name} dx"), &gpu.read(&gdx).unwrap(), &dx, dot_atol(m), 1e-4);
    }
}

/// Rows × units for layer norm: one unit (every row constant), a row narrower and one wider than the
/// 64-invocation workgroup (strided partial sums), and more rows than a grid dimension holds (65,535), so
/// the rows wrap into a second dimension.
const LN_SHAPES: &[(usize, usize)] = &[(1, 2), (4, 1), (7, 10), (32, 10), (65, 63), (3, 129), (670, 10), (70_000, 8)];

#[test]
fn layernorm_forward_and_backward_match_reference() {
    let Some(gpu) = gpu() else { return };
    let eps = 1e-5;
    for (s, &(m, n)) in LN_SHAPES.iter().enumerate() {
        // An offset and scale per row, so each row's mean and variance matter.
        let x: Vec<f32> =
            uniform(m * n, 110 + s as u64).iter().enumerate().map(|(i, v)| 3.0 * v + (i / n % 5) as f32).collect();
        let dy = uniform(m * n, 111 + s as u64);
        let gamma: Vec<f32> = uniform(n, 112).iter().map(|v| 1.0 + 0.5 * v).collect();
        let beta = uniform(n, 113);
        let (mut y, mut mean, mut rstd) = (vec![0.0; m * n], vec![0.0; m], vec![0.0; m]);
        let (xw, gw) = (widen(&x), widen(&gamma));
        reference::layernorm_forward(&mut y, &mut mean, &mut rstd, &xw, &gw, &widen(&beta), m, n, eps);
        let (mut dx, mut dg, mut db) = (vec![0.0; m * n], vec![0.0; n], vec![0.0; n]);
        reference::layernorm_backward(&mut dx, &mut dg, &mut db, &widen(&dy), &xw, &mean, &rstd, &gw, m, n);

        let up = |name, v: &[f32]| gpu.upload(name, v).unwrap();
        let (gx, gg, gb, gdy) = (up("x", &x), up("gamma", &gamma), up("beta", &beta), up("dy", &dy));
        let (gy, gmean, grstd) = (nans(gpu, m * n), nans(gpu, m), nans(gpu, m));
        let (gdx, gdg, gdb) = (nans(gpu, m * n), nans(gpu, n), nans(gpu, n));
        let t = LnTensors { x: &gx, gamma: &gg, mean: &gmean, rstd: &grstd };
        let forward = layernorm_forward(gpu, &gy, &t, &gb, (m, n), eps).unwrap();
        let [rows, units] = layernorm_backward(gpu, (&gdx, &gdg, &gdb), &gdy, &t, (m, n)).unwrap();
        gpu.run(&[&forward, &rows, &units]).unwrap();
        let name = format!("layernorm {m}x{n}");
        // As batch norm's: rstd multiplies the rounding of x − mean by up to 1/√eps for a constant row
        // (n = 1); the backward's sums over n units (dx) and m rows (dγ, dβ) cancel up to ~n or m ulp.
        assert_close_f32(&format!("{name} mean"), &gpu.read(&gmean).unwrap(), &mean, 1e-5, 1e-5);
        assert_close_f32(&format!("{name} rstd"), &gpu.read(&grstd).unwrap(), &rstd, 1e-5, 1e-4);
        assert_close_f32(&format!("{name} y"), &gpu.read(&gy).unwrap(), &y, 1e-4, 1e-4);
        assert_close_f32(&format!("{name} dx"), &gpu.read(&gdx).unwrap(), &dx, dot_atol(n), 1e-4);
        assert_close_f32(&format!("{name} dbeta"), &gpu.read(&gdb).unwrap(), &db, dot_atol(m), 1e-5);
        assert_close_f32(&format!("{name} dgamma"), &gpu.read(&gdg).unwrap(), &dg, dot_atol(m), 1e-4);
    }
}

#[test]
fn cross_entropy_losses_match_reference() {
    let Some(gpu) = gpu() else { return };
    let shapes = [(1, 1), (7, 1), (32, 1), (670, 1), (1, 2), (7, 3), (32, 10), (670, 5)];
    let heads = shapes
        .iter()
        .map(|&(n, k)| (n, if k == 1 { Output::Binary } else { Output::Softmax(k) }))
        .chain([(1, 2), (7, 3), (32, 10), (670, 10)].map(|(n, k)| (n, Output::SigmoidCe(k))));
    for (s, (n, output)) in heads.enumerate() {
        let k = output.width();
        let logits: Vec<f32> = uniform(n * k, 100 + s as u64).iter().map(|v| 5.0 * v).collect();
        let labels: Vec<u32> = (0..n).map(|i| ((i * 7 + s) % k.max(2)) as u32).collect();
        let mut dl = vec![0.0; n * k];
        let (loss, correct) = reference::output_loss(output, &mut dl, &widen(&logits), &labels, n);
        let (gl, gy) = (gpu.upload("logits", &logits).unwrap(), gpu.upload("labels", &labels).unwrap());
        // Step 2 of an epoch: the metrics land in slot 2.
        let state = gpu.upload("state", &step::step_state(0, 2)).unwrap();
        let (gdl, metrics) = (nans(gpu, n * k), nans(gpu, 8));
        gpu.run(&[
            &step::step_begin(gpu, &state).unwrap(),
            &loss::cross_entropy(gpu, &gdl, &metrics, &gl, &gy, &state, n, output).unwrap(),
        ])
        .unwrap();
        let got = gpu.read(&metrics).unwrap();
        let name = format!("cross_entropy n={n} {output:?}");
        assert_close(&format!("{name} loss"), &[got[4] as f64], &[loss], 1e-6, 1e-5);
        assert_eq!(got[5] as usize, correct, "{name}: correct count");
        assert!(got[..4].iter().all(|v| v.is_nan()), "{name}: wrote outside its slot");
        assert_close_f32(&format!("{name} dlogits"), &gpu.read(&gdl).unwrap(), &dl, 1e-7, 1e-5);
    }
}

#[test]
fn optimizer_steps_match_reference_over_several_steps() {
    let Some(gpu) = gpu() else { return };
    let opts = [Optimizer::sgd(0.1, 0.0), Optimizer::sgd(0.05, 0.9), Optimizer::adam(1e-3), Optimizer::adam(0.1)];
    // Without weight decay, and with λ/n = 0.3 on every third element (the mask of dense weights).
    for (len, opt, decay) in [1usize, 65, 1000]
        .into_iter()
        .flat_map(|len| opts.into_iter().flat_map(move |opt| [(len, opt, 0.0), (len, opt, 0.3)]))
    {
        let mask: Vec<f32> =
            if decay == 0.0 { vec![0.0] } else { (0..len).map(|i| f32::from(u8::from(i % 3 == 0))).collect() };
        let weights = gpu.upload("mask", &mask).unwrap();
        let params = uniform(len, 110);
        let (mut p, mut m, mut v) = (widen(&params), vec![0.0; len], vec![0.0; len]);
        let (gp, gg) = (gpu.upload("params", &params).unwrap(), gpu.tensor("grads", len).unwrap());
        let (gm, gv) = (gpu.tensor("m", len).unwrap(), gpu.tensor("v", len).unwrap());
        let state = gpu.upload("state", &step::step_state(0, 0)).unwrap();
        let schedule = gpu.upload("schedule", &opt.schedule(1, 3)).unwrap();
        let s = OptimState {
            params: &gp,
            grads: &gg,
            m: &gm,
            v: &gv,
            state: &state,
            schedule: &schedule,
            weights: &weights,
            decay,
        };
        let (begin, update) = (step::step_begin(gpu, &state).unwrap(), optimizer_step(gpu, &opt, &s).unwrap());
        for t in 1..=3u32 {
            let grads = uniform(len, 120 + t as u64);
            gpu.write(&gg, &grads);
            gpu.run(&[&begin, &update]).unwrap();
            let g: Vec<f64> = (0..len)
                .map(|i| grads[i] as f64 + if decay > 0.0 && i % 3 == 0 { decay * p[i] } else { 0.0 })
                .collect();
            match opt {
                Optimizer::Sgd { lr, momentum } => reference::sgd_step(&mut p, &g, &mut m, lr, momentum),
                Optimizer::Adam { lr, beta1, beta2, eps } => {
                    reference::adam_step(&mut p, &g, &mut m, &mut v, lr, beta1, beta2, eps, t)
                }
            }
        }
        // Three updates of size ≤ lr each, each computed in f32 from f32 state (~1e-6 relative):
        // 1e-5·lr absolute on top of the parameters' own f32 rounding.
        let atol = 1e-5 * opt.lr() + 1e-7;
        let name = format!("{opt:?} len={len} decay={decay}");
        assert_close_f32(&format!("{name} params"), &gpu.read(&gp).unwrap(), &p, atol, 1e-6);
        assert_close_f32(&format!("{name} m"), &gpu.read(&gm).unwrap(), &m, 1e-6, 1e-5);
    }
}

#[test]
fn segment_stats_match_reference() {
    let Some(gpu) = gpu() else { return };
    let data = uniform(5000, 130);
    let segments = [(0usize, 1usize), (64, 0), (64, 63), (128, 670), (832, 4096)];
    let want = reference::segment_stats(&widen(&data), &segments);
    let flat: Vec<u32> = segments.iter().flat_map(|&(o, l)| [o as u32, l as u32]).collect();
    let (gd, gs, out) = (gpu.upload("data", &data).unwrap(), gpu.upload("segments", &flat).unwrap(), nans(gpu, 10));
    gpu.run(&[&reduce::segment_stats(gpu, &out, &gd, &gs, segments.len()).unwrap()]).unwrap();
    let got = gpu.read(&out).unwrap();
    for (i, (&(off, len), &(ss, mx))) in segments.iter().zip(&want).enumerate() {
        let name = format!("segment {i} ({off}, {len})");
        assert_close(&format!("{name} sumsq"), &[got[2 * i] as f64], &[ss], dot_atol(len), 1e-5);
        assert_close(&format!("{name} max"), &[got[2 * i + 1] as f64], &[mx], 0.0, 0.0);
    }
}

#[test]
fn activation_stats_match_reference() {
    let Some(gpu) = gpu() else { return };
    for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::Gelu, Activation::Elu(0.5)] {
        for &(m, n) in &[(1usize, 1usize), (32, 10), (670, 10), (7, 300)] {
            // Columns shifted by −6…+3 so some sigmoid/tanh units saturate and some ReLU units are dead.
            let z: Vec<f32> =
                uniform(m * n, 140).iter().enumerate().map(|(i, v)| 3.0 * v + (i % n % 10) as f32 - 6.0).collect();
            let a: Vec<f32> = z.iter().map(|&v| reference::activation(v as f64, act) as f32).collect();
            let want = reference::activation_stats(&widen(&a), &widen(&z), m, n, act);
            let (gz, ga, out) = (gpu.upload("z", &z).unwrap(), gpu.upload("a", &a).unwrap(), nans(gpu, 10));
            gpu.run(&[&activation::activation_stats(gpu, &out, 1, &gz, &ga, (m, n), act).unwrap()]).unwrap();
            let got = gpu.read(&out).unwrap();
            let name = format!("{act} stats {m}x{n}");
            assert_close(&format!("{name} mean"), &[got[5] as f64], &[want.mean], 1e-5, 1e-5);
            assert_close(&format!("{name} std"), &[got[6] as f64], &[want.std], 1e-5, 1e-4);
            // The kernel tests f′ from the f32 output, the reference from z: a value right at the 1%
            // threshold may fall either way, so allow one element.
            let one = 1.0 / (m * n) as f64 + 1e-7;
            assert_close(&format!("{name} saturated"), &[got[7] as f64], &[want.saturated], one, 0.0);
            assert_close(&format!("{name} dead"), &[got[8] as f64], &[want.dead], 1e-7, 0.0);
            // f′ from an f32 output carries ~1e-7 absolute; squared and averaged, 1e-6 covers it.
            assert_close(&format!("{name} E[f′²]"), &[got[9] as f64], &[want.mean_grad_sq], 1e-6, 1e-5);
            assert!(got[..5].iter().all(|v| v.is_nan()), "{name}: wrote outside its slot");
        }
    }
}

#[test]
fn gather_rows_follows_the_order_and_the_step() {
    let Some(gpu) = gpu() else { return };
    let (rows_total, features, batch) = (10usize, 3usize, 4usize);
    let x: Vec<f32> = (0..rows_total * features).map(|i| i as f32).collect();
    let y: Vec<u32> = (0..rows_total as u32).map(|i| 100 + i).collect();
    let order: Vec<u32> = vec![3, 1, 4, 0, 9, 2, 6, 5, 8, 7];
    let up = |name, v: &[u32]| gpu.upload(name, v).unwrap();
    let (gx, gy, go) = (gpu.upload("x", &x).unwrap(), up("y", &y), up("order", &order));
    // The last, short batch of the epoch: step 2 covers order[8..10].
    let state = up("state", &step::step_state(5, 2));
    let (xb, yb) = (nans(gpu, batch * features), up("yb", &[0u32; 4]));
    let g = step::Gather { x: &gx, y: &gy, order: &go, state: &state, xb: &xb, yb: &yb };
    gpu.run(&[&step::step_begin(gpu, &state).unwrap(), &step::gather_rows(gpu, &g, 2, features, batch).unwrap()])
        .unwrap();
    let got = gpu.read(&xb).unwrap();
    assert_eq!(&got[..6], &[24.0, 25.0, 26.0, 21.0, 22.0, 23.0]);
    assert!(got[6..].iter().all(|v| v.is_nan()), "rows past the batch were written");
    assert_eq!(gpu.read_u32(&yb).unwrap(), vec![108, 107, 0, 0]);
    assert_eq!(gpu.read_u32(&state).unwrap(), vec![6, 2, 3, 0], "step_begin advances t and the step");
}

#[test]
fn sizes_beyond_the_adapter_give_typed_errors() {
    let Some(gpu) = gpu() else { return };
    let words = (gpu.limits.max_storage_buffer_binding_size / 4 + 1) as usize;
    match gpu.tensor("too big", words) {
        Err(GpuError::TooLarge { requested, limit_name, .. }) => {
            assert_eq!(requested, words as u64 * 4);
            assert_eq!(limit_name, "max_storage_buffer_binding_size");
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|t| t.len())),
    }
    // A batch-norm layer one workgroup per feature: more features than workgroups allowed.
    let n = gpu.limits.max_compute_workgroups_per_dimension as usize + 1;
    let t = gpu.tensor("small", 4).unwrap();
    let err = reduce::bias_backward(gpu, &t, &t, (1, n)).err().expect("expected an error");
    assert!(matches!(err, GpuError::TooManyWorkgroups { .. }), "{err}");
    assert!(err.to_string().contains("workgroups"), "{err}");
}

/// A lost device (here destroyed, as a driver reset or a removed GPU would lose it) turns the next GPU
/// work into an error naming the loss, never a panic or a hang.
#[test]
fn a_lost_device_is_an_error_not_a_panic() {
    if common::gpu().is_none() {
        return;
    }
    use vanish::engine::{Engine, TrainConfig};
    use vanish::gpu::LayeredEngine;
    use vanish::model::{MlpSpec, Output, Params};
    let gpu = Gpu::new(&Default::default()).unwrap();
    let spec = MlpSpec::new(2, &[4], Activation::Tanh, Output::Binary);
    let data =
        vanish::data::load(&vanish::data::DatasetSpec::Circles { samples: 40, noise: 0.1, factor: 0.5 }, 0).unwrap();
    let cfg = TrainConfig::new(Optimizer::sgd(0.1, 0.0), 8);
    let mut engine = LayeredEngine::new(&gpu, &spec, &Params::init(&spec, 0), &data, &data, cfg).unwrap();
    gpu.device.destroy();
    let order: Vec<u32> = (0..data.len() as u32).collect();
    let failed = engine.begin_epoch(&order).and_then(|()| engine.train_batches(0, 2).map(|_| ()));
    let message = failed.expect_err("work on a destroyed device fails").to_string();
    assert!(message.contains("lost") || message.contains("destroyed"), "{message}");
}
