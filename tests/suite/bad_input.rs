//! Nothing lost, nothing replaced, nothing aborts: every output is checked before any work (never a device,
//! an input, another output, or what vanish did not write for this command, unless `--force`), every size
//! before it is allocated, every extreme value of every flag ends in a result or a clear message within
//! seconds, and nothing outside the named outputs changes.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn vanish(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("vanish").unwrap();
    cmd.current_dir(dir).env("XDG_RUNTIME_DIR", std::env::temp_dir());
    cmd
}

/// Runs `args` in `dir`; the output.
fn run(dir: &Path, args: &[&str]) -> Output {
    vanish(dir).args(args).timeout(Duration::from_secs(120)).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Expects `args` to fail with exit 1, `needle` in its message, no panic, and `dir` unchanged.
fn refused(dir: &Path, args: &[&str], needle: &str) {
    let before = common::files_under(dir);
    let out = run(dir, args);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
    assert!(said.contains(needle), "{args:?}: expected `{needle}` in:\n{said}");
    assert!(!said.contains("panicked"), "{args:?} panicked:\n{said}");
    assert_eq!(common::files_under(dir), before, "{args:?} changed files it was refused");
}

fn succeeds(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    text(&out)
}

const TRAIN: [&str; 6] = ["train", "--device", "cpu", "--depth", "2", "--samples"];

fn train(extra: &[&str]) -> Vec<String> {
    TRAIN.iter().chain(&["60"]).chain(extra).map(|s| s.to_string()).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn outputs_never_replace_what_is_not_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    #[cfg(unix)]
    refused(d, &strs(&train(&["--save-init", "/dev/null"])), "/dev/null: it is a device, not a regular file");
    // An output that is an input of the same command.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tanh_2x7x7x7x1_n9.safetensors");
    std::fs::copy(fixture, d.join("b.safetensors")).unwrap();
    refused(d, &["grads", "--device", "cpu", "--load", "b.safetensors", "--out", "b.safetensors"], "an input");
    // Two outputs at one path, or a file inside a results folder under a report file's name.
    refused(d, &strs(&train(&["--save-init", "w.st", "--save", "w.st"])), "--save-init and --save both name");
    refused(d, &strs(&train(&["--out", "o", "--save", "o/metrics.json"])), "--out and --save both name");
    // A file vanish did not write, and a folder of someone else's files.
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    refused(d, &strs(&train(&["--save", "notes.txt"])), "pass --force");
    refused(d, &["grads", "--device", "cpu", "--load", "b.safetensors", "--out", "notes.txt"], "pass --force");
    std::fs::create_dir(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/data.txt"), "mine").unwrap();
    refused(d, &strs(&train(&["--out", "mine"])), "holds no vanish results");
    refused(d, &["merge", "b.safetensors", "--out", "mine"], "not a sweep folder");

    // The same command again replaces its own results; other settings, or another command, are refused.
    succeeds(d, &strs(&train(&["--out", "run", "--save", "w.st"])));
    succeeds(d, &strs(&train(&["--out", "run", "--save", "w.st"])));
    refused(d, &strs(&train(&["--out", "run", "--epochs", "2"])), "another command, or other settings");
    refused(d, &strs(&train(&["--epochs", "2", "--save", "w.st"])), "pass --force");
    refused(d, &["sweep", "--device", "cpu", "--depths", "2", "--samples", "60", "--out", "run"], "vanish train");
    // --force: the other command's files go, so the folder never mixes two runs; the user's stay.
    std::fs::write(d.join("run/mine.txt"), "mine").unwrap();
    succeeds(d, &["sweep", "--device", "cpu", "--depths", "2", "--samples", "60", "--out", "run", "--force"]);
    let left = common::files_under(&d.join("run"));
    assert!(left.contains_key("sweep.json") && left.contains_key("mine.txt"), "{:?}", left.keys());
    for gone in ["metrics.json", "epochs.csv", "probes.csv", "vanish.json"] {
        assert!(!left.contains_key(gone), "the train's {gone} was left beside the sweep: {:?}", left.keys());
    }
    succeeds(d, &strs(&train(&["--save", "notes.txt", "--force"])));
    assert_ne!(std::fs::read(d.join("notes.txt")).unwrap(), b"mine");
    // Missing parent folders are created.
    succeeds(d, &strs(&train(&["--out", "new/a/b", "--save", "new/w/final.st"])));
    assert!(d.join("new/a/b/metrics.json").is_file() && d.join("new/w/final.st").is_file());
}

/// Every size is computed with checked arithmetic and compared with the host's memory before anything is
/// allocated: one line with the estimate and what is available, exit 1, in seconds, and no folder left.
#[test]
fn oversize_requests_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let max = u64::MAX.to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--device", "cpu", "--depth", &max], "host memory"),
        (vec!["train", "--device", "cpu", "--width", &max], "host memory"),
        (vec!["train", "--device", "cpu", "--epochs", &max, "--samples", "10"], "host memory"),
        (vec!["train", "--device", "cpu", "--epochs", "2000000000", "--samples", "10"], "host memory"),
        (vec!["train", "--device", "cpu", "--depth", "100000000", "--width", "1"], "host memory"),
        (vec!["demo", "--device", "cpu", "--width", &max], "host memory"),
        (vec!["demo", "--device", "cpu", "--epochs", "2000000000"], "host memory"),
        (vec!["sweep", "--device", "cpu", "--seeds", "1000000000", "--out", "s1"], "host memory"),
        (vec!["sweep", "--device", "cpu", "--depths", "1..=100000", "--out", "s2"], "host memory"),
    ];
    let depths = format!("1..={max}");
    let mut cases = cases;
    cases.push((vec!["sweep", "--device", "cpu", "--depths", &depths, "--out", "s3"], "at most"));
    for (args, needle) in cases {
        let started = Instant::now();
        refused(d, &args, needle);
        assert!(started.elapsed() < Duration::from_secs(30), "{args:?} took {:?}", started.elapsed());
    }
    assert!(common::files_under(d).is_empty(), "a refused sweep left its folder");
}

