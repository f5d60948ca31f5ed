//! The fused path's two kernels: the per-lane kernel (one model per invocation, generated per shape)
//! against the JAX fixtures and step for step against the workgroup kernel, in model batches that
//! span several workgroups, and the rules that choose between them.

mod common;

use common::{assert_close, fixture_names, gpu, load_fixture};
use vanish::data::{self, Dataset, DatasetSpec};
use vanish::engine::{Engine, Optimizer, TrainConfig};
use vanish::gpu::fused::{FusedKernel, LANES_MIN_MODEL_STEPS, auto_kernel};
use vanish::gpu::fused_lanes::LANES_MAX_PARAMS;
use vanish::gpu::{Gpu, GpuEngine, ModelBatch, TrainPath};
use vanish::model::{Activation, MlpSpec, Output, Params};
use vanish::train::epoch_order;

fn load(name: &str, samples: usize, classes: usize, seed: u64) -> (Dataset, Dataset) {
    let spec = DatasetSpec::parse(name, samples, None, 0.85, classes, None).unwrap();
    data::split(&data::load(&spec, seed).unwrap(), 0.25, seed).unwrap()
}

fn engine<'g>(
    gpu: &'g Gpu,
    kernel: FusedKernel,
    spec: &MlpSpec,
    params: &Params,
    (train, test): (&Dataset, &Dataset),
    cfg: TrainConfig,
) -> GpuEngine<'g> {
    let mut e = GpuEngine::new(gpu, spec, params, train, test, cfg).unwrap();
    e.set_path(TrainPath::Fused).unwrap();
    e.set_fused_kernel(kernel).unwrap();
    assert_eq!(e.fused_kernel(), Some(kernel));
    e
}

/// One fused step on each fixture's batch leaves JAX's gradients in the gradient arena and reports
/// JAX's loss: the per-lane kernel against an independent float64 computation.
#[test]
fn the_per_lane_kernel_matches_the_jax_fixtures() {
    let Some(gpu) = gpu() else { return };
    let mut checked = 0;
    for name in fixture_names() {
        let f = load_fixture(&name);
        if f.spec.batch_norm {
            continue; // the per-lane kernel has no batch norm
        }
        let x: Vec<f32> = f.x.iter().map(|&v| v as f32).collect();
        let classes = f.spec.output.width().max(2);
        let train = Dataset {
            x,
            y: f.labels.clone(),
            features: f.spec.input,
            classes,
            feature_names: (0..f.spec.input).map(|i| format!("x{i}")).collect(),
            class_names: (0..classes).map(|i| i.to_string()).collect(),
        };
        let cfg = TrainConfig { optimizer: Optimizer::sgd(0.1, 0.0), batch_size: f.m };
        let mut e = engine(gpu, FusedKernel::Lanes, &f.spec, &f.params_f32(), (&train, &train), cfg);
        e.begin_epoch(&(0..f.m as u32).collect::<Vec<_>>()).unwrap();
        let step = e.train_batches(0, 1).unwrap();
        assert_close(&format!("{name} loss"), &[step[0].loss], &[f.loss], 1e-6, 1e-5);
        let grads = e.gradients().unwrap();
        for slot in &f.spec.layout().params {
            let want = &f.expected[&format!("grad.{}", slot.name)];
            // f32 through up to 12 sigmoid layers against float64: 1e-4 of the tensor's norm.
            let norm = want.iter().map(|w| w * w).sum::<f64>().sqrt();
            assert_close(&format!("{name} grad.{}", slot.name), &grads[slot.range()], want, 1e-4 * norm, 1e-4);
        }
        checked += 1;
    }
    assert!(checked >= 2, "expected fixtures without batch norm, checked {checked}");
}

/// Shapes that exercise every part of the generated kernel: both losses, every activation (and
/// different ones per layer), both optimisers, a short last batch.
fn cases() -> Vec<(&'static str, MlpSpec, Optimizer, (Dataset, Dataset))> {
    let mut mixed = MlpSpec::new(2, &[5, 7], Activation::Tanh, Output::Binary);
    mixed.activations[1] = Activation::Relu;
    let mut four = MlpSpec::new(2, &[4, 5, 4, 3], Activation::Elu(1.0), Output::Binary);
    four.activations[1..].copy_from_slice(&[Activation::Gelu, Activation::Silu, Activation::Sigmoid]);
    let soft = MlpSpec::new(2, &[6, 6], Activation::LeakyRelu(0.1), Output::Softmax(3));
    vec![
        ("tanh/relu, Adam", mixed, Optimizer::adam(1e-2), load("circles", 50, 2, 1)),
        ("elu/gelu/silu/sigmoid, Adam", four, Optimizer::adam(1e-2), load("moons", 50, 2, 2)),
        ("leaky relu softmax, SGD momentum", soft, Optimizer::sgd(0.1, 0.9), load("spirals", 60, 3, 3)),
    ]
}

