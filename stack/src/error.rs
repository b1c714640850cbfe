//! Errors of the DPDK layer. Each message says what went wrong and, where
//! there is one, what to do about it.

use std::fmt;

/// The text DPDK gives for an errno value (`rte_strerror`).
pub(crate) fn rte_strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string that stays valid until the next call on this
    // thread; it is copied before returning.
    unsafe {
        let p = dpdk_sys::rte_strerror(errno);
        if p.is_null() {
            return format!("errno {errno}");
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// The current `rte_errno` of this thread.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local integer through the shim.
    unsafe { dpdk_sys::zc_errno() }
}

/// An error of the data plane: EAL, ports, queues, mempools, packets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Eal::init` was called while an EAL is (or was) running in this process.
    #[error("EAL is already initialised in this process (DPDK allows one init per process)")]
    EalAlreadyInitialised,
    /// EAL refused to start.
    #[error("EAL init failed: {reason}{}", if args.is_empty() { String::new() } else { format!(" (arguments: {args})") })]
    EalInit {
        /// `rte_strerror(rte_errno)`.
        reason: String,
        /// The argument vector that was passed, for the log.
        args: String,
    },
    /// No hugepages are free and the configuration does not allow `--no-huge`.
    #[error("no free hugepages: run scripts/setup.sh (as root) to reserve them, or set eal.hugepages = \"auto\" / pass --no-huge")]
    NoHugepages,
    /// A device named in the configuration does not exist.
    #[error("no such port {0:?}: check the vdev/allow list (`--vdev net_null0`, `--allow 0000:01:00.0`)")]
    NoSuchPort(String),
    /// A DPDK call failed.
    #[error("{call} failed: {reason}")]
    Dpdk {
        /// The DPDK function that failed.
        call: &'static str,
        /// `rte_strerror` of the code it returned.
        reason: String,
    },
    /// The port cannot do what the configuration asks.
    #[error("port {port}: {what}")]
    PortCapability {
        /// Port name.
        port: String,
        /// What it lacks.
        what: String,
    },
    /// A queue was asked for twice, or does not exist.
    #[error("port {port}: {kind} queue {queue} {why}")]
    Queue {
        /// Port name.
        port: String,
        /// "rx" or "tx".
        kind: &'static str,
        /// Queue index.
        queue: u16,
        /// "is already in use" or "does not exist".
        why: &'static str,
    },
    /// The mempool is empty: every mbuf is in use. Retry after packets are freed.
    #[error("mempool {0} is exhausted (every mbuf is in use); free packets or enlarge mempool.mbufs")]
    PoolExhausted(String),
    /// A packet operation would go beyond the mbuf's bounds.
    #[error("packet: {0}")]
    Packet(#[from] PacketError),
    /// A core failed (its closure panicked); the message says where.
    #[error("{0}")]
    Worker(String),
    /// Not run as root, or not allowed to do something.
    #[error("{0}")]
    Permission(String),
}

impl Error {
    /// An error for a DPDK call that returned a negative errno `ret` (or
    /// failed and set `rte_errno`, when `ret` is 0 or positive).
    pub(crate) fn dpdk(call: &'static str, ret: i32) -> Self {
        let errno = if ret < 0 { -ret } else { rte_errno() };
        Error::Dpdk { call, reason: rte_strerror(errno) }
    }
}

/// A `Packet` operation that would leave the mbuf's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// `prepend(n)` with `n` > headroom.
    #[error("prepend of {asked} bytes exceeds headroom of {available}")]
    NoHeadroom {
        /// Bytes asked for.
        asked: usize,
        /// Headroom left.
        available: usize,
    },
    /// `append(n)` with `n` > tailroom of the last segment.
    #[error("append of {asked} bytes exceeds tailroom of {available}")]
    NoTailroom {
        /// Bytes asked for.
        asked: usize,
        /// Tailroom left.
        available: usize,
    },
    /// `adj(n)` or `trim(n)` with `n` > the bytes it may remove.
    #[error("removing {asked} bytes exceeds the {available} available")]
    TooShort {
        /// Bytes asked for.
        asked: usize,
        /// Bytes that could be removed.
        available: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Displays an argument vector the way a shell would show it.
pub(crate) struct Args<'a>(pub &'a [String]);

impl fmt::Display for Args<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(a)?;
        }
        Ok(())
    }
}
