//! Stop signals: Ctrl-C (SIGINT), and SIGTERM and SIGHUP, which batch systems (Slurm, Kubernetes) send to
//! a preempted, cancelled or timed-out job. In the commands that train (train, demo, sweep) the first
//! signal asks training to stop after the step in flight, so what is complete can be written before the
//! process exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM); a second signal, or a
//! signal to any other command, exits at once with that status. (Unix only: elsewhere signals keep their
//! default action.)
//!
//! Tests need to deliver a signal at a known point, not after a sleep: with
//! `VANISH_TEST_HOLD_AFTER_<WHAT>=N` in the environment, [`hold_point`] stops the process the first time N
//! of WHAT (`STEPS`, `RUNS`) are complete, says so on stderr and waits for a signal.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// The first stop signal's number; 0 while none has arrived.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Whether the running command stops gracefully (`stop_gracefully`): only the commands whose loops check
/// `interrupted` do; every other one ends at once on a signal, as without a handler.
static GRACEFUL: AtomicBool = AtomicBool::new(false);

/// Called by the commands that check `interrupted` between steps and runs (train, demo, sweep).
pub fn stop_gracefully() {
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// How many `ExitOnSignal` guards are alive: while any is, a stop signal ends the process at once.
static BLOCKED: AtomicUsize = AtomicUsize::new(0);

/// While this lives, a stop signal ends the process at once with 128 + the signal, even in a command
/// that otherwise stops gracefully: for waits nothing can interrupt from inside (opening a FIFO with no
/// writer, reading a slow or endless stream), where "finish the step in flight" has no meaning and
/// nothing has been written.
pub struct ExitOnSignal(());

/// Starts an `ExitOnSignal` section; a signal that already arrived is handled by the caller as usual.
pub fn exit_on_signal() -> ExitOnSignal {
    BLOCKED.fetch_add(1, Ordering::SeqCst);
    ExitOnSignal(())
}

impl Drop for ExitOnSignal {
    fn drop(&mut self) {
        BLOCKED.fetch_sub(1, Ordering::SeqCst);
    }
}

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
/// Signals the process started with ignored (`nohup` ignores SIGHUP, a shell's `&` SIGINT) stay ignored.
#[cfg(unix)]
fn listen() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let wanted: Vec<i32> = [SIGINT, SIGTERM, SIGHUP].into_iter().filter(|&s| !ignored(s)).collect();
    let Ok(mut signals) = signal_hook::iterator::Signals::new(&wanted) else {
        eprintln!("warning: cannot install the signal handler; Ctrl-C and SIGTERM will stop vanish at once");
        return;
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let again = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_err();
            if again || !GRACEFUL.load(Ordering::SeqCst) || BLOCKED.load(Ordering::SeqCst) > 0 {
                // SAFETY: _exit ends the process at once, without running exit handlers that could race
                // with the main thread's use of the GPU driver; nothing is left to flush but stderr.
                unsafe { libc::_exit(128 + signal) };
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

/// Whether `signal` is ignored (SIG_IGN), as the process inherited it.
#[cfg(unix)]
fn ignored(signal: i32) -> bool {
    // SAFETY: reads the current action into a zeroed sigaction; a null new action changes nothing.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
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