/// A deep narrow network trains in seconds: on the reference in linear time, and on the GPU on the fused
/// kernel with its layer table in a storage buffer (one dispatch per step, a fixed number of buffers);
/// the layered path refuses it with the reason.
#[test]
fn deep_models_train_or_are_refused_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    succeeds(dir.path(), &["train", "--device", "cpu", "--depth", "10000", "--width", "1", "--samples", "10"]);
    assert!(started.elapsed() < Duration::from_secs(60), "depth 10,000 on the reference took {:?}", started.elapsed());
    if common::gpu().is_some() {
        let started = Instant::now();
        let out = run(dir.path(), &["train", "--device", "gpu", "--depth", "10000", "--width", "1", "--samples", "10"]);
        let said = text(&out);
        assert!(out.status.success() && said.contains("fused path"), "{said}");
        // The layered path, kept for comparison, keeps bind groups per layer: it stops at the uniform
        // table's 682 layers and names the path that goes deeper.
        let args =
            ["train", "--device", "gpu", "--path", "layered", "--depth", "700", "--width", "1", "--samples", "10"];
        let out = run(dir.path(), &args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains("builds up to 682 layers") && said.contains("--path auto"), "{said}");
        assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    }
}

/// A run's identity comes from the exact value of each setting, so every valid value resumes.
#[test]
fn extreme_sweep_values_resume() {
    let dir = tempfile::tempdir().unwrap();
    for values in [["--clip-grad-norm", "1e-30"], ["--residual-scale", "1e-25"]] {
        let mut args = vec!["sweep", "--device", "cpu", "--depths", "2", "--activations", "relu", "--samples", "60"];
        if values[0] == "--residual-scale" {
            args.extend(["--residual", "on"]);
        }
        args.extend(values);
        args.extend(["--out", values[0].trim_start_matches('-')]);
        succeeds(dir.path(), &args);
        let again = succeeds(dir.path(), &args);
        assert!(again.contains("1 of 1 runs were already complete"), "{values:?} did not resume:\n{again}");
    }
}

