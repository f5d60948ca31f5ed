//! The executor beyond training steps, on both kernel families: its probes and evaluations (reduced
//! on the GPU) against the reference's, the fused kernel's weight cache on and off, and that the numbers
//! a probe reports do not depend on what else ran in the same submit.

use crate::common;

use common::{assert_close, gpu};
use vanish::data::{self, Dataset, DatasetSpec};
use vanish::engine::{BatchEngine, Engine, ModelJob, Optimizer, Outcome, Split, TrainConfig, Work};
use vanish::gpu::fused::fused_shape;
use vanish::model::{Activation, MlpSpec, Norm, Output, Params};
use vanish::reference::CpuEngine;

fn load(name: &str, samples: usize, classes: usize, seed: u64) -> (Dataset, Dataset) {
    let spec = DatasetSpec::parse(name, samples, None, 0.85, classes, None).unwrap();
    data::split(&data::load(&spec, seed).unwrap(), 0.25, seed).unwrap()
}

/// After three steps from the same weights and order, the executor's probe (every per-layer number,
/// the first layer's gradient, the update ratios since initialisation) and evaluations equal the
/// reference's within f32 round-off.
#[test]
fn executor_probes_and_evaluations_match_the_reference() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("circles", 90, 2, 3);
    let (btrain, btest) = load("blobs", 90, 3, 3);
    let cases = [
        (MlpSpec::new(2, &[10; 6], Activation::Sigmoid, Output::Binary), &train, &test),
        (MlpSpec::new(2, &[12, 9, 7], Activation::Relu, Output::Binary), &train, &test),
        (MlpSpec::new(2, &[10, 10], Activation::Tanh, Output::Binary).with_batch_norm(true), &train, &test),
        (MlpSpec::new(2, &[8, 8], Activation::Gelu, Output::Softmax(3)).with_batch_norm(true), &btrain, &btest),
        (MlpSpec::new(2, &[10, 10, 10], Activation::Sigmoid, Output::Binary).with_norm(Norm::Layer), &train, &test),
        (
            MlpSpec::new(2, &[9, 9, 9], Activation::Tanh, Output::Softmax(3))
                .with_norm(Norm::Layer)
                .with_residual(Some(1.0)),
            &btrain,
            &btest,
        ),
        // Layers wider than a CPU driver's workgroup (one SIMD group, 4 or 8 lanes): the unit phases
        // (batch norm's statistics, the norms' backward sums, the bias norms, dead units) take several
        // chunks of units, the last one partial.
        (MlpSpec::new(2, &[33, 20], Activation::Relu, Output::Binary).with_batch_norm(true), &train, &test),
        (MlpSpec::new(2, &[24, 17], Activation::Tanh, Output::Binary).with_norm(Norm::Layer), &train, &test),
    ];
    for ((spec, train, test), tiled) in cases.into_iter().flat_map(|c| [(c.clone(), false), (c, true)]) {
        let name = format!("{} {}", spec.describe(), if tiled { "tiled" } else { "fused" });
        let params = Params::init(&spec, 4);
        let cfg = TrainConfig::new(Optimizer::adam(1e-2), 16);
        let job = ModelJob { spec: spec.clone(), params: params.clone(), train, test, cfg };
        let mut g = common::executor(gpu, std::slice::from_ref(&job), tiled);
        let mut c = CpuEngine::new(&spec, &params, train, test, cfg).unwrap();
        let order: Vec<u32> = (0..train.len() as u32).rev().collect();
        BatchEngine::begin_epoch(&mut g, std::slice::from_ref(&order)).unwrap();
        c.begin_epoch(&order).unwrap();
        let out =
            g.run(&Work { steps: Some((0, 3)), probe: true, evaluate: true, ..Default::default() }).unwrap().remove(0);
        c.train_batches(0, 3).unwrap();
        let want = c.probe(Split::Train).unwrap();
        let got = out.probe.expect("a probe");
        // Three Adam steps and a whole-split pass in f32: norms of order 1e-3..1 agree to 1e-4 relative.
        assert_close(&format!("{name} probe loss"), &[got.probe.loss], &[want.loss], 1e-5, 1e-5);
        assert_eq!(got.probe.correct, want.correct, "{name} probe correct");
        let field = |p: &vanish::engine::Probe, f: fn(&vanish::engine::LayerProbe) -> f64| {
            p.layers.iter().map(f).collect::<Vec<f64>>()
        };
        for (what, f, atol) in [
            ("grad_w", (|l| l.grad_w) as fn(&vanish::engine::LayerProbe) -> f64, 1e-7),
            ("grad_b", |l| l.grad_b, 1e-6),
            ("delta", |l| l.delta, 1e-7),
            ("weight", |l| l.weight, 1e-6),
            ("act_mean", |l| l.act_mean, 1e-5),
            ("act_std", |l| l.act_std, 1e-5),
            ("mean_grad_sq", |l| l.mean_grad_sq, 1e-5),
            // Fractions of values or units: one value near the threshold may land either side in f32.
            ("saturated", |l| l.saturated, 2.0 / train.len() as f64),
            ("dead", |l| l.dead, 0.0),
        ] {
            assert_close(&format!("{name} {what}"), &field(&got.probe, f), &field(&want, f), atol, 1e-4);
        }
        assert_close(&format!("{name} dW1"), &got.probe.grad_w1, &want.grad_w1, 1e-7, 1e-4);
        let (p0, p1) = (params, c.params().unwrap());
        let ratio = vanish::engine::update_ratio(&spec, &p0, &p1);
        assert_close(&format!("{name} update ratio"), &got.update_ratio, &ratio, 1e-6, 1e-3);
        assert!(got.update_ratio.iter().all(|&r| r > 0.0), "{name}: the weights moved");
        let (et, ee) = (out.eval_train.unwrap(), out.eval_test.unwrap());
        let (ct, ce) = (c.evaluate(Split::Train).unwrap(), c.evaluate(Split::Test).unwrap());
        // Evaluation mode reads the running statistics, which carry every step's f32 error (as the
        // training tests' 1e-4 on the test loss) and, with batch norm, the drift Adam gives the bias
        // before it, whose gradient is zero but for round-off: up to lr a step, of which the running
        // mean takes momentum 0.1, over 3 steps (see gpu_and_reference_train_the_same).
        let atol = if spec.norm == Norm::Batch { 3.0 * 1e-2 * 0.1 } else { 1e-4 };
        assert_close(&format!("{name} eval"), &[et.loss, ee.loss], &[ct.loss, ce.loss], atol, 1e-4);
        assert_eq!((et.rows, ee.rows), (ct.rows, ce.rows), "{name}");
        // A row whose prediction is that close to a tie may land either side under that drift.
        let flips = if spec.norm == Norm::Batch { 1 } else { 0 };
        for (g, c) in [(et.correct, ct.correct), (ee.correct, ce.correct)] {
            assert!(g.abs_diff(c) <= flips, "{name}: {g} correct against the reference's {c}");
        }
    }
}

