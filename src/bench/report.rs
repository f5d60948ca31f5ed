//! What `vanish bench` reports: every section's rows, as a JSON object (`--json`), as terminal tables,
//! and as Markdown tables that `--markdown FILE` splices into a page between two marker lines, so that
//! the figures in docs/performance.md are produced by the command, not written by hand.

use std::fmt::Write;

use serde::Serialize;

use super::{BandwidthRow, BenchOptions, JobRow, MatmulRow, Spread, TrainingRow};
use crate::engine::Counters;

/// The lines between which `--markdown` writes its tables.
pub const BEGIN: &str = "<!-- BEGIN vanish bench -->";
pub const END: &str = "<!-- END vanish bench -->";

/// Everything one `vanish bench` measured.
#[derive(Serialize)]
pub struct BenchReport {
    pub adapter: String,
    pub cpu_threads: usize,
    pub options: BenchOptions,
    /// `--peak-gflops`, when given.
    pub peak_gflops: Option<f64>,
    pub matmul: Vec<MatmulRow>,
    pub bandwidth: Vec<BandwidthRow>,
    pub training: Vec<TrainingRow>,
    pub jobs: Vec<JobRow>,
}

/// `median [min–max]` over `rounds`, with `decimals` decimals.
fn spread_of(median: f64, rounds: &[f64], decimals: usize) -> String {
    let (lo, hi) = rounds.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    format!("{median:.decimals$} [{lo:.decimals$}–{hi:.decimals$}]")
}

/// A counter of a job's GPU run, or `–` for a job that does not report counters.
fn counter(c: Option<&Counters>, f: fn(&Counters) -> u64) -> String {
    c.map_or("–".into(), |c| f(c).to_string())
}

/// `1234567` as `1,234,567`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0.0 { format!("-{out}") } else { out }
}

