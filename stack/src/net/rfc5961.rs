//! RFC 5961: what a blind attacker's RST or SYN may do to a connection.
//!
//! smoltcp resets a connection on any RST inside the receive window, and
//! drops a SYN on a synchronised connection silently. RFC 5961 narrows the
//! first and answers the second; zcnet screens both segments before smoltcp
//! sees them (`NetCore`'s ingress path hands them here):
//!
//! - §3.2: a RST whose sequence number is exactly RCV.NXT resets the
//!   connection (smoltcp gets it); one elsewhere in the receive window draws
//!   a challenge ACK and is dropped; one outside it is dropped.
//! - §4.2: a SYN on a synchronised connection draws a challenge ACK and is
//!   dropped, whatever its sequence number.
//! - §7: challenge ACKs are rate-limited per core (`net.tcp.challenge_acks_per_sec`).
//!
//! RCV.NXT is private to smoltcp, so the connection table keeps it from what
//! it sees (`NetCore::note_tx`, `NetCore::feed`): every ACK smoltcp sends
//! carries RCV.NXT exactly at that moment, and between two ACKs RCV.NXT grows
//! by exactly the bytes smoltcp queued in order (the receive ring's length,
//! measured around each segment it was handed — the application does not run
//! meanwhile) plus one for an accepted FIN. So the value is exact, not an
//! estimate, even while an ACK is delayed. Until the connection has sent its
//! first ACK the value is unknown, and smoltcp's own rules apply (it is still
//! in its handshake). A blind RST therefore passes only with the exact
//! 32-bit number, never because it falls somewhere in the window.

use super::conn_table::ConnId;
use super::frame::TcpInfo;
use super::segment::BareAck;
use super::stack::Inner;
use smoltcp::time::Instant;

/// True if `a` is before `b` in sequence space (RFC 9293 §3.4).
#[inline]
pub(crate) fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// A token bucket of challenge ACKs: `per_sec` a second, bursts up to the same.
#[derive(Debug)]
pub(crate) struct ChallengeLimiter {
    per_sec: u32,
    tokens: f64,
    last_us: i64,
}

impl ChallengeLimiter {
    pub(crate) fn new(per_sec: u32) -> ChallengeLimiter {
        ChallengeLimiter { per_sec, tokens: per_sec as f64, last_us: 0 }
    }

    /// Takes a token if one is there at `now` (µs).
    pub(crate) fn allow(&mut self, now_us: i64) -> bool {
        let elapsed = (now_us - self.last_us).max(0) as f64 / 1e6;
        self.last_us = now_us;
        self.tokens = (self.tokens + elapsed * self.per_sec as f64).min(self.per_sec as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Inner {
    /// Screens a RST for connection `id` (any state but SYN-SENT). True if
    /// smoltcp may process it: it is exactly at RCV.NXT, or RCV.NXT is not
    /// known yet. Otherwise the RST is answered (in the window) or ignored.
    pub(crate) fn screen_rst(&mut self, now: Instant, id: ConnId, t: &TcpInfo, src_mac: [u8; 6]) -> bool {
        let Some(rcv_nxt) = self.conns.get(id).rcv_nxt else { return true };
        if t.seq == rcv_nxt {
            self.stats.tcp.rst_accepted += 1;
            return true;
        }
        let s = self.conns.socket(id);
        let window = (s.recv_capacity() - s.recv_queue()).max(1) as u32;
        if seq_lt(t.seq, rcv_nxt) || !seq_lt(t.seq, rcv_nxt.wrapping_add(window)) {
            // Outside the window: RFC 9293 drops it silently.
            self.stats.tcp.rst_out_of_window += 1;
            return false;
        }
        self.stats.tcp.rst_challenged += 1;
        self.challenge_ack(now, id, t, src_mac);
        false
    }

    /// A SYN on synchronised connection `id` (RFC 5961 §4.2): a challenge
    /// ACK; the SYN is dropped either way.
    pub(crate) fn screen_syn(&mut self, now: Instant, id: ConnId, t: &TcpInfo, src_mac: [u8; 6]) {
        self.stats.tcp.syn_challenged += 1;
        self.challenge_ack(now, id, t, src_mac);
    }

    /// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` for connection `id`, if the
    /// rate limit allows (RFC 5961 §7).
    fn challenge_ack(&mut self, now: Instant, id: ConnId, t: &TcpInfo, src_mac: [u8; 6]) {
        let c = self.conns.get(id);
        let (Some(tuple), Some(seq), Some(ack)) = (c.tuple, c.snd_nxt, c.rcv_nxt) else { return };
        let tsecr = self.conns.socket(id).timestamp_enabled().then(|| t.tsval.or(c.peer_tsval).unwrap_or(0));
        let a = BareAck { tuple, seq, ack, window: c.window_sent, tsecr, dst_mac: src_mac };
        if !self.challenges.allow(now.total_micros()) {
            self.stats.tcp.challenge_acks_limited += 1;
            return;
        }
        if self.send_bare_ack(&a) {
            self.stats.tcp.challenge_acks += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_order_wraps_around() {
        assert!(seq_lt(1, 2));
        assert!(seq_lt(u32::MAX, 0));
        assert!(!seq_lt(0, u32::MAX));
        assert!(!seq_lt(5, 5));
    }

    #[test]
    fn the_limiter_allows_its_rate_and_refills() {
        let mut l = ChallengeLimiter::new(10);
        let allowed = (0..100).filter(|_| l.allow(0)).count();
        assert_eq!(allowed, 10, "a burst of its rate");
        assert!(!l.allow(50_000), "half a token after 50 ms");
        assert!(l.allow(150_000), "one and a half after 150 ms");
    }
}
