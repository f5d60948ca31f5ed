//! Ctrl-C: the first press asks training to stop after the step in flight, so what is complete can be
//! written before the process exits with status 130; a second press exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; later calls do nothing).
pub fn install_interrupt_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: finishing the current step and writing what is complete (Ctrl-C again to quit now)"
            );
        });
    });
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Simulates a Ctrl-C (for tests).
pub fn request_interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}