/// The per-lane kernel takes exactly the workgroup kernel's steps: the same sums in the same orders,
/// so the same batch losses, parameters, optimiser-driven trajectory and last gradients, bit for bit.
#[test]
fn the_per_lane_kernel_trains_exactly_like_the_workgroup_kernel() {
    let Some(gpu) = gpu() else { return };
    for (name, spec, optimizer, (train, test)) in cases() {
        let cfg = TrainConfig { optimizer, batch_size: 8 };
        let params = Params::init(&spec, 7);
        let orders = epoch_order(train.len(), 7, 2);
        let steps = train.len().div_ceil(8);
        assert_ne!(train.len() % 8, 0, "{name}: the case should end on a short batch");
        let mut runs = Vec::new();
        for kernel in [FusedKernel::Workgroup, FusedKernel::Lanes] {
            let mut e = engine(gpu, kernel, &spec, &params, (&train, &test), cfg);
            let mut losses = Vec::new();
            for order in &orders {
                e.begin_epoch(order).unwrap();
                losses.extend(e.train_batches(0, steps).unwrap().iter().map(|r| (r.loss, r.correct)));
            }
            runs.push((losses, e.params().unwrap().values, e.gradients().unwrap()));
        }
        assert_eq!(runs[0].0, runs[1].0, "{name}: batch losses and hits");
        assert_eq!(runs[0].1, runs[1].1, "{name}: parameters");
        assert_eq!(runs[0].2, runs[1].2, "{name}: last step's gradients");
        assert_ne!(runs[1].1, params.values, "{name}: training moved the weights");
    }
}

/// Nine models (more than one workgroup of eight lanes, the last one part-filled) mixing seeds and
/// activations train in one per-lane dispatch exactly as each trains alone.
#[test]
fn a_per_lane_model_batch_trains_each_model_as_if_alone() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("circles", 90, 2, 4);
    let cfg = TrainConfig { optimizer: Optimizer::adam(1e-2), batch_size: 16 };
    let acts = [Activation::Sigmoid, Activation::Tanh, Activation::Relu];
    let specs: Vec<MlpSpec> = (0..9).map(|m| MlpSpec::new(2, &[6, 6], acts[m % 3], Output::Binary)).collect();
    let params: Vec<Params> = specs.iter().enumerate().map(|(m, s)| Params::init(s, m as u64 / 3)).collect();
    let orders: Vec<Vec<u32>> = (0..9).map(|m| epoch_order(train.len(), m, 1).remove(0)).collect();
    let mut batch = ModelBatch::new(gpu, FusedKernel::Lanes, &specs, &params, &train, cfg).unwrap();
    let results = batch.train_epoch(&orders).unwrap();
    let trained = batch.params().unwrap();
    for m in 0..9 {
        let mut alone = engine(gpu, FusedKernel::Lanes, &specs[m], &params[m], (&train, &test), cfg);
        alone.begin_epoch(&orders[m]).unwrap();
        let losses = alone.train_batches(0, train.len().div_ceil(16)).unwrap();
        assert_eq!(results[m], losses, "model {m}: batch results");
        assert_eq!(trained[m].values, alone.params().unwrap().values, "model {m}: parameters");
    }
    assert_ne!(trained[0].values, trained[3].values, "different seeds train differently");
}

