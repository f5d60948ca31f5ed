//! `vanish sweep` and `vanish merge`: the CSV schema, well-formed SVGs with their series, shards merged
//! equal to the unsharded sweep, resuming after a kill, the presets' effects, theory against
//! measurement, and bad flags. Grids are tiny and run on the CPU reference unless the GPU is the point.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use vanish::data::DataSettings;
use vanish::engine::{Backend, BatchEngine, BatchPlan, Counters, Engine, EngineError, ModelJob};
use vanish::gpu::{GpuBackend, TrainPath};
use vanish::model::{Activation, Init, Norm};
use vanish::record::{OptimizerChoice, RunRecord};
use vanish::reference::{CpuBackend, CpuEngine};
use vanish::report::{ReportInput, tidy, write_report};
use vanish::sweep::preset::{AGREEMENT, checks};
use vanish::sweep::{Grid, Manifest, Preset, Settings, Store, run_sweep};

use common::vanish;

/// A small CPU sweep: 2 activations × 2 depths × 2 seeds, one epoch, 200 samples; `extra` replaces
/// any of these flags or adds others.
const SMALL: &[(&str, &str)] = &[
    ("--depths", "1,3"),
    ("--activations", "sigmoid,relu"),
    ("--seeds", "2"),
    ("--samples", "200"),
    ("--epochs", "1"),
    ("--device", "cpu"),
];

