//! The web page (`web/`, built by `bash web/build.sh`) in a real browser: Debian's Chromium, headless,
//! driven by `web/test/drive.mjs` (puppeteer-core). The notebook button trains on the browser's WebGPU
//! adapter and gives `vanish demo --json`'s object with the CLI's numbers; a bad CSV gets the CLI's
//! message; `vanish check --quick` passes on that adapter; the JAX fixtures' gradients agree there as
//! natively; the page requests nothing but its own files; a screenshot lands in `target/web-test/`.
//! Skips, visibly, without Chromium, Node, the built page or its test dependencies, unless
//! `VANISH_REQUIRE_WEB=1` (CI sets it), when that is a failure.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

/// One browser at a time: two headless Chromiums on SwiftShader starve each other on CI's two cores.
static BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What the page's test needs, or why it cannot run.
fn ready() -> Result<(), String> {
    let web = root().join("web");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    for (path, what) in [
        (PathBuf::from(&chromium), "Chromium (apt-get install chromium)"),
        (web.join("dist/vanish_bg.wasm"), "the built page (bash web/build.sh)"),
        (web.join("node_modules/puppeteer-core"), "the page test's dependencies (cd web && npm ci)"),
    ] {
        if !path.exists() {
            return Err(format!("no {what}: {} is missing", path.display()));
        }
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Err("no Node.js (node) on PATH".into());
    }
    Ok(())
}

