//! TIME-WAIT without sockets (RFC 9293 §3.6, §3.10.7.4).
//!
//! The side that closes first waits 2·MSL before its 4-tuple may carry a new
//! connection, so that a peer whose FIN was not acknowledged (our last ACK
//! lost) gets its retransmitted FIN answered with an ACK rather than a RST,
//! and old duplicates cannot enter a new incarnation. zcnet keeps no smoltcp
//! socket for that: once a closing connection's last ACK has gone out, its
//! 4-tuple, the sequence numbers that ACK carried and the peer's last
//! timestamp go into this table — about 60 bytes an entry, no rings — and the
//! socket is reused at once. The ingress path looks a segment up here when
//! the connection table has no connection for it:
//!
//! - a FIN (the peer's retransmission) is acknowledged again and the 2·MSL
//!   timer restarts;
//! - a RST is ignored (RFC 1337: no TIME-WAIT assassination);
//! - a SYN whose sequence number is beyond the old connection's last one
//!   opens a new connection (RFC 9293 §3.10.7.4, RFC 6191's spirit); any
//!   other segment gets an ACK (rate-limited with the challenge ACKs).
//!
//! Active opens reuse a tuple in TIME-WAIT only as Linux's `tcp_tw_reuse`
//! does: when the old connection used timestamps (RFC 7323) and the new one's
//! first timestamp is later, so the peer's PAWS check tells old duplicates
//! from new segments. Entries expire after `net.tcp.time_wait_secs`; the
//! table holds at most `net.tcp.time_wait_max` per core, evicting the oldest
//! (counted) when full. Every operation is O(1).

use super::frame::{FourTuple, TupleMap};
use std::collections::VecDeque;

/// What a connection left behind when it entered TIME-WAIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeWaitEntry {
    /// Our SND.NXT (the sequence number after our FIN).
    pub(crate) snd_nxt: u32,
    /// Our RCV.NXT (the ACK of the peer's FIN).
    pub(crate) rcv_nxt: u32,
    /// The window our last ACK advertised (raw field).
    pub(crate) window: u16,
    /// The peer's last timestamp, if the connection used timestamps.
    pub(crate) peer_tsval: Option<u32>,
    /// When the entry expires (µs on the stack's clock).
    expires: i64,
    /// When the tuple last sent a segment (µs): the connection's last ACK
    /// as it entered TIME-WAIT, or an ACK the table sent since. An active
    /// open may take the tuple over only once the timestamp clock has
    /// moved on from it, so its SYN's TSval is newer than any the peer saw.
    entered: i64,
}

/// The TIME-WAIT tuples of one core.
pub(crate) struct TimeWaitTable {
    entries: TupleMap<TimeWaitEntry>,
    /// Tuples in the order their timers were (re)started: expiry order,
    /// since every entry lives the same 2·MSL. A tuple whose timer restarted
    /// appears again further back; its older place is skipped.
    order: VecDeque<(FourTuple, i64)>,
    duration_us: i64,
    max: usize,
    /// Entries evicted before their time because the table was full.
    pub(crate) evicted: u64,
}

impl TimeWaitTable {
    pub(crate) fn new(duration_secs: f64, max: usize) -> TimeWaitTable {
        TimeWaitTable {
            entries: TupleMap::default(),
            order: VecDeque::new(),
            duration_us: (duration_secs * 1e6) as i64,
            max,
            evicted: 0,
        }
    }

    /// Tuples in TIME-WAIT.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records that `tuple` entered TIME-WAIT now (`now` in µs). A table of
    /// size 0 keeps nothing.
    pub(crate) fn insert(
        &mut self,
        tuple: FourTuple,
        snd_nxt: u32,
        rcv_nxt: u32,
        window: u16,
        peer_tsval: Option<u32>,
        now: i64,
    ) {
        if self.max == 0 || self.duration_us <= 0 {
            return;
        }
        self.expire(now);
        while self.entries.len() >= self.max && !self.entries.contains_key(&tuple) {
            match self.order.pop_front() {
                Some((old, at)) => {
                    if self.entries.get(&old).is_some_and(|e| e.expires == at) {
                        self.entries.remove(&old);
                        self.evicted += 1;
                    }
                }
                None => break,
            }
        }
        let expires = now + self.duration_us;
        self.entries.insert(tuple, TimeWaitEntry { snd_nxt, rcv_nxt, window, peer_tsval, expires, entered: now });
        self.order.push_back((tuple, expires));
    }