fn small_args(extra: &[&str]) -> Vec<String> {
    let mut args = vec!["sweep".to_string()];
    for (flag, value) in SMALL {
        if !extra.contains(flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn sweep(extra: &[&str], out: &Path) -> Output {
    let output = vanish().args(small_args(extra)).arg("--out").arg(out).output().unwrap();
    assert!(output.status.success(), "sweep failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file a sweep's report is made of, by name, as bytes.
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for name in
        ["runs.csv", "summary.json", "delta_vs_layer.svg", "depth.svg", "heatmap.svg", "loss.svg", "boundary.svg"]
    {
        files.insert(name.to_string(), std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    for entry in std::fs::read_dir(dir.join("runs")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue; // a temporary file of a killed write: never read, never an output
        }
        files.insert(format!("runs/{}", entry.file_name().to_string_lossy()), std::fs::read(entry.path()).unwrap());
    }
    files
}

fn assert_same_outputs(a: &Path, b: &Path) {
    let (x, y) = (outputs(a), outputs(b));
    assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "the same files");
    for (name, bytes) in &x {
        assert!(bytes == &y[name], "{name} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn runs_csv_is_tidy() {
    let dir = tempfile::tempdir().unwrap();
    sweep(&[], dir.path());
    let text = read(&dir.path().join("runs.csv"));
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), tidy::CSV_HEADER.join(","));
    let mut keys = BTreeSet::new();
    let mut runs: BTreeMap<String, (usize, BTreeSet<usize>)> = BTreeMap::new();
    let mut quantities = BTreeSet::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), tidy::CSV_HEADER.len(), "{line}");
        let col = |name: &str| tidy::CSV_HEADER.iter().position(|h| *h == name).unwrap();
        let depth: usize = f[col("depth")].parse().unwrap();
        let epoch: usize = f[col("epoch")].parse().unwrap();
        let (layer, quantity) = (f[col("layer")], f[col("quantity")]);
        if !layer.is_empty() {
            let layer: usize = layer.parse().unwrap();
            assert!((1..=depth + 1).contains(&layer), "layer {layer} of depth {depth}: {line}");
        }
        assert_eq!(f[col("residual")], "off", "{line}");
        let value: f64 = f[col("value")].parse().unwrap_or_else(|_| panic!("value: {line}"));
        assert!(value.is_finite(), "{line}");
        assert!(
            keys.insert((f[0].to_string(), epoch, layer.to_string(), quantity.to_string())),
            "duplicate row: {line}"
        );
        runs.entry(f[0].to_string()).or_insert((depth, BTreeSet::new())).1.insert(epoch);
        quantities.insert(quantity.to_string());
    }
    assert_eq!(runs.len(), 2 * 2 * 2, "activations × depths × seeds");
    assert!(runs.values().all(|(_, e)| *e == BTreeSet::from([0, 1])), "epoch 0 (initialisation) and 1: {runs:?}");
    for q in
        ["grad_w_norm", "delta_norm", "mean_grad_sq", "chi", "predicted_factor", "loss", "accuracy", "decay_factor"]
    {
        assert!(quantities.contains(q), "quantity {q} missing from {quantities:?}");
    }
    // Per-layer rows: every run has one grad_w_norm per dense layer per epoch.
    for (run, (depth, _)) in &runs {
        let n = keys.iter().filter(|(r, _, _, q)| r == run && q == "grad_w_norm").count();
        assert_eq!(n, 2 * (depth + 1), "{run}");
    }
}

/// Text content of every `<text>` element of an SVG, which must parse as XML.
fn svg_texts(path: &Path) -> (Vec<String>, roxmltree::Document<'static>) {
    let text: &'static str = Box::leak(read(path).into_boxed_str());
    let doc =
        roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect();
    (texts, doc)
}

#[test]
fn every_svg_is_well_formed_with_its_series() {
    let dir = tempfile::tempdir().unwrap();
    sweep(&[], dir.path());
    let groups = ["sigmoid, depth 1", "sigmoid, depth 3", "relu, depth 1", "relu, depth 3"];
    // 4 groups ≤ the line limit: the per-layer plots show every group.
    let (texts, doc) = svg_texts(&dir.path().join("delta_vs_layer.svg"));
    for g in groups {
        assert_eq!(texts.iter().filter(|t| *t == g).count(), 2, "legend entry {g} in both panels: {texts:?}");
    }
    assert!(texts.iter().any(|t| t.starts_with("theory")), "theory legend: {texts:?}");
    // Lines and bands: at least one polyline and one polygon per group and panel.
    assert!(doc.descendants().filter(|n| n.has_tag_name("polygon")).count() >= 2 * groups.len());
    let (texts, _) = svg_texts(&dir.path().join("depth.svg"));
    for family in ["sigmoid", "relu"] {
        assert_eq!(texts.iter().filter(|t| *t == family).count(), 2, "{family} in both depth panels: {texts:?}");
    }
    for (file, per_group) in [("heatmap.svg", 1), ("loss.svg", 1), ("boundary.svg", 1)] {
        let (texts, doc) = svg_texts(&dir.path().join(file));
        for g in groups {
            assert_eq!(texts.iter().filter(|t| *t == g).count(), per_group, "{file}: {g} in {texts:?}");
        }
        assert!(doc.descendants().any(|n| n.has_tag_name("rect") || n.has_tag_name("polyline")), "{file} draws");
    }
    let html = read(&dir.path().join("report.html"));
    assert_eq!(html.matches("<svg").count(), 5, "all five plots inlined");
    for forbidden in ["<script", "src=", "href=", "<link"] {
        assert!(!html.contains(forbidden), "report.html must be self-contained: found {forbidden}");
    }
    for g in groups {
        assert!(html.contains(g), "configuration row {g}");
    }
}

/// `--norms none,batch,layer` is an axis like any other: a `norm` column in runs.csv, a label per kind in
/// the plots and the report, layer norm's theory beside it; `--batch-norm off,on` is its old spelling.
#[test]
fn normalisation_is_a_sweep_axis() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--activations", "tanh", "--norms", "none,batch,layer", "--seeds", "1", "--epochs", "0"];
    sweep(&args, dir.path());
    let text = read(&dir.path().join("runs.csv"));
    let col = |name: &str| tidy::CSV_HEADER.iter().position(|h| *h == name).unwrap();
    let mut seen = BTreeSet::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        seen.insert((f[col("norm")].to_string(), f[col("batch_norm")].to_string()));
        if f[col("norm")] == "layer" && f[col("depth")] == "3" && f[col("quantity")] == "predicted_factor" {
            let v: f64 = f[col("value")].parse().unwrap();
            assert!(v > 0.5 && v < 2.0, "layer norm's predicted factor for tanh: {line}");
        }
    }
    let want: BTreeSet<(String, String)> = [("none", "false"), ("batch", "true"), ("layer", "false")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, want);
    let (texts, _) = svg_texts(&dir.path().join("delta_vs_layer.svg"));
    for g in ["tanh no norm, depth 3", "tanh +bn, depth 3", "tanh +ln, depth 3"] {
        assert!(texts.iter().any(|t| t == g), "legend entry {g}: {texts:?}");
    }
    let summary: serde_json::Value = serde_json::from_str(&read(&dir.path().join("summary.json"))).unwrap();
    let ln = summary["configurations"].as_array().unwrap().iter().find(|c| c["label"] == "tanh +ln, depth 3").unwrap();
    assert!(ln["theory_factor"].as_f64().is_some(), "layer norm has a prediction: {ln}");
    let bn = summary["configurations"].as_array().unwrap().iter().find(|c| c["label"] == "tanh +bn, depth 3").unwrap();
    assert!(bn["theory_factor"].is_null(), "batch norm has none: {bn}");

    // the old spelling, and bad values named by flag
    let old = tempfile::tempdir().unwrap();
    sweep(&["--activations", "tanh", "--batch-norm", "off,on", "--seeds", "1", "--epochs", "0"], old.path());
    assert!(read(&old.path().join("runs.csv")).contains(",true,batch,"), "--batch-norm on is batch norm");
    for (extra, needle) in [
        (&["--norms", "none,group"][..], "unknown normalisation 'group' (expected none, batch or layer)"),
        (&["--norms", "layer", "--batch-norm", "on"][..], "cannot be used with"),
        (&["--preset", "layernorm", "--norms", "none"][..], "cannot be used with"),
    ] {
        let out = vanish().args(small_args(extra)).arg("--out").arg(old.path().join("refused")).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle), "{extra:?}: {err}");
    }
}