fn demo_cli(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vanish"))
        .args(["demo", "--json"])
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(what: &str, got: f64, want: f64, rtol: f64) {
    assert!((got - want).abs() <= rtol * want.abs(), "{what}: page {got:e}, CLI {want:e} (rtol {rtol:e})");
}

#[test]
fn the_page_runs_the_notebook_on_webgpu_with_the_clis_numbers() {
    if let Err(why) = ready() {
        if std::env::var("VANISH_REQUIRE_WEB").as_deref() == Ok("1") {
            panic!("VANISH_REQUIRE_WEB=1 but {why}");
        }
        common::skip(&why);
        return;
    }
    let out_dir = root().join("target/web-test");
    std::fs::create_dir_all(&out_dir).unwrap();
    let bad = out_dir.join("bad.csv");
    std::fs::write(&bad, "x,y,label\n1,2,0\n3,abc,1\n").unwrap();
    // 300 + 100 real digits as MNIST's IDX files, for the page's file picker.
    let mnist_dir = out_dir.join("mnist");
    let _ = std::fs::remove_dir_all(&mnist_dir);
    let digits = common::mnist_digits();
    if let Some(digits) = digits {
        std::fs::create_dir_all(&mnist_dir).unwrap();
        common::write_idx(&mnist_dir, &digits[..400], 300, true, "");
    }
    let mut args = vec![out_dir.clone(), bad.clone(), root().join("tests/fixtures")];
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    if digits.is_some() {
        args.push(mnist_dir.clone());
    }
    let run = Command::new("node").arg(root().join("web/test/drive.mjs")).args(&args).output().expect("node runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "drive.mjs failed:\n{stderr}");
    let page: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    eprintln!(
        "page: notebook in {:.2} s (again in the same page {:.2} s) on {}",
        page["seconds"].as_f64().unwrap_or(f64::NAN),
        page["seconds_again"].as_f64().unwrap_or(f64::NAN),
        page["demo"]["config"]["engine"]
    );

    // Offline and self-contained: only the page's own files were asked for.
    assert_eq!(page["foreign"], serde_json::json!([]), "requests outside the page's server");
    let mut served: Vec<&str> = page["served"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    served.sort();
    let files = ["/", "/app.js", "/network.js", "/vanish.js", "/vanish_bg.wasm"];
    let mut want: Vec<&str> = [files, files].concat();
    want.sort();
    assert_eq!(served, want, "the page's five files, once per page load (two loads)");
    assert!(
        page["console"].as_array().unwrap().iter().all(|m| !m.as_str().unwrap().contains("error")),
        "{}",
        page["console"]
    );

    // The theory panel shows `vanish theory --json`'s numbers, recomputed as σ_w² changes (wasm's exp and
    // tanh are not glibc's: equal to 1e-9), and names a bad value.
    for (shown, sigma_w2) in [(&page["theory_loaded"], "1.76"), (&page["theory"], "4")] {
        let cli = Command::new(assert_cmd::cargo::cargo_bin("vanish"))
            .args(["theory", "--activation", "tanh", "--sigma-w2", sigma_w2, "--sigma-b2", "0.05", "--json"])
            .output()
            .unwrap();
        let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
        assert_eq!(shown["phase"], cli["phase"], "σ_w² {sigma_w2}");
        for field in ["q_star", "chi_1", "c_star", "chi_c", "xi_c", "critical_sigma_w2"] {
            let (got, want) = (shown[field].as_f64().unwrap(), cli[field].as_f64().unwrap());
            close(&format!("page's {field} at σ_w² {sigma_w2}"), got, want, 1e-9);
        }
    }
    let table = page["theory_table"].as_array().unwrap();
    assert!(table.iter().any(|r| r.as_str().unwrap().starts_with("ξ_c")), "{table:?}");
    assert!(page["theory_bad"]["error"].as_str().unwrap().contains("σ_w²"), "{}", page["theory_bad"]);

    // The browser's WebGPU adapter trained the four networks.
    assert!(page["webgpu"].is_string(), "Chromium offers no WebGPU adapter: {}", page["webgpu"]);
    let demo = &page["demo"];
    assert!(page["error"].is_null(), "{}", page["error"]);
    let engine = demo["config"]["engine"].as_str().unwrap();
    assert!(engine.starts_with("gpu: ") && engine.contains("BrowserWebGpu"), "{engine}");
    // The report's plots but the one against depth (the notebook's networks have one depth: a lone dot).
    assert_eq!(page["plots"], 4, "the report's four plots of one depth");
    assert!(page["text"].as_str().unwrap().contains("Conclusion (computed from the numbers above)"));
    assert_eq!(page["again_equal"], true, "a second run in the same page gives the same numbers");

    // The same object as `vanish demo --json`, with the CLI's CPU reference numbers.
    let cli = demo_cli(&["--device", "cpu"]);
    let mut config = demo["config"].clone();
    config["engine"] = cli["config"]["engine"].clone();
    assert_eq!(config, cli["config"], "the same configuration");
    let (runs, want) = (demo["runs"].as_array().unwrap(), cli["runs"].as_array().unwrap());
    assert_eq!(runs.len(), 4);
    for (r, w) in runs.iter().zip(want) {
        let name = r["name"].as_str().unwrap();
        assert_eq!(r["name"], w["name"]);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(r), keys(w), "{name}: the CLI's fields");
        // At initialisation f32 against f64: the GPU's gradients match to 1e-4 relative per tensor
        // (tests/training.rs); 1e-3 leaves room for the ratio of two of them.
        for key in ["grad_norms_init", "delta_norms_init"] {
            for (i, (g, x)) in r[key].as_array().unwrap().iter().zip(w[key].as_array().unwrap()).enumerate() {
                close(&format!("{name} {key}[{i}]"), g.as_f64().unwrap(), x.as_f64().unwrap(), 1e-3);
            }
        }
        close(
            &format!("{name} first_last_ratio"),
            r["first_last_ratio"].as_f64().unwrap(),
            w["first_last_ratio"].as_f64().unwrap(),
            1e-3,
        );
        // After 21 Adam steps in f32: the loss to 1e-3, as the native GPU engine's.
        close(
            &format!("{name} loss_after"),
            r["loss_after"].as_f64().unwrap(),
            w["loss_after"].as_f64().unwrap(),
            1e-3,
        );
    }
    let ratio = |i: usize| runs[i]["first_last_ratio"].as_f64().unwrap();
    assert!(ratio(0) < 1e-6, "sigmoid's first/last ratio {}", ratio(0));
    assert!(ratio(2) > 1e-3 && ratio(3) > 1e-3, "ReLU {} and batch norm {}", ratio(2), ratio(3));

    // Responsive while training: a 20 ms timer kept firing between the awaited steps and readbacks.
    let ticks = page["ticks"].as_u64().unwrap();
    assert!(ticks >= 3, "the page's event loop ran {ticks} timer ticks during the notebook");
    // And it shows the run as it trains: the report's plots redrawn after 7 and 14 of the 21 steps.
    assert_eq!(page["redraws"], 2, "plots redrawn after each chunk of steps but the last");
    let live = page["live_plots"].as_array().unwrap();
    assert!(
        live.iter().all(|l| l.as_array().unwrap().len() == 4),
        "every redraw has the four plots, boundaries too: {live:?}"
    );
    // The run as the CLI's files: demo.json, runs.csv, summary.json and each network's final weights,
    // which the CLI loads (`train --load`) with the numbers the page shows.
    let downloads: Vec<&str> = page["downloads"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(downloads[..3], ["demo.json", "runs.csv", "summary.json"]);
    assert_eq!(downloads.iter().filter(|d| d.ends_with(".safetensors")).count(), 4, "{downloads:?}");
    let weights = out_dir.join(page["weights"]["file"].as_str().unwrap());
    let bytes = base64::engine::general_purpose::STANDARD.decode(page["weights"]["base64"].as_str().unwrap()).unwrap();
    std::fs::write(&weights, bytes).unwrap();
    let file = vanish::interchange::TensorFile::read(&weights).unwrap();
    let model = vanish::interchange::read_model(&file, None).unwrap();
    let row0: Vec<f64> = model.values[model.spec.layout().weight(0).range()][..2].to_vec();
    let shown: Vec<f64> = runs[0]["w1_row_after"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(row0, shown, "the saved weights are the ones the page shows after training");
    let load = Command::new(env!("CARGO_BIN_EXE_vanish"))
        .args(["train", "--device", "cpu", "--epochs", "0", "--activation", "sigmoid", "--load"])
        .arg(&weights)
        .output()
        .unwrap();
    assert!(load.status.success(), "the CLI loads the page's weights: {}", String::from_utf8_lossy(&load.stderr));

    // Without WebGPU (`navigator.gpu` removed) the page says so and runs the CPU reference, in f64
    // compiled to WebAssembly: the CLI's CPU numbers to round-off (libm's exp and tanh may differ).
    assert!(page["fallback_error"].is_null(), "{}", page["fallback_error"]);
    assert!(page["fallback_ready"].as_str().unwrap().contains("no WebGPU"), "{}", page["fallback_ready"]);
    assert!(
        page["fallback_text"].as_str().unwrap().contains("no WebGPU adapter in this browser"),
        "{}",
        page["fallback_text"]
    );
    let fallback = &page["fallback"];
    assert_eq!(fallback["config"]["engine"], "cpu reference (f64)");
    for (r, w) in fallback["runs"].as_array().unwrap().iter().zip(want) {
        let name = r["name"].as_str().unwrap();
        for key in ["first_last_ratio", "loss_after", "decay_per_layer"] {
            close(&format!("{name} {key} (CPU in the page)"), r[key].as_f64().unwrap(), w[key].as_f64().unwrap(), 1e-9);
        }
    }

    // A bad CSV gets the CLI's message (the page names the file as the visitor picked it).
    let page_err = page["csv_error"].as_str().unwrap();
    assert_eq!(page_err, "bad.csv:3: column 2 `y`: `abc` is not a number");
    let cli = Command::new(env!("CARGO_BIN_EXE_vanish"))
        .args(["demo", "--device", "cpu", "--dataset"])
        .arg(format!("csv:{}", bad.display()))
        .output()
        .unwrap();
    let cli_err = String::from_utf8_lossy(&cli.stderr);
    assert!(cli_err.contains(&format!("{}:3: column 2 `y`: `abc` is not a number", bad.display())), "{cli_err}");

    // One network trained in the page (tanh + layer norm, SGD with momentum, clipping, two epochs):
    // `vanish train --json`'s metrics.json object, its first steps as the CLI's reference takes them.
    // (Over 42 steps of SGD at lr 0.05 with momentum 0.9, f32 and f64 part by about 2%, so only the
    // first steps are compared closely.)
    assert!(page["train_error"].is_null(), "{}", page["train_error"]);
    let train = &page["train"];
    let cli = Command::new(env!("CARGO_BIN_EXE_vanish"))
        .args(["train", "--activation", "tanh", "--norm", "layer", "--optimizer", "sgd", "--momentum", "0.9"])
        .args(["--lr", "0.05", "--clip-grad-norm", "1", "--epochs", "2", "--histograms", "--device", "cpu", "--json"])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let want: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(train), keys(&want), "metrics.json's fields");
    // (JavaScript has one number type: the page's 1.0 comes back as 1, so numbers compare as f64.)
    assert_eq!(floats(&train["config"]), floats(&want["config"]), "the same run");
    let (got, expect) =
        (train["history"]["batch_losses"].as_array().unwrap(), want["history"]["batch_losses"].as_array().unwrap());
    assert_eq!(got.len(), 42);
    close("first loss", got[0].as_f64().unwrap(), expect[0].as_f64().unwrap(), 1e-5);
    for i in 1..5 {
        close(&format!("loss of step {i}"), got[i].as_f64().unwrap(), expect[i].as_f64().unwrap(), 1e-3);
    }
    let (f, g) = (train["clipped_fraction"].as_f64().unwrap(), want["clipped_fraction"].as_f64().unwrap());
    assert!((f - g).abs() < 0.1, "clipped fraction: page {f}, CLI {g}");
    // With the histograms box ticked: each probe's histograms, the CLI's count of values in each, and
    // Glorot & Bengio's figures among the plots.
    let hists = |v: &Value| -> Vec<u64> {
        let probes = v["history"]["probes"].as_array().unwrap();
        let layers = probes.iter().flat_map(|p| p["probe"]["histograms"].as_array().unwrap().iter());
        let total = |h: &Value| {
            h["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>()
                + h["below"].as_u64().unwrap()
                + h["above"].as_u64().unwrap()
        };
        layers.flat_map(|l| ["pre_activation", "activation", "delta", "grad_w"].map(|q| total(&l[q]))).collect()
    };
    assert!(!hists(&want).is_empty(), "the CLI's probes have histograms");
    assert_eq!(hists(train), hists(&want), "every layer's values counted, probe by probe");
    let figures = page["train_figures"].as_array().unwrap();
    assert!(
        figures.iter().any(|c| c.as_str().unwrap().starts_with("Per-layer histograms at initialisation: ")),
        "{figures:?}"
    );

    // MNIST through the file picker, 784→100×2→10 ReLU: the page's GPU trains it on the tiled kernels,
    // with the numbers the CLI's reference gives the same files.
    if digits.is_some() {
        assert!(page["mnist_error"].is_null(), "{}", page["mnist_error"]);
        let mnist = &page["mnist_train"];
        let engine = mnist["history"]["engine"].as_str().unwrap();
        assert!(engine.contains("BrowserWebGpu") && engine.contains("tiled path"), "{engine}");
        let cli = Command::new(env!("CARGO_BIN_EXE_vanish"))
            .args(["train", "--dataset", &format!("mnist:{}", mnist_dir.display()), "--width", "100", "--depth", "2"])
            .args(["--activation", "relu", "--epochs", "1", "--device", "cpu", "--json"])
            .output()
            .unwrap();
        assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
        let want: Value = serde_json::from_slice(&cli.stdout).unwrap();
        let mut config = floats(&mnist["config"]);
        config["dataset"] = floats(&want["config"])["dataset"].clone();
        assert_eq!(config, floats(&want["config"]), "the same run");
        let (got, expect) =
            (mnist["history"]["batch_losses"].as_array().unwrap(), want["history"]["batch_losses"].as_array().unwrap());
        assert_eq!(got.len(), expect.len());
        // Ten Adam steps of a 784-wide first layer in f32 against f64.
        for i in 0..got.len() {
            close(&format!("MNIST loss of step {i}"), got[i].as_f64().unwrap(), expect[i].as_f64().unwrap(), 1e-3);
        }
    }

    // The page's preset: glorot-tanh's two checks reproduced, printed as the CLI prints them.
    assert!(page["preset_error"].is_null(), "{}", page["preset_error"]);
    let checks = page["preset_sweep"]["summary"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true && c["preset"] == "glorot-tanh"), "{checks:?}");
    assert_eq!(page["preset_text"].as_str().unwrap().matches("[REPRODUCED] glorot-tanh").count(), 2);

    // The page's sweep over depths 1..=3 (sigmoid, tanh, ReLU, without and with batch norm): the CLI's
    // configurations and verdicts, and its per-layer factors of ‖δ‖ at initialisation within 1e-3.
    assert!(page["sweep_error"].is_null(), "{}", page["sweep_error"]);
    let sweep = &page["sweep"];
    assert_eq!(sweep["runs"], 18);
    assert!(sweep["engine"].as_str().unwrap().contains("BrowserWebGpu"), "{}", sweep["engine"]);
    let dir = tempfile::tempdir().unwrap();
    let cli = Command::new(env!("CARGO_BIN_EXE_vanish"))
        .args(["sweep", "--depths", "1..=3", "--activations", "sigmoid,tanh,relu", "--norms", "none,batch"])
        .args(["--seeds", "1", "--device", "cpu", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let want: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    let (got, want) =
        (sweep["summary"]["configurations"].as_array().unwrap(), want["configurations"].as_array().unwrap());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g["label"], &g["verdict"]), (&w["label"], &w["verdict"]));
        if let (Some(a), Some(b)) = (g["decay_factor"].as_f64(), w["decay_factor"].as_f64()) {
            close(&format!("{} decay factor", g["label"]), a, b, 1e-3);
        }
    }

    // `vanish check --quick` in the page, on its WebGPU adapter: every case, every tensor within bounds.
    let check = &page["check"];
    assert!(page["check_error"].is_null(), "{}", page["check_error"]);
    let cases = check["cases"].as_array().unwrap();
    assert_eq!(cases.len(), vanish::check::quick_suite().len(), "the whole quick suite");
    assert!(check["engine"].as_str().unwrap().contains("BrowserWebGpu"), "{}", check["engine"]);
    for c in cases {
        let tensors = c["tensors"].as_array().unwrap();
        assert!(tensors.len() > 3, "{}: every tensor reported", c["name"]);
        for t in tensors.iter().filter(|t| t["passed"] != true) {
            eprintln!("{} {}: {t}", c["name"], t["name"]);
        }
    }
    assert_eq!((check["passed"].as_u64(), check["failed"].as_u64()), (Some(cases.len() as u64), Some(0)));

    // `vanish grads` in the page against every JAX fixture, with the native GPU's tolerances
    // (tests/training.rs: loss 1e-5, each gradient tensor 1e-4 relative, a bias before batch norm
    // absolutely against its layer's weight gradient).
    let fixtures = common::fixture_names();
    assert!(fixtures.len() >= 8, "{fixtures:?}");
    for name in &fixtures {
        let got = &page["fixtures"][name.as_str()];
        assert!(got["error"].is_null(), "{name}: {}", got["error"]);
        let f = common::load_fixture(name);
        close(&format!("{name} loss"), got["loss"].as_f64().unwrap(), f.loss, 1e-5);
        let values = |key: &str| -> Vec<f64> {
            let v = got["tensors"][key].as_array().unwrap_or_else(|| panic!("{name}: no {key}"));
            v.iter().map(|x| x.as_f64().unwrap()).collect()
        };
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let layout = f.spec.layout();
        for slot in &layout.params {
            let key = format!("grad.{}", slot.name);
            let (g, w) = (values(&key), &f.expected[&key]);
            let err: Vec<f64> = g.iter().zip(w).map(|(a, b)| a - b).collect();
            if slot.name.ends_with(".bias") && f.spec.has_bn(slot.layer) {
                let scale = norm(&f.expected[&format!("grad.{}", layout.weight(slot.layer).name)]);
                assert!(norm(&err) <= 1e-5 * scale, "{name} {key}: {} vs scale {scale}", norm(&err));
            } else {
                let rel = norm(&err) / norm(w);
                assert!(rel <= 1e-4, "{name} {key}: relative error {rel:e}");
            }
        }
        let logits = values("logits");
        for (i, (g, w)) in logits.iter().zip(&f.expected["logits"]).enumerate() {
            assert!((g - w).abs() <= 1e-5 + 1e-5 * w.abs(), "{name} logits[{i}]: {g} vs {w}");
        }
    }

    // The screenshot, for CI's artifacts and the README.
    let png = std::fs::read(out_dir.join("page.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
    assert!(Path::new(&out_dir).join("page.png").exists());
}

/// `v` with every number as an f64, so `1` and `1.0` compare equal.
fn floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(floats).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), floats(v))).collect()),
        other => other.clone(),
    }
}

