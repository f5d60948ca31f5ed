//! `vanish check`: the quick suite passes on this machine's GPU, the tolerances catch real errors (a
//! wrong gradient, also in a vanishing first layer), the full suite covers the whole matrix, and the CLI
//! reports JSON and fails cleanly.

use crate::common;

use std::collections::BTreeSet;

use vanish::check::tolerance::Reference;
use vanish::check::{ADAM, Case, SEED, SGD, compare, full_suite, quick_suite, run_suite};
use vanish::data::Dataset;
use vanish::engine::{Engine, Split, TrainConfig};
use vanish::model::{Activation, Norm, OutputKind, Params};
use vanish::reference::CpuEngine;

use common::vanish;

#[test]
fn the_full_suite_covers_every_combination_of_the_matrix() {
    let cases = full_suite();
    let binary: BTreeSet<String> = cases.iter().filter(|c| c.classes == 2).map(Case::name).collect();
    let plain: BTreeSet<String> =
        cases.iter().filter(|c| c.classes == 2 && !c.residual && !c.clip).map(Case::name).collect();
    assert_eq!(cases.iter().filter(|c| c.clip).count(), Activation::ALL.len() * 2, "clipping cases");
    assert_eq!(plain.len(), Activation::ALL.len() * 3 * 4 * 4 * 2, "distinct binary cases");
    let residual: BTreeSet<String> = cases.iter().filter(|c| c.residual).map(Case::name).collect();
    assert_eq!(residual.len(), Activation::ALL.len() * 3 * 2 * 2, "distinct residual cases");
    assert!(residual.contains("residual selu+bn depth 11 batch 32 adam"));
    assert!(residual.contains("residual tanh+ln depth 2 batch 7 adam"));
    for depth in [1, 2, 11, 30] {
        for batch in [1, 7, 32, 670] {
            for norm in ["", "+bn", "+ln"] {
                let name = format!("sigmoid{norm} depth {depth} batch {batch} adam");
                assert!(binary.contains(&name), "{name}");
            }
        }
    }
    assert_eq!(
        cases.iter().filter(|c| c.classes == 3 && c.head == OutputKind::Softmax).count(),
        Activation::ALL.len() * 3 * 2,
        "a softmax head per activation × norm × optimiser"
    );
    let nielsen: BTreeSet<String> =
        cases.iter().filter(|c| c.head == OutputKind::SigmoidCe && c.decay).map(Case::name).collect();
    assert_eq!(
        nielsen.len(),
        Activation::ALL.len() * 3 * 2,
        "Nielsen's head with decay per activation × norm × optimiser"
    );
    assert!(nielsen.contains("sigmoid depth 4 batch 32 sgd sigmoid-ce3 decay"), "{nielsen:?}");
    let quick = quick_suite();
    assert!(quick.len() < 36, "the quick suite stays quick");
    for norm in Norm::ALL {
        assert!(quick.iter().any(|c| c.norm == norm && c.residual), "the quick suite has residual {norm} cases");
        assert!(quick.iter().any(|c| c.norm == norm && c.clip), "the quick suite clips with {norm}");
    }
    assert!(quick.iter().any(|c| c.depth == 30 && c.batch == 670), "the quick suite reaches the deep, wide corner");
    for optimizer in ["sgd", "adam"] {
        let name = |c: &&Case| c.name().contains(optimizer);
        assert!(quick.iter().filter(name).any(|c| c.decay), "the quick suite decays weights with {optimizer}");
    }
    assert!(
        quick.iter().any(|c| c.head == OutputKind::SigmoidCe && c.classes > 2),
        "the quick suite has Nielsen's head"
    );
}

/// The gradients of a case on the reference (f64), for testing the tolerance rules without a GPU.
fn reference_gradients(case: &Case) -> (Params, Vec<f64>) {
    let spec = case.spec();
    let data = case.data();
    let empty = Dataset { x: Vec::new(), y: Vec::new(), ..data.clone() };
    let params = Params::init(&spec, SEED);
    let cfg = TrainConfig::new(case.optimizer, case.batch);
    let mut engine = CpuEngine::new(&spec, &params, &data, &empty, cfg).unwrap();
    engine.probe(Split::Train).unwrap();
    (params, engine.gradients().unwrap())
}

