//! [`NetStats`] as a flat list of named counters: the names telemetry
//! answers with (DPDK allows letters, digits, `_` and `/` in them) and the
//! values in the same order.

use crate::net::{NetStats, SocketStates};
use std::ffi::CStr;

/// How many counters one core publishes.
pub(crate) const FIELDS: usize = 49;

/// The counters' names, in publication order. Nested structs are
/// flattened with a prefix (`tcp_`, `datagram_`, `steering_`); the device's
/// counters keep their own names.
pub(crate) const NAMES: [&CStr; FIELDS] = [
    c"rx_packets",
    c"tx_packets",
    c"drop_no_mbuf",
    c"drop_tx_full",
    c"drop_bad_checksum",
    c"drop_oversized",
    c"drop_malformed",
    c"rx_limited_no_mbuf",
    c"tcp_sockets",
    c"mbufs_in_use",
    c"queued_mbufs",
    c"queued_mbufs_share",
    c"dropped_before_accept",
    c"accepted",
    c"syn_backlog_full",
    c"datagram_delivered",
    c"datagram_malformed",
    c"datagram_bad_checksum",
    c"datagram_fragments",
    c"datagram_ip_options",
    c"datagram_queue_full",
    c"datagram_core_share_full",
    c"datagram_sent",
    c"datagram_tx_dropped",
    c"read_wraps",
    c"write_wraps",
    c"copied_to_app",
    c"copied_from_app",
    c"reclaimed",
    c"tcp_rst_accepted",
    c"tcp_rst_challenged",
    c"tcp_rst_out_of_window",
    c"tcp_syn_challenged",
    c"tcp_challenge_acks",
    c"tcp_challenge_acks_limited",
    c"tcp_time_wait",
    c"tcp_time_wait_evicted",
    c"tcp_time_wait_acks",
    c"tcp_time_wait_reused",
    c"tcp_time_wait_rst_ignored",
    c"steering_steered_out",
    c"steering_steered_in",
    c"steering_steer_drops",
    c"steering_arp_copies",
    c"steering_syn_owner_not_listening",
    c"tcp_listening_ports",
    c"tcp_handshaking",
    c"tcp_established",
    c"tcp_closing",
];

/// The counters of `s` and `sockets`, in the order of [`NAMES`].
pub(crate) fn fields(s: &NetStats, sockets: &SocketStates) -> [u64; FIELDS] {
    let (d, g, t, st) = (&s.device, &s.datagrams, &s.tcp, &s.steering);
    [
        d.rx_packets,
        d.tx_packets,
        d.drop_no_mbuf,
        d.drop_tx_full,
        d.drop_bad_checksum,
        d.drop_oversized,
        d.drop_malformed,
        d.rx_limited_no_mbuf,
        s.tcp_sockets as u64,
        s.mbufs_in_use as u64,
        s.queued_mbufs as u64,
        s.queued_mbufs_share as u64,
        s.dropped_before_accept,
        s.accepted,
        s.syn_backlog_full,
        g.delivered,
        g.malformed,
        g.bad_checksum,
        g.fragments,
        g.ip_options,
        g.queue_full,
        g.core_share_full,
        g.sent,
        g.tx_dropped,
        s.read_wraps,
        s.write_wraps,
        s.copied_to_app,
        s.copied_from_app,
        s.reclaimed,
        t.rst_accepted,
        t.rst_challenged,
        t.rst_out_of_window,
        t.syn_challenged,
        t.challenge_acks,
        t.challenge_acks_limited,
        t.time_wait as u64,
        t.time_wait_evicted,
        t.time_wait_acks,
        t.time_wait_reused,
        t.time_wait_rst_ignored,
        st.steered_out,
        st.steered_in,
        st.steer_drops,
        st.arp_copies,
        st.syn_owner_not_listening,
        sockets.listening_ports,
        sockets.handshaking,
        sockets.established,
        sockets.closing,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid_telemetry_keys() {
        for (i, n) in NAMES.iter().enumerate() {
            let s = n.to_str().expect("ascii");
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{s}");
            assert!(!NAMES[..i].contains(n), "{s} twice");
        }
    }

    #[test]
    fn each_counter_lands_under_its_own_name() {
        let mut s = NetStats::default();
        s.device.drop_malformed = 1;
        s.accepted = 2;
        s.datagrams.queue_full = 3;
        s.tcp.time_wait_reused = 4;
        s.steering.steer_drops = 5;
        let sockets = SocketStates { established: 6, ..Default::default() };
        let v = fields(&s, &sockets);
        let at = |name: &str| v[NAMES.iter().position(|n| n.to_str() == Ok(name)).expect(name)];
        assert_eq!(
            [at("drop_malformed"), at("accepted"), at("datagram_queue_full"), at("tcp_time_wait_reused")],
            [1, 2, 3, 4]
        );
        assert_eq!((at("steering_steer_drops"), at("tcp_established")), (5, 6));
        assert_eq!(v.iter().sum::<u64>(), 21, "a counter appears under two names");
    }
}
