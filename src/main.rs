//! The `vanish` binary: parse, run, and turn any error into a message and a non-zero exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    set_signal_defaults();
    let cli = vanish::cli::Cli::parse();
    vanish::train::install_interrupt_handler();
    match vanish::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Ctrl-C, SIGTERM or SIGHUP: what was complete has been written; 128 + the signal, as shells say.
        Err(e) if vanish::train::interrupted() => {
            eprintln!("{e:#}");
            std::process::ExitCode::from(vanish::train::exit_status())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so `vanish demo | head` would make `println!` panic when `head` exits. Restoring
/// the default action ends the process quietly instead, as other command-line tools do. SIGXFSZ (a
/// write past `ulimit -f`) would kill the process without a word; ignored, the write fails with EFBIG
/// and becomes an error naming the file, like a full disk.
fn set_signal_defaults() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL and SIG_IGN are valid actions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
