//! Whole-network behaviour on both engines: the GPU engine against JAX's fixtures, GPU and CPU
//! training side by side from the same weights, the vanishing-gradient phenomenon itself, divergence
//! detection, and that training actually learns.

use crate::common;

use common::{assert_close, fixture_names, gpu, gpu_engine, load_fixture};
use vanish::data::{self, Dataset, DatasetSpec};
use vanish::engine::{BatchEngine, Engine, ModelJob, Optimizer, Split, TrainConfig, Work};
use vanish::gpu::{Executor, KernelClass, Plan, TrainPath, plan};
use vanish::model::{Activation, BiasInit, Init, MlpSpec, Norm, Output, ParamKind, Params};
use vanish::reference::CpuEngine;
use vanish::train::{EpochOrders, TrainError, TrainOptions, train, train_batch, train_batch_async};

fn dataset(x: Vec<f32>, y: Vec<u32>, features: usize) -> Dataset {
    Dataset {
        x,
        y,
        features,
        classes: 2,
        feature_names: (0..features).map(|i| format!("x{i}")).collect(),
        class_names: vec!["0".into(), "1".into()],
    }
}

fn empty(features: usize) -> Dataset {
    dataset(Vec::new(), Vec::new(), features)
}

fn circles(samples: usize, seed: u64) -> (Dataset, Dataset) {
    let spec = DatasetSpec::parse("circles", samples, None, 0.85, 2, None).unwrap();
    data::split(&data::load(&spec, seed).unwrap(), 0.33, seed).unwrap()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The GPU engine's gradients for each fixture batch agree with JAX (float64) tensor by tensor.
#[test]
fn gpu_gradients_match_the_jax_fixtures() {
    let Some(gpu) = gpu() else { return };
    for name in fixture_names() {
        let f = load_fixture(&name);
        let params = f.params_f32();
        let x: Vec<f32> = f.x.iter().map(|&v| v as f32).collect();
        let train = dataset(x, f.labels.clone(), f.spec.input);
        let cfg = TrainConfig::new(Optimizer::sgd(0.1, 0.0), f.m);
        for path in [TrainPath::Layered, TrainPath::Fused, TrainPath::Tiled] {
            let name = format!("{name} {path:?}");
            let mut engine = gpu_engine(gpu, path, &f.spec, &params, &train, &empty(f.spec.input), cfg);
            let probe = engine.probe(Split::Train).unwrap();
            // Inputs and weights are rounded to f32 and the arithmetic is f32: ~1e-6 relative per op,
            // growing with depth; 1e-6 on a loss of order 1.
            assert_close(&format!("{name} loss"), &[probe.loss], &[f.loss], 1e-6, 1e-5);
            let grads = engine.gradients().unwrap();
            let layout = params.layout.clone();
            for slot in &layout.params {
                let want = &f.expected[&format!("grad.{}", slot.name)];
                let got = &grads[slot.range()];
                let err: Vec<f64> = got.iter().zip(want).map(|(g, w)| g - w).collect();
                if slot.name.ends_with(".bias") && layout.gamma(slot.layer).is_some() {
                    // A bias before batch norm has an exactly zero gradient; both sides hold round-off.
                    let scale = norm(&f.expected[&format!("grad.{}", layout.weight(slot.layer).name)]);
                    assert!(norm(&err) <= 1e-5 * scale, "{name} {}: {} vs scale {scale}", slot.name, norm(&err));
                } else {
                    // Relative error of the whole tensor: f32 carries ~1e-7 per operation; a 12-layer sigmoid
                    // stack compounds it through every layer, so 1e-4 bounds it with room to spare while
                    // still failing on any wrong term.
                    let rel = norm(&err) / norm(want);
                    assert!(rel <= 1e-4, "{name} {}: relative error {rel:e}", slot.name);
                }
            }
            let logits = engine.logits().unwrap();
            assert_close(&format!("{name} logits"), &logits, &f.expected["logits"], 1e-5, 1e-5);
            let w1 = layout.weight(0);
            assert_eq!(probe.grad_w1.len(), w1.len);
            assert_close(&format!("{name} probe dW1"), &probe.grad_w1, &grads[w1.range()], 0.0, 0.0);
        }
    }
}

/// Specs and optimisers exercised by the side-by-side test.
/// Networks, optimisers and weight decays λ trained side by side.
fn side_by_side_cases() -> Vec<(MlpSpec, Optimizer, Option<f64>)> {
    let sig = MlpSpec::new(2, &[10, 10, 10], Activation::Sigmoid, Output::Binary);
    let relu = MlpSpec::new(2, &[16, 8], Activation::Relu, Output::Binary);
    let bn = MlpSpec::new(2, &[10, 10], Activation::Sigmoid, Output::Binary).with_batch_norm(true);
    let soft = MlpSpec::new(2, &[12, 12], Activation::Tanh, Output::Softmax(3)).with_batch_norm(true);
    let ln = MlpSpec::new(2, &[10, 10, 10], Activation::Sigmoid, Output::Binary).with_norm(Norm::Layer);
    let ln_res = MlpSpec::new(2, &[8, 8, 8], Activation::Relu, Output::Softmax(3))
        .with_norm(Norm::Layer)
        .with_residual(Some(0.5));
    // Nielsen's: sigmoid outputs with summed cross-entropy, N(0, 1) biases, weight decay.
    let nielsen = MlpSpec::new(2, &[10, 10, 10], Activation::Sigmoid, Output::SigmoidCe(3))
        .with_init(Init::NormalVar(1.0))
        .with_bias_init(BiasInit::Normal(1.0));
    let nielsen_bn = MlpSpec::new(2, &[12, 12], Activation::Tanh, Output::SigmoidCe(3)).with_batch_norm(true);
    vec![
        (ln.clone(), Optimizer::sgd(0.1, 0.9), None),
        (ln, Optimizer::adam(1e-2), None),
        (ln_res, Optimizer::adam(1e-2), None),
        (sig.clone(), Optimizer::sgd(0.5, 0.0), None),
        (sig, Optimizer::adam(1e-2), None),
        (relu.clone(), Optimizer::sgd(0.1, 0.9), Some(5.0)),
        (relu, Optimizer::adam(1e-3), None),
        (bn.clone(), Optimizer::sgd(0.1, 0.0), None),
        (bn, Optimizer::adam(1e-2), None),
        (soft, Optimizer::adam(1e-2), None),
        (nielsen, Optimizer::sgd(0.5, 0.0), Some(5.0)),
        (nielsen_bn, Optimizer::adam(1e-2), Some(5.0)),
    ]
}

/// Two epochs of batch 32 over 100 rows (three full batches and a short one of 4) on both engines
/// from the same weights and order: every batch loss, then every parameter and running statistic.
fn gpu_and_reference_train_the_same(path: TrainPath) {
    let Some(gpu) = gpu() else { return };
    for (spec, optimizer, weight_decay) in side_by_side_cases() {
        let classes = spec.output.width().max(2);
        let ds =
            DatasetSpec::parse(if classes > 2 { "blobs" } else { "circles" }, 150, None, 0.85, classes, None).unwrap();
        let (train, test) = data::split(&data::load(&ds, 3).unwrap(), 0.33, 3).unwrap();
        assert_eq!(train.len(), 100);
        let params = Params::init(&spec, 5);
        let cfg = TrainConfig { weight_decay, ..TrainConfig::new(optimizer, 32) };
        let mut g = gpu_engine(gpu, path, &spec, &params, &train, &test, cfg);
        let mut c = CpuEngine::new(&spec, &params, &train, &test, cfg).unwrap();
        let name = format!("{path:?} {} {optimizer:?} decay {weight_decay:?}", spec.describe());
        let mut orders = EpochOrders::new(train.len(), 9, true);
        for (e, order) in (0..2).map(|_| orders.next_epoch()).collect::<Vec<_>>().iter().enumerate() {
            g.begin_epoch(order).unwrap();
            c.begin_epoch(order).unwrap();
            // Two calls per epoch, so a chunk boundary falls inside the epoch.
            for (first, count) in [(0, 1), (1, 3)] {
                let (rg, rc) = (g.train_batches(first, count).unwrap(), c.train_batches(first, count).unwrap());
                let (lg, lc): (Vec<f64>, Vec<f64>) =
                    (rg.iter().map(|r| r.loss).collect(), rc.iter().map(|r| r.loss).collect());
                // Losses of order 1 after a few f32 steps: 1e-5 absolute.
                assert_close(&format!("{name} epoch {e} losses {first}.."), &lg, &lc, 1e-5, 1e-5);
                assert_eq!(
                    rg.iter().map(|r| r.rows).collect::<Vec<_>>(),
                    rc.iter().map(|r| r.rows).collect::<Vec<_>>()
                );
            }
        }
        let (pg, pc) = (g.params().unwrap(), c.params().unwrap());
        let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        // Eight steps of f32 arithmetic against f64: parameters of order 1 agree to ~1e-5. Adam divides
        // by √v, which amplifies relative gradient error on tiny gradients, hence the looser bound.
        let adam = matches!(optimizer, Optimizer::Adam { .. });
        let tol = if adam { 2e-4 } else { 2e-5 };
        // A bias before batch norm has a gradient of exactly zero; each engine holds its own round-off
        // there (~1e-9 in f32, ~1e-17 in f64), and Adam turns round-off into steps of up to lr. That
        // bias cannot change any output (batch norm subtracts it again) but it moves the running mean,
        // so those two get Adam's bound of lr per step; SGD keeps them as tight as the rest.
        let drift = if adam { optimizer.lr() * 8.0 } else { tol };
        let layout = pg.layout.clone();
        for slot in layout.params.iter().chain(&layout.running) {
            let before_bn =
                layout.gamma(slot.layer).is_some() && matches!(slot.kind, ParamKind::Bias | ParamKind::RunningMean);
            let (got, want) = (widen(pg.tensor(slot)), widen(pc.tensor(slot)));
            let atol = if before_bn { drift } else { tol };
            assert_close(&format!("{name} {}", slot.name), &got, &want, atol, 1e-4);
        }
        // Evaluation reads the running statistics. With batch norm and Adam the running mean follows
        // that bias's drift (momentum 0.1 of up to lr a step, 8 steps), which moves a normalised value by
        // up to 0.8·lr and the loss by about as much; otherwise the engines' f32 error, 1e-4.
        let bn = spec.norm == Norm::Batch;
        let eval_tol = if adam && bn { 0.8 * optimizer.lr() * 0.1 } else { 1e-4 };
        let (eg, ec) = (g.evaluate(Split::Test).unwrap(), c.evaluate(Split::Test).unwrap());
        assert_close(&format!("{name} test loss"), &[eg.loss], &[ec.loss], eval_tol.max(1e-4), 1e-4);
    }
}

/// Builds an engine for a spec, its weights and the data.
type MakeEngine<'a> = dyn FnMut(&MlpSpec, &Params, &Dataset, &Dataset) -> Box<dyn Engine> + 'a;

#[test]
fn layered_gpu_path_trains_like_the_reference() {
    gpu_and_reference_train_the_same(TrainPath::Layered);
}

#[test]
fn fused_gpu_path_trains_like_the_reference() {
    gpu_and_reference_train_the_same(TrainPath::Fused);
}

#[test]
fn tiled_gpu_path_trains_like_the_reference() {
    gpu_and_reference_train_the_same(TrainPath::Tiled);
}

/// Nielsen's weight decay on the reference: one SGD step with λ moves each dense weight by an extra
/// −η(λ/n)·w against the same step without it, n the training rows, and leaves biases, γ and β as they
/// were; the gradient kept is the data term's in both.
#[test]
fn weight_decay_is_nielsens_form_on_the_weights_only() {
    let spec = MlpSpec::new(2, &[6, 5], Activation::Tanh, Output::SigmoidCe(2)).with_norm(Norm::Layer);
    let (train_set, test) = circles(40, 2);
    let rows = train_set.len();
    let params = Params::init(&spec, 3);
    let (lr, lambda) = (0.1, 5.0);
    let step = |weight_decay| {
        let cfg = TrainConfig { weight_decay, ..TrainConfig::new(Optimizer::sgd(lr, 0.0), rows) };
        let mut c = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
        c.begin_epoch(&(0..rows as u32).collect::<Vec<u32>>()).unwrap();
        c.train_batches(0, 1).unwrap();
        (c.params().unwrap(), c.gradients().unwrap())
    };
    let ((plain, g0), (decayed, g1)) = (step(None), step(Some(lambda)));
    assert_eq!(g0, g1, "the gradient kept is ∇C₀ with or without decay");
    let n = train_set.len() as f64;
    for slot in &params.layout.params {
        let (w, a, b) = (params.tensor(slot), plain.tensor(slot), decayed.tensor(slot));
        for i in 0..w.len() {
            let want = if slot.kind == ParamKind::Weight { -lr * lambda / n * w[i] as f64 } else { 0.0 };
            let got = b[i] as f64 - a[i] as f64;
            assert!((got - want).abs() < 1e-6, "{} [{i}]: decay moved it by {got}, want {want}", slot.name);
        }
        if slot.kind == ParamKind::Weight {
            assert!(w.iter().zip(a).zip(b).any(|((w, a), b)| (a - b).abs() > 1e-4 * w.abs()), "{}", slot.name);
        }
    }
}

/// The last step's gradients, left in the gradient arena by each path, agree with the reference's.
#[test]
fn every_gpu_path_leaves_the_last_steps_gradients() {
    let Some(gpu) = gpu() else { return };
    let spec = MlpSpec::new(2, &[10, 10], Activation::Tanh, Output::Binary).with_batch_norm(true);
    let (train_set, test) = circles(100, 6);
    let params = Params::init(&spec, 6);
    let cfg = TrainConfig::new(Optimizer::sgd(0.1, 0.0), 16);
    let order: Vec<u32> = (0..train_set.len() as u32).collect();
    let mut c = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
    c.begin_epoch(&order).unwrap();
    c.train_batches(0, 3).unwrap();
    let want = c.gradients().unwrap();
    for path in [TrainPath::Layered, TrainPath::Fused, TrainPath::Tiled] {
        let mut g = gpu_engine(gpu, path, &spec, &params, &train_set, &test, cfg);
        g.begin_epoch(&order).unwrap();
        g.train_batches(0, 3).unwrap();
        let got = g.gradients().unwrap();
        // Three SGD steps in f32; gradients of order 1e-2: 1e-6 absolute.
        assert_close(&format!("{path:?} gradients"), &got, &want, 1e-6, 1e-4);
    }
}

/// The plan: the fused kernel for narrow models at small batches, the tiled kernels for the rest (a
/// wide layer, a wide input, a big batch); a forced fused path refuses a wide layer, naming it.
#[test]
fn the_plan_gives_narrow_models_the_fused_kernel_and_the_rest_the_tiled_kernels() {
    let Some(gpu) = gpu() else { return };
    let (train_set, test) = circles(60, 1);
    let cfg = TrainConfig::new(Optimizer::adam(1e-3), 8);
    let job = |spec: &MlpSpec, cfg: TrainConfig| ModelJob {
        spec: spec.clone(),
        params: Params::init(spec, 1),
        train: &train_set,
        test: &test,
        cfg,
    };
    let tiled = Plan::Executor(KernelClass::Tiled);
    let fused = |p: Plan| matches!(p, Plan::Executor(KernelClass::Fused(_)));
    let narrow = MlpSpec::new(2, &[64, 8], Activation::Relu, Output::Binary);
    assert!(fused(plan(gpu, &job(&narrow, cfg), TrainPath::Auto).unwrap()));
    let big_batch = TrainConfig { batch_size: 129, ..cfg };
    assert_eq!(plan(gpu, &job(&narrow, big_batch), TrainPath::Auto).unwrap(), tiled);
    assert!(fused(plan(gpu, &job(&narrow, big_batch), TrainPath::Fused).unwrap()));
    let wide = MlpSpec::new(2, &[65], Activation::Relu, Output::Binary);
    assert_eq!(plan(gpu, &job(&wide, cfg), TrainPath::Auto).unwrap(), tiled);
    let err = plan(gpu, &job(&wide, cfg), TrainPath::Fused).unwrap_err().to_string();
    assert!(err.contains("65 wide"), "{err}");
    assert_eq!(plan(gpu, &job(&narrow, cfg), TrainPath::Tiled).unwrap(), tiled);
    assert_eq!(plan(gpu, &job(&narrow, cfg), TrainPath::Layered).unwrap(), Plan::Layered);
    // Deeper than a batch's uniform layer table: the executor still, with the table in storage.
    let deep = MlpSpec::new(2, &[4; 700], Activation::Relu, Output::Binary);
    assert!(fused(plan(gpu, &job(&deep, cfg), TrainPath::Auto).unwrap()));
    assert_eq!(plan(gpu, &job(&deep, cfg), TrainPath::Tiled).unwrap(), tiled);
}

/// A model deeper than the uniform layer table (682 layers) trains on both executor kernels with the
/// table in a storage buffer, as the reference does, in a fixed number of dispatches per step on the
/// fused kernel (one) whatever its depth; its probe's histograms are the reference's too.
#[test]
fn models_deeper_than_the_uniform_table_train_like_the_reference() {
    if gpu().is_none() {
        return;
    }
    // A device of its own, so the dispatch counter sees this test's work only (tests run in parallel,
    // and another test's dispatches on the shared device once made this one fail).
    let gpu: &'static vanish::gpu::Gpu = Box::leak(Box::new(vanish::gpu::Gpu::new(&Default::default()).unwrap()));
    let (train_set, test) = circles(60, 6);
    let spec = MlpSpec::new(2, &[3; 700], Activation::Tanh, Output::Binary).with_init(Init::NormalVar(1.0));
    let params = Params::init(&spec, 6);
    let cfg = TrainConfig { histograms: true, ..TrainConfig::new(Optimizer::sgd(0.1, 0.0), 16) };
    let order: Vec<u32> = (0..train_set.len() as u32).collect();
    for path in [TrainPath::Fused, TrainPath::Tiled] {
        let mut g = gpu_engine(gpu, path, &spec, &params, &train_set, &test, cfg);
        let mut c = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
        assert!(g.name().contains(if path == TrainPath::Fused { "fused path" } else { "tiled path" }), "{}", g.name());
        g.begin_epoch(&order).unwrap();
        c.begin_epoch(&order).unwrap();
        let before = gpu.counters().dispatches;
        let (rg, rc) = (g.train_batches(0, 3).unwrap(), c.train_batches(0, 3).unwrap());
        if path == TrainPath::Fused {
            assert!(gpu.counters().dispatches - before <= 3, "one dispatch for the steps");
        }
        let losses = |r: &[vanish::engine::BatchResult]| r.iter().map(|b| b.loss).collect::<Vec<_>>();
        assert_close(&format!("{path:?} losses"), &losses(&rg), &losses(&rc), 1e-5, 1e-5);
        let (pg, pc) = (g.probe(Split::Train).unwrap(), c.probe(Split::Train).unwrap());
        let deltas = |p: &vanish::engine::Probe| p.layers.iter().map(|l| l.delta).collect::<Vec<_>>();
        assert_close(&format!("{path:?} ‖δ‖ per layer"), &deltas(&pg), &deltas(&pc), 1e-9, 1e-3);
        assert_eq!(pg.histograms.len(), 701);
        for (l, (a, b)) in pg.histograms.iter().zip(&pc.histograms).enumerate() {
            for q in 0..4 {
                let d = a.get(q).distance(b.get(q));
                assert!(d <= 0.02, "{path:?} layer {l} quantity {q}: {d}\n{:?}\n{:?}", a.get(q), b.get(q));
            }
        }
        let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        let (wg, wc) = (g.params().unwrap(), c.params().unwrap());
        assert_close(&format!("{path:?} parameters"), &widen(&wg.values), &widen(&wc.values), 1e-5, 1e-4);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// ‖dW₁‖/‖dW_out‖ at initialisation for the notebook's 2→10×11→1 on its circles, median of 3 seeds.
fn first_last_ratio(make: &mut MakeEngine<'_>, spec: &MlpSpec) -> f64 {
    let ratios = (0..3)
        .map(|seed| {
            let (train, test) = circles(1000, seed);
            let mut engine = make(spec, &Params::init(spec, seed), &train, &test);
            let p = engine.probe(Split::Train).unwrap();
            p.layers[0].grad_w / p.layers.last().unwrap().grad_w
        })
        .collect();
    median(ratios)
}

fn assert_phenomenon(make: &mut MakeEngine<'_>, engine: &str) {
    let notebook = |act| MlpSpec::new(2, &[10; 11], act, Output::Binary);
    let sigmoid = first_last_ratio(make, &notebook(Activation::Sigmoid));
    let relu = first_last_ratio(make, &notebook(Activation::Relu));
    let bn = first_last_ratio(make, &notebook(Activation::Sigmoid).with_batch_norm(true));
    assert!(sigmoid < 1e-6, "{engine}: sigmoid ratio {sigmoid:e} should vanish below 1e-6");
    assert!(relu >= 1e-3, "{engine}: relu ratio {relu:e} should stay above 1e-3");
    assert!(bn >= 1e-3, "{engine}: sigmoid + batch norm ratio {bn:e} should stay above 1e-3");
}

#[test]
fn depth_11_sigmoid_gradient_vanishes_and_relu_and_batch_norm_restore_it() {
    let cfg = TrainConfig::new(Optimizer::adam(1e-3), 32);
    assert_phenomenon(
        &mut |s: &MlpSpec, p: &Params, tr: &Dataset, te: &Dataset| Box::new(CpuEngine::new(s, p, tr, te, cfg).unwrap()),
        "cpu",
    );
    let Some(gpu) = gpu() else { return };
    assert_phenomenon(
        &mut |s: &MlpSpec, p: &Params, tr: &Dataset, te: &Dataset| gpu_engine(gpu, TrainPath::Auto, s, p, tr, te, cfg),
        "gpu",
    );
}

fn diverging_run(engine: &mut dyn Engine, rows: usize) -> TrainError {
    let opts = TrainOptions {
        epochs: 3,
        seed: 1,
        shuffle: true,
        probe_every: None,
        has_test: true,
        max_steps: None,
        measure_every: None,
    };
    train(engine, rows, 32, &opts, &mut |_| {}).expect_err("a run with an absurd learning rate must diverge")
}

#[test]
fn a_diverging_run_stops_with_its_epoch_and_step() {
    let (train_set, test) = circles(200, 1);
    let spec = MlpSpec::new(2, &[10, 10], Activation::Relu, Output::Binary);
    let params = Params::init(&spec, 1);
    // A learning rate near f64's largest value overflows the weights to infinity within a step or two.
    let cfg = TrainConfig::new(Optimizer::sgd(1e307, 0.0), 32);
    let mut engines: Vec<Box<dyn Engine>> =
        vec![Box::new(CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap())];
    if let Some(gpu) = gpu() {
        for path in [TrainPath::Layered, TrainPath::Fused, TrainPath::Tiled] {
            engines.push(gpu_engine(gpu, path, &spec, &params, &train_set, &test, cfg));
        }
    }
    for mut engine in engines {
        let err = diverging_run(engine.as_mut(), train_set.len());
        match &err {
            TrainError::Diverged { loss, epoch, step, .. } => {
                assert!(!loss.is_finite(), "{err}");
                assert_eq!(*epoch, 1, "{err}");
                assert!(*step >= 1 && *step <= 5, "{err}");
            }
            other => panic!("expected Diverged, got {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("epoch 1") && msg.contains("step"), "{msg}");
    }
}

/// A 3-layer ReLU network learns well-separated circles: training is real, not just consistent.
#[test]
fn relu_depth_3_learns_circles() {
    let spec = DatasetSpec::Circles { samples: 600, noise: 0.05, factor: 0.5 };
    let (train_set, test) = data::split(&data::load(&spec, 4).unwrap(), 0.33, 4).unwrap();
    let model = MlpSpec::new(2, &[16, 16, 16], Activation::Relu, Output::Binary);
    let params = Params::init(&model, 4);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 32);
    let opts = TrainOptions {
        epochs: 30,
        seed: 4,
        shuffle: true,
        probe_every: None,
        has_test: true,
        max_steps: None,
        measure_every: None,
    };
    let mut engines: Vec<Box<dyn Engine>> =
        vec![Box::new(CpuEngine::new(&model, &params, &train_set, &test, cfg).unwrap())];
    if let Some(gpu) = gpu() {
        engines.push(gpu_engine(gpu, TrainPath::Auto, &model, &params, &train_set, &test, cfg));
    }
    for mut engine in engines {
        let h = train(engine.as_mut(), train_set.len(), 32, &opts, &mut |_| {}).unwrap();
        let last = h.epochs.last().unwrap();
        assert!(last.test_acc.unwrap() > 0.9, "{}: test accuracy {:?}", h.engine, last.test_acc);
        assert!(last.train_loss < h.epochs[0].train_loss, "{}: the loss did not go down", h.engine);
        assert_eq!(h.probes.len(), 31, "one probe at initialisation and one per epoch");
    }
}

#[test]
fn probe_every_adds_probes_between_epochs() {
    let (train_set, test) = circles(200, 2);
    let spec = MlpSpec::new(2, &[8, 8], Activation::Tanh, Output::Binary);
    let params = Params::init(&spec, 2);
    let cfg = TrainConfig::new(Optimizer::adam(1e-3), 32);
    let mut engine = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
    // 134 rows: 5 batches per epoch; probes at steps 2, 4 | 6, 8 | (10 ends epoch 2) plus init and epochs.
    let opts = TrainOptions {
        epochs: 2,
        seed: 2,
        shuffle: true,
        probe_every: Some(2),
        has_test: true,
        max_steps: None,
        measure_every: None,
    };
    let h = train(&mut engine, train_set.len(), 32, &opts, &mut |_| {}).unwrap();
    let steps: Vec<usize> = h.probes.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 2, 4, 5, 6, 8, 10]);
    assert!(h.probes[1].update_ratio.iter().all(|&r| r > 0.0), "weights moved between probes");
    assert_eq!(h.batch_losses.len(), 10);
}

/// `measure_every: Some(2)` over 5 epochs measures at initialisation and after epochs 2, 4 and 5 (the
/// last), trains every step, and the run record's snapshots carry those epochs' evaluations; the trained
/// weights are those of measuring every epoch (a measurement changes nothing).
#[test]
fn measure_every_measures_every_eth_epoch_and_the_last() {
    let (train_set, test) = circles(200, 2);
    let spec = MlpSpec::new(2, &[8, 8], Activation::Tanh, Output::Binary);
    let params = Params::init(&spec, 2);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 32);
    let run = |measure_every| {
        let mut engine = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
        let opts = TrainOptions {
            epochs: 5,
            seed: 2,
            shuffle: true,
            probe_every: None,
            has_test: true,
            max_steps: None,
            measure_every,
        };
        let h = train(&mut engine, train_set.len(), 32, &opts, &mut |_| {}).unwrap();
        (h, engine.params().unwrap())
    };
    let (sparse, p_sparse) = run(Some(2));
    let (every, p_every) = run(None);
    assert_eq!(sparse.probes.iter().map(|p| p.epoch).collect::<Vec<_>>(), vec![0, 2, 4, 5]);
    assert_eq!(sparse.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![2, 4, 5]);
    assert_eq!(every.epochs.len(), 5);
    assert_eq!(sparse.batch_losses, every.batch_losses, "every step trained, the same steps");
    assert_eq!(p_sparse.values, p_every.values);
    assert_eq!(sparse.epochs[1], every.epochs[3], "epoch 4's record");
    let config = vanish::record::RunConfig::from_spec(&spec, Optimizer::adam(1e-2), 0);
    let record = vanish::record::RunRecord::from_history(config, &spec, &sparse, None, (5, None));
    let snapshots: Vec<(usize, Option<f64>)> = record.epochs.iter().map(|s| (s.epoch, s.loss)).collect();
    assert_eq!(snapshots.iter().map(|s| s.0).collect::<Vec<_>>(), vec![0, 2, 4, 5]);
    assert_eq!(snapshots[2].1, Some(every.epochs[3].eval_train_loss), "epoch 4's evaluation, found by its number");
    // A probe every N steps would land in epochs that are not measured: refused.
    let mut engine = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
    let both = TrainOptions {
        epochs: 5,
        seed: 2,
        shuffle: true,
        probe_every: Some(3),
        has_test: true,
        max_steps: None,
        measure_every: Some(2),
    };
    let err = train(&mut engine, train_set.len(), 32, &both, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("do not combine"), "{err}");
}

/// M models in one fused dispatch stream follow exactly the steps each would take alone: same spec,
/// weights and order give bit-identical losses, probes, evaluations and parameters, model by model,
/// also when the models differ in depth, activation, batch norm, optimiser and seed.
#[test]
fn a_model_batch_trains_each_model_as_if_alone() {
    let Some(gpu) = gpu() else { return };
    let (train_set, test) = circles(150, 8);
    let adam = TrainConfig::new(Optimizer::adam(1e-2), 32);
    let sgd = TrainConfig::new(Optimizer::sgd(0.1, 0.9), 32);
    // Weight decay on models past the first, whose layer entries are not the table's first (`is_weight`).
    let (adam_decay, sgd_decay) =
        (TrainConfig { weight_decay: Some(5.0), ..adam }, TrainConfig { weight_decay: Some(5.0), ..sgd });
    let models = [
        (1u64, Activation::Sigmoid, 3, true, adam),
        (2, Activation::Sigmoid, 3, true, adam_decay),
        (3, Activation::Tanh, 1, false, sgd),
        (3, Activation::Gelu, 4, true, adam),
        (4, Activation::Relu, 2, false, sgd_decay),
    ];
    let jobs: Vec<ModelJob<'_>> = models
        .iter()
        .map(|&(seed, act, depth, bn, cfg)| {
            let spec = MlpSpec::new(2, &vec![10; depth], act, Output::Binary).with_batch_norm(bn);
            ModelJob { params: Params::init(&spec, seed), spec, train: &train_set, test: &test, cfg }
        })
        .collect();
    let orders: Vec<Vec<Vec<u32>>> = models
        .iter()
        .map(|m| {
            let mut orders = EpochOrders::new(train_set.len(), m.0, true);
            (0..2).map(|_| orders.next_epoch()).collect()
        })
        .collect();
    let epoch = |engine: &mut dyn BatchEngine, e: usize, which: &[usize]| {
        engine.begin_epoch(&which.iter().map(|&m| orders[m][e].clone()).collect::<Vec<_>>()).unwrap();
        // Two calls, so a call boundary falls inside the epoch; the probe and evaluations at its end.
        let mut out = engine.run(&Work { steps: Some((0, 1)), ..Default::default() }).unwrap();
        let rest =
            engine.run(&Work { steps: Some((1, 3)), probe: true, evaluate: true, ..Default::default() }).unwrap();
        for (o, r) in out.iter_mut().zip(rest) {
            o.batches.extend(r.batches);
            o.probe = r.probe;
            o.eval_train = r.eval_train;
            o.eval_test = r.eval_test;
        }
        out
    };
    let all: Vec<usize> = (0..jobs.len()).collect();
    let fused = KernelClass::Fused(vanish::gpu::fused::fused_shape(gpu, &jobs[0].spec).unwrap());
    let mut trained = Vec::new();
    for class in [fused, KernelClass::Tiled] {
        let mut batch = Executor::new(gpu, &jobs, class).unwrap();
        let together: Vec<_> = (0..2).map(|e| epoch(&mut batch, e, &all)).collect();
        trained = BatchEngine::params(&mut batch).unwrap();
        for m in 0..jobs.len() {
            let mut alone = Executor::new(gpu, std::slice::from_ref(&jobs[m]), class).unwrap();
            for (e, both) in together.iter().enumerate() {
                let single = epoch(&mut alone, e, &[m]).remove(0);
                assert_eq!(both[m], single, "{class:?} model {m}, epoch {e}: losses, probe and evaluations");
            }
            let single = BatchEngine::params(&mut alone).unwrap().remove(0);
            assert_eq!(trained[m].values, single.values, "{class:?} model {m}: parameters");
            assert_eq!(trained[m].running, single.running, "{class:?} model {m}: running statistics");
        }
    }
    assert_ne!(trained[0].values, trained[1].values, "different seeds train differently");
}

/// The non-blocking driver (`train_batch_async`, what a web page runs, awaiting each readback) trains
/// exactly what the blocking one does: the same `BatchTrainer`, the executor's `run_async` reading back
/// through the awaited map. Natively the future waits for the device inside its poll, so `block_on`
/// drives it here; a page's event loop does in a browser.
#[test]
fn the_non_blocking_driver_trains_exactly_what_the_blocking_one_does() {
    let Some(gpu) = gpu() else { return };
    let (train_set, test) = circles(150, 8);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 32);
    let jobs: Vec<ModelJob<'_>> = [(Activation::Sigmoid, Norm::None), (Activation::Tanh, Norm::Layer)]
        .iter()
        .map(|&(act, norm)| {
            let spec = MlpSpec::new(2, &[10; 4], act, Output::Binary).with_norm(norm);
            ModelJob { params: Params::init(&spec, 3), spec, train: &train_set, test: &test, cfg }
        })
        .collect();
    let opts = vec![
        TrainOptions {
            epochs: 2,
            seed: 5,
            shuffle: true,
            probe_every: Some(2),
            has_test: true,
            max_steps: None,
            measure_every: None
        };
        2
    ];
    let class = KernelClass::Fused(vanish::gpu::fused::fused_shape(gpu, &jobs[0].spec).unwrap());
    let mut blocking = Executor::new(gpu, &jobs, class).unwrap();
    let want = train_batch(&mut blocking, train_set.len(), 32, &opts, &mut |_| {}).unwrap();
    let mut awaited = Executor::new(gpu, &jobs, class).unwrap();
    let mut progress = Vec::new();
    let mut between =
        |look: &vanish::train::Interim<'_>| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
            progress.push(look.progress.step);
            Box::pin(std::future::ready(false))
        };
    let got = pollster::block_on(train_batch_async(
        &mut awaited,
        train_set.len(),
        vanish::train::Pace::batch(32),
        &opts,
        &mut between,
    ))
    .unwrap();
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(serde_json::to_value(&w.history).unwrap(), serde_json::to_value(&g.history).unwrap());
        assert_eq!(w.init_train, g.init_train);
    }
    assert_eq!(progress, vec![2, 4, 6, 8], "a chunk ends at every probe (every 2 steps; 4 steps an epoch)");
    let finals = pollster::block_on(BatchEngine::params_async(&mut awaited)).unwrap();
    assert_eq!(finals, BatchEngine::params(&mut blocking).unwrap(), "the final parameters, awaited");

    // A `between` that says stop ends training there, as Ctrl-C does natively.
    let mut stopped = Executor::new(gpu, &jobs, class).unwrap();
    let mut stop = |_: &vanish::train::Interim<'_>| -> std::pin::Pin<Box<dyn std::future::Future<Output = bool>>> {
        Box::pin(std::future::ready(true))
    };
    let got = pollster::block_on(train_batch_async(
        &mut stopped,
        train_set.len(),
        vanish::train::Pace::batch(32),
        &opts,
        &mut stop,
    ))
    .unwrap();
    assert!(got.iter().all(|t| t.history.interrupted && t.history.batch_losses.len() == 2), "stopped after a chunk");
}

