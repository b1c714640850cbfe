//! A process-wide stop flag, set by SIGINT/SIGTERM or by code. Every loop
//! checks [`stop_requested`] each turn, so programs end cleanly (exit code 0)
//! instead of dying inside DPDK. A second signal ends the process at once.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicU32 = AtomicU32::new(0);

/// True once a stop was requested (by a signal or [`request_stop`]).
#[inline]
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Asks every loop to stop.
pub fn request_stop() {
    STOP.store(true, Ordering::Relaxed);
}

/// Clears the flag (for tests that run several loops in one process).
pub fn reset_stop() {
    STOP.store(false, Ordering::Relaxed);
}

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only async-signal-safe operations here: atomics and _exit.
    if SIGNALS.fetch_add(1, Ordering::Relaxed) >= 1 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the SIGINT/SIGTERM handlers. Idempotent.
pub fn install_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches
        // atomics and calls _exit, both async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}