#[test]
fn shards_merged_equal_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    sweep(&[], &whole);
    let mut shards: Vec<PathBuf> = Vec::new();
    for i in 0..3 {
        let shard = dir.path().join(format!("shard{i}"));
        sweep(&["--shard", &format!("{i}/3")], &shard);
        shards.push(shard);
    }
    let counts: Vec<usize> = shards.iter().map(|s| std::fs::read_dir(s.join("runs")).unwrap().count()).collect();
    assert_eq!(counts, vec![3, 3, 2], "8 runs dealt round-robin to 3 shards");
    let merged = dir.path().join("merged");
    let out = vanish().arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_outputs(&whole, &merged);
    assert_eq!(read(&whole.join("sweep.json")), read(&merged.join("sweep.json")));

    // An incomplete merge says so.
    let partial = dir.path().join("partial");
    let out = vanish().arg("merge").args(&shards[..2]).arg("--out").arg(&partial).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 of 8 runs are in none of the folders"));
}

/// Starts a sweep that holds after `runs` completed runs (the test hook in `train/interrupt.rs`) and
/// returns once it is holding, so a signal lands at a known point instead of after a sleep.
fn held_sweep(args: &[String], out: &Path, runs: usize) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("vanish"))
        .args(args)
        .arg("--out")
        .arg(out)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("VANISH_TEST_HOLD_AFTER_RUNS", runs.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("holding after") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the sweep ended before holding");
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    child
}

fn completed_runs(out: &Path) -> usize {
    std::fs::read_dir(out.join("runs"))
        .unwrap()
        .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count()
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let grid = ["--depths", "8,16", "--samples", "300"];
    sweep(&grid, &whole);

    // Killed outright (SIGKILL, as by the OOM killer or a power cut) after 3 of the 8 runs.
    let killed = dir.path().join("killed");
    let mut child = held_sweep(&small_args(&grid), &killed, 3);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(completed_runs(&killed), 3);
    // What a kill can leave besides complete runs: a temporary file of a write in progress.
    std::fs::write(killed.join("runs").join(".d8-half-written.json.tmp99999"), b"{\"id\": \"d8-").unwrap();
    let out = sweep(&grid, &killed);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("resumed: 3 of 8 runs"), "{log}");
    assert!(!killed.join("runs").join(".d8-half-written.json.tmp99999").exists(), "the leftover is removed");
    assert_same_outputs(&whole, &killed);

    // Deleting runs is the same as never having finished them.
    for id in ["d8-w10-relu-nobn-glorot-uniform-adam-s1", "d16-w10-sigmoid-nobn-glorot-uniform-adam-s0"] {
        std::fs::remove_file(killed.join("runs").join(format!("{id}.json"))).unwrap();
    }
    std::fs::remove_file(killed.join("runs.csv")).unwrap();
    let log = String::from_utf8_lossy(&sweep(&grid, &killed).stderr).to_string();
    assert!(log.contains("resumed: 6 of 8 runs"), "{log}");
    assert_same_outputs(&whole, &killed);
}

/// SIGTERM (a preempted or cancelled batch job) and SIGHUP: the runs completed so far stay, the process
/// says how far it got and exits 128 + the signal; rerunning resumes them.
#[test]
fn a_terminated_sweep_keeps_its_completed_runs_and_exits_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    for (signal, status) in [(libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let out = dir.path().join(format!("signal-{signal}"));
        let child = held_sweep(&small_args(&[]), &out, 2);
        // SAFETY: signals our own child, which is still running (it is holding and we have not waited).
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(status), "signal {signal}");
        assert_eq!(completed_runs(&out), 2);
        let log = String::from_utf8_lossy(&sweep(&[], &out).stderr).to_string();
        assert!(log.contains("resumed: 2 of 8 runs"), "{log}");
    }
}

/// Every way a run file can be wrong is reported, naming the file, and that run redone: the final
/// outputs equal an undamaged sweep's.
#[test]
fn a_damaged_or_foreign_run_file_is_reported_and_its_run_redone() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    sweep(&[], &whole);
    let other = dir.path().join("other");
    sweep(&["--samples", "240"], &other);
    let damaged = dir.path().join("damaged");
    sweep(&[], &damaged);
    let run = |id: &str| damaged.join("runs").join(format!("{id}.json"));
    let ids = [
        "d1-w10-sigmoid-nobn-glorot-uniform-adam-s0",
        "d1-w10-relu-nobn-glorot-uniform-adam-s0",
        "d3-w10-sigmoid-nobn-glorot-uniform-adam-s1",
        "d3-w10-relu-nobn-glorot-uniform-adam-s1",
    ];
    // Truncated (a disk that filled up under another tool, a partial copy).
    let bytes = std::fs::read(run(ids[0])).unwrap();
    std::fs::write(run(ids[0]), &bytes[..bytes.len() / 2]).unwrap();
    // One digit of one loss changed: still valid JSON, still a plausible record.
    let text = read(&run(ids[1]));
    let at = text.find("\"batch_losses\": [").unwrap() + 25;
    let digit = text[at..].find(|c: char| c.is_ascii_digit() && c != '0').unwrap() + at;
    let flipped = if &text[digit..=digit] == "7" { "8" } else { "7" };
    std::fs::write(run(ids[1]), format!("{}{flipped}{}", &text[..digit], &text[digit + 1..])).unwrap();
    // Another run's file under this run's name (copied before that run's file is replaced below).
    std::fs::copy(run(ids[2]), run(ids[3])).unwrap();
    // The same run of a sweep with other settings (another --samples).
    std::fs::copy(other.join("runs").join(format!("{}.json", ids[2])), run(ids[2])).unwrap();

    let log = String::from_utf8_lossy(&sweep(&[], &damaged).stderr).to_string();
    for (id, problem) in [
        (ids[0], "is truncated or not a run file"),
        (ids[1], "is corrupted (its checksum does not match its contents)"),
        (ids[2], "belongs to another sweep"),
        (ids[3], "holds run d3-w10-sigmoid-nobn-glorot-uniform-adam-s1, not"),
    ] {
        let line = format!("warning: {} {problem}", run(id).display());
        assert!(log.contains(&line), "expected `{line}` in:\n{log}");
    }
    assert!(log.contains("resumed: 4 of 8 runs"), "{log}");
    assert_same_outputs(&whole, &damaged);
}