/// An executor refuses models that cannot share its dispatches, naming the rule.
#[test]
fn a_model_batch_refuses_models_of_another_kernel_class_or_batch_size() {
    let Some(gpu) = gpu() else { return };
    let (train_set, test) = circles(64, 8);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 16);
    let job = |widths: &[usize], cfg: TrainConfig| {
        let spec = MlpSpec::new(2, widths, Activation::Tanh, Output::Binary);
        ModelJob { params: Params::init(&spec, 0), spec, train: &train_set, test: &test, cfg }
    };
    let narrow = KernelClass::Fused(vanish::gpu::fused::fused_shape(gpu, &job(&[8, 8], cfg).spec).unwrap());
    let err = Executor::new(gpu, &[job(&[8, 8], cfg), job(&[64], cfg)], narrow).err().expect("mixed classes");
    assert!(err.to_string().contains("kernel shape"), "{err}");
    let err = Executor::new(gpu, &[job(&[8, 8], cfg), job(&[65], cfg)], narrow).err().expect("too wide");
    assert!(err.to_string().contains("kernel shape"), "{err}");
    let other = TrainConfig { batch_size: 8, ..cfg };
    let err = Executor::new(gpu, &[job(&[8, 8], cfg), job(&[8], other)], KernelClass::Tiled)
        .err()
        .expect("mixed batch sizes");
    assert!(err.to_string().contains("batch size"), "{err}");
}

