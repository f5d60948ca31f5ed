//! The `vanish` binary: parse, run, and turn any error into a message and a non-zero exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = vanish::cli::Cli::parse();
    match vanish::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