/// The page as a teacher uses it (`web/test/playground.mjs`): a first result on load, feedback at the first
/// click, the network picture with the demo's numbers, pinned runs in one overlay, a setup carried by a
/// link, Play/Pause/Step/Reset, errors in the page's words, text of 12 px or more, and a phone layout.
#[test]
fn the_page_is_a_gradient_flow_playground() {
    if let Err(why) = ready() {
        if std::env::var("VANISH_REQUIRE_WEB").as_deref() == Ok("1") {
            panic!("VANISH_REQUIRE_WEB=1 but {why}");
        }
        common::skip(&why);
        return;
    }
    let out_dir = root().join("target/web-test/playground");
    std::fs::create_dir_all(&out_dir).unwrap();
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let run =
        Command::new("node").arg(root().join("web/test/playground.mjs")).arg(&out_dir).output().expect("node runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "playground.mjs failed:\n{stderr}");
    let page: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert!(page["fatal"].is_null(), "the drive stopped: {}\n{page}", page["fatal"]);
    let errors: Vec<&str> = page["console"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .filter(|m| m.contains("error"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();

    // On load, before any click: the default network trained on the CPU reference.
    let first = &page["first"];
    assert!(text(&first["history"]["engine"]).contains("cpu reference"), "{}", first["history"]["engine"]);
    assert_eq!(first["history"]["batch_losses"].as_array().unwrap().len(), 21, "the whole epoch");
    // The first click answers at once, and the first GPU action says that the kernels compile.
    let click = &page["first_click"];
    assert!(click["ms"].as_f64().unwrap() < 100.0, "{click}");
    assert_ne!(click["before"], click["after"], "{click}");
    assert!(text(&click["after"]).contains("Compiling the GPU kernels (first run only)"), "{click}");
    assert_eq!(click["indeterminate"], true, "the bar turns indeterminate: {click}");

    // The network picture after the notebook, at initialisation: `vanish demo --json`'s numbers.
    assert!(page["error"].is_null(), "{}", page["error"]);
    let cli = demo_cli(&["--device", "cpu"]);
    let nets = page["network_init"].as_array().unwrap();
    let runs = cli["runs"].as_array().unwrap();
    assert_eq!(nets.len(), runs.len(), "one network per demo run");
    for (net, run) in nets.iter().zip(runs) {
        let name = text(&run["name"]);
        assert_eq!(text(&net["label"]), name);
        let layers = net["layers"].as_array().unwrap();
        assert_eq!(layers[0]["name"], "input");
        assert_eq!(layers.last().unwrap()["name"], "output");
        for (key, cli_key) in [("delta", "delta_norms_init"), ("grad_w", "grad_norms_init")] {
            let want = run[cli_key].as_array().unwrap();
            assert_eq!(layers.len() - 1, want.len(), "{name}: a column per dense layer and the input");
            for (i, (l, w)) in layers[1..].iter().zip(want).enumerate() {
                close(
                    &format!("{name} {key}[{i}] in the picture"),
                    l[key].as_f64().unwrap(),
                    w.as_f64().unwrap(),
                    1e-3,
                );
            }
        }
    }
    // The theory's ‖δ‖ is drawn where it has one: every layer of the plain sigmoid network.
    assert!(nets[0]["layers"].as_array().unwrap()[1..].iter().all(|l| l["predicted"].is_f64()), "{}", nets[0]);
    assert!(text(&page["headline"]).contains("receives"), "{}", page["headline"]);
    assert_ne!(page["network_after"], page["network_init"], "the picture after training differs");

    // Pin the four, train another and pin it: all five in the overlay.
    assert!(page["train_error"].is_null(), "{}", page["train_error"]);
    assert_eq!(page["pins"].as_array().unwrap().len(), 5, "{}", page["pins"]);
    assert_eq!(page["overlay_runs"].as_array().unwrap().len(), 5, "{}", page["overlay_runs"]);
    // A change greys the results, goes into the link, and re-runs the single network.
    assert_eq!(page["stale_after_change"], true);
    assert!(text(&page["hash_after_change"]).contains("depth=4"), "{}", page["hash_after_change"]);
    assert_eq!(page["rerun_depth"], 4);
    // Errors name the control, and the status says the run failed.
    let width = &page["width_error"];
    assert!(text(&width["error"]).contains("width must be at least 1 (it is -3)"), "{width}");
    assert!(text(&width["status"]).starts_with("Run failed"), "{width}");
    assert!(text(&page["depth_error"]).contains("depth must be at least 1"), "{}", page["depth_error"]);
    // The cures side by side, each pinned.
    assert!(page["compare_error"].is_null(), "{}", page["compare_error"]);
    let compare = page["compare"].as_array().unwrap();
    let labels: Vec<String> = compare.iter().map(|c| text(&c["label"])).collect();
    assert_eq!(labels, ["sigmoid", "relu", "sigmoid + batch norm", "residual sigmoid"]);
    let ratio = |i: usize| compare[i]["first_last"].as_f64().unwrap();
    assert!(ratio(1) > 100.0 * ratio(0), "ReLU {} against sigmoid {}", ratio(1), ratio(0));
    assert_eq!(page["pins_after_compare"], 9);

    // A link sets the controls and trains what `vanish train` trains.
    assert!(page["link_error"].is_null(), "{}", page["link_error"]);
    assert_eq!(page["link_controls"], serde_json::json!(["tanh", "5", "8", "sgd", "0.05"]));
    let cli = Command::new(env!("CARGO_BIN_EXE_vanish"))
        .args(["train", "--activation", "tanh", "--depth", "5", "--width", "8", "--epochs", "2", "--seed", "3"])
        .args(["--optimizer", "sgd", "--lr", "0.05", "--device", "cpu", "--json"])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let want: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(floats(&page["link_train"]["config"]), floats(&want["config"]), "the same run");
    let (got, expect) = (
        page["link_train"]["history"]["batch_losses"].as_array().unwrap(),
        want["history"]["batch_losses"].as_array().unwrap(),
    );
    assert_eq!(got.len(), expect.len());
    close("the link's first loss", got[0].as_f64().unwrap(), expect[0].as_f64().unwrap(), 1e-5);
    for i in 1..5 {
        close(&format!("the link's loss of step {i}"), got[i].as_f64().unwrap(), expect[i].as_f64().unwrap(), 1e-3);
    }
    // Play trains on; Pause holds it; Step trains one look (at most 7 steps) and pauses; Reset shows step 0.
    let pause = &page["pause"];
    assert_eq!(pause["at"], pause["after_a_second"], "paused: {pause}");
    let step = &page["step"];
    let moved = step["to"].as_u64().unwrap() - step["from"].as_u64().unwrap();
    assert!((1..=7).contains(&moved), "Step moved {moved} steps");
    assert!(page["reset"]["error"].is_null(), "{}", page["reset"]);
    assert_eq!(page["reset"]["steps"], 0, "{}", page["reset"]);
    assert!(text(&page["bad_link"]).contains("“colour”, which is not a setting"), "{}", page["bad_link"]);

    // Legible and laid out: text of 12 px or more on screen, no sideways scroll, touch-sized controls.
    for key in ["text_desktop", "text_phone"] {
        assert!(page[key]["px"].as_f64().unwrap() >= 12.0, "{key}: {}", page[key]);
    }
    for key in ["scroll_desktop", "phone_scroll", "phone_scroll_open"] {
        assert!(page[key].as_f64().unwrap() <= 0.0, "{key}: the page scrolls sideways by {} px", page[key]);
    }
    assert_eq!(page["phone_drawer_closed"], true, "a phone starts with the settings folded");
    // Play during the background compile answers at once and says that the kernels compile.
    assert!(
        text(&page["phone_play"]).starts_with("Compiling the GPU kernels (first run only), then playing"),
        "{}",
        page["phone_play"]
    );
    assert_eq!(page["phone_targets"], serde_json::json!([]), "touch targets under 40 px");
    let aria = &page["aria"];
    assert_eq!(aria["status"], "polite");
    assert!(aria["progress"].is_string());
    assert!(aria["svgs"].as_array().unwrap().iter().all(|s| s == true), "every SVG has a text alternative: {aria}");
    for shot in ["desktop.png", "phone.png"] {
        let png = std::fs::read(out_dir.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{shot}: a real screenshot");
    }
}