/// Two sweeps writing into one `--out` at the same time: the second is refused, naming the first, and
/// once the first has stopped the folder resumes as usual.
#[test]
fn a_second_sweep_on_the_same_out_is_refused_while_the_first_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shared");
    let first = held_sweep(&small_args(&[]), &out, 1);
    let second = vanish().args(small_args(&[])).arg("--out").arg(&out).output().unwrap();
    let e = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    let holder = format!("is being written by vanish (pid {} on ", first.id());
    assert!(e.contains(&holder) && e.contains("choose another --out"), "{e}");
    // SAFETY: signals our own child, which is still running (it is holding and we have not waited).
    assert_eq!(unsafe { libc::kill(first.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(143));
    let log = String::from_utf8_lossy(&sweep(&[], &out).stderr).to_string();
    assert!(log.contains("resumed: 1 of 8 runs"), "{log}");
}

/// A run the adapter cannot hold is refused before any run of the sweep trains, naming the limit.
#[test]
fn a_sweep_with_a_run_too_big_for_the_adapter_is_refused_before_any_work() {
    let Some(gpu) = common::gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Adam's two moments of one width × width layer past the storage binding limit.
    let width = ((gpu.limits.max_storage_buffer_binding_size / 8) as f64).sqrt() as usize + 100;
    let widths = format!("10,{width}");
    let args = small_args(&["--widths", &widths, "--depths", "2", "--device", "gpu"]);
    let out = vanish().args(&args).arg("--out").arg(dir.path().join("s")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("max_storage_buffer_binding_size") && err.contains("optimiser state"), "{err}");
    assert_eq!(completed_runs(&dir.path().join("s")), 0, "no run trained before the refusal");
}

/// A backend that makes a batch of every job: each run trains alone, as the reference for batching.
struct OneByOne<'a>(&'a dyn Backend);

impl Backend for OneByOne<'_> {
    fn name(&self) -> String {
        self.0.name()
    }
    fn plan<'b>(&'b self, jobs: &[ModelJob<'_>]) -> Result<Vec<Box<dyn BatchPlan<'b> + 'b>>, EngineError> {
        (0..jobs.len())
            .map(|i| {
                Ok(Box::new(Alone { plan: self.0.plan_one(&jobs[i])?, members: vec![i] }) as Box<dyn BatchPlan<'b>>)
            })
            .collect()
    }
    fn counters(&self) -> Counters {
        self.0.counters()
    }
}

/// Job `members[0]` of a list, planned on its own.
struct Alone<'b> {
    plan: Box<dyn BatchPlan<'b> + 'b>,
    members: Vec<usize>,
}

impl<'b> BatchPlan<'b> for Alone<'b> {
    fn members(&self) -> &[usize] {
        &self.members
    }
    fn engine_name(&self) -> String {
        self.plan.engine_name()
    }
    fn build(&self, jobs: &[ModelJob<'_>]) -> Result<Box<dyn BatchEngine + 'b>, EngineError> {
        self.plan.build(jobs)
    }
}

fn settings(grid: Grid, preset: Option<Preset>) -> Settings {
    Settings {
        grid,
        data: DataSettings { samples: 600, ..DataSettings::default() },
        epochs: 0,
        steps: None,
        batch_size: 32,
        lr: 1e-3,
        weight_decay: None,
        output: Default::default(),
        measure_every: None,
        histograms: false,
        preset,
        full: false,
    }
}

fn run_cpu(settings: &Settings) -> Vec<RunRecord> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), &Manifest { settings: settings.clone(), shard: None }, false).unwrap();
    run_sweep(&store, settings, None, &CpuBackend, &mut |_| {}).unwrap()
}

