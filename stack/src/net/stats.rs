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
    /// Received mbufs queued for UDP and raw sockets that have not taken
    /// them yet; at most twice [`NetStats::queued_mbufs_share`].
    pub queued_mbufs: usize,
    /// The share of the pool this core's UDP and raw socket queues hold
    /// freely, `S`: a quarter of the pool's free mbufs when the core
    /// started. Past `S`, only a socket holding fewer than `S` over the
    /// number of such sockets (at least one frame; a socket alone, `2 S`)
    /// may queue more, and at
    /// `2 S` none may (half the free pool: the rest stays for receiving,
    /// TCP and sending); what is refused is dropped and counted, in
    /// `datagrams.core_share_full` for UDP and `RawSocket::dropped` for raw
    /// sockets.
    pub queued_mbufs_share: usize,
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
    /// TCP payload bytes copied out of receive rings for the application:
    /// reads into its buffers, `AsyncBufRead`'s copy, and `read_with`'s
    /// linear copy of wrapped data (in-place `read_with` copies nothing).
    pub copied_to_app: u64,
    /// TCP payload bytes copied from the application's buffers into send
    /// rings: writes, and `write_with`'s wrapped case (in place: nothing).
    pub copied_from_app: u64,
    /// Connections reclaimed after closing.
    pub reclaimed: u64,
    /// TCP segments the stack answered or refused itself (RFC 5961,
    /// TIME-WAIT).
    pub tcp: TcpStats,
    /// Frames handed between cores (see `docs/ARCHITECTURE.md`, flows and cores).
    pub steering: SteeringStats,
}

/// Frames this core handed to the cores that own their flows, and took from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SteeringStats {
    /// Frames that arrived here for a flow another core owns, handed to it.
    pub steered_out: u64,
    /// Frames other cores handed to this one.
    pub steered_in: u64,
    /// Frames dropped because the queue to their owner was full.
    pub steer_drops: u64,
    /// Copies of ARP frames sent to the other cores of this address.
    pub arp_copies: u64,
    /// SYNs dropped (not reset) because this core owns their flow but has
    /// no listener on the port, while another core has one.
    pub syn_owner_not_listening: u64,
}

/// What zcnet's TCP screening did (RFC 5961 and TIME-WAIT, before smoltcp).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// RSTs exactly at RCV.NXT, let through to reset their connection.
    pub rst_accepted: u64,
    /// RSTs inside the receive window but not at RCV.NXT: challenged, dropped.
    pub rst_challenged: u64,
    /// RSTs outside the receive window: dropped.
    pub rst_out_of_window: u64,
    /// SYNs on synchronised connections: challenged, dropped.
    pub syn_challenged: u64,
    /// Challenge ACKs sent.
    pub challenge_acks: u64,
    /// Challenge ACKs not sent because of the rate limit (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// Connections in TIME-WAIT now.
    pub time_wait: usize,
    /// TIME-WAIT entries evicted early because the table was full.
    pub time_wait_evicted: u64,
    /// ACKs sent for tuples in TIME-WAIT (mostly retransmitted FINs).
    pub time_wait_acks: u64,
    /// Tuples taken out of TIME-WAIT by a new connection (a SYN beyond the
    /// old one, or an active open that may reuse it).
    pub time_wait_reused: u64,
    /// RSTs for tuples in TIME-WAIT, ignored (RFC 1337).
    pub time_wait_rst_ignored: u64,
}

/// The TCP connections of one core by state, for telemetry: as the
/// connection table last saw each one, kept as states change (no walk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SocketStates {
    /// Ports listened on.
    pub listening_ports: u64,
    /// Connections in SYN-SENT or SYN-RECEIVED.
    pub handshaking: u64,
    /// Connections in ESTABLISHED.
    pub established: u64,
    /// Connections closing (FIN-WAIT, CLOSE-WAIT, CLOSING, LAST-ACK, and
    /// TIME-WAIT while smoltcp still holds the socket).
    pub closing: u64,
}

/// Counters of the calling core's stack (inside [`crate::run`]).
pub fn stats() -> io::Result<NetStats> {
    current()?.stats()
}

/// `a += b` for counter structs: every field added.
macro_rules! add_fields {
    ($t:ty: $($f:ident),+ $(,)?) => {
        impl std::ops::AddAssign<&$t> for $t {
            fn add_assign(&mut self, other: &$t) {
                $(self.$f += &other.$f;)+
            }
        }
    };
}

add_fields!(DeviceStats: rx_packets, tx_packets, drop_no_mbuf, drop_tx_full, drop_bad_checksum, drop_oversized, drop_malformed,
    rx_limited_no_mbuf);
add_fields!(DatagramStats: delivered, malformed, bad_checksum, fragments, ip_options, queue_full, core_share_full, sent,
    tx_dropped);
add_fields!(TcpStats: rst_accepted, rst_challenged, rst_out_of_window, syn_challenged, challenge_acks,
    challenge_acks_limited, time_wait, time_wait_evicted, time_wait_acks, time_wait_reused, time_wait_rst_ignored);
add_fields!(SteeringStats: steered_out, steered_in, steer_drops, arp_copies, syn_owner_not_listening);
add_fields!(NetStats: device, tcp_sockets, mbufs_in_use, queued_mbufs, queued_mbufs_share, dropped_before_accept, accepted, syn_backlog_full,
    datagrams, read_wraps, write_wraps, copied_to_app, copied_from_app, reclaimed, tcp, steering);

impl NetStats {
    /// The counters of several cores added up.
    pub fn total<'a>(cores: impl IntoIterator<Item = &'a NetStats>) -> NetStats {
        cores.into_iter().fold(NetStats::default(), |mut sum, c| {
            sum += c;
            sum
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_adds_every_counter_of_every_core() {
        let mut a = NetStats { accepted: 3, ..Default::default() };
        a.device.rx_packets = 10;
        a.steering.steered_out = 4;
        a.tcp.time_wait = 1;
        a.datagrams.sent = 2;
        let mut b = a;
        b.device.rx_packets = 5;
        let t = NetStats::total([&a, &b]);
        assert_eq!((t.accepted, t.device.rx_packets, t.steering.steered_out), (6, 15, 8));
        assert_eq!((t.tcp.time_wait, t.datagrams.sent), (2, 4));
        assert_eq!(NetStats::total([]), NetStats::default());
    }
}
