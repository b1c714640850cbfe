//! The per-core runtime: a single-threaded executor for `!Send` tasks, with
//! timers, that each worker lcore drives from its loop.

mod executor;
mod task;
mod timer;

pub use executor::{now, spawn, yield_now, Executor, YieldNow};
pub use task::{JoinError, JoinHandle};
pub use timer::{sleep, sleep_until, timeout, timeout_at, Elapsed, Sleep, Timeout};
