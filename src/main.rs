//! The `vanish` binary: parse, run, and turn any error into a message and a non-zero exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    set_signal_defaults();
    narrow_llvmpipe_vectors();
    let cli = vanish::cli::Cli::parse();
    vanish::interrupt::install_interrupt_handler();
    match vanish::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Ctrl-C, SIGTERM or SIGHUP: what was complete has been written; 128 + the signal, as shells say.
        Err(e) if vanish::interrupt::interrupted() => {
            eprintln!("{e:#}");
            std::process::ExitCode::from(vanish::interrupt::exit_status())
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

/// llvmpipe (Mesa's CPU Vulkan driver, CI's stand-in for a GPU) runs invocations as SIMD lanes, as wide
/// as the host's vectors (8 floats with AVX2). Every storage-buffer access whose address differs between
/// invocations becomes a branch per lane, and LLVM's coroutine pass, which llvmpipe runs on every compute
/// shader, costs more than linearly in branches: with 4 lanes the fused kernel compiles in about half the
/// time and runs as fast, since those accesses cost the same per lane at any width (docs/performance.md).
/// Other drivers do not read the variable; a value the user set is kept.
fn narrow_llvmpipe_vectors() {
    if std::env::var_os("LP_NATIVE_VECTOR_WIDTH").is_none() {
        // SAFETY: called first thing in main, before any thread starts (nothing reads the environment
        // concurrently); Mesa reads the variable when the Vulkan instance is created, later.
        unsafe { std::env::set_var("LP_NATIVE_VECTOR_WIDTH", "128") };
    }
}
