//! [`NetStats`]: the counters of one core's stack, and [`stats`] to read
//! them from a task.

use super::datagram::DatagramStats;
use super::device::DeviceStats;
use super::stack::current;
use std::io;

/// Counters of one core's stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// The device's counters.
    pub device: DeviceStats,
    /// TCP connections in use (in a handshake, open or closing; not the free ones).
    pub tcp_sockets: usize,
    /// mbufs of the core's pool in use when the counters were read (held by
    /// sockets, queues, the device or the application).
    pub mbufs_in_use: usize,
    /// Connections reset or closed before `accept()` took them; their
    /// places in the backlog were freed.
    pub dropped_before_accept: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// SYNs dropped because the listener's backlog was full (the client
    /// retries; nothing is reset).
    pub syn_backlog_full: u64,
    /// The zero-copy datagram path.
    pub datagrams: DatagramStats,
    /// `read_with` calls that needed a linear copy (data wrapped around the ring).
    pub read_wraps: u64,
    /// `write_with` calls served from scratch space (free space wrapped around the ring).
    pub write_wraps: u64,
    /// Connections reclaimed after closing.
    pub reclaimed: u64,
}

/// Counters of the calling core's stack (inside [`crate::run`]).
pub fn stats() -> io::Result<NetStats> {
    current()?.stats()
}