/// A rate or time with three significant digits and thousands separated.
fn figure(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 100.0 {
        thousands(v)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn figure_spread(s: &Spread) -> String {
    format!("{} [{}–{}]", figure(s.median), figure(s.min), figure(s.max))
}

impl BenchReport {
    /// The terminal tables.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "\nadapter: {}  (host: {} CPU threads)", self.adapter, self.cpu_threads);
        if !self.matmul.is_empty() {
            let clock = self.matmul.first().and_then(|m| m.clock).map_or("?".into(), |c| format!("{c:?}"));
            let _ =
                writeln!(s, "\nmatmul, GFLOP/s (median [min–max]; GPU rows timed with {clock}, CPU rows wall clock)");
            let _ = match self.peak_gflops {
                Some(peak) => writeln!(s, "adapter peak: {peak} GFLOP/s (--peak-gflops); % peak is the median's share"),
                None => {
                    writeln!(s, "adapter peak: not known (wgpu does not report it; --peak-gflops adds a % peak column)")
                }
            };
            let peak_head = if self.peak_gflops.is_some() { format!(" {:>7}", "% peak") } else { String::new() };
            let _ = writeln!(s, "{:<18} {:<28} {:>24} {:>10}{peak_head}", "m×k×n", "variant", "GFLOP/s", "max err");
            for m in &self.matmul {
                let (a, b, c) = m.shape;
                // The CPU row is the host's, not the adapter's: no share of the adapter's peak.
                let share = match self.peak_gflops {
                    Some(peak) if !m.variant.starts_with("cpu") => format!(" {:>7.2}", 100.0 * m.gflops.median / peak),
                    Some(_) => format!(" {:>7}", "–"),
                    None => String::new(),
                };
                let _ = writeln!(
                    s,
                    "{:<18} {:<28} {:>9.2} [{:>5.2}–{:>6.2}] {:>10.1e}{share}",
                    format!("{a}×{b}×{c}"),
                    m.variant,
                    m.gflops.median,
                    m.gflops.min,
                    m.gflops.max,
                    m.max_error
                );
            }
        }
        if !self.bandwidth.is_empty() {
            let _ = writeln!(s, "\nelementwise and reductions, GB/s (median [min–max], {:?})", self.bandwidth[0].clock);
            for b in &self.bandwidth {
                let _ = writeln!(
                    s,
                    "{:<36} {:>9} elements {:>8.2} [{:>6.2}–{:>6.2}]",
                    b.kernel, b.elements, b.gbps.median, b.gbps.min, b.gbps.max
                );
            }
        }
        if !self.training.is_empty() {
            let _ = writeln!(s, "\ntraining, Adam, wall clock per epoch divided by its steps (median [min–max])");
            let _ = writeln!(
                s,
                "{:<24} {:>5} {:<20} {:>22} {:>12} {:>14} {:>10} {:>9} {:>11} {:>9}",
                "model",
                "batch",
                "path",
                "µs/step",
                "samples/s",
                "model-steps/s",
                "disp/step",
                "record µs",
                "submit+GPU",
                "B/epoch"
            );
            for t in &self.training {
                let _ = writeln!(
                    s,
                    "{:<24} {:>5} {:<20} {:>9.1} [{:>5.0}–{:>5.0}] {:>12.0} {:>14.0} {:>10.2} {:>9.1} {:>11.1} {:>9}",
                    t.model,
                    t.batch,
                    t.path,
                    t.us_per_step.median,
                    t.us_per_step.min,
                    t.us_per_step.max,
                    t.samples_per_s,
                    t.model_steps_per_s,
                    t.dispatches_per_step,
                    t.record_us_per_step,
                    t.submit_wait_us_per_step,
                    t.readback_bytes_per_epoch
                );
            }
        }
        if !self.jobs.is_empty() {
            let _ = writeln!(
                s,
                "\njobs end to end, wall seconds, median [min–max] of {} rounds (cold: an empty shader cache; warm: the cache the cold run filled)",
                self.jobs.first().map_or(0, |j| j.cpu_rounds_s.len())
            );
            let _ = writeln!(
                s,
                "{:<28} {:>19} {:>19} {:>19} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>12}",
                "job",
                "GPU cold",
                "GPU warm",
                "CPU ref",
                "cold/CPU",
                "warm/CPU",
                "PyTorch",
                "warm/PT",
                "pipelines",
                "dispatches",
                "submits",
                "bytes read"
            );
            for j in &self.jobs {
                let c = |f: fn(&Counters) -> u64| counter(j.counters.as_ref(), f);
                let _ = writeln!(
                    s,
                    "{:<28} {:>19} {:>19} {:>19} {:>9.2} {:>9.2} {:>9} {:>9} {:>10} {:>10} {:>8} {:>12}",
                    j.job,
                    spread_of(j.gpu_cold_s, &j.gpu_cold_rounds_s, 2),
                    spread_of(j.gpu_warm_s, &j.gpu_warm_rounds_s, 2),
                    spread_of(j.cpu_s, &j.cpu_rounds_s, 2),
                    j.cold_ratio,
                    j.warm_ratio,
                    j.peer_s.map_or("–".into(), |p| format!("{p:.2}")),
                    j.warm_peer_ratio.map_or("–".into(), |r| format!("{r:.2}")),
                    c(|c| c.pipelines_compiled),
                    c(|c| c.dispatches),
                    c(|c| c.submits),
                    c(|c| c.bytes_read_back)
                );
            }
            for line in self.peer_notes() {
                let _ = writeln!(s, "{line}");
            }
        }
        s
    }

    /// What the MNIST jobs ran on and against: their data, and the peer with each thread count.
    fn peer_notes(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(data) = self.jobs.iter().find_map(|j| j.data.as_ref()) {
            lines.push(format!("MNIST jobs' data: {data}."));
        }
        for j in self.jobs.iter().filter(|j| j.data.is_some()) {
            match &j.peer {
                Some(peer) => {
                    let runs: Vec<String> =
                        j.peer_threads_s.iter().map(|(t, s)| format!("{s:.2} s with {t} thread(s)")).collect();
                    lines.push(format!(
                        "{}: the peer, {peer} (examples/peers/mnist_jobs.py, the whole process): {}; the faster is the \
                         PyTorch column.",
                        j.job,
                        runs.join(", ")
                    ));
                }
                None => lines.push(format!("{}: no peer (PyTorch is not installed here).", j.job)),
            }
        }
        lines
    }

    /// The Markdown tables `--markdown` writes, headed by what ran where (`command` is the command line).
    pub fn markdown(&self, command: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Measured by `{command}` on {} (host: {} CPU threads). Times are median [min–max] of the repetitions.",
            self.adapter, self.cpu_threads
        );
        if !self.jobs.is_empty() {
            let rounds = self.jobs.first().map_or(0, |j| j.cpu_rounds_s.len());
            let _ = writeln!(
                s,
                "\nThe jobs end to end, wall seconds over {rounds} round(s) of cold (an empty shader cache), warm (the \
                 cache the cold run filled) and the CPU reference; the ratios divide the medians.\n"
            );
            s += "| job | GPU cold | GPU warm | CPU reference (f64) | cold / CPU | warm / CPU | PyTorch (CPU) | warm / PyTorch | pipelines | dispatches | submits | bytes read back |\n";
            s += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
            for j in &self.jobs {
                let c = j.counters.as_ref();
                let _ = writeln!(
                    s,
                    "| {} | {} s | {} s | {} s | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} |",
                    j.job,
                    spread_of(j.gpu_cold_s, &j.gpu_cold_rounds_s, 2),
                    spread_of(j.gpu_warm_s, &j.gpu_warm_rounds_s, 2),
                    spread_of(j.cpu_s, &j.cpu_rounds_s, 2),
                    j.cold_ratio,
                    j.warm_ratio,
                    j.peer_s.map_or("–".into(), |p| format!("{p:.2} s")),
                    j.warm_peer_ratio.map_or("–".into(), |r| format!("{r:.2}")),
                    counter(c, |c| c.pipelines_compiled),
                    c.map_or("–".into(), |c| thousands(c.dispatches as f64)),
                    counter(c, |c| c.submits),
                    c.map_or("–".into(), |c| thousands(c.bytes_read_back as f64)),
                );
            }
            let notes = self.peer_notes();
            if !notes.is_empty() {
                s += "\n";
                for line in notes {
                    let _ = writeln!(s, "{line}  ");
                }
            }
        }
        if !self.matmul.is_empty() {
            let clock = self.matmul.first().and_then(|m| m.clock).map_or("?".into(), |c| format!("{c:?}"));
            let peak = self.peak_gflops.map_or("the adapter's peak is not known".into(), |p| {
                format!("the adapter's peak is {p} GFLOP/s (`--peak-gflops`)")
            });
            let _ =
                writeln!(s, "\nMatmul, GFLOP/s (GPU rows timed with {clock}, the CPU row by wall clock; {peak}).\n");
            let mut variants: Vec<&str> = Vec::new();
            let mut shapes: Vec<(usize, usize, usize)> = Vec::new();
            for m in &self.matmul {
                if !variants.contains(&m.variant.as_str()) {
                    variants.push(&m.variant);
                }
                if !shapes.contains(&m.shape) {
                    shapes.push(m.shape);
                }
            }
            let _ = writeln!(s, "| m×k×n | {} |", variants.join(" | "));
            let _ = writeln!(s, "|---|{}", "---|".repeat(variants.len()));
            for shape in shapes {
                let cells: Vec<String> = variants
                    .iter()
                    .map(|v| {
                        self.matmul
                            .iter()
                            .find(|m| m.shape == shape && m.variant == *v)
                            .map_or("–".into(), |m| figure_spread(&m.gflops))
                    })
                    .collect();
                let _ = writeln!(s, "| {}×{}×{} | {} |", shape.0, shape.1, shape.2, cells.join(" | "));
            }
        }
        if !self.bandwidth.is_empty() {
            let _ = writeln!(s, "\nElementwise kernels and reductions, GB/s ({:?}).\n", self.bandwidth[0].clock);
            s += "| kernel | elements | GB/s |\n|---|---|---|\n";
            for b in &self.bandwidth {
                let _ = writeln!(s, "| {} | {} | {} |", b.kernel, thousands(b.elements as f64), figure_spread(&b.gbps));
            }
        }
        if !self.training.is_empty() {
            s += "\nTraining steps (Adam), wall clock per epoch divided by its steps.\n\n";
            s += "| model | batch | path | µs/step | model-steps/s | dispatches/step | bytes read back/epoch |\n";
            s += "|---|---|---|---|---|---|---|\n";
            for t in &self.training {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {:.2} | {} |",
                    t.model,
                    t.batch,
                    t.path,
                    figure_spread(&t.us_per_step),
                    figure(t.model_steps_per_s),
                    t.dispatches_per_step,
                    thousands(t.readback_bytes_per_epoch as f64)
                );
            }
        }
        s
    }
}

