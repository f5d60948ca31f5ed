//! The executor's counters, which hold on any hardware: a batch's dispatches and submits per optimiser
//! step do not grow with its number of models, and the MNIST depth sweep — 784-wide inputs, depths 1 to
//! 10, three activations, with and without batch norm — compiles a small fixed number of pipelines and
//! trains in a few batches.

use vanish::data::Dataset;
use vanish::engine::{BatchEngine, ModelJob, Optimizer, TrainConfig, Work};
use vanish::gpu::{Executor, KernelClass};
use vanish::model::{Activation, MlpSpec, Output, Params};

use crate::common;

/// `rows` random 784-pixel rows of 10 classes.
fn digits_like(rows: usize, seed: u64) -> Dataset {
    Dataset {
        x: common::uniform(rows * 784, seed).iter().map(|v| v.abs()).collect(),
        y: (0..rows as u32).map(|i| i % 10).collect(),
        features: 784,
        classes: 10,
        feature_names: (0..784).map(|i| format!("x{i}")).collect(),
        class_names: (0..10).map(|c| c.to_string()).collect(),
    }
}

/// Dispatches and submits of `steps` optimiser steps of `models` models of 784→256×3→10 in one batch,
/// after a first call that compiles and warms up.
fn per_steps(gpu: &vanish::gpu::Gpu, data: &Dataset, models: usize, steps: usize) -> (u64, u64) {
    let spec = MlpSpec::new(784, &[256; 3], Activation::Relu, Output::Softmax(10));
    let cfg = TrainConfig::new(Optimizer::adam(1e-3), 16);
    let jobs: Vec<ModelJob<'_>> = (0..models as u64)
        .map(|s| ModelJob { spec: spec.clone(), params: Params::init(&spec, s), train: data, test: data, cfg })
        .collect();
    let mut executor = Executor::new(gpu, &jobs, KernelClass::Tiled).unwrap();
    let orders: Vec<Vec<u32>> = (0..models).map(|_| (0..data.len() as u32).collect()).collect();
    BatchEngine::begin_epoch(&mut executor, &orders).unwrap();
    executor.run(&Work { steps: Some((0, 1)), ..Default::default() }).unwrap();
    let before = gpu.counters();
    executor.run(&Work { steps: Some((1, steps)), ..Default::default() }).unwrap();
    let after = gpu.counters();
    (after.dispatches - before.dispatches, after.submits - before.submits)
}

#[test]
fn a_batchs_dispatches_and_submits_per_step_do_not_grow_with_its_models() {
    if common::gpu().is_none() {
        return;
    }
    // A device of its own, so its counters see this test's work only (tests run in parallel).
    let gpu = &vanish::gpu::Gpu::new(&Default::default()).unwrap();
    let data = digits_like(16 * 4, 1);
    let (one, sixteen) = (per_steps(gpu, &data, 1, 3), per_steps(gpu, &data, 16, 3));
    assert_eq!(one, sixteen, "(dispatches, submits) of 3 steps: 1 model vs 16 models");
    // A step: the counter, four layers forward, the loss and its sum, four gradients and three backward
    // passes, the optimiser: 15 dispatches; three steps and their results in one submit.
    assert_eq!(one, (3 * 15, 1));
}

/// The MNIST depth sweep, on the real digits (a few hundred rows, to keep CI's time): every run on the
/// tiled kernels, whatever its depth, activation or norm, so the whole grid compiles the tiled
/// kernels' eleven pipelines once and trains in one batch per seed's data.
#[test]
fn the_mnist_depth_sweep_compiles_a_small_fixed_number_of_pipelines() {
    if common::gpu().is_none() {
        return;
    }
    let Some(digits) = common::mnist_digits() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("digits");
    std::fs::create_dir(&data).unwrap();
    common::write_idx(&data, &digits[..400], 300, true, "");
    let out = assert_cmd::Command::cargo_bin("vanish")
        .unwrap()
        .args(["sweep", "--device", "gpu", "--dataset", &format!("mnist:{}", data.display())])
        .args(["--widths", "30", "--depths", "1..=10", "--activations", "sigmoid,tanh,relu"])
        .args(["--batch-norm", "off,on", "--seeds", "2", "--epochs", "1", "--batch-size", "32", "--json"])
        .arg("--out")
        .arg(dir.path().join("sweep"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"], 120, "{v}");
    let counters = &v["counters"];
    let pipelines = counters["pipelines_compiled"].as_u64().unwrap();
    assert!(pipelines <= 11, "{pipelines} pipelines for the MNIST depth sweep: {counters}");
    // One batch of 120 models per call: a probe and evaluations at the start and end, and the epoch's
    // 10 steps between, in a handful of submits — not one per run.
    let submits = counters["submits"].as_u64().unwrap();
    assert!(submits <= 12, "{submits} submits for 120 runs: {counters}");
    assert!(counters["dispatches"].as_u64().unwrap() > 0, "{counters}");
}