/// Values that f32 cannot hold are refused where they enter, naming the flag, column or tensor.
#[test]
fn inputs_are_named_as_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    refused(d, &strs(&train(&["--lr", "1e-320"])), "--lr must be finite and > 0, within f32's normal range");
    refused(d, &strs(&train(&["--clip-grad-norm", "1e39"])), "--clip-grad-norm");
    refused(d, &strs(&train(&["--noise", "1e39"])), "past f32's range");
    // A divergence from huge starting weights blames them, not the learning rate.
    let out = run(d, &["train", "--device", "cpu", "--samples", "60", "--activation", "relu", "--init", "normal:1e30"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the starting weights reach "), "{}", text(&out));
    // Labels compared as numbers: `1` and `1.0` are one class, `0` and `-0` another; a column with a
    // value per row is not a class column.
    let labels = ["1", "1.0", "0", "-0"];
    let rows: String = (0..40).map(|i| format!("{}.0,{},{}\n", i % 7, i % 3, labels[i % 4])).collect();
    std::fs::write(d.join("two.csv"), format!("a,b,label\n{rows}")).unwrap();
    let out = succeeds(d, &["train", "--device", "cpu", "--depth", "1", "--dataset", "csv:two.csv", "--json"]);
    let metrics: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(metrics["config"]["spec"]["output"], "Binary", "two classes: {}", metrics["config"]["spec"]);
    let rows: String = (0..40).map(|i| format!("{},{}\n", i % 7, labels[i % 2])).collect();
    std::fs::write(d.join("one.csv"), format!("a,label\n{rows}")).unwrap();
    refused(d, &["train", "--device", "cpu", "--dataset", "csv:one.csv"], "holds a single class `1`");
    let rows: String = (0..40).map(|i| format!("{i},{}\n", i as f64 * 0.37)).collect();
    std::fs::write(d.join("reg.csv"), format!("x,target\n{rows}")).unwrap();
    refused(d, &["train", "--device", "cpu", "--dataset", "csv:reg.csv"], "40 distinct values in 40 rows");
    // A long cell is cut in the message.
    let cell = "z".repeat(5000);
    std::fs::write(d.join("long.csv"), format!("a,label\n{cell},0\n1,1\n")).unwrap();
    let out = run(d, &["train", "--device", "cpu", "--dataset", "csv:long.csv"]);
    assert!(text(&out).contains("(5000 characters)") && text(&out).len() < 1000, "{}", text(&out));
    // A missing file says so once.
    let out = run(d, &["train", "--device", "cpu", "--dataset", "csv:missing.csv"]);
    assert_eq!(text(&out).matches("No such file or directory").count(), 1, "{}", text(&out));
}

/// Numbers the GPU's f32 cannot hold, in a weights or batch file, are refused naming the tensor; an
/// unknown tensor is refused, as the docs say.
#[test]
fn weight_files_are_checked_tensor_by_tensor() {
    use vanish::interchange::{NamedTensor, Precision, write_tensors};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut meta = std::collections::HashMap::new();
    meta.insert(
        "spec".to_string(),
        r#"{"widths":[2,3,1],"activations":["tanh"],"batchnorm":false,"output":"bce_with_logits"}"#.to_string(),
    );
    let tensor = |name: &str, shape: Vec<usize>, values: Vec<f64>| NamedTensor { name: name.into(), shape, values };
    let net = |w0: f64| {
        vec![
            tensor("layers.0.weight", vec![3, 2], vec![w0, 0.1, 0.2, 0.3, 0.4, 0.5]),
            tensor("layers.0.bias", vec![3], vec![0.0; 3]),
            tensor("layers.1.weight", vec![1, 3], vec![0.1, 0.2, 0.3]),
            tensor("layers.1.bias", vec![1], vec![0.0]),
            tensor("x", vec![2, 2], vec![1.0, 1e300, 0.5, 0.5]),
            tensor("y", vec![2], vec![0.0, 1.0]),
        ]
    };
    write_tensors(&d.join("huge_w.st"), &net(1e300), Precision::F64, meta.clone()).unwrap();
    write_tensors(&d.join("huge_x.st"), &net(0.1), Precision::F64, meta.clone()).unwrap();
    let mut extra = net(0.1);
    extra.push(tensor("optimizer.state", vec![1], vec![0.0]));
    write_tensors(&d.join("extra.st"), &extra, Precision::F64, meta).unwrap();
    fn load(file: &str) -> Vec<&str> {
        vec!["train", "--device", "cpu", "--layers", "3", "--activation", "tanh", "--load", file]
    }
    refused(d, &load("huge_w.st"), "tensor `layers.0.weight`: element [0, 0] is 1e300, outside f32's range");
    refused(d, &load("extra.st"), "unexpected tensor `optimizer.state`");
    // The f64 reference takes the file's numbers as they are; the GPU's f32 cannot.
    succeeds(d, &["grads", "--device", "cpu", "--load", "huge_x.st"]);
    if common::gpu().is_some() {
        refused(d, &["grads", "--device", "gpu", "--load", "huge_x.st"], "tensor `x`: element [0, 1] is 1e300");
    }
}

/// A stop signal while a FIFO is being opened (no writer: `open` blocks) ends the command at once with
/// 128 + the signal, and standard output that fails is an error, not a panic.
#[cfg(unix)]
#[test]
fn signals_during_blocking_io_and_failing_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vanish"))
        .args(["train", "--device", "cpu", "--dataset"])
        .arg(format!("csv:{}", fifo.display()))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it is blocked in open(): its /proc entry shows the FIFO among its open attempts only
    // once there, so poll its state instead of sleeping on a guess.
    let started = Instant::now();
    while std::fs::read_to_string(format!("/proc/{}/wchan", child.id())).is_ok_and(|w| !w.contains("fifo"))
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill with a valid pid and signal has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(status.code() == Some(143) || status.signal() == Some(libc::SIGTERM), "{status:?}");

    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("vanish"))
            .arg("devices")
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("cannot write to standard output") && !err.contains("panicked"), "{err}");
    }
}