/// The per-lane kernel refuses batch norm and models past its size, naming the reason; the automatic
/// choice takes it only on CPU adapters, for models it fits and runs long enough to repay its compile.
#[test]
fn the_per_lane_kernel_is_chosen_only_where_it_fits_and_pays() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("circles", 40, 2, 5);
    let cfg = TrainConfig { optimizer: Optimizer::adam(1e-2), batch_size: 8 };
    let bn = MlpSpec::new(2, &[6, 6], Activation::Tanh, Output::Binary).with_batch_norm(true);
    let mut e = GpuEngine::new(gpu, &bn, &Params::init(&bn, 0), &train, &test, cfg).unwrap();
    let err = e.set_fused_kernel(FusedKernel::Lanes).unwrap_err().to_string();
    assert!(err.contains("per-lane") && err.contains("batch norm"), "{err}");
    assert_eq!(e.fused_kernel(), Some(FusedKernel::Workgroup), "a refusal leaves the kernel as it was");
    let batch =
        ModelBatch::new(gpu, FusedKernel::Lanes, std::slice::from_ref(&bn), &[Params::init(&bn, 0)], &train, cfg);
    assert!(batch.err().expect("refused").to_string().contains("batch norm"));

    let width = 64;
    let big = MlpSpec::new(2, &[width; 3], Activation::Tanh, Output::Binary);
    assert!(big.layout().params.iter().map(|s| s.len).sum::<usize>() > LANES_MAX_PARAMS);
    let mut e = GpuEngine::new(gpu, &big, &Params::init(&big, 0), &train, &test, cfg).unwrap();
    let err = e.set_fused_kernel(FusedKernel::Lanes).unwrap_err().to_string();
    assert!(err.contains(&LANES_MAX_PARAMS.to_string()), "{err}");

    let small = MlpSpec::new(2, &[6, 6], Activation::Tanh, Output::Binary);
    let cpu = gpu.adapter.device_type == "Cpu";
    let want = if cpu { FusedKernel::Lanes } else { FusedKernel::Workgroup };
    assert_eq!(auto_kernel(gpu, &small, LANES_MIN_MODEL_STEPS), want);
    assert_eq!(auto_kernel(gpu, &small, LANES_MIN_MODEL_STEPS - 1), FusedKernel::Workgroup);
    assert_eq!(auto_kernel(gpu, &bn, u64::MAX), FusedKernel::Workgroup);
    assert_eq!(auto_kernel(gpu, &big, u64::MAX), FusedKernel::Workgroup);
}

/// The workgroup kernel caches a model's parameters in workgroup memory when they fit the adapter's
/// workgroup storage and reads them from the arena otherwise: both give the reference's steps.
#[test]
fn the_workgroup_kernel_trains_like_the_reference_with_and_without_its_weight_cache() {
    use vanish::reference::CpuEngine;
    let Some(gpu) = gpu() else { return };
    let (train, test) = load("circles", 40, 2, 6);
    let cfg = TrainConfig { optimizer: Optimizer::adam(1e-2), batch_size: 8 };
    let limit = gpu.limits.max_compute_workgroup_storage_size as usize;
    let cached = MlpSpec::new(2, &[8, 8], Activation::Tanh, Output::Binary).with_batch_norm(true);
    // Wide enough that its arena passes the adapter's workgroup storage: read from `params`.
    let width =
        (8..=64).find(|&w| MlpSpec::new(2, &[w; 3], Activation::Tanh, Output::Binary).layout().param_len * 4 > limit);
    let Some(width) = width else { panic!("every narrow model fits {limit} bytes of workgroup storage") };
    let uncached = MlpSpec::new(2, &[width; 3], Activation::Tanh, Output::Binary).with_batch_norm(true);
    assert!(cached.layout().param_len * 4 <= limit);
    for spec in [cached, uncached] {
        let params = Params::init(&spec, 6);
        let order: Vec<u32> = (0..train.len() as u32).collect();
        let mut g = engine(gpu, FusedKernel::Workgroup, &spec, &params, (&train, &test), cfg);
        let mut c = CpuEngine::new(&spec, &params, &train, &test, cfg).unwrap();
        g.begin_epoch(&order).unwrap();
        c.begin_epoch(&order).unwrap();
        let (lg, lc) = (g.train_batches(0, 3).unwrap(), c.train_batches(0, 3).unwrap());
        let name = format!("width {}", spec.hidden[0]);
        let (lg, lc): (Vec<f64>, Vec<f64>) = (lg.iter().map(|r| r.loss).collect(), lc.iter().map(|r| r.loss).collect());
        // Three Adam steps in f32 against f64: losses of order 1 agree to 1e-5.
        assert_close(&format!("{name} losses"), &lg, &lc, 1e-5, 1e-5);
        let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        let (pg, pc) = (g.params().unwrap(), c.params().unwrap());
        let w = pg.layout.weight(1).clone();
        assert_close(&format!("{name} layer 1 weights"), &widen(pg.tensor(&w)), &widen(pc.tensor(&w)), 2e-4, 1e-4);
    }
}
