//! The per-core runtime: a single-threaded executor for `!Send` tasks, with
//! timers, that each worker lcore drives from its loop, and messages
//! between cores ([`submit_to`]).

mod executor;
pub(crate) mod mailbox;
mod task;
mod timer;

pub use executor::{now, spawn, yield_now, Executor, Unparker, YieldNow};
pub use mailbox::{submit_to, Submit};
pub use task::{JoinError, JoinHandle};
pub use timer::{sleep, sleep_until, timeout, timeout_at, Elapsed, Sleep, Timeout};