/// `page` with the text between its `BEGIN` and `END` lines replaced by `tables`; an error says which
/// marker is missing or out of order.
pub fn splice(page: &str, tables: &str) -> Result<String, String> {
    let begin = page.find(BEGIN).ok_or_else(|| format!("no line `{BEGIN}` to write the tables after"))?;
    let end = page.find(END).ok_or_else(|| format!("no line `{END}` to write the tables before"))?;
    if end < begin {
        return Err(format!("`{END}` comes before `{BEGIN}`"));
    }
    let after_begin = begin + BEGIN.len();
    Ok(format!("{}\n{}{}", &page[..after_begin], tables, &page[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let page = format!("intro\n{BEGIN}\nold table\n{END}\nanalysis\n");
        let new = splice(&page, "| new |\n").unwrap();
        assert_eq!(new, format!("intro\n{BEGIN}\n| new |\n{END}\nanalysis\n"));
        assert_eq!(splice(&new, "| new |\n").unwrap(), new, "splicing the same tables again changes nothing");
        assert!(splice("no markers", "x").unwrap_err().contains("BEGIN"));
        assert!(splice(&format!("{END}\n{BEGIN}"), "x").unwrap_err().contains("before"));
    }

    #[test]
    fn figures_are_readable() {
        assert_eq!(thousands(4999788.0), "4,999,788");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(figure(1340701.2), "1,340,701");
        assert_eq!(figure(12.345), "12.3");
        assert_eq!(figure(0.5), "0.50");
    }
}
