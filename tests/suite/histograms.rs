//! Per-layer histograms (`--histograms`): every GPU path counts what the f64 reference counts, the
//! executor's probe beside its steps counts what a probe alone does, and a model of a batch that did not
//! ask for them gets none.

use crate::common;

use common::gpu;
use vanish::data::{self, Dataset, DatasetSpec};
use vanish::engine::{BatchEngine, Engine, ModelJob, Optimizer, Split, TrainConfig, Work};
use vanish::gpu::{Executor, KernelClass, TrainPath};
use vanish::histogram::{HIST_BINS, QUANTITIES};
use vanish::model::{Activation, BiasInit, Init, MlpSpec, Norm, Output, Params};
use vanish::reference::CpuEngine;

fn blobs(samples: usize, classes: usize, seed: u64) -> (Dataset, Dataset) {
    let spec = DatasetSpec::parse(if classes > 2 { "blobs" } else { "circles" }, samples, None, 0.85, classes, None);
    data::split(&data::load(&spec.unwrap(), seed).unwrap(), 0.33, seed).unwrap()
}

/// Awkward shapes and every layer kind the histograms read: widths that are not a multiple of anything,
/// normalisation (pre-activations after the norm), skips, softmax and Nielsen's head.
fn cases() -> Vec<MlpSpec> {
    vec![
        MlpSpec::new(2, &[13, 7, 11], Activation::Tanh, Output::Binary).with_init(Init::Standard),
        MlpSpec::new(2, &[10, 10, 10, 10], Activation::Sigmoid, Output::SigmoidCe(3))
            .with_init(Init::NormalVar(1.0))
            .with_bias_init(BiasInit::Normal(1.0)),
        MlpSpec::new(2, &[9, 9], Activation::Relu, Output::Softmax(3)).with_batch_norm(true),
        MlpSpec::new(2, &[8, 8, 8], Activation::Relu, Output::Softmax(3))
            .with_norm(Norm::Layer)
            .with_residual(Some(0.5)),
    ]
}

/// The GPU's histograms of a probe against the reference's: the same shared range per model and
/// quantity (to f32's precision relative to its width) and the same counts but for values that f32 and
/// f64 put on either side of a bin edge.
#[test]
fn every_gpu_path_counts_the_references_histograms() {
    let Some(gpu) = gpu() else { return };
    for path in [TrainPath::Fused, TrainPath::Tiled, TrainPath::Layered] {
        for spec in cases() {
            let (train, test) = blobs(150, spec.output.width().max(2), 4);
            let params = Params::init(&spec, 6);
            let cfg = TrainConfig { histograms: true, ..TrainConfig::new(Optimizer::sgd(0.1, 0.0), 32) };
            let mut g = common::gpu_engine(gpu, path, &spec, &params, &train, &test, cfg);
            let mut c = CpuEngine::new(&spec, &params, &train, &test, cfg).unwrap();
            let (pg, pc) = (g.probe(Split::Train).unwrap(), c.probe(Split::Train).unwrap());
            assert_eq!(pg.histograms.len(), spec.num_layers());
            assert_eq!(pc.histograms.len(), spec.num_layers());
            for (l, (hg, hc)) in pg.histograms.iter().zip(&pc.histograms).enumerate() {
                for (q, name) in QUANTITIES.iter().enumerate() {
                    let (a, b) = (hg.get(q), hc.get(q));
                    let what = format!("{path:?} {} layer {} {name}", spec.describe(), l + 1);
                    assert_eq!(a.counts.len(), HIST_BINS, "{what}");
                    assert_eq!(a.total(), b.total(), "{what}: every value counted once");
                    let width = b.hi - b.lo;
                    assert!(
                        (a.lo - b.lo).abs() <= 1e-4 * width && (a.hi - b.hi).abs() <= 1e-4 * width,
                        "{what}: range [{}, {}] vs the reference's [{}, {}]",
                        a.lo,
                        a.hi,
                        b.lo,
                        b.hi
                    );
                    let d = a.distance(b);
                    assert!(d <= 0.01, "{what}: {d} of the values in other bins\n{a:?}\n{b:?}");
                }
            }
        }
    }
}

