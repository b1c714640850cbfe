//! The per-core runtime: a single-threaded executor for `!Send` tasks, with
//! timers, that each worker lcore drives from its loop, and messages
//! between cores ([`submit_to`]).

mod executor;
#[cfg(feature = "hyper")]
mod hyper_rt;
pub(crate) mod mailbox;
mod task;
mod timer;

pub use executor::{now, spawn, yield_now, Executor, Unparker, YieldNow};
#[cfg(feature = "hyper")]
pub use hyper_rt::{HyperExecutor, HyperTimer};
pub use mailbox::{submit_to, Submit};
pub use task::{JoinError, JoinHandle};
pub use timer::{sleep, sleep_until, timeout, timeout_at, Elapsed, Sleep, Timeout};