/// Same seed, same data, same adapter: bit-identical results run to run on every path (every reduction
/// runs in a fixed order; there are no floating-point atomics).
#[test]
fn training_is_bit_identical_run_to_run() {
    let spec = MlpSpec::new(2, &[12, 12], Activation::Tanh, Output::Binary).with_batch_norm(true);
    let (train_set, test) = circles(300, 5);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 32);
    let opts = TrainOptions {
        epochs: 2,
        seed: 5,
        shuffle: true,
        probe_every: Some(3),
        has_test: true,
        max_steps: None,
        measure_every: None,
    };
    let run = |engine: &mut dyn Engine| {
        let h = train(engine, train_set.len(), 32, &opts, &mut |_| {}).unwrap();
        (h, engine.params().unwrap())
    };
    let params = Params::init(&spec, 5);
    let (h1, p1) = run(&mut CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap());
    let (h2, p2) = run(&mut CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap());
    assert_eq!((h1, p1), (h2, p2), "cpu reference");
    let Some(gpu) = gpu() else { return };
    for path in [TrainPath::Layered, TrainPath::Fused, TrainPath::Tiled] {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let mut g = gpu_engine(gpu, path, &spec, &params, &train_set, &test, cfg);
            runs.push(run(g.as_mut()));
        }
        assert_eq!(runs[0], runs[1], "{path:?}: two runs differ");
    }
}

