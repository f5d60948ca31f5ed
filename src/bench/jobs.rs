//! The jobs people run, end to end: the README's headline sweep, `train --epochs 200` and `demo`, each
//! as a child process of this binary on the GPU with an empty driver shader cache (cold), again with
//! the cache the cold run filled (warm), and on the CPU reference — wall clock, with the ratios and the
//! GPU runs' counters. A kernel benchmark says what a dispatch costs; this says what a user waits for.
//! The three runs are repeated in `ROUNDS` rounds, one after another, and the medians reported: a shared
//! machine's speed drifts by more than the differences worth measuring.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use super::{BenchError, BenchOptions};
use crate::engine::Counters;

/// Rounds of (cold, warm, CPU) per job; `--quick` runs one.
pub const ROUNDS: usize = 3;

/// One job's figures.
#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    pub job: String,
    /// The command's arguments after `vanish` (without the device flags and output folder).
    pub args: Vec<String>,
    /// Wall seconds on the GPU with an empty shader cache, with the cache the cold run left, and on
    /// the CPU reference: the medians of the rounds.
    pub gpu_cold_s: f64,
    pub gpu_warm_s: f64,
    pub cpu_s: f64,
    /// Every round's seconds, in the order run.
    pub gpu_cold_rounds_s: Vec<f64>,
    pub gpu_warm_rounds_s: Vec<f64>,
    pub cpu_rounds_s: Vec<f64>,
    /// `gpu_cold_s / cpu_s` and `gpu_warm_s / cpu_s`: below 1, the GPU engine wins.
    pub cold_ratio: f64,
    pub warm_ratio: f64,
    /// What the warm GPU run reported (`--json`), for the jobs that report it.
    pub counters: Option<Counters>,
}

struct Job {
    name: String,
    args: Vec<String>,
    /// Writes an output folder (`--out`).
    out: bool,
    /// Prints `counters` with `--json`.
    json: bool,
}

fn jobs(quick: bool) -> Vec<Job> {
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let (depths, seeds, epochs) = if quick { ("1..=3", 1, 5) } else { ("1..=20", 3, 200) };
    let runs = depths.split("..=").nth(1).and_then(|d| d.parse::<u64>().ok()).unwrap_or(1) * 6 * seeds;
    vec![
        Job {
            name: format!("headline sweep ({runs} runs)"),
            args: words(&format!(
                "sweep --depths {depths} --activations sigmoid,tanh,relu --batch-norm off,on --seeds {seeds}"
            )),
            out: true,
            json: true,
        },
        Job {
            name: format!("train --epochs {epochs}"),
            args: words(&format!("train --epochs {epochs}")),
            out: false,
            json: true,
        },
        Job { name: "demo".into(), args: words("demo"), out: false, json: false },
    ]
}

/// Runs this binary with `args` (plus an output folder when the job writes one), with `cache` as the
/// driver's shader cache; returns the wall seconds and stdout.
fn time(job: &Job, device: &[String], cache: &Path, scratch: &Path) -> Result<(f64, Vec<u8>), BenchError> {
    let exe = std::env::current_exe().map_err(|e| invalid(&job.name, &e.to_string()))?;
    let mut cmd = Command::new(exe);
    cmd.args(&job.args).args(device);
    if job.out {
        let out = scratch.join(format!("out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        cmd.arg("--out").arg(out);
    }
    if job.json {
        cmd.arg("--json");
    }
    // Mesa (lavapipe, RADV, ...) and NVIDIA's driver each keep compiled shaders in a cache folder.
    cmd.env("MESA_SHADER_CACHE_DIR", cache).env("__GL_SHADER_DISK_CACHE_PATH", cache);
    let start = Instant::now();
    let output = cmd.output().map_err(|e| invalid(&job.name, &e.to_string()))?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(invalid(&job.name, &String::from_utf8_lossy(&output.stderr)));
    }
    Ok((seconds, output.stdout))
}

fn invalid(job: &str, detail: &str) -> BenchError {
    BenchError::Invalid { what: format!("the job `{job}`"), detail: detail.trim().to_string() }
}

/// Every job cold, warm and on the CPU reference; `adapter` is passed on to the GPU runs.
pub fn jobs_section(opts: &BenchOptions, adapter: Option<&str>) -> Result<Vec<JobRow>, BenchError> {
    let scratch = tempfile::tempdir().map_err(|e| invalid("setup", &e.to_string()))?;
    let mut gpu = vec!["--device".to_string(), "gpu".to_string()];
    if let Some(a) = adapter {
        gpu.extend(["--adapter".to_string(), a.to_string()]);
    }
    let cpu = vec!["--device".to_string(), "cpu".to_string()];
    let rounds = if opts.quick { 1 } else { ROUNDS };
    let mut rows = Vec::new();
    for (k, job) in jobs(opts.quick).into_iter().enumerate() {
        let (mut cold, mut warm, mut on_cpu) = (Vec::new(), Vec::new(), Vec::new());
        let mut stdout = Vec::new();
        for round in 0..rounds {
            let cache = scratch.path().join(format!("shader-cache-{k}-{round}"));
            std::fs::create_dir_all(&cache).map_err(|e| invalid(&job.name, &e.to_string()))?;
            cold.push(time(&job, &gpu, &cache, scratch.path())?.0);
            let (w, out) = time(&job, &gpu, &cache, scratch.path())?;
            warm.push(w);
            stdout = out;
            on_cpu.push(time(&job, &cpu, &cache, scratch.path())?.0);
        }
        let (cold_s, warm_s, cpu_s) = (median(&cold), median(&warm), median(&on_cpu));
        let counters = job
            .json
            .then(|| serde_json::from_slice::<serde_json::Value>(&stdout).ok())
            .flatten()
            .and_then(|v| serde_json::from_value::<Counters>(v["counters"].clone()).ok());
        rows.push(JobRow {
            job: job.name,
            args: job.args,
            gpu_cold_s: cold_s,
            gpu_warm_s: warm_s,
            cpu_s,
            gpu_cold_rounds_s: cold,
            gpu_warm_rounds_s: warm,
            cpu_rounds_s: on_cpu,
            cold_ratio: cold_s / cpu_s,
            warm_ratio: warm_s / cpu_s,
            counters,
        });
    }
    Ok(rows)
}

/// The median of `v` (the mean of the middle two of an even count).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[7.5]), 7.5);
    }
}