/// Every integer and float flag of every command, driven with extreme values: each ends in a result or a
/// clear message (exit 0, 1, or clap's 2 for usage), within 60 s, never a panic, abort or signal death.
#[test]
fn extreme_values_of_every_flag_end_cleanly() {
    use clap::CommandFactory;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tanh_2x7x7x7x1_n9.safetensors");
    // Each command with what it needs to run on the reference, small; the flag under test comes last and
    // overrides.
    let base = |command: &str| -> Vec<String> {
        let v: &[&str] = match command {
            "demo" => &["demo", "--device", "cpu", "--samples", "60"],
            "train" => &["train", "--device", "cpu", "--samples", "60", "--depth", "2"],
            "sweep" => &["sweep", "--device", "cpu", "--samples", "60", "--depths", "2", "--activations", "relu"],
            "grads" => &["grads", "--device", "cpu", "--load", fixture],
            // Flags checked before the adapter is opened; no adapter matches, so nothing is measured.
            "bench" | "check" => &[command, "--adapter", "no adapter is called this"],
            _ => &[command],
        };
        v.iter().map(|s| s.to_string()).collect()
    };
    let extremes = ["0", "1", "-1", "18446744073709551615", "1e-45", "1e308", "NaN", "inf"];
    let mut cli = vanish::cli::Cli::command();
    cli.build();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for sub in
        cli.get_subcommands().filter(|s| ["demo", "train", "sweep", "grads", "bench", "check"].contains(&s.get_name()))
    {
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            if !takes_value || ["out", "load", "save", "save-init", "dataset", "test-data", "markdown"].contains(&long)
            {
                continue;
            }
            for value in extremes {
                let mut args = base(sub.get_name());
                if ["sweep"].contains(&sub.get_name()) {
                    args.extend(["--out".into(), format!("sweep-{long}-{value}")]);
                }
                args.extend([format!("--{long}"), value.to_string()]);
                runs.push(args);
            }
        }
    }
    assert!(runs.len() > 200, "{} runs", runs.len());
    let failures: Vec<String> = std::thread::scope(|s| {
        let chunks: Vec<_> = runs.chunks(runs.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for args in chunk {
                        let started = Instant::now();
                        let out = vanish(d).args(args).timeout(Duration::from_secs(60)).output().unwrap();
                        let said = text(&out);
                        let clean = matches!(out.status.code(), Some(0..=2)) && !said.contains("panicked");
                        if !clean || started.elapsed() > Duration::from_secs(60) {
                            bad.push(format!("{args:?}: {:?} after {:?}\n{said}", out.status, started.elapsed()));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} runs did not end cleanly:\n{}",
        failures.len(),
        runs.len(),
        failures.join("\n")
    );
    let _: BTreeMap<String, Vec<u8>> = common::files_under(d);
}
