//! The real `vanish` binary, driven with assert_cmd: the demo's JSON on both engines, `train`'s output
//! files, `devices`, and every bad input ending in a clear message and a non-zero exit, never a panic.

use crate::common;

use serde_json::Value;

use common::vanish;

fn demo_json(device: &str) -> Value {
    let out = vanish().args(["demo", "--json", "--device", device]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check_demo(v: &Value, engine_prefix: &str) {
    assert!(v["config"]["engine"].as_str().unwrap().starts_with(engine_prefix), "{}", v["config"]["engine"]);
    assert_eq!(v["config"]["train_rows"], 670);
    assert_eq!(v["config"]["test_rows"], 330);
    let runs = v["runs"].as_array().unwrap();
    let names: Vec<(String, bool)> = runs
        .iter()
        .map(|r| (r["activation"].as_str().unwrap().to_string(), r["batch_norm"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("sigmoid".into(), false), ("tanh".into(), false), ("relu".into(), false), ("sigmoid".into(), true)]
    );
    let ratio = |i: usize| runs[i]["first_last_ratio"].as_f64().unwrap();
    assert!(ratio(0) < 1e-6, "sigmoid ratio {}", ratio(0));
    for (i, name) in names.iter().enumerate().skip(1) {
        assert!(ratio(i) > 1e-2, "{name:?} ratio {}", ratio(i));
    }
    for r in runs {
        assert_eq!(r["grad_norms_init"].as_array().unwrap().len(), 12, "11 hidden layers and the output");
        assert_eq!(r["w1_row_before"].as_array().unwrap().len(), 2, "a row of W₁ has fan-in 2");
        assert_eq!(r["steps"], 21, "670 rows in batches of 32, the last one short");
        let acc = r["test_acc_after"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
    }
    // Adam moved tanh's first-layer weights although its gradient is small.
    assert_ne!(runs[1]["w1_row_before"], runs[1]["w1_row_after"]);
}

#[test]
fn demo_json_on_the_cpu_reference() {
    check_demo(&demo_json("cpu"), "cpu reference");
}

#[test]
fn demo_json_on_the_gpu() {
    if common::gpu().is_none() {
        return;
    }
    check_demo(&demo_json("gpu"), "gpu");
}

/// `demo --cures` adds residual sigmoid, sigmoid + layer norm, ReLU + He and SELU + LeCun to the
/// notebook's four, on the GPU where there is one, and says which cures of sigmoid fall short.
#[test]
fn demo_cures_adds_the_modern_cures_with_their_conclusion() {
    let device = if common::gpu().is_some() { "gpu" } else { "cpu" };
    let out = vanish().args(["demo", "--cures", "--json", "--device", device]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "sigmoid",
            "tanh",
            "relu",
            "sigmoid + batch norm",
            "residual sigmoid",
            "sigmoid + layer norm",
            "relu + he-normal",
            "selu + lecun-normal"
        ]
    );
    let run = |name: &str| runs.iter().find(|r| r["name"] == name).unwrap();
    assert_eq!(run("sigmoid + layer norm")["norm"], "layer");
    assert_eq!(run("sigmoid + batch norm")["norm"], "batch");
    let ratio = |name: &str| run(name)["first_last_ratio"].as_f64().unwrap();
    // Layer norm helps sigmoid a little (more than 10×) but not out of vanishing; He and SELU flow.
    assert!(ratio("sigmoid + layer norm") > 10.0 * ratio("sigmoid") && ratio("sigmoid + layer norm") < 1e-3);
    assert!(ratio("relu + he-normal") > 1e-2 && ratio("selu + lecun-normal") > 1e-2);

    let out = vanish().args(["demo", "--cures", "--device", "cpu"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("sigmoid + layer norm is not enough here"), "{text}");
    // --norm chooses the notebook's fourth network, and cannot remove it
    let out = vanish().args(["demo", "--norm", "layer", "--json", "--device", "cpu"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][3]["name"], "sigmoid + layer norm");
    let out = vanish().args(["demo", "--norm", "none", "--device", "cpu"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the fourth network's normalisation, batch or layer"));
}

#[test]
fn demo_text_shows_the_table_and_a_computed_conclusion() {
    let out = vanish().args(["demo", "--device", "cpu"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("1/out"), "{text}");
    assert!(text.contains("sigmoid: the first layer receives") && text.contains("the gradient vanishes"), "{text}");
    assert!(text.contains("relu: the first layer receives") && text.contains("the gradient flows"), "{text}");
    assert!(text.contains("█"), "log-scale bars");
}

#[test]
fn train_writes_metrics_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let status = vanish()
        .args([
            "train",
            "--device",
            "cpu",
            "--depth",
            "3",
            "--activation",
            "tanh",
            "--epochs",
            "2",
            "--probe-every",
            "7",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let epochs = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    assert_eq!(epochs.lines().count(), 3, "header and two epochs:\n{epochs}");
    assert!(epochs.starts_with("epoch,train_loss,train_acc,"));
    let probes = std::fs::read_to_string(out.join("probes.csv")).unwrap();
    // Probes at steps 0, 7, 14, 21 (end of epoch 1), 28, 35, 42 (end of epoch 2): 7 probes × 4 layers.
    assert_eq!(probes.lines().count(), 1 + 7 * 4, "{probes}");
    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["history"]["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(metrics["config"]["spec"]["hidden"], serde_json::json!([10, 10, 10]));
}

#[test]
fn train_on_the_gpu_with_softmax_and_batch_norm() {
    if common::gpu().is_none() {
        return;
    }
    let out = vanish()
        .args(["train", "--device", "gpu", "--dataset", "blobs", "--classes", "3", "--layers", "16,8", "--batch-norm"])
        .args(["--activation", "relu,gelu", "--epochs", "3", "--lr", "0.01", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config"]["spec"]["output"]["Softmax"], 3);
    let last = &v["history"]["epochs"][2];
    assert!(last["test_acc"].as_f64().unwrap() > 0.8, "blobs are easy: {last}");
}

#[test]
fn devices_lists_the_adapter() {
    let out = vanish().arg("devices").output().unwrap();
    assert!(out.status.success());
    if common::gpu().is_some() {
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("max storage binding") && text.contains("timestamp queries"), "{text}");
    }
}

/// Runs `args` and expects a failure whose stderr contains `needle` and no panic.
fn fails_with(args: &[&str], needle: &str) {
    let out = vanish().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in:\n{err}");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

#[test]
fn bad_flags_name_the_problem() {
    fails_with(&["train", "--device", "cpu", "--depth", "0"], "--depth");
    for bad in ["0", "-1", "nan", "inf"] {
        fails_with(&["train", "--device", "cpu", "--clip-grad-norm", bad], "--clip-grad-norm must be finite and > 0");
    }
    fails_with(
        &["train", "--device", "cpu", "--residual", "--residual-scale", "-1"],
        "--residual-scale must be finite and > 0",
    );
    fails_with(&["train", "--device", "cpu", "--residual-scale", "0.5"], "--residual");
    fails_with(&["train", "--device", "cpu", "--width", "0"], "width");
    fails_with(&["train", "--device", "cpu", "--lr", "-1"], "--lr");
    fails_with(&["train", "--device", "cpu", "--lr", "inf"], "--lr");
    fails_with(&["train", "--device", "cpu", "--batch-size", "0"], "--batch-size");
    fails_with(&["train", "--device", "cpu", "--test-fraction", "1.5"], "--test-fraction");
    fails_with(&["train", "--device", "cpu", "--momentum", "0.9"], "--momentum");
    fails_with(&["train", "--device", "cpu", "--activation", "softsign"], "softsign");
    fails_with(&["train", "--device", "cpu", "--layers", "4,4", "--activation", "relu,tanh,relu"], "3 activations");
    fails_with(&["train", "--device", "cpu", "--init", "normal:-2"], "sigma");
    fails_with(&["train", "--device", "cpu", "--dataset", "nope"], "nope");
    fails_with(&["train", "--device", "cpu", "--probe-every", "0"], "--probe-every");
    fails_with(&["demo", "--device", "cpu", "--row", "10"], "--row");
    fails_with(&["train", "--device", "quantum"], "quantum");
}

#[test]
fn bad_csv_files_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.csv", "", "empty"),
        ("nan.csv", "a,b,label\n1,2,0\n3,NaN,1\n", ":3"),
        ("ragged.csv", "a,b,label\n1,2,0\n3,1\n", ":3"),
        ("text.csv", "a,b,label\n1,2,0\nx,1,1\n", ":3"),
        ("oneclass.csv", "a,b,label\n1,2,0\n3,1,0\n", "class"),
    ];
    for (name, text, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let arg = format!("csv:{}", path.display());
        fails_with(&["train", "--device", "cpu", "--dataset", &arg], needle);
        fails_with(&["train", "--device", "cpu", "--dataset", &arg], name);
    }
    fails_with(&["train", "--device", "cpu", "--dataset", "csv:/no/such/file.csv"], "/no/such/file.csv");
    let path = dir.path().join("labels.csv");
    std::fs::write(&path, "a,b,y\n1,2,0\n3,1,1\n").unwrap();
    fails_with(&["train", "--device", "cpu", "--dataset", &format!("csv:{}", path.display()), "--label", "z"], "z");
}

#[test]
fn a_diverging_run_exits_non_zero_naming_epoch_and_step() {
    fails_with(&["train", "--device", "cpu", "--optimizer", "sgd", "--lr", "1e30", "--activation", "relu"], "diverged");
    fails_with(
        &["train", "--device", "cpu", "--optimizer", "sgd", "--lr", "1e30", "--activation", "relu"],
        "epoch 1, step",
    );
}

/// Ctrl-C, SIGTERM (how Slurm and Kubernetes stop a job) and SIGHUP finish the step in flight, write what
/// is complete and exit 128 + the signal. The trainer holds after 20 steps (4 epochs of 5 steps; the test
/// hook in `train/interrupt.rs`) until the signal arrives, so the point it stops at is known exactly.
#[test]
fn a_stop_signal_writes_what_is_complete_and_exits_128_plus_the_signal() {
    use std::io::BufRead;
    for (signal, status) in [(libc::SIGINT, 130), (libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vanish"))
            .args(["train", "--device", "cpu", "--depth", "2", "--epochs", "100000", "--samples", "200"])
            .arg("--out")
            .arg(&out)
            .env("VANISH_TEST_HOLD_AFTER_STEPS", "20")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut log = String::new();
        while !log.contains("holding after") {
            assert!(stderr.read_line(&mut log).unwrap() > 0, "ended before holding: {log}");
        }
        // SAFETY: signals our own child, which is still running (it is holding and we have not waited).
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(status), "signal {signal}: {log}");
        assert!(log.contains("interrupted after 20 of"), "{log}");
        let epochs = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
        assert_eq!(epochs.lines().count(), 1 + 4, "a header and the 4 complete epochs:\n{epochs}");
        assert!(out.join("report.html").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");
    }
}

/// Models, datasets and sweeps the host cannot hold are refused before any allocation, with the size
/// needed and the memory available (Rust aborts on a failed allocation, so this must come first).
#[test]
fn sizes_past_host_memory_are_refused_before_any_work() {
    let needs = "of host memory needed";
    fails_with(&["train", "--layers", "100000,100000", "--epochs", "1", "--device", "cpu"], needs);
    fails_with(&["train", "--device", "cpu", "--layers", "10000000000,10000000000"], "more than 2^64 bytes");
    fails_with(&["train", "--device", "cpu", "--samples", "100000000000"], "generating the samples");
    if common::gpu().is_some() {
        fails_with(&["train", "--device", "gpu", "--depth", "100", "--width", "10000"], needs);
    }
    // The limit as the message gives it, from VANISH_HOST_MEMORY (which overrides /proc/meminfo).
    let out = vanish()
        .args(["sweep", "--depths", "1..=20", "--widths", "64", "--device", "cpu", "--epochs", "0"])
        .arg("--out")
        .arg(tempfile::tempdir().unwrap().path().join("s"))
        .env("VANISH_HOST_MEMORY", "1000000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the sweep's 60 runs") && err.contains("more than the 1.0 MB available (VANISH_HOST_MEMORY)"),
        "{err}"
    );
}

/// A model past the adapter's limits gets the limit's name and the requested size, not a wgpu panic.
#[test]
fn a_model_too_big_for_the_adapter_names_the_limit() {
    let Some(gpu) = common::gpu() else { return };
    // One 6000×6000 layer is 144 MB of f32, past lavapipe's 128 MiB storage binding.
    let width = ((gpu.limits.max_storage_buffer_binding_size / 4) as f64).sqrt() as usize + 100;
    let out = vanish()
        .args(["train", "--device", "gpu", "--layers", &format!("{width},{width}"), "--samples", "40", "--epochs", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("max_storage_buffer_binding_size") && err.contains("bytes"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn path_flag_forces_a_training_path_or_says_why_not() {
    if common::gpu().is_none() {
        return;
    }
    for (path, shows) in [("layered", "layered path"), ("fused", "fused path"), ("auto", "fused path")] {
        let out = vanish()
            .args(["train", "--device", "gpu", "--depth", "2", "--samples", "100", "--path", path])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.contains(shows), "--path {path}:\n{err}");
    }
    fails_with(&["train", "--device", "gpu", "--width", "100", "--path", "fused"], "up to 64");
    fails_with(&["train", "--device", "cpu", "--path", "fused"], "--path");
}

/// The same commands with the same seed on the same engine write the same bytes, every file of them:
/// weights (safetensors metadata in a fixed key order), metrics, CSVs, plots, reports, a sweep's run
/// store. Each run happens in a folder of its own with the same relative paths, since the report quotes
/// the command line. Nothing vanish writes holds a timestamp or a wall time.
#[test]
fn the_same_command_writes_byte_identical_files() {
    let mut devices = vec!["cpu"];
    if common::gpu().is_some() {
        devices.push("gpu");
    }
    let commands: [&[&str]; 4] = [
        &["train", "--epochs", "2", "--samples", "300", "--save-init", "i.safetensors", "--save", "f.safetensors"],
        &["train", "--epochs", "1", "--samples", "300", "--batch-norm", "--out", "t"],
        &[
            "sweep",
            "--depths",
            "2,5",
            "--activations",
            "sigmoid,relu",
            "--samples",
            "300",
            "--seeds",
            "2",
            "--out",
            "s",
        ],
        &["demo", "--out", "d"],
    ];
    for device in devices {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                for args in commands {
                    let out = vanish().current_dir(dir.path()).args(args).args(["--device", device]).output().unwrap();
                    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
                }
                let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sigmoid_bn_2x10x4x1_n7.safetensors");
                let grads = vanish()
                    .current_dir(dir.path())
                    .args(["grads", "--load", fixture, "--out", "g.safetensors", "--device", device])
                    .output()
                    .unwrap();
                assert!(grads.status.success(), "grads: {}", String::from_utf8_lossy(&grads.stderr));
                let files = common::files_under(dir.path());
                (dir, files)
            })
            .collect();
        let (a, b) = (&runs[0].1, &runs[1].1);
        assert!(a.len() >= 30, "{device}: {:?}", a.keys());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{device}: the same files");
        for (name, bytes) in a {
            assert!(bytes == &b[name], "{device}: {name} differs between two identical runs");
        }
    }
}

/// Replaying a run made elsewhere, step for step: 21 Adam steps (one epoch of 660 rows in data order,
/// batch 32, the last batch 20 rows) computed in JAX float64 (`tests/fixtures/make_fixtures.py`), from
/// the same initial weights (`--load`), on the same rows (`--no-shuffle`, the held-out rows from
/// `--test-data`). Every batch loss and every final weight must match on each engine: to 1e-5 relative
/// on the GPU (f32 through 21 steps; Adam's m/√v amplifies f32 noise in the smallest gradients, which
/// the absolute 1e-6 on the weights absorbs) and 1e-6 on the reference (f64, but its weights and inputs
/// are rounded to f32 on the way in, as the GPU's are).
#[test]
fn a_run_from_jax_replays_step_for_step() {
    use safetensors::SafeTensors;
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/replay/");
    let start = std::fs::read(format!("{fixtures}replay_tanh_2x8x8x1_adam21.safetensors")).unwrap();
    let trajectory = std::fs::read(format!("{fixtures}replay_tanh_2x8x8x1_adam21.trajectory.safetensors")).unwrap();
    let (start, trajectory) =
        (SafeTensors::deserialize(&start).unwrap(), SafeTensors::deserialize(&trajectory).unwrap());
    let f64s = |st: &SafeTensors, name: &str| -> Vec<f64> {
        st.tensor(name).unwrap().data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
    };
    // The fixture's rows as the CSV a user would have; f64 printed exactly, read as f32 like any CSV.
    let (x, y) = (f64s(&start, "x"), f64s(&start, "y"));
    let mut csv = String::from("x0,x1,label\n");
    for (row, label) in x.chunks_exact(2).zip(&y) {
        csv += &format!("{:?},{:?},{}\n", row[0], row[1], *label as u32);
    }
    std::fs::write(dir.path().join("train.csv"), &csv).unwrap();
    std::fs::write(dir.path().join("test.csv"), csv.lines().take(41).collect::<Vec<_>>().join("\n")).unwrap();
    let want_losses = f64s(&trajectory, "batch_losses");
    assert_eq!(want_losses.len(), 21);

    let mut devices = vec![("cpu", 1e-6)];
    if common::gpu().is_some() {
        devices.push(("gpu", 1e-5));
    }
    for (device, rtol) in devices {
        let out = vanish()
            .current_dir(dir.path())
            .args(["train", "--dataset", "csv:train.csv", "--test-data", "csv:test.csv", "--no-shuffle"])
            .args(["--layers", "8,8", "--activation", "tanh", "--optimizer", "adam", "--lr", "0.001"])
            .args(["--batch-size", "32", "--epochs", "1", "--json", "--save", "final.safetensors", "--device", device])
            .arg("--load")
            .arg(format!("{fixtures}replay_tanh_2x8x8x1_adam21.safetensors"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{device}: {}", String::from_utf8_lossy(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let losses: Vec<f64> =
            json["history"]["batch_losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        common::assert_close(&format!("{device} batch losses"), &losses, &want_losses, 0.0, rtol);
        let saved = std::fs::read(dir.path().join("final.safetensors")).unwrap();
        let saved = SafeTensors::deserialize(&saved).unwrap();
        for (name, _) in trajectory.tensors() {
            let Some(param) = name.strip_prefix("final.") else { continue };
            let got: Vec<f64> = saved
                .tensor(param)
                .unwrap()
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect();
            common::assert_close(&format!("{device} {param}"), &got, &f64s(&trajectory, &name), 1e-6, rtol);
        }
    }
}

/// `--test-data` and `--no-shuffle`'s neighbours: the flags that cannot go together are refused first.
#[test]
fn test_data_needs_a_csv_with_the_training_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("a.csv"), "x0,x1,label\n1,2,a\n3,4,b\n5,6,a\n").unwrap();
    std::fs::write(path("other.csv"), "x0,x9,label\n1,2,a\n3,4,b\n").unwrap();
    std::fs::write(path("new.csv"), "x0,x1,label\n1,2,a\n3,4,c\n").unwrap();
    let train = format!("csv:{}", path("a.csv"));
    let base = ["train", "--device", "cpu", "--depth", "1", "--dataset", &train];
    let with = |test: &str, extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(["--test-data".into(), test.into()])
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |args: Vec<String>, needle: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&args, needle);
    };
    run(with(&format!("csv:{}", path("other.csv")), &[]), "feature columns");
    run(with(&format!("csv:{}", path("new.csv")), &[]), "label `c` is not among the training data's classes");
    run(with("circles", &[]), "--test-data must be csv:PATH");
    run(with(&format!("csv:{}", path("a.csv")), &["--test-fraction", "0.5"]), "--test-fraction");
    fails_with(&["train", "--device", "cpu", "--test-data", &train], "--test-data needs a CSV training set");
}

/// `--clip-grad-norm` on an exploding network (ReLU, N(0, 0.5²) weights: ‖δ‖ doubles per layer): without
/// it the loss is NaN within the first epoch; with it every step is clipped, training stays finite, and
/// the GPU's two paths compute the same pre-clipping norms and losses as the reference (f32: 1e-4
/// relative over two epochs of steps whose every gradient is rescaled).
#[test]
fn gradient_clipping_tames_an_exploding_network_on_every_engine() {
    let base = ["train", "--depth", "10", "--width", "32", "--activation", "relu", "--init", "normal:0.5"];
    let base: Vec<&str> = base.iter().copied().chain(["--optimizer", "sgd", "--lr", "0.01", "--epochs", "2"]).collect();
    fails_with(&[&base[..], &["--device", "cpu"]].concat(), "training diverged");
    let run = |extra: &[&str]| -> Value {
        let out = vanish().args(&base).args(["--clip-grad-norm", "1", "--json"]).args(extra).output().unwrap();
        assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let numbers = |v: &Value, key: &str| -> Vec<f64> {
        v["history"][key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
    };
    let reference = run(&["--device", "cpu"]);
    assert_eq!(reference["clipped_fraction"], 1.0);
    let (losses, norms) = (numbers(&reference, "batch_losses"), numbers(&reference, "grad_norms"));
    assert_eq!((losses.len(), norms.len()), (42, 42));
    assert!(losses.iter().all(|l| l.is_finite()) && norms.iter().all(|&n| n > 1.0), "{norms:?}");
    if common::gpu().is_none() {
        return;
    }
    for path in ["layered", "fused"] {
        let gpu = run(&["--device", "gpu", "--path", path]);
        assert_eq!(gpu["clipped_fraction"], 1.0, "{path}");
        common::assert_close(&format!("{path} losses"), &numbers(&gpu, "batch_losses"), &losses, 0.0, 1e-4);
        common::assert_close(&format!("{path} norms"), &numbers(&gpu, "grad_norms"), &norms, 0.0, 1e-4);
    }
}

/// A signal the process inherits as ignored stays ignored (`nohup` ignores SIGHUP): vanish does not
/// install its handler for it, so SIGHUP does nothing and a later SIGTERM still stops the run gracefully.
#[test]
fn an_inherited_ignored_signal_stays_ignored() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("vanish"));
    cmd.args(["train", "--device", "cpu", "--depth", "2", "--epochs", "100000", "--samples", "200"])
        .env("VANISH_TEST_HOLD_AFTER_STEPS", "10")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: signal() is async-signal-safe; SIG_IGN survives exec, as nohup relies on.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("holding after") {
        assert!(stderr.read_line(&mut log).unwrap() > 0, "ended before holding: {log}");
    }
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals our own child, which is still running (it is holding and we have not waited).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP was ignored: still holding");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143), "{log}");
    assert!(!log.contains("SIGHUP"), "{log}");
}

/// The command line's defaults are the settings types' `Default`s (which the web page starts from), and
/// the page's settings — the same types as JSON — come back as they went.
#[test]
fn flag_defaults_are_the_settings_defaults() {
    use clap::Parser;
    use vanish::cli::{Cli, Command as Sub};
    let parse = |args: &[&str]| Cli::try_parse_from(std::iter::once("vanish").chain(args.iter().copied())).unwrap();
    let Sub::Train(train) = parse(&["train"]).command else { panic!("train") };
    assert_eq!(train.settings, vanish::train::TrainSettings::default());
    let Sub::Demo(demo) = parse(&["demo"]).command else { panic!("demo") };
    assert_eq!(demo.settings, vanish::demo::DemoSettings::default());
    let Sub::Sweep(sweep) = parse(&["sweep", "--out", "x"]).command else { panic!("sweep") };
    assert_eq!(sweep.options, vanish::sweep::SweepOptions::default());
    let Sub::Train(changed) =
        parse(&["train", "--depth", "3", "--activation", "relu,tanh,gelu", "--no-shuffle"]).command
    else {
        panic!("train")
    };
    let json = serde_json::to_string(&changed.settings).unwrap();
    let back: vanish::train::TrainSettings = serde_json::from_str(&json).unwrap();
    assert_eq!(back, changed.settings, "{json}");
    assert!(!back.shuffle);
}
