//! The README's Slurm job array on a real Slurm cluster (`.ci/local-slurm start`; CI runs one on the CI
//! machine): `examples/slurm/sweep.sbatch` submitted unchanged, one of its tasks cancelled mid-run
//! (`scancel` sends SIGTERM: the task keeps its completed runs and exits 143) and resubmitted (it
//! resumes them instead of recomputing them), then the dependent `vanish merge` job; the merged
//! `runs.csv` and `summary.json` must equal the unsharded sweep's, byte for byte.
//!
//! Skipped (visibly) where no cluster answers; a failure where `VANISH_REQUIRE_SLURM=1`, as in CI.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long any one wait may take before the test fails (the whole array takes about a minute here).
const PATIENCE: Duration = Duration::from_secs(900);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/sweep.sbatch")
}

/// A Slurm client command run in `dir`, with `bin` (holding `vanish`) first on PATH; jobs inherit
/// this environment (sbatch's default `--export=ALL`).
fn slurm(dir: &Path, bin: &Path, program: &str, args: &[&str]) -> String {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether a cluster answers (`sinfo` runs and lists a node).
fn cluster() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        let why = "no Slurm cluster answers `sinfo` (start one with `.ci/local-slurm start` and source its env file)";
        if std::env::var("VANISH_REQUIRE_SLURM").as_deref() == Ok("1") {
            panic!("VANISH_REQUIRE_SLURM=1 but {why}");
        }
        common::skip(why);
    }
    up
}

/// `(JobState, ExitCode)` of every task of job `id` (`scontrol show job -o`; there is no sacct without
/// accounting).
fn states(dir: &Path, bin: &Path, id: &str) -> Vec<(String, String)> {
    let field = |line: &str, key: &str| {
        line.split_whitespace().find_map(|f| f.strip_prefix(key)).unwrap_or_default().to_string()
    };
    slurm(dir, bin, "scontrol", &["show", "job", "-o", id])
        .lines()
        .map(|l| (field(l, "JobState="), field(l, "ExitCode=")))
        .collect()
}

/// Waits until every task of `id` has ended, and returns their states.
fn wait_for(dir: &Path, bin: &Path, id: &str) -> Vec<(String, String)> {
    let start = Instant::now();
    loop {
        let s = states(dir, bin, id);
        if !s.is_empty() && s.iter().all(|(state, _)| !matches!(state.as_str(), "PENDING" | "RUNNING" | "COMPLETING")) {
            return s;
        }
        assert!(start.elapsed() < PATIENCE, "job {id} still not done: {s:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until `path` exists and contains `text`, and returns its contents.
fn wait_for_text(path: &Path, text: &str) -> String {
    let start = Instant::now();
    loop {
        let contents = std::fs::read_to_string(path).unwrap_or_default();
        if contents.contains(text) {
            return contents;
        }
        assert!(start.elapsed() < PATIENCE, "{} never said `{text}`:\n{contents}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Cancels every job it was given when dropped, so a failing test leaves no jobs behind.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("scancel").args(&self.0).output();
    }
}

/// The sweep flags of the script's `vanish sweep` line, without `--shard` and `--out`.
fn grid_flags(script: &str) -> Vec<String> {
    let command = script.split("exec vanish sweep").nth(1).expect("the script runs `exec vanish sweep`");
    let command = command.replace("\\\n", " ");
    let flags = command.split("--shard").next().unwrap();
    flags.split_whitespace().map(String::from).collect()
}

#[test]
fn the_readme_job_array_survives_a_cancelled_task_and_merges_to_the_unsharded_sweep() {
    if !cluster() {
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // A private copy of the binary, so a rebuild elsewhere cannot pull it from under a running job.
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(assert_cmd::cargo::cargo_bin("vanish"), bin.join("vanish")).unwrap();
    std::fs::create_dir(dir.join("logs")).unwrap();
    let script_path = script();
    let script = script_path.to_str().unwrap();

    // Task 1 first, holding after its first completed batch of runs (the test hook in
    // train/interrupt.rs) so that the cancel lands mid-run at a known point; then the other tasks.
    let held =
        slurm(dir, &bin, "sbatch", &["--parsable", "--array=1", "--export=ALL,VANISH_TEST_HOLD_AFTER_RUNS=1", script]);
    let rest = slurm(dir, &bin, "sbatch", &["--parsable", "--array=0,2,3", script]);
    let mut cleanup = Cleanup(vec![held.clone(), rest.clone()]);
    let held_log = dir.join(format!("logs/sweep-{held}_1.out"));
    let holding = wait_for_text(&held_log, "holding after");
    let done: usize = holding
        .split("holding after ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the hold line says how many runs are done");
    assert!(done > 0 && done < 180, "{holding}");

    // scancel: SIGTERM to the task, which finishes, keeps its completed runs and exits 143.
    slurm(dir, &bin, "scancel", &[&format!("{held}_1")]);
    let cancelled = wait_for(dir, &bin, &format!("{held}_1"));
    assert_eq!(cancelled, [("CANCELLED".to_string(), "143:0".to_string())]);
    let log = std::fs::read_to_string(&held_log).unwrap();
    assert!(log.contains(&format!("interrupted after {done} of 180 runs")), "{log}");

    // Resubmitted, it resumes: the completed runs are kept, not recomputed.
    let again = slurm(dir, &bin, "sbatch", &["--parsable", "--array=1", script]);
    let merge = slurm(
        dir,
        &bin,
        "sbatch",
        &[
            "--parsable",
            &format!("--dependency=afterok:{rest}:{again}"),
            "--wrap",
            "vanish merge sweep/shard-* --out sweep/all",
        ],
    );
    cleanup.0.extend([again.clone(), merge.clone()]);

    // Meanwhile the same sweep unsharded, for comparison.
    let grid = grid_flags(&std::fs::read_to_string(&script_path).unwrap());
    let whole = dir.join("whole");
    let out = Command::new(bin.join("vanish"))
        .arg("sweep")
        .args(&grid)
        .arg("--out")
        .arg(&whole)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for (id, tasks) in [(&rest, 3), (&again, 1), (&merge, 1)] {
        let s = wait_for(dir, &bin, id);
        assert_eq!(s.len(), tasks, "{id}: {s:?}");
        assert!(s.iter().all(|(state, code)| state == "COMPLETED" && code == "0:0"), "job {id}: {s:?}");
    }
    let resumed = std::fs::read_to_string(dir.join(format!("logs/sweep-{again}_1.out"))).unwrap();
    assert!(resumed.contains(&format!("resumed: {done} of 180 runs")), "{resumed}");
    let merged = std::fs::read_to_string(dir.join(format!("slurm-{merge}.out"))).unwrap();
    assert!(merged.contains("merged 720 runs from 4 folders"), "{merged}");
    for name in ["runs.csv", "summary.json"] {
        let (a, b) = (dir.join("sweep/all").join(name), whole.join(name));
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{name}: merged differs from unsharded");
    }
    eprintln!("the Slurm job array, cancel, resubmission and merge took {:.0} s", started.elapsed().as_secs_f64());
}
