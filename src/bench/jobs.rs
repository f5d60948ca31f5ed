//! The jobs people run, end to end: the README's headline sweep, `train --epochs 200` and `demo`, and
//! the research-scale pair on MNIST-shaped data (the depth sweep of 784→30×d→10 and the wide
//! 784→256×4→10), each as a child process of this binary on the GPU with an empty driver shader cache
//! (cold), again with the cache the cold run filled (warm), and on the CPU reference — wall clock, with
//! the ratios and the GPU runs' counters. The MNIST jobs also run in PyTorch eager on the CPU, the peer
//! (`examples/peers/mnist_jobs.py`), with 1 and 2 threads, wherever `python3 -c 'import torch'` works. A
//! kernel benchmark says what a dispatch costs; this says what a user waits for. The runs are repeated
//! in rounds, one after another, and the medians reported: a shared machine's speed drifts by more than
//! the differences worth measuring.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use super::{BenchError, BenchOptions};
use crate::engine::Counters;

/// Rounds of (cold, warm, CPU) per job; `--quick` runs one, and so do the MNIST jobs (minutes each).
pub const ROUNDS: usize = 3;

/// The peer's script, written out for `python3` to run.
const PEER_SCRIPT: &str = include_str!("../../examples/peers/mnist_jobs.py");

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
    /// The data of the MNIST jobs: the `--dataset` given, or the synthetic set of the same shape.
    pub data: Option<String>,
    /// The peer's wall seconds (the whole process, as for vanish's runs) with 1 and 2 threads, and
    /// what it is; `None` where the job has no peer or PyTorch is not installed.
    pub peer: Option<String>,
    pub peer_threads_s: Vec<(usize, f64)>,
    /// The faster of the peer's runs, and `gpu_warm_s` over it: below 1, vanish wins.
    pub peer_s: Option<f64>,
    pub warm_peer_ratio: Option<f64>,
}

struct Job {
    name: String,
    args: Vec<String>,
    /// Writes an output folder (`--out`).
    out: bool,
    /// Prints `counters` with `--json`.
    json: bool,
    /// The peer's job (`--job` of the peer script), for the MNIST jobs.
    peer: Option<&'static str>,
    rounds: usize,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn jobs(quick: bool, data: &str) -> Vec<Job> {
    let (depths, seeds, epochs) = if quick { ("1..=3", 1, 5) } else { ("1..=20", 3, 200) };
    let runs = depths.split("..=").nth(1).and_then(|d| d.parse::<u64>().ok()).unwrap_or(1) * 6 * seeds;
    let rounds = if quick { 1 } else { ROUNDS };
    let (mnist_depths, mnist_seeds) = if quick { ("1,2", 1) } else { ("1..=10", 2) };
    let mnist_runs = if quick { 6 } else { 120 };
    vec![
        Job {
            name: format!("headline sweep ({runs} runs)"),
            args: words(&format!(
                "sweep --depths {depths} --activations sigmoid,tanh,relu --batch-norm off,on --seeds {seeds}"
            )),
            out: true,
            json: true,
            peer: None,
            rounds,
        },
        Job {
            name: format!("train --epochs {epochs}"),
            args: words(&format!("train --epochs {epochs}")),
            out: false,
            json: true,
            peer: None,
            rounds,
        },
        Job { name: "demo".into(), args: words("demo"), out: false, json: false, peer: None, rounds },
        Job {
            name: format!("MNIST depth sweep ({mnist_runs} runs)"),
            args: words(&format!(
                "sweep --dataset {data} --widths 30 --depths {mnist_depths} --activations sigmoid,tanh,relu \
                 --batch-norm off,on --seeds {mnist_seeds} --epochs 1 --batch-size 32"
            )),
            out: true,
            json: true,
            peer: Some("sweep"),
            rounds: 1,
        },
        Job {
            name: "wide: 784→256×4→10".into(),
            args: words(&format!(
                "train --dataset {data} --width 256 --depth 4 --activation sigmoid --batch-size 128 --epochs 1"
            )),
            out: false,
            json: true,
            peer: Some("wide"),
            rounds: 1,
        },
    ]
}

/// MNIST's shape without MNIST: 6,700 training and 3,300 test rows of 28×28 bytes in 10 classes (each
/// class a random template of blobs, each row its template with noise), written as the four IDX files
/// into `dir`; `quick`: 600 and 300.
fn synthetic_mnist(dir: &Path, quick: bool) -> std::io::Result<()> {
    use rand::Rng;
    let mut r = crate::rng::rng(0, crate::rng::Stream::Data);
    let templates: Vec<Vec<f32>> = (0..10).map(|_| (0..784).map(|_| r.random_range(0.0f32..1.0)).collect()).collect();
    let (train, test) = if quick { (600, 300) } else { (6700, 3300) };
    for (name, rows) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..rows).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = labels
            .iter()
            .flat_map(|&l| templates[l as usize].clone())
            .map(|t| ((t * 0.7 + r.random_range(0.0f32..0.3)).clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        std::fs::write(
            dir.join(format!("{name}-images-idx3-ubyte")),
            crate::data::idx::encode(&[rows, 28, 28], &pixels),
        )?;
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), crate::data::idx::encode(&[rows], &labels))?;
    }
    Ok(())
}