/// Check the checker: a 1% error in any one gradient tensor fails, including the first layer of a
/// depth-30 sigmoid network whose gradient is ~1e-20 of the last layer's (the floor must not swallow
/// exactly the layers this tool is about), while f32 rounding of the same tensor passes.
#[test]
fn a_one_percent_gradient_error_fails_even_in_a_vanishing_layer() {
    let case = Case {
        activation: Activation::Sigmoid,
        norm: Norm::None,
        depth: 30,
        batch: 32,
        optimizer: SGD,
        classes: 2,
        residual: false,
        clip: false,
        head: OutputKind::Softmax,
        decay: false,
    };
    let (params, want) = reference_gradients(&case);
    let layout = params.layout.clone();
    let reference = Reference { layout: &layout, grads: &want, gpu_grads: &want, optimizer: SGD };
    let first = layout.weight(0);
    let w = &want[first.range()];
    let last = &want[layout.weight(30).range()];
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(norm(w) < 1e-12 * norm(last), "the gradient vanishes: {:e} vs {:e}", norm(w), norm(last));
    let tol = reference.gradient(first);
    let f32_rounded: Vec<f64> = w.iter().map(|&v| v as f32 as f64).collect();
    let wrong: Vec<f64> = w.iter().enumerate().map(|(i, &v)| if i == 3 { v + 0.01 * norm(w) } else { v }).collect();
    assert!(compare("rounded".into(), &f32_rounded, w, tol.rtol, tol.atol, tol.rule).passed);
    let failed = compare("wrong".into(), &wrong, w, tol.rtol, tol.atol, tol.rule);
    assert!(!failed.passed, "{failed:?}");
    assert!((failed.rel - 0.01).abs() < 1e-9, "the relative error is per tensor: {}", failed.rel);
    // A wrong sign on a whole tensor is caught however large the network's other gradients are.
    let negated: Vec<f64> = last.iter().map(|v| -v).collect();
    let tol = reference.gradient(layout.weight(30));
    assert!(!compare("negated".into(), &negated, last, tol.rtol, tol.atol, tol.rule).passed);
}

/// The zero-gradient and Adam-drift allowances apply exactly where the gradient is zero in exact
/// arithmetic (a bias before batch norm), not to the weights beside it.
#[test]
fn allowances_for_round_off_gradients_cover_only_biases_before_batch_norm() {
    let case = Case {
        activation: Activation::Tanh,
        norm: Norm::Batch,
        depth: 2,
        batch: 32,
        optimizer: ADAM,
        classes: 2,
        residual: false,
        clip: false,
        head: OutputKind::Softmax,
        decay: false,
    };
    let (params, want) = reference_gradients(&case);
    let layout = params.layout.clone();
    let reference = Reference { layout: &layout, grads: &want, gpu_grads: &want, optimizer: ADAM };
    for layer in 0..3 {
        let (w, b) = (layout.weight(layer), layout.bias(layer));
        let bias_grad = want[b.range()].iter().map(|x| x * x).sum::<f64>().sqrt();
        if layer < 2 {
            assert!(bias_grad < 1e-12, "layer {layer}: a bias before batch norm has a zero gradient ({bias_grad:e})");
            assert_eq!(reference.parameter(b, 0.0).rule, "adam-drift", "layer {layer}: Adam may drift that bias");
        } else {
            let allowance = reference.gradient(b).atol;
            assert!(
                bias_grad > 10.0 * allowance,
                "the output bias has a real gradient ({bias_grad:e} vs {allowance:e})"
            );
            assert_eq!(reference.parameter(b, 0.0).atol, 0.0, "the output bias gets no drift allowance");
        }
        assert_eq!(reference.parameter(w, 0.0).atol, 0.0, "layer {layer}: weights get no drift allowance");
    }
}