/// An executor on the buffers another batch left behind (its scratch, results and arena full of that
/// batch's numbers; in debug builds a fresh buffer starts as NaN) trains and measures exactly as one
/// on a device of its own: nothing the kernel or the host reads is left over from before.
#[test]
fn a_batch_on_the_buffers_of_the_batch_before_equals_one_on_fresh_buffers() {
    if gpu().is_none() {
        return;
    }
    let (train, test) = load("circles", 100, 2, 5);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 16);
    let job =
        |spec: MlpSpec, seed| ModelJob { params: Params::init(&spec, seed), spec, train: &train, test: &test, cfg };
    let before = job(MlpSpec::new(2, &[16; 5], Activation::Relu, Output::Binary).with_batch_norm(true), 1);
    let wanted = job(MlpSpec::new(2, &[10, 7], Activation::Tanh, Output::Binary).with_batch_norm(true), 2);
    // What the executor gives, and how many handed-back buffers wait while it runs.
    let outcomes = |gpu: &vanish::gpu::Gpu| {
        let mut g = common::executor(gpu, std::slice::from_ref(&wanted), false);
        let waiting = gpu.recycled_buffers();
        BatchEngine::begin_epoch(&mut g, &[(0..train.len() as u32).rev().collect()]).unwrap();
        let mut out = g.run(&Work { steps: Some((0, 3)), probe: true, evaluate: true, ..Default::default() }).unwrap();
        out.extend(g.run(&Work { probe: true, evaluate: true, ..Default::default() }).unwrap());
        (out, waiting)
    };
    let fresh = vanish::gpu::Gpu::new(&Default::default()).unwrap();
    let (on_fresh, _) = outcomes(&fresh);
    let reused = vanish::gpu::Gpu::new(&Default::default()).unwrap();
    {
        let mut g = common::executor(&reused, std::slice::from_ref(&before), false);
        BatchEngine::begin_epoch(&mut g, &[(0..train.len() as u32).collect()]).unwrap();
        g.run(&Work { steps: Some((0, 5)), probe: true, evaluate: true, ..Default::default() }).unwrap();
    }
    let left = reused.recycled_buffers();
    assert!(left >= 4, "the first batch handed back its buffers ({left})");
    let (on_reused, waiting) = outcomes(&reused);
    assert!(waiting + 4 <= left, "the second batch took the first's arena, scratch, results and probes");
    assert_eq!(on_reused, on_fresh);
}