/// The initialisers are drawn on the host, so every engine starts from the same numbers; this trains
/// orthogonal weights with N(0, 1) biases (Nielsen's) and N(0, σ_w²/fan_in) ones on every GPU path and
/// checks them against the reference.
#[test]
fn every_path_trains_the_new_initialisers_like_the_reference() {
    use vanish::model::{BiasInit, Init};
    let Some(gpu) = gpu() else { return };
    let (train_set, test) = circles(80, 4);
    let cfg = TrainConfig::new(Optimizer::sgd(0.05, 0.0), 16);
    let order: Vec<u32> = (0..train_set.len() as u32).collect();
    for (init, bias) in
        [(Init::Orthogonal(1.2), BiasInit::Normal(1.0)), (Init::NormalVar(1.76), BiasInit::NormalVar(0.05))]
    {
        let spec =
            MlpSpec::new(2, &[12, 12, 12], Activation::Tanh, Output::Binary).with_init(init).with_bias_init(bias);
        let params = Params::init(&spec, 2);
        let mut c = CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();
        c.begin_epoch(&order).unwrap();
        c.train_batches(0, 3).unwrap();
        let want = c.gradients().unwrap();
        for path in [TrainPath::Layered, TrainPath::Fused, TrainPath::Tiled] {
            let mut g = gpu_engine(gpu, path, &spec, &params, &train_set, &test, cfg);
            g.begin_epoch(&order).unwrap();
            g.train_batches(0, 3).unwrap();
            assert_close(&format!("{init} + bias {bias} on {path:?}"), &g.gradients().unwrap(), &want, 1e-6, 1e-4);
        }
    }
}

