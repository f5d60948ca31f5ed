//! Stop signals: Ctrl-C (SIGINT), and SIGTERM and SIGHUP, which batch systems (Slurm, Kubernetes) send to
//! a preempted, cancelled or timed-out job. The first signal asks training to stop after the step in
//! flight, so what is complete can be written before the process exits with 128 + the signal's number
//! (130 for Ctrl-C, 143 for SIGTERM); a second signal exits at once.
//!
//! Tests need to deliver a signal at a known point, not after a sleep: with
//! `VANISH_TEST_HOLD_AFTER_<WHAT>=N` in the environment, [`hold_point`] stops the process the first time N
//! of WHAT (`STEPS`, `RUNS`) are complete, says so on stderr and waits for a signal.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first stop signal's number; 0 while none has arrived.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// SIGINT's number, used by [`request_interrupt`] and where the platform has no signals.
const SIGINT: i32 = 2;

/// Installs the handler (once per process; later calls do nothing).
pub fn install_interrupt_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        #[cfg(unix)]
        listen();
    });
}

/// A thread that waits for the signals, so nothing but an atomic store happens in signal context.
#[cfg(unix)]
fn listen() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        eprintln!("warning: cannot install the signal handler; Ctrl-C and SIGTERM will stop vanish at once");
        return;
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                std::process::exit(128 + signal);
            }
            let name = match signal {
                SIGINT => "Ctrl-C",
                SIGTERM => "SIGTERM",
                _ => "SIGHUP",
            };
            eprintln!("\n{name}: finishing the current step and writing what is complete (a second signal quits now)");
        }
    });
}

/// Whether a stop signal has arrived.
pub fn interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The exit status for a stopped process: 128 + the signal's number, as shells report it.
pub fn exit_status() -> u8 {
    u8::try_from(128 + SIGNAL.load(Ordering::SeqCst)).unwrap_or(130)
}

/// Simulates a Ctrl-C (for tests).
pub fn request_interrupt() {
    let _ = SIGNAL.compare_exchange(0, SIGINT, Ordering::SeqCst, Ordering::SeqCst);
}

/// The test hook described in the module's documentation: `done` of `what` are complete.
pub fn hold_point(what: &str, done: usize) {
    let var = format!("VANISH_TEST_HOLD_AFTER_{what}");
    let Some(n) = std::env::var(&var).ok().and_then(|v| v.parse::<usize>().ok()) else { return };
    static HELD: std::sync::Once = std::sync::Once::new();
    if done < n || HELD.is_completed() {
        return;
    }
    HELD.call_once(|| {
        eprintln!("{var}: holding after {done} {} until a signal", what.to_lowercase());
        while !interrupted() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
}