#[test]
fn presets_reproduce_their_effects() {
    // The MNIST presets have tests of their own on real digits (literature.rs).
    for preset in Preset::ALL.into_iter().filter(|p| !p.on_mnist()) {
        let mut s = settings(preset.grid(false), Some(preset));
        let training = preset.training(false);
        s.epochs = training.epochs;
        s.lr = training.lr.unwrap_or(s.lr);
        let runs = run_cpu(&s);
        let results = checks(preset, &runs);
        let expected = match preset {
            Preset::Selu | Preset::Layernorm => 3,
            Preset::Resnet => 4,
            _ => 2,
        };
        assert_eq!(results.len(), expected, "{preset}");
        for c in results {
            assert!(c.passed, "{preset}: expected {} — measured {}", c.expected, c.measured);
        }
    }
}

#[test]
fn a_preset_that_does_not_hold_says_so() {
    // glorot-tanh's checks read the inits they compare: with both inits replaced by he-normal, the
    // "standard shrinks ×0.58" expectation has no runs and must fail, not pass vacuously.
    let mut grid = Preset::GlorotTanh.grid(false);
    grid.inits = vec![vanish::model::Init::HeNormal];
    let results = checks(Preset::GlorotTanh, &run_cpu(&settings(grid, Some(Preset::GlorotTanh))));
    assert!(results.iter().all(|c| !c.passed), "{results:?}");
}