    /// The entry for `tuple`, if it is in TIME-WAIT at `now`.
    #[inline]
    pub(crate) fn get(&self, tuple: &FourTuple, now: i64) -> Option<TimeWaitEntry> {
        self.entries.get(tuple).filter(|e| e.expires > now).copied()
    }

    /// Restarts the 2·MSL timer of `tuple` (a retransmitted FIN arrived),
    /// noting the peer's newest timestamp.
    pub(crate) fn restart(&mut self, tuple: &FourTuple, peer_tsval: Option<u32>, now: i64) {
        let expires = now + self.duration_us;
        if let Some(e) = self.entries.get_mut(tuple) {
            e.expires = expires;
            if peer_tsval.is_some() {
                e.peer_tsval = peer_tsval;
            }
            self.order.push_back((*tuple, expires));
        }
    }

    /// Notes that the table sent `tuple`'s peer an ACK at `now` (µs): it
    /// carried the current TSval, so reuse waits for the next tick again.
    pub(crate) fn sent_ack(&mut self, tuple: &FourTuple, now: i64) {
        if let Some(e) = self.entries.get_mut(tuple) {
            e.entered = now;
        }
    }

    /// Ends `tuple`'s TIME-WAIT early (a new connection takes it over).
    pub(crate) fn remove(&mut self, tuple: &FourTuple) {
        self.entries.remove(tuple);
    }

    /// True if an active open must not use `tuple` now: it is in TIME-WAIT
    /// and cannot be reused safely (see the module docs: the old connection
    /// used no timestamps, or the timestamp clock has not moved on since).
    pub(crate) fn blocks_active_open(&self, tuple: &FourTuple, now: i64) -> bool {
        self.get(tuple, now).is_some_and(|e| e.peer_tsval.is_none() || now - e.entered < super::clock::TSVAL_TICK_US)
    }

