//! `vanish bench --quick`, the smoke run: every section validates its kernels before timing them and
//! reports what the issue asks for (shapes, paths, dispatches and bytes read back), and bad flags fail
//! with their name. The figures themselves are measured by `vanish bench`, never asserted here.

use crate::common;

use serde_json::Value;

use common::vanish;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn the_quick_bench_reports_every_section() {
    if common::gpu().is_none() {
        return;
    }
    let out = vanish()
        .args(["bench", "--quick", "--json", "--peak-gflops", "1000", "--sections", "matmul,bandwidth,training"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f(&v["peak_gflops"]), 1000.0);

    let matmul = v["matmul"].as_array().unwrap();
    let variants: Vec<&str> = matmul.iter().map(|m| m["variant"].as_str().unwrap()).collect();
    for want in ["naive", "blocked", "vec4", "cpu sgemm (matrixmultiply)"] {
        assert!(variants.contains(&want), "no {want} row in {variants:?}");
    }
    for m in matmul {
        assert!(f(&m["gflops"]["median"]) > 0.0, "{m}");
        assert!(f(&m["gflops"]["min"]) <= f(&m["gflops"]["median"]), "{m}");
        assert!(f(&m["max_error"]) < 1e-2, "validated before timing: {m}");
    }
    assert!(matmul.iter().any(|m| m["shape"] == serde_json::json!([32, 10, 10])), "the notebook's batch shape");

    let bandwidth = v["bandwidth"].as_array().unwrap();
    assert_eq!(bandwidth.len(), 4);
    assert!(bandwidth.iter().all(|b| f(&b["gbps"]["median"]) > 0.0));

    let training = v["training"].as_array().unwrap();
    let paths: Vec<&str> = training.iter().map(|t| t["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["layered", "fused", "fused, 32 models", "tiled", "tiled, 32 models", "cpu reference (f64)"]);
    for t in training {
        assert!(f(&t["us_per_step"]["median"]) > 0.0, "{t}");
        assert!(f(&t["model_steps_per_s"]) > 0.0, "{t}");
    }
    let row = |path: &str| training.iter().find(|t| t["path"] == path).unwrap();
    // The fused path: one dispatch runs a whole epoch (21 steps of 32 rows); the layered one dispatches
    // per layer. Nothing is read back inside a step (measured by the context's counter): the layered
    // path reads 8 bytes per step once per call; the fused path reads each model's results block (its
    // steps' losses, the pass totals and the first layer's gradient) once per epoch.
    assert!(f(&row("fused")["dispatches_per_step"]) < 1.0);
    assert!(f(&row("layered")["dispatches_per_step"]) > 11.0);
    // The tiled kernels dispatch per layer and phase for every model at once: the step counter, 12
    // layers forward, the loss and its sum, 12 gradients and 11 backward passes, the optimiser; the
    // same for one model and for 32.
    assert_eq!(f(&row("tiled")["dispatches_per_step"]), 39.0);
    assert_eq!(f(&row("tiled, 32 models")["dispatches_per_step"]), 39.0);
    assert_eq!(row("layered")["readback_bytes_per_epoch"], 21 * 8);
    assert_eq!(row("fused")["readback_bytes_per_epoch"], 4 * (2 * 21 + 6 + 2 * 10));
    assert_eq!(row("fused, 32 models")["readback_bytes_per_epoch"], 32 * 4 * (2 * 21 + 6 + 2 * 10));
    assert_eq!(row("tiled")["readback_bytes_per_epoch"], row("fused")["readback_bytes_per_epoch"]);
    assert_eq!(
        row("tiled, 32 models")["readback_bytes_per_epoch"],
        row("fused, 32 models")["readback_bytes_per_epoch"]
    );
    for path in ["layered", "fused", "tiled"] {
        assert!(f(&row(path)["validation_error"]) < 1e-4, "{path}");
    }
    assert_eq!(row("fused, 32 models")["models"], 32);
}

/// The jobs section runs each job as a child process, cold, warm and on the CPU reference, and reports
/// the GPU runs' counters: a headline grid and a training run each compile the executor's two
/// pipelines, and take a few submits, whatever the machine; the MNIST jobs, on a synthetic set of
/// MNIST's shape without `--dataset`, compile the tiled kernels' eleven and run beside their peer where
/// PyTorch is installed (and say so where it is not).
#[test]
fn the_jobs_section_times_each_job_cold_warm_and_on_the_reference() {
    if common::gpu().is_none() {
        return;
    }
    let out = vanish().args(["bench", "--quick", "--json", "--sections", "jobs"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = v["jobs"].as_array().unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["headline sweep (18 runs)", "train --epochs 5", "demo", "MNIST depth sweep (6 runs)", "wide: 784→256×4→10"]
    );
    for j in jobs {
        for key in ["gpu_cold_s", "gpu_warm_s", "cpu_s"] {
            assert!(f(&j[key]) > 0.0, "{key}: {j}");
        }
        assert!((f(&j["warm_ratio"]) - f(&j["gpu_warm_s"]) / f(&j["cpu_s"])).abs() < 1e-9, "{j}");
        for (median, rounds) in
            [("gpu_cold_s", "gpu_cold_rounds_s"), ("gpu_warm_s", "gpu_warm_rounds_s"), ("cpu_s", "cpu_rounds_s")]
        {
            let rounds: Vec<f64> = j[rounds].as_array().unwrap().iter().map(f).collect();
            assert_eq!(rounds, [f(&j[median])], "--quick runs one round: {j}");
        }
    }
    for j in &jobs[..2] {
        let c = &j["counters"];
        assert_eq!(c["pipelines_compiled"], 2, "the executor's two entry points: {j}");
        assert!(c["submits"].as_u64().unwrap() <= 16, "{j}");
        assert!(c["bytes_read_back"].as_u64().unwrap() > 0, "{j}");
    }
    assert!(jobs[2]["counters"].is_null(), "demo prints no counters");
    let torch = std::process::Command::new("python3").args(["-c", "import torch"]).status().is_ok_and(|s| s.success());
    for j in &jobs[3..] {
        assert_eq!(j["counters"]["pipelines_compiled"], 11, "the tiled kernels: {j}");
        assert!(j["data"].as_str().unwrap().starts_with("synthetic"), "{j}");
        if torch {
            assert!(j["peer"].as_str().unwrap().starts_with("PyTorch"), "{j}");
            let runs = j["peer_threads_s"].as_array().unwrap();
            assert!(!runs.is_empty() && runs.iter().all(|r| f(&r[1]) > 0.0), "{j}");
            let fastest = runs.iter().map(|r| f(&r[1])).fold(f64::INFINITY, f64::min);
            assert_eq!(f(&j["peer_s"]), fastest, "{j}");
            assert!((f(&j["warm_peer_ratio"]) - f(&j["gpu_warm_s"]) / fastest).abs() < 1e-9, "{j}");
        } else {
            common::skip("PyTorch is not installed: the MNIST jobs ran without their peer");
            assert!(j["peer"].is_null() && j["peer_s"].is_null(), "{j}");
        }
    }
    let text = vanish().args(["bench", "--sections", "nope"]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stderr).contains("matmul, bandwidth, training, jobs"));
    let bad = vanish().args(["bench", "--sections", "jobs", "--dataset", "circles"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("mnist:DIR"));
}

#[test]
fn the_text_table_names_the_peak_or_says_it_is_unknown() {
    if common::gpu().is_none() {
        return;
    }
    for (args, want) in [(&["--peak-gflops", "50"][..], "% peak"), (&[][..], "adapter peak: not known")] {
        let out = vanish().args(["bench", "--quick", "--sections", "matmul"]).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(want), "{args:?}: {text}");
    }
}

#[test]
fn bad_bench_flags_name_the_flag() {
    for (args, want) in [
        (&["bench", "--peak-gflops=-3"][..], "--peak-gflops"),
        (&["bench", "--peak-gflops=nan"][..], "--peak-gflops"),
        (&["bench", "--sections", "matmul,warp"][..], "unknown section 'warp'"),
        (&["bench", "--device", "cpu"][..], "--device cpu"),
    ] {
        let out = vanish().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