/// The evaluation of the training split that follows a probe in the same submit (which models without
/// batch norm take from the probe's forward pass) equals an evaluation on its own, bit for bit.
#[test]
fn an_evaluation_after_a_probe_equals_one_on_its_own() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("moons", 80, 2, 2);
    let cfg = TrainConfig::new(Optimizer::sgd(0.1, 0.9), 8);
    for bn in [false, true] {
        let spec = MlpSpec::new(2, &[9, 9], Activation::Elu(1.0), Output::Binary).with_batch_norm(bn);
        let job = ModelJob { params: Params::init(&spec, 2), spec, train: &train, test: &test, cfg };
        let mut g = common::executor(gpu, std::slice::from_ref(&job), false);
        BatchEngine::begin_epoch(&mut g, &[(0..train.len() as u32).collect()]).unwrap();
        g.run(&Work { steps: Some((0, 4)), ..Default::default() }).unwrap();
        let together = g.run(&Work { probe: true, evaluate: true, ..Default::default() }).unwrap().remove(0);
        let alone = Engine::evaluate(&mut g, Split::Train).unwrap();
        assert_eq!(together.eval_train, Some(alone), "batch norm {bn}");
    }
}

/// A small batch measures one chunk's end beside the next chunk's steps, each model's twin holding a
/// copy of its parameters (`Work::measure_first`): the outcomes are those of measuring first and
/// training after, bit for bit, with batch norm, layer norm and skips, and the parameters end the same.
#[test]
fn measuring_beside_the_next_steps_equals_measuring_before_them() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("moons", 90, 2, 3);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 8);
    let specs = [
        MlpSpec::new(2, &[9, 9], Activation::Tanh, Output::Binary),
        MlpSpec::new(2, &[10, 10, 10], Activation::Sigmoid, Output::Binary).with_batch_norm(true),
        MlpSpec::new(2, &[12, 12], Activation::Relu, Output::Binary).with_norm(Norm::Layer).with_residual(Some(0.5)),
    ];
    // Three models have twins; seventeen (past BESIDE_MAX_MODELS) measure first and train after. A probe
    // without the evaluations is what --probe-every asks for inside an epoch.
    for (n, evaluate) in [(3, true), (3, false), (17, true)] {
        let jobs: Vec<ModelJob<'_>> = (0..n)
            .map(|i| {
                let spec = specs[i % specs.len()].clone();
                ModelJob { params: Params::init(&spec, i as u64), spec, train: &train, test: &test, cfg }
            })
            .collect();
        let order: Vec<u32> = (0..train.len() as u32).rev().collect();
        let orders = vec![order; n];
        let run = |beside: bool| {
            let mut g = common::executor(gpu, &jobs, false);
            assert_eq!(g.measures_beside(), n == 3, "{n} models");
            BatchEngine::begin_epoch(&mut g, &orders).unwrap();
            let mut first = g.run(&Work { steps: Some((0, 2)), ..Default::default() }).unwrap();
            let later = if beside {
                g.run(&Work { steps: Some((2, 3)), probe: true, evaluate, measure_first: true }).unwrap()
            } else {
                let measured = g.run(&Work { probe: true, evaluate, ..Default::default() }).unwrap();
                let stepped = g.run(&Work { steps: Some((2, 3)), ..Default::default() }).unwrap();
                measured.into_iter().zip(stepped).map(|(m, s)| Outcome { batches: s.batches, ..m }).collect()
            };
            for (o, l) in first.iter_mut().zip(later) {
                *o = Outcome { batches: [std::mem::take(&mut o.batches), l.batches].concat(), ..l };
            }
            let after = g.run(&Work { probe: true, evaluate: true, ..Default::default() }).unwrap();
            (first, after, BatchEngine::params(&mut g).unwrap())
        };
        let (sequential, beside) = (run(false), run(true));
        let complete = |o: &Outcome| o.batches.len() == 5 && o.probe.is_some() && o.eval_test.is_some() == evaluate;
        assert!(sequential.0.iter().all(complete), "{n} models, evaluate {evaluate}");
        let what = format!("{n} models, evaluate {evaluate}");
        assert_eq!(sequential.0, beside.0, "{what}: the measurements between the chunks and the steps");
        assert_eq!(sequential.1, beside.1, "{what}: the measurements after (update ratios since the probe)");
        assert_eq!(sequential.2, beside.2, "{what}: the parameters");
    }
}