    /// Drops the entries whose time is up.
    pub(crate) fn expire(&mut self, now: i64) {
        while let Some(&(tuple, at)) = self.order.front() {
            if at > now {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&tuple).is_some_and(|e| e.expires == at) {
                self.entries.remove(&tuple);
            }
        }
        // Restarted timers leave stale places behind: keep the queue from
        // outgrowing the table by much.
        if self.order.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.order.retain(|(t, at)| entries.get(t).is_some_and(|e| e.expires == *at));
        }
    }

    /// The earliest expiry, for the core's timers.
    pub(crate) fn next_expiry(&self) -> Option<i64> {
        self.order.front().map(|&(_, at)| at)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

impl super::stack::Inner {
    /// A segment for `tuple`, which is in TIME-WAIT (`e`). Returns true if
    /// it is a SYN that may open a new connection (the entry is gone then);
    /// false if it was answered or ignored here (the caller drops it).
    pub(crate) fn time_wait_segment(
        &mut self,
        now_us: i64,
        tuple: &FourTuple,
        e: TimeWaitEntry,
        t: &super::frame::TcpInfo,
        src_mac: [u8; 6],
    ) -> bool {
        use super::rfc5961::seq_lt;
        if t.rst {
            // RFC 1337: a RST must not end TIME-WAIT early.
            self.stats.tcp.time_wait_rst_ignored += 1;
            return false;
        }
        if t.syn && !t.ack_flag && seq_lt(e.rcv_nxt, t.seq) {
            // A new connection's SYN, beyond everything the old one sent.
            self.time_wait.remove(tuple);
            self.stats.tcp.time_wait_reused += 1;
            return true;
        }
        let ack = super::segment::BareAck {
            tuple: *tuple,
            seq: e.snd_nxt,
            ack: e.rcv_nxt,
            window: e.window,
            tsecr: e.peer_tsval.map(|old| t.tsval.unwrap_or(old)),
            dst_mac: src_mac,
        };
        if t.fin {
            // The peer did not get our last ACK: acknowledge its FIN again
            // and restart the 2·MSL timer (RFC 9293 §3.10.7.4).
            self.time_wait.restart(tuple, t.tsval, now_us);
            if self.send_bare_ack(&ack) {
                self.stats.tcp.time_wait_acks += 1;
                self.time_wait.sent_ack(tuple, now_us);
            }
        } else if self.challenges.allow(now_us) && self.send_bare_ack(&ack) {
            // Anything else (an old duplicate): an ACK, rate-limited.
            self.stats.tcp.time_wait_acks += 1;
            self.time_wait.sent_ack(tuple, now_us);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local_ip: Ipv4Addr::new(198, 18, 0, 2),
            local_port: port,
            remote_ip: Ipv4Addr::new(198, 18, 0, 1),
            remote_port: 80,
        }
    }

    const SEC: i64 = 1_000_000;

    #[test]
    fn an_entry_lives_its_2msl_and_a_fin_restarts_it() {
        let mut t = TimeWaitTable::new(60.0, 100);
        t.insert(tuple(1), 10, 20, 512, Some(7), 0);
        assert_eq!(t.get(&tuple(1), 59 * SEC).map(|e| (e.snd_nxt, e.rcv_nxt)), Some((10, 20)));
        assert_eq!(t.get(&tuple(1), 60 * SEC), None, "expired at 60 s");
        t.restart(&tuple(1), Some(8), 30 * SEC);
        assert_eq!(t.get(&tuple(1), 80 * SEC).and_then(|e| e.peer_tsval), Some(8));
        t.expire(80 * SEC);
        assert_eq!(t.len(), 1, "the stale place of the first timer did not remove it");
        t.expire(90 * SEC);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_full_table_evicts_the_oldest_and_counts_it() {
        let mut t = TimeWaitTable::new(60.0, 3);
        for p in 1..=4 {
            t.insert(tuple(p), 0, 0, 0, None, p as i64);
        }
        assert_eq!((t.len(), t.evicted), (3, 1));
        assert!(t.get(&tuple(1), 10).is_none());
        assert!(t.get(&tuple(4), 10).is_some());
    }

    #[test]
    fn active_opens_reuse_only_timestamped_tuples_after_a_tick() {
        let mut t = TimeWaitTable::new(60.0, 10);
        t.insert(tuple(1), 0, 0, 0, Some(5), 0);
        t.insert(tuple(2), 0, 0, 0, None, 0);
        assert!(t.blocks_active_open(&tuple(1), 10), "within the same timestamp tick");
        assert!(!t.blocks_active_open(&tuple(1), super::super::clock::TSVAL_TICK_US));
        assert!(t.blocks_active_open(&tuple(2), 30 * SEC), "no timestamps: wait out TIME-WAIT");
        assert!(!t.blocks_active_open(&tuple(3), 0), "not in TIME-WAIT at all");
    }

    #[test]
    fn an_ack_the_table_sends_holds_reuse_back_another_tick() {
        let tick = super::super::clock::TSVAL_TICK_US;
        let mut t = TimeWaitTable::new(60.0, 10);
        t.insert(tuple(1), 0, 0, 0, Some(5), 0);
        // A retransmitted FIN answered at 1.5 ticks: that ACK carried the
        // TSval of tick 1, so a SYN in tick 1 would not be newer.
        t.sent_ack(&tuple(1), tick + tick / 2);
        assert!(t.blocks_active_open(&tuple(1), 2 * tick), "within a tick of the last ACK");
        assert!(!t.blocks_active_open(&tuple(1), 2 * tick + tick / 2));
        t.sent_ack(&tuple(9), 0); // no entry: nothing to note
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_zero_sized_table_keeps_nothing() {
        let mut t = TimeWaitTable::new(60.0, 0);
        t.insert(tuple(1), 0, 0, 0, None, 0);
        assert_eq!(t.len(), 0);
    }
}
