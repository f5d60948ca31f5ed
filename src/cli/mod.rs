//! The command-line front end: one module per subcommand, no maths here. Raw arguments become one
//! validated configuration before any work starts; errors reach `main` as `anyhow` errors.

mod args;
mod bench;
mod demo;
mod devices;
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
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Train(a) => train::run(a),
        Command::Devices(a) => devices::run(a),
        Command::Bench(a) => bench::run(a),
    }
}