/// The executor's probe beside its steps (the fused kernel's twins) counts exactly what a probe alone
/// does; in a batch, a model that did not ask for histograms gets none.
#[test]
fn a_probe_beside_the_steps_counts_what_a_probe_alone_does() {
    let Some(gpu) = gpu() else { return };
    let (train, test) = blobs(150, 2, 5);
    let spec = MlpSpec::new(2, &[10, 10, 10], Activation::Tanh, Output::Binary);
    let with = TrainConfig { histograms: true, ..TrainConfig::new(Optimizer::adam(1e-2), 32) };
    let without = TrainConfig { histograms: false, ..with };
    let jobs: Vec<ModelJob<'_>> = [(1u64, with), (2, without), (3, with)]
        .iter()
        .map(|&(seed, cfg)| ModelJob {
            spec: spec.clone(),
            params: Params::init(&spec, seed),
            train: &train,
            test: &test,
            cfg,
        })
        .collect();
    let order: Vec<Vec<u32>> = vec![(0..train.len() as u32).collect(); jobs.len()];
    let fused = KernelClass::Fused(vanish::gpu::fused::fused_shape(gpu, &spec).unwrap());
    for class in [fused, KernelClass::Tiled] {
        let mut alone = Executor::new(gpu, &jobs, class).unwrap();
        let probed = BatchEngine::run(&mut alone, &Work { probe: true, ..Default::default() }).unwrap();
        let mut beside = Executor::new(gpu, &jobs, class).unwrap();
        BatchEngine::begin_epoch(&mut beside, &order).unwrap();
        let work = Work { steps: Some((0, 2)), probe: true, measure_first: true, ..Default::default() };
        let measured = BatchEngine::run(&mut beside, &work).unwrap();
        for m in 0..jobs.len() {
            let (a, b) = (&probed[m].probe.as_ref().unwrap().probe, &measured[m].probe.as_ref().unwrap().probe);
            assert_eq!(a.histograms.is_empty(), !jobs[m].cfg.histograms, "{class:?} model {m}");
            assert_eq!(a.histograms, b.histograms, "{class:?} model {m}: beside the steps and alone");
        }
        let first = &probed[0].probe.as_ref().unwrap().probe.histograms;
        let third = &probed[2].probe.as_ref().unwrap().probe.histograms;
        assert_ne!(first, third, "{class:?}: each model its own histograms");
    }
}

use common::vanish;

/// `train --histograms` keeps every probe's histograms in summary.json (each layer's values all counted:
/// rows × width) and draws Glorot & Bengio's figures; without the flag there are neither.
#[test]
fn train_records_and_draws_the_histograms_only_when_asked() {
    for with in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut cmd = vanish();
        cmd.args(["train", "--device", "cpu", "--depth", "3", "--width", "6", "--activation", "tanh"]);
        cmd.args(["--init", "standard", "--epochs", "1", "--samples", "300", "--out", out.to_str().unwrap()]);
        if with {
            cmd.arg("--histograms");
        }
        let res = cmd.output().unwrap();
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        let epochs = summary["runs"][0]["epochs"].as_array().unwrap();
        assert_eq!(epochs.len(), 2, "initialisation and one epoch");
        for e in epochs {
            match e.get("histograms") {
                None => assert!(!with, "epoch {}: no histograms", e["epoch"]),
                Some(h) => {
                    assert!(with, "histograms without --histograms");
                    let layers = h.as_array().unwrap();
                    assert_eq!(layers.len(), 4, "three hidden layers and the output");
                    let train_rows = 201; // 300 samples, a third for the test split
                    for (l, layer) in layers.iter().enumerate() {
                        let width = if l < 3 { 6 } else { 1 };
                        let act = &layer["activation"];
                        let total: u64 =
                            act["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>()
                                + act["below"].as_u64().unwrap()
                                + act["above"].as_u64().unwrap();
                        assert_eq!(total, train_rows * width, "layer {l}");
                        assert_eq!(act["counts"].as_array().unwrap().len(), HIST_BINS);
                    }
                }
            }
        }
        for file in ["histograms.svg", "histograms-trained.svg"] {
            assert_eq!(out.join(file).exists(), with, "{file}");
        }
    }
}