/// A call of more steps than one dispatch takes (256) measures beside its first dispatch's steps and
/// trains the rest after, with the same numbers as measuring first.
#[test]
fn measuring_beside_a_call_of_several_dispatches() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("moons", 400, 2, 5);
    let cfg = TrainConfig::new(Optimizer::sgd(0.05, 0.9), 1);
    let spec = MlpSpec::new(2, &[8, 8], Activation::Tanh, Output::Binary);
    let job = ModelJob { params: Params::init(&spec, 9), spec, train: &train, test: &test, cfg };
    let steps = train.len();
    assert!(steps > 256, "{steps} steps fit one dispatch");
    let run = |beside: bool| {
        let mut g = common::executor(gpu, std::slice::from_ref(&job), false);
        assert!(g.measures_beside());
        BatchEngine::begin_epoch(&mut g, &[(0..train.len() as u32).collect()]).unwrap();
        let work = Work { steps: Some((0, steps)), probe: true, evaluate: true, measure_first: true };
        let out = if beside {
            g.run(&work).unwrap()
        } else {
            let measured = g.run(&Work { steps: None, measure_first: false, ..work }).unwrap();
            let stepped = g.run(&Work { steps: work.steps, ..Default::default() }).unwrap();
            measured.into_iter().zip(stepped).map(|(m, s)| Outcome { batches: s.batches, ..m }).collect()
        };
        (out, BatchEngine::params(&mut g).unwrap())
    };
    let (sequential, beside) = (run(false), run(true));
    assert_eq!(sequential.0[0].batches.len(), steps);
    assert_eq!(sequential, beside);
}

/// The kernel caches a model's parameters in workgroup memory when they fit the adapter's workgroup
/// storage and reads them from the arena otherwise: both give the reference's steps.
#[test]
fn the_kernel_trains_like_the_reference_with_and_without_its_weight_cache() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("circles", 40, 2, 6);
    let cfg = TrainConfig::new(Optimizer::adam(1e-2), 8);
    let spec = |w: usize| MlpSpec::new(2, &[w; 3], Activation::Tanh, Output::Binary).with_batch_norm(true);
    let cached = spec(8);
    assert!(fused_shape(gpu, &cached).unwrap().cached, "a small model is cached");
    // Wide enough that its parameters pass the cache: read from the arena.
    let Some(width) = (8..=64).find(|&w| !fused_shape(gpu, &spec(w)).unwrap().cached) else {
        panic!("every narrow model fits the weight cache")
    };
    for spec in [cached, spec(width)] {
        let params = Params::init(&spec, 6);
        let order: Vec<u32> = (0..train.len() as u32).collect();
        let job = ModelJob { spec: spec.clone(), params: params.clone(), train: &train, test: &test, cfg };
        let mut g = common::executor(gpu, std::slice::from_ref(&job), false);
        let mut c = CpuEngine::new(&spec, &params, &train, &test, cfg).unwrap();
        Engine::begin_epoch(&mut g, &order).unwrap();
        c.begin_epoch(&order).unwrap();
        let (lg, lc) = (g.train_batches(0, 3).unwrap(), c.train_batches(0, 3).unwrap());
        let name = format!("width {}", spec.hidden[0]);
        let (lg, lc): (Vec<f64>, Vec<f64>) = (lg.iter().map(|r| r.loss).collect(), lc.iter().map(|r| r.loss).collect());
        // Three Adam steps in f32 against f64: losses of order 1 agree to 1e-5.
        assert_close(&format!("{name} losses"), &lg, &lc, 1e-5, 1e-5);
        let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        let (pg, pc) = (Engine::params(&mut g).unwrap(), c.params().unwrap());
        let w = pg.layout.weight(1).clone();
        assert_close(&format!("{name} layer 1 weights"), &widen(pg.tensor(&w)), &widen(pc.tensor(&w)), 2e-4, 1e-4);
    }
}