#[test]
fn the_preset_prints_whether_it_reproduced() {
    let dir = tempfile::tempdir().unwrap();
    let out = vanish()
        .args(["sweep", "--preset", "glorot-tanh", "--seeds", "1", "--samples", "300", "--device", "cpu", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("[REPRODUCED] glorot-tanh").count(), 2, "{text}");
    let summary: serde_json::Value = serde_json::from_str(&read(&dir.path().join("summary.json"))).unwrap();
    assert_eq!(summary["checks"].as_array().unwrap().len(), 2);
}

/// Theory against measurement, run by run: the per-layer factor of ‖δ‖ (geometric mean over the hidden
/// layers) and the mean-field √χ agree within `AGREEMENT` (1.2; justified in `sweep::preset`).
#[test]
fn theory_matches_measurement_for_tanh_glorot_and_relu_he() {
    let grid = Grid {
        depths: vec![10],
        widths: vec![32],
        activations: vec![Activation::Tanh, Activation::Relu],
        norms: vec![Norm::None],
        inits: vec![Init::GlorotUniform, Init::HeNormal, Init::Standard],
        bias_inits: vec![vanish::model::BiasInit::Zero],
        optimizers: vec![OptimizerChoice::Adam],
        residual: vec![false],
        residual_scale: 1.0,
        clip: vec![None],
        seeds: 3,
    };
    let runs = run_cpu(&settings(grid, None));
    let agree = |r: &RunRecord| {
        let e = r.init();
        let (measured, theory) = (e.delta_fit.unwrap().factor, e.theory_factor.unwrap());
        let ratio = measured / theory;
        assert!(
            (1.0 / AGREEMENT..=AGREEMENT).contains(&ratio),
            "{}: measured ×{measured:.3}, theory ×{theory:.3}",
            r.id
        );
        theory
    };
    let pick = |a: Activation, i: Init| -> Vec<&RunRecord> {
        runs.iter().filter(|r| (r.config.activation, r.config.init) == (a, i)).collect()
    };
    for r in pick(Activation::Tanh, Init::GlorotUniform).into_iter().chain(pick(Activation::Relu, Init::HeNormal)) {
        // Near 1 for both: these are the initialisations made for these activations.
        let theory = agree(r);
        assert!((0.8..1.25).contains(&theory), "{}: theory ×{theory:.3}", r.id);
    }
    // The agreement is not trivial: where the theory predicts a clear decay, the measurement follows.
    for r in pick(Activation::Tanh, Init::Standard) {
        let theory = agree(r);
        assert!(theory < 0.65, "{}: tanh with the standard init is predicted to shrink ‖δ‖: ×{theory:.3}", r.id);
    }
}

#[test]
fn write_report_serves_a_single_trained_run() {
    // What `demo` and `train` do: train through the trainer, describe the run, write the report.
    use vanish::record::{RunConfig, boundary::decision_boundary, spec_for};
    use vanish::train::{TrainOptions, train};
    let s = settings(Preset::Batchnorm.grid(false), None);
    let (train_set, test_set) = s.data.load(0).unwrap();
    let config = RunConfig {
        depth: 4,
        width: 8,
        activation: vanish::model::Activation::Sigmoid,
        norm: Norm::None,
        init: vanish::model::Init::GlorotUniform,
        bias_init: vanish::model::BiasInit::Zero,
        optimizer: OptimizerChoice::Adam,
        residual: None,
        clip: None,
        seed: 0,
    };
    let spec = spec_for(&config, train_set.features, vanish::model::Output::for_classes(train_set.classes));
    let params = vanish::model::Params::init(&spec, 0);
    let cfg = vanish::engine::TrainConfig::new(vanish::engine::Optimizer::adam(1e-2), 32);
    let mut engine = CpuEngine::new(&spec, &params, &train_set, &test_set, cfg).unwrap();
    let opts = TrainOptions {
        epochs: 2,
        seed: 0,
        shuffle: true,
        probe_every: Some(5),
        has_test: true,
        max_steps: None,
        measure_every: None,
    };
    let history = train(&mut engine, train_set.len(), 32, &opts, &mut |_| {}).unwrap();
    let steps = vanish::engine::batches_per_epoch(train_set.len(), 32);
    assert_eq!(RunConfig::from_spec(&spec, cfg.optimizer, 0), config, "a spec names its configuration");
    let mut record = RunRecord::from_history(config, &spec, &history, None, (steps, Some(train_set.mean_square())));
    assert_eq!(record.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![0, 1, 2], "intermediate probes skipped");
    record.boundary = decision_boundary(&spec, &engine.params().unwrap(), &train_set);
    let dir = tempfile::tempdir().unwrap();
    let runs = [record];
    let input = ReportInput {
        title: "vanish train".into(),
        command: "vanish train --out DIR".into(),
        settings: serde_json::json!({ "epochs": 2 }),
        runs: &runs,
        checks: &[],
    };
    let written = write_report(dir.path(), &input).unwrap();
    assert_eq!(written.len(), 8, "5 plots, runs.csv, summary.json, report.html: {written:?}");
    let html = read(&dir.path().join("report.html"));
    assert!(html.contains("sigmoid, depth 4") && html.contains("healthy"), "one row with its verdict");
}

fn failure(args: &[&str]) -> String {
    let out = vanish().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
}

#[test]
fn bad_flags_name_the_flag_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let out = out.to_str().unwrap();
    let base = ["sweep", "--device", "cpu", "--samples", "100", "--epochs", "0", "--out", out];
    let cases: &[(&[&str], &str)] = &[
        (&["--depths", "5..=1"], "--depths"),
        (&["--depths", "3..3"], "--depths"),
        (&["--depths", ""], "--depths"),
        (&["--widths", "0"], "--widths"),
        (&["--activations", "softsign"], "--activations"),
        (&["--batch-norm", "maybe"], "--batch-norm"),
        (&["--inits", "zeros"], "--inits"),
        (&["--optimizers", "rmsprop"], "--optimizers"),
        (&["--seeds", "0"], "--seeds"),
        (&["--shard", "3/3"], "--shard"),
        (&["--shard", "1"], "--shard"),
        (&["--preset", "glorot-tanh", "--inits", "he"], "--inits"),
        (&["--preset", "nope"], "--preset"),
        (&["--lr", "-1"], "--lr"),
    ];
    for (extra, flag) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let e = failure(&args);
        assert!(e.contains(flag), "{extra:?}: the message should name {flag}: {e}");
    }
    // --out: a file, not a folder.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = failure(&["sweep", "--device", "cpu", "--depths", "1", "--out", file.to_str().unwrap()]);
    assert!(e.contains("--out"), "{e}");
    // Resuming with different settings.
    sweep(&["--depths", "1"], Path::new(out));
    let args = small_args(&["--depths", "1,2", "--out", out]);
    let e = failure(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("holds a different sweep") && e.contains("--depths [1] vs [1,2]"), "{e}");
    // Flags that change what every run means, all named at once.
    let changed = ["--depths", "1", "--dataset", "moons", "--epochs", "2", "--batch-size", "16", "--lr", "0.01"];
    let args = small_args(&[&changed[..], &["--out", out]].concat());
    let e = failure(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for named in
        ["--dataset \"circles\" vs \"moons\"", "--epochs 1 vs 2", "--batch-size 32 vs 16", "--lr 0.001 vs 0.01"]
    {
        assert!(e.contains(named), "the message should name {named}: {e}");
    }
    // Merging a folder that is not a sweep, or sweeps that differ.
    let e = failure(&["merge", dir.path().to_str().unwrap(), "--out", dir.path().join("m").to_str().unwrap()]);
    assert!(e.contains("not a sweep folder"), "{e}");
    let other = dir.path().join("other");
    sweep(&["--depths", "2"], &other);
    let e = failure(&["merge", out, other.to_str().unwrap(), "--out", dir.path().join("m2").to_str().unwrap()]);
    assert!(e.contains("different sweeps"), "{e}");
}