/// `--steps N`: training stops after N optimiser steps, inside an epoch; the partial epoch is probed,
/// evaluated and recorded like a whole one (its loss and accuracy over the rows it trained), and N steps
/// that make whole epochs give exactly the epochs' run. The GPU paths stop at the same step.
#[test]
fn max_steps_stops_inside_an_epoch_and_records_it() {
    let (train_set, test) = circles(100, 3); // 67 training rows: 5 steps of 16 per epoch
    let spec = MlpSpec::new(2, &[8, 8], Activation::Tanh, Output::Binary);
    let params = Params::init(&spec, 3);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 16);
    let opts = |epochs, max_steps| TrainOptions {
        epochs,
        seed: 3,
        shuffle: true,
        probe_every: None,
        has_test: true,
        max_steps,
        measure_every: None,
    };
    let run = |engine: &mut dyn Engine, o: &TrainOptions| train(engine, train_set.len(), 16, o, &mut |_| {}).unwrap();
    let cpu = || CpuEngine::new(&spec, &params, &train_set, &test, cfg).unwrap();

    let mut e = cpu();
    let h = run(&mut e, &opts(1, Some(7)));
    assert_eq!(h.batch_losses.len(), 7, "seven steps");
    assert_eq!(h.epochs.len(), 2, "a whole epoch and a partial one");
    assert_eq!(h.probes.len(), 3, "at initialisation and after each epoch");
    assert_eq!((h.probes[2].epoch, h.probes[2].step), (2, 7));
    // the partial epoch's training loss is the mean of its two batches' losses, weighted by their rows
    let rows = [16.0, 16.0];
    let want = (h.batch_losses[5] * rows[0] + h.batch_losses[6] * rows[1]) / 32.0;
    assert!((h.epochs[1].train_loss - want).abs() < 1e-12, "{} vs {want}", h.epochs[1].train_loss);
    let after_7 = e.params().unwrap();

    // ten steps are two whole epochs: the same run as --epochs 2, bit for bit
    let (mut a, mut b) = (cpu(), cpu());
    let by_steps = run(&mut a, &opts(1, Some(10)));
    let by_epochs = run(&mut b, &opts(2, None));
    assert_eq!(by_steps.batch_losses, by_epochs.batch_losses);
    assert_eq!(a.params().unwrap().values, b.params().unwrap().values);
    assert_ne!(after_7.values, a.params().unwrap().values);

    // every GPU path stops at the same step with the same losses (f32 against f64)
    let Some(gpu) = gpu() else { return };
    for path in [TrainPath::Layered, TrainPath::Fused, TrainPath::Tiled] {
        let mut g = gpu_engine(gpu, path, &spec, &params, &train_set, &test, cfg);
        let gh = run(g.as_mut(), &opts(1, Some(7)));
        assert_eq!((gh.batch_losses.len(), gh.epochs.len(), gh.probes.len()), (7, 2, 3), "{path:?}");
        assert_close(&format!("{path:?} losses"), &gh.batch_losses, &h.batch_losses, 1e-5, 1e-4);
        let p: Vec<f64> = g.params().unwrap().values.iter().map(|&v| v as f64).collect();
        let want: Vec<f64> = after_7.values.iter().map(|&v| v as f64).collect();
        assert_close(&format!("{path:?} parameters after 7 steps"), &p, &want, 1e-5, 1e-4);
    }
}
