//! The `vanish` binary: parse, run, and turn any error into a message and a non-zero exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    let cli = vanish::cli::Cli::parse();
    vanish::train::install_interrupt_handler();
    match vanish::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Ctrl-C: what was complete has been written; 130 is the shell's code for SIGINT.
        Err(e) if vanish::train::interrupted() => {
            eprintln!("{e:#}");
            std::process::ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so `vanish demo | head` would make `println!` panic when `head` exits. Restoring
/// the default action ends the process quietly instead, as other command-line tools do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