#[test]
fn the_gpu_sweep_agrees_with_the_reference() {
    if common::gpu().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (gpu_dir, cpu_dir) = (dir.path().join("gpu"), dir.path().join("cpu"));
    for (device, path) in [("gpu", &gpu_dir), ("cpu", &cpu_dir)] {
        let out = vanish()
            .args(["sweep", "--depths", "2,6", "--activations", "sigmoid,relu", "--batch-norm", "off,on"])
            .args(["--samples", "200", "--epochs", "1", "--device", device, "--out"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{device}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let load = |p: &Path| -> serde_json::Value { serde_json::from_str(&read(&p.join("summary.json"))).unwrap() };
    let (g, c) = (load(&gpu_dir), load(&cpu_dir));
    let (g, c) = (g["runs"].as_array().unwrap(), c["runs"].as_array().unwrap());
    assert_eq!(g.len(), 8);
    for (g, c) in g.iter().zip(c) {
        assert!(g["engine"].as_str().unwrap().starts_with("gpu"), "{}", g["engine"]);
        for e in 0..2 {
            let (ge, ce) = (&g["epochs"][e], &c["epochs"][e]);
            assert_eq!(ge["verdict"]["kind"], ce["verdict"]["kind"], "{} epoch {e}", g["id"]);
            // f32 against f64 through a few layers and one epoch of Adam: 1e-3 relative.
            for key in ["first_last_ratio", "delta_first_last_ratio", "loss"] {
                let (a, b) = (ge[key].as_f64().unwrap(), ce[key].as_f64().unwrap());
                assert!((a - b).abs() <= 1e-3 * b.abs() + 1e-6, "{} epoch {e} {key}: gpu {a} cpu {b}", g["id"]);
            }
        }
    }
}

/// Given a GPU, runs of one kernel class train together in one fused dispatch stream, whatever their
/// depth, activation, normalisation, skips, init, seed or optimiser; their records (losses, probes, evaluations,
/// boundaries) are exactly those of the runs trained one by one.
#[test]
fn batched_gpu_runs_record_exactly_what_single_runs_do() {
    let Some(gpu) = common::gpu() else { return };
    let grid = Grid {
        depths: vec![2, 3],
        widths: vec![6],
        activations: vec![Activation::Sigmoid, Activation::Relu],
        norms: vec![Norm::None, Norm::Batch, Norm::Layer],
        inits: vec![Init::GlorotUniform, Init::HeNormal],
        bias_inits: vec![vanish::model::BiasInit::Zero],
        optimizers: vec![OptimizerChoice::Adam, OptimizerChoice::Sgd { momentum: 0.9 }],
        residual: vec![false, true],
        residual_scale: 0.5,
        clip: vec![None],
        seeds: 2,
    };
    let mut s = settings(grid, None);
    s.epochs = 2;
    let backend = GpuBackend::new(gpu, TrainPath::Auto);
    let run = |backend: &dyn Backend| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), &Manifest { settings: s.clone(), shard: None }, false).unwrap();
        let mut order = Vec::new();
        let runs = run_sweep(&store, &s, None, backend, &mut |e| order.push(e.done)).unwrap();
        assert_eq!(order, (1..=192).collect::<Vec<_>>(), "one event per run, counted in order");
        runs
    };
    let jobs_in_one_batch = {
        let data = s.data.load(0).unwrap();
        let spec = |depth: usize, norm: Norm| {
            vanish::model::MlpSpec::new(2, &vec![6; depth], Activation::Tanh, vanish::model::Output::Binary)
                .with_norm(norm)
        };
        let cfg = vanish::engine::TrainConfig::new(vanish::engine::Optimizer::adam(1e-3), 32);
        let jobs: Vec<ModelJob<'_>> = [(2, Norm::None), (3, Norm::Batch), (4, Norm::Layer)]
            .iter()
            .map(|&(d, norm)| ModelJob {
                spec: spec(d, norm),
                params: vanish::model::Params::init(&spec(d, norm), 0),
                train: &data.0,
                test: &data.1,
                cfg,
            })
            .collect();
        backend.plan(&jobs).unwrap().len()
    };
    assert_eq!(jobs_in_one_batch, 1, "a plain, a batch-norm and a layer-norm model of three depths share one batch");
    let (one_by_one, together) = (run(&OneByOne(&backend)), run(&backend));
    assert_eq!(together.len(), 192);
    for (a, b) in one_by_one.iter().zip(&together) {
        assert!(b.engine.contains("fused"), "{}", b.engine);
        let (a, b) = (serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
        assert_eq!(a, b, "{}", a["id"]);
    }
}

/// The README's headline grid (20 depths × 3 activations × batch norm off/on) compiles the same
/// small, fixed number of pipelines whatever its depths, and takes a few submits per batch of runs
/// rather than several per run: the counters `sweep --json` reports.
#[test]
fn the_headline_grid_compiles_a_fixed_few_pipelines_whatever_its_depths() {
    if common::gpu().is_none() {
        return;
    }
    let counters = |depths: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = vanish()
            .args(["sweep", "--depths", depths, "--activations", "sigmoid,tanh,relu", "--batch-norm", "off,on"])
            .args(["--seeds", "3", "--epochs", "0", "--device", "gpu", "--json", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let get = |k: &str| v["counters"][k].as_u64().unwrap();
        (v["runs"].as_u64().unwrap(), get("pipelines_compiled"), get("submits"), get("bytes_read_back"))
    };
    let (runs, pipelines, submits, read) = counters("1..=20");
    assert_eq!(runs, 360);
    // One kernel class (width 10, cached weights): the executor's two entry points, with batch norm
    // compiled in for every batch of the sweep (some of its seven batches have no batch-norm model).
    assert_eq!(pipelines, 2, "{pipelines} pipelines compiled");
    assert!(submits <= 60, "{submits} submits for {runs} runs");
    assert!(read < 64 * runs * 1024, "{read} bytes read back");
    let (_, shallow, _, _) = counters("1..=3");
    assert_eq!(pipelines, shallow, "the pipelines compiled do not depend on the depths");
}

/// `--sigma-w2` × `--depths` is the trainability diagram of Schoenholz et al.: each run starts from
/// W ~ N(0, σ_w²/fan_in) and b ~ N(0, σ_b²), the report draws accuracy over σ_w² × depth with ξ_c, 3ξ_c,
/// 6ξ_c and the critical σ_w² over it, and summary.json holds the theory at each σ_w² as `vanish theory`
/// computes it.
#[test]
fn a_sigma_w2_sweep_draws_the_trainability_diagram_with_the_theory() {
    use vanish::mean_field::MeanField;
    let dir = tempfile::tempdir().unwrap();
    sweep(
        &[
            "--activations",
            "tanh",
            "--sigma-w2",
            "0.5,1.76,4",
            "--sigma-b2",
            "0.05",
            "--depths",
            "2,12",
            "--seeds",
            "1",
        ],
        dir.path(),
    );
    let csv = read(&dir.path().join("runs.csv"));
    assert!(csv.contains(",normal-var:1.76,normal-var:0.05,"), "init and bias_init columns");
    let (texts, doc) = svg_texts(&dir.path().join("trainability.svg"));
    for label in ["ξ_c", "3ξ_c", "6ξ_c", "critical σ_w²", "σ_w²", "depth"] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
    // six cells, one per σ_w² × depth, besides the colour bar
    assert!(doc.descendants().filter(|n| n.has_tag_name("rect")).count() >= 6);
    let summary: serde_json::Value = serde_json::from_str(&read(&dir.path().join("summary.json"))).unwrap();
    let panel = &summary["trainability"][0];
    assert_eq!(panel["sigma_w2"], serde_json::json!([0.5, 1.76, 4.0]));
    assert_eq!(panel["depths"], serde_json::json!([2, 12]));
    assert_eq!(panel["sigma_b2"], 0.05);
    for (i, w) in [0.5, 1.76, 4.0].into_iter().enumerate() {
        let want = MeanField::at_point(&Activation::Tanh, w, 0.05).unwrap();
        assert_eq!(panel["theory"][i]["xi_c"].as_f64(), want.xi_c, "ξ_c at σ_w² = {w}");
        assert_eq!(
            panel["theory"][i]["phase"],
            if w < 1.7609 { "ordered" } else { "chaotic" },
            "1.76 is just below the line"
        );
    }
    let critical = panel["critical_sigma_w2"].as_f64().unwrap();
    assert!((critical - 1.760955).abs() < 1e-5, "{critical}");
    for row in panel["accuracy"].as_array().unwrap() {
        for a in row.as_array().unwrap() {
            let a = a.as_f64().expect("every run finished");
            assert!((0.0..=1.0).contains(&a), "accuracy {a}");
        }
    }
    // without two σ_w² there is no diagram
    let plain = tempfile::tempdir().unwrap();
    sweep(&["--seeds", "1"], plain.path());
    assert!(!plain.path().join("trainability.svg").exists());
}

#[test]
fn sigma_axes_refuse_bad_values_naming_the_flag() {
    for (flag, value) in [("--sigma-w2", "0"), ("--sigma-w2", "1,x"), ("--sigma-b2", "-0.1"), ("--sigma-b2", "inf")] {
        let dir = tempfile::tempdir().unwrap();
        let out = vanish().args(small_args(&[flag, value])).arg("--out").arg(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

/// `sweep --steps N` trains N optimiser steps per run (here fewer than an epoch's), records the partial
/// epoch like a whole one, says so, and refuses `--epochs` beside it.
#[test]
fn steps_count_training_in_optimiser_steps() {
    let dir = tempfile::tempdir().unwrap();
    let base =
        ["sweep", "--device", "cpu", "--samples", "200", "--depths", "1,2", "--activations", "tanh", "--seeds", "1"];
    let out = vanish().args(base).args(["--steps", "3", "--out"]).arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("3 step(s) each"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&read(&dir.path().join("summary.json"))).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let epochs: Vec<u64> = run["epochs"].as_array().unwrap().iter().map(|e| e["epoch"].as_u64().unwrap()).collect();
        assert_eq!(epochs, [0, 1], "initialisation and the partial epoch");
        assert!(run["epochs"][1]["loss"].as_f64().unwrap().is_finite());
    }
    for entry in std::fs::read_dir(dir.path().join("runs")).unwrap() {
        let file: serde_json::Value = serde_json::from_str(&read(&entry.unwrap().path())).unwrap();
        let record: RunRecord = serde_json::from_value(file["record"].clone()).unwrap();
        assert_eq!(record.batch_losses.len(), 3, "three steps");
    }
    let conflict = vanish()
        .args(base)
        .args(["--steps", "3", "--epochs", "2", "--out"])
        .arg(dir.path().join("y"))
        .output()
        .unwrap();
    assert_eq!(conflict.status.code(), Some(2), "--steps with --epochs is a usage error");
}
