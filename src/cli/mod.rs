//! The command-line front end: one module per subcommand, no maths here. Raw arguments become one
//! validated configuration before any work starts; errors reach `main` as `anyhow` errors.

/// `print!` on standard output that returns an error (naming standard output) where the write fails, a
/// full disk say, instead of panicking as `print!` does.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::report_out::print_stdout(&format!($($arg)*))
    };
}

/// `println!` as `out!`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::report_out::print_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod args;
mod bench;
mod check;
mod demo;
mod devices;
mod grads;
mod merge;
mod outputs;
mod report_out;
mod sweep;
mod theory;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "vanish", version, about = "Train MLPs with WGSL compute shaders and measure vanishing gradients")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The notebook's experiment done right: per-layer gradients of sigmoid, tanh, ReLU and sigmoid +
    /// batch norm at depth 11
    Demo(demo::DemoArgs),
    /// Train one configuration and record its gradients
    Train(train::TrainArgs),
    /// List the GPU adapters and their limits
    Devices(devices::DevicesArgs),
    /// Benchmark the kernels and the training paths (each validated against the reference first)
    Bench(bench::BenchArgs),
    /// Loss, logits and every gradient of the batch in a safetensors file (to compare with PyTorch or JAX)
    Grads(grads::GradsArgs),
    /// Verify the GPU engine against the f64 reference on this machine's GPU and driver
    Check(check::CheckArgs),
    /// Depth sweeps: a grid of configurations, theory beside measurement, verdicts, plots and an HTML
    /// report; shardable (--shard I/N) and resumable
    Sweep(sweep::SweepArgs),
    /// Combine the output folders of a sharded sweep into one report
    Merge(merge::MergeArgs),
    /// Mean-field theory of an activation at (σ_w², σ_b²): q*, χ₁, c*, χ_c, the depth scale ξ_c and the
    /// critical σ_w²
    Theory(theory::TheoryArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Train(a) => train::run(a),
        Command::Devices(a) => devices::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Grads(a) => grads::run(a),
        Command::Check(a) => check::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Theory(a) => theory::run(a),
    }
}