/// The quick suite as a web page runs it: every GPU read awaited on the fused executor
/// (`run_suite_async`, driven here by `block_on`), every case within tolerance, every tensor compared.
#[test]
fn the_quick_suite_passes_through_the_non_blocking_path() {
    let Some(gpu) = common::gpu() else { return };
    let cases = quick_suite();
    let mut seen = 0;
    let mut between = |_: &vanish::check::CaseResult| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        seen += 1;
        Box::pin(std::future::ready(()))
    };
    let report = vanish::engine::block_on(vanish::check::run_suite_async(gpu, &cases, &mut between)).unwrap();
    assert_eq!(seen, cases.len(), "one call between cases");
    for r in &report.cases {
        for t in r.tensors.iter().filter(|t| !t.passed) {
            eprintln!("{}: {t:?}", r.name);
        }
        assert!(r.tensors.len() > 3 && r.tensors.iter().all(|t| t.max_abs.is_finite()), "{}", r.name);
    }
    assert_eq!(report.failed, 0, "{} of {} cases failed", report.failed, cases.len());
}

/// The quick suite on this machine's GPU: every case within tolerance, every tensor compared.
#[test]
fn the_quick_suite_passes_on_this_gpu() {
    let Some(gpu) = common::gpu() else { return };
    let cases = quick_suite();
    let report = run_suite(gpu, &cases, |_| {}).unwrap();
    for r in &report.cases {
        for t in r.tensors.iter().filter(|t| !t.passed) {
            eprintln!("{}: {t:?}", r.name);
        }
        let spec = r.case.spec();
        let layout = spec.layout();
        // loss, a gradient and a value per trainable tensor, the running statistics, and the logits.
        let eval = !(spec.norm == Norm::Batch && r.case.optimizer == ADAM);
        let expected = 1 + 2 * layout.params.len() + layout.running.len() + 1 + usize::from(eval);
        assert_eq!(r.tensors.len(), expected, "{}", r.name);
        assert!(r.tensors.iter().all(|t| t.max_abs.is_finite()), "{}", r.name);
    }
    assert_eq!(report.failed, 0, "{} of {} cases failed", report.failed, cases.len());
    // In well-conditioned cases the bounds, conditioning included, stay tight: a 1% error in any weight
    // gradient, weight or logit would fail.
    for r in report.cases.iter().filter(|r| r.case.depth <= 2) {
        for t in r.tensors.iter().filter(|t| t.name.ends_with("weight") || t.name.starts_with("logits")) {
            assert!(t.allowed < 0.01 * t.norm, "{} {}: bound {:e} of a norm {:e}", r.name, t.name, t.allowed, t.norm);
        }
    }
    // The comparisons are not vacuous: the engines do differ, by f32 rounding.
    let worst = report.cases.iter().filter_map(|r| r.worst()).map(|t| t.rel).fold(0.0, f64::max);
    assert!(worst > 1e-9, "GPU and reference agree suspiciously well: {worst:e}");
}

#[test]
fn check_cli_prints_json_and_rejects_an_empty_selection() {
    if common::gpu().is_none() {
        return;
    }
    let out = vanish()
        .args(["check", "--quick", "--norm", "none", "--only", "depth 2 batch 7 sgd", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), Activation::ALL.len(), "one per activation");
    assert_eq!(v["failed"], 0);
    let tensor = &cases[0]["tensors"][1];
    assert_eq!(tensor["name"], "grad.layers.0.weight");
    for key in ["max_abs", "rel", "allowed", "rule", "passed", "drift"] {
        assert!(!tensor[key].is_null(), "{key} in {tensor}");
    }

    let out = vanish().args(["check", "--quick", "--only", "depth 2 batch 7 sgd"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // every activation without a norm, and sigmoid with layer norm
    assert!(text.contains(&format!("{} passed, 0 failed", Activation::ALL.len() + 1)), "{text}");
    let out = vanish().args(["check", "--quick", "--norm", "layer", "--residual"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("residual relu+ln depth 11 batch 32 adam") && text.contains("1 passed, 0 failed"), "{text}");
    assert!(text.contains("worst tensor") && text.contains("of bound"), "{text}");

    let out = vanish().args(["check", "--only", "softsign"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--only 'softsign' matches no case") && !err.contains("panicked"), "{err}");
}