/// What `python3` and PyTorch are here, or why the peer cannot run.
fn torch_version() -> Result<String, String> {
    let out = Command::new("python3")
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err("`python3 -c 'import torch'` failed".into())
    }
}

/// The peer's wall seconds for `job` on `data` with `threads` threads.
fn time_peer(script: &Path, job: &str, data: &str, threads: usize, quick: bool) -> Result<f64, BenchError> {
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(["--dataset", data, "--job", job, "--threads", &threads.to_string()]);
    if quick {
        cmd.arg("--quick");
    }
    let start = Instant::now();
    let output = cmd.output().map_err(|e| invalid(&format!("peer {job}"), &e.to_string()))?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(invalid(&format!("peer {job}"), &String::from_utf8_lossy(&output.stderr)));
    }
    Ok(seconds)
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

/// Every job cold, warm and on the CPU reference; `adapter` is passed on to the GPU runs, `dataset`
/// (`mnist:DIR` or a Keras `npz:PATH`, which keep their own split) is the MNIST jobs' data.
pub fn jobs_section(
    opts: &BenchOptions,
    adapter: Option<&str>,
    dataset: Option<&str>,
) -> Result<Vec<JobRow>, BenchError> {
    let scratch = tempfile::tempdir().map_err(|e| invalid("setup", &e.to_string()))?;
    let (data, data_note) = match dataset {
        Some(d) => (d.to_string(), d.to_string()),
        None => {
            let dir = scratch.path().join("synthetic-mnist");
            std::fs::create_dir_all(&dir)
                .and_then(|()| synthetic_mnist(&dir, opts.quick))
                .map_err(|e| invalid("the synthetic MNIST-shaped data", &e.to_string()))?;
            let rows = if opts.quick { "600 + 300" } else { "6,700 + 3,300" };
            (format!("mnist:{}", dir.display()), format!("synthetic, MNIST's shape ({rows} rows of 28×28, 10 classes)"))
        }
    };
    let peer = torch_version();
    let script = scratch.path().join("mnist_jobs.py");
    std::fs::write(&script, PEER_SCRIPT).map_err(|e| invalid("the peer's script", &e.to_string()))?;
    if let Err(why) = &peer {
        eprintln!("PyTorch is not here ({why}): the MNIST jobs run without their peer");
    }
    let threads: Vec<usize> = [1, 2]
        .into_iter()
        .filter(|&t| t == 1 || std::thread::available_parallelism().map_or(1, |n| n.get()) >= t)
        .collect();
    let mut gpu = vec!["--device".to_string(), "gpu".to_string()];
    if let Some(a) = adapter {
        gpu.extend(["--adapter".to_string(), a.to_string()]);
    }
    let cpu = vec!["--device".to_string(), "cpu".to_string()];
    let mut rows = Vec::new();
    for (k, job) in jobs(opts.quick, &data).into_iter().enumerate() {
        let (mut cold, mut warm, mut on_cpu) = (Vec::new(), Vec::new(), Vec::new());
        let mut stdout = Vec::new();
        for round in 0..job.rounds {
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
        let peer_threads_s = match (job.peer, &peer) {
            (Some(name), Ok(_)) => threads
                .iter()
                .map(|&t| time_peer(&script, name, &data, t, opts.quick).map(|s| (t, s)))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let peer_s = peer_threads_s.iter().map(|&(_, s)| s).min_by(f64::total_cmp);
        rows.push(JobRow {
            data: job.peer.map(|_| data_note.clone()),
            peer: job.peer.and(peer.as_ref().ok()).map(|v| format!("PyTorch {v} eager, CPU")),
            peer_threads_s,
            peer_s,
            warm_peer_ratio: peer_s.map(|p| median(&warm) / p),
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
