//! The connection table: every TCP connection of a core, found by its
//! 4-tuple in one hash lookup, each in a smoltcp `SocketSet` of its own.
//!
//! smoltcp looks a segment's socket up by scanning every socket of the set
//! it is given, visits every socket on each egress pass, and asks each for
//! its next deadline. Handing it a set of exactly one socket — the
//! connection the demux found — makes all three O(1), whatever the number
//! of connections. The table also decides which connections smoltcp's
//! egress visits: only those with work (the `dirty` queue: a segment
//! arrived, the application read or wrote, a timer is due), and it keeps
//! every connection's next deadline in a heap, so an idle connection costs
//! nothing per turn.
//!
//! Slots are reused: a closed connection's socket, with its two rings,
//! waits on a free list for the next connection (no allocation, no zeroing).

use super::frame::{FourTuple, TupleMap};
use super::wakers::WakerList;
use crate::prefetch::{prefetch, LINE};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// How many cache lines of a socket the prefetches fetch (on ingress and
/// egress): smoltcp's `tcp::Socket` is 440 bytes in 0.14 and
/// need not start on a line; 14 was measured no worse than 8.
const SOCKET_PREFETCH_LINES: usize = 14;

/// Below this many connections their state stays in cache and looking them
/// up ahead only costs: on the wire, rr at 32 connections lost 5% with
/// the prefetches, while 4096 and 8192 gained 10% and 1024 3-5%.
const PREFETCH_MIN_CONNS: usize = 512;

/// Index of a connection in its core's table.
pub(crate) type ConnId = usize;

/// Closed sockets (with their rings) kept for reuse per core.
const FREE_MAX: usize = 256;

/// Who a connection belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// On the free list (socket closed, or no socket at all).
    Free,
    /// A passive open in its handshake, for the listener on this port.
    Pending(u16),
    /// A passive open established and waiting for `accept` on this port.
    Ready(u16),
    /// Owned by a `TcpStream` (or its halves) or a connect in progress.
    Open,
    /// Its owner dropped it: closing gracefully, reclaimed when done.
    Closing,
}

/// One connection: a one-socket `SocketSet` and what the table knows about it.
pub(crate) struct Conn {
    set: SocketSet<'static>,
    handle: Option<SocketHandle>,
    pub(crate) role: Role,
    pub(crate) tuple: Option<FourTuple>,
    /// Receive and transmit ring sizes of the socket.
    buffers: (usize, usize),
    /// The state seen when the table last looked (see `NetCore::settle`);
    /// changed only through [`ConnTable::set_seen`], which keeps the counts.
    seen: State,
    /// In the dirty queue.
    queued: bool,
    /// In the list of connections that may wait for a neighbor's MAC.
    pub(crate) arp_wait: bool,
    /// When smoltcp next wants this connection polled.
    deadline: Option<i64>,
    /// The earliest deadline this connection has in the heap.
    armed: Option<i64>,
    /// Tasks waiting to read (or for the connection to be established).
    pub(crate) readers: WakerList,
    /// Tasks waiting to write, flush or for the handshake.
    pub(crate) writers: WakerList,
    /// The local port is an ephemeral port of an active open.
    pub(crate) ephemeral: bool,
    /// The peer's FIN was seen, so a later CLOSED state is an orderly end.
    pub(crate) fin_seen: bool,
    /// SND.NXT, from the segments zcnet sent (see `NetCore::note_tx`).
    pub(crate) snd_nxt: Option<u32>,
    /// RCV.NXT: the last ACK number sent, plus what arrived in order since.
    pub(crate) rcv_nxt: Option<u32>,
    /// The window field of the last ACK sent.
    pub(crate) window_sent: u16,
    /// The peer's TSval on its last SYN, FIN or RST.
    pub(crate) peer_tsval: Option<u32>,
    /// Where the socket lives (inside `set`, whose buffer never moves),
    /// for cache hints only: never read through, and stale once the slot
    /// drops its set (see [`ConnTable::prefetch`]).
    socket_at: usize,
    /// Where the socket's next in-order byte will land in its receive
    /// ring, as of the last segment fed to it (see
    /// [`ConnTable::note_ring_positions`]; 0 before one); for cache hints only, like
    /// `socket_at`.
    rx_write_at: usize,
    /// The front of the socket's transmit ring, for cache hints only.
    tx_front: usize,
    /// Where the application's next write to the transmit ring will land,
    /// if known (0 if not): the ring's front when it was empty after the
    /// last segment (smoltcp starts an empty ring over at its front).
    tx_write_at: usize,
}

impl Conn {
    /// The state the table last saw the connection in.
    pub(crate) fn seen(&self) -> State {
        self.seen
    }

    fn empty() -> Conn {
        Conn {
            set: SocketSet::new(Vec::new()),
            handle: None,
            role: Role::Free,
            tuple: None,
            buffers: (0, 0),
            seen: State::Closed,
            queued: false,
            arp_wait: false,
            deadline: None,
            armed: None,
            readers: WakerList::default(),
            writers: WakerList::default(),
            ephemeral: false,
            fin_seen: false,
            snd_nxt: None,
            rcv_nxt: None,
            window_sent: 0,
            peer_tsval: None,
            socket_at: 0,
            rx_write_at: 0,
            tx_front: 0,
            tx_write_at: 0,
        }
    }
}

/// Every TCP connection of one core.
pub(crate) struct ConnTable {
    conns: Vec<Conn>,
    /// Free slots whose socket (and rings) can be reused.
    free_ready: Vec<ConnId>,
    /// Free slots without a socket.
    free_empty: Vec<ConnId>,
    by_tuple: TupleMap<ConnId>,
    /// Connections with work for smoltcp's egress, in arrival order.
    dirty: VecDeque<ConnId>,
    /// (deadline in µs, connection): the earliest first.
    timers: BinaryHeap<Reverse<(i64, ConnId)>>,
    /// Connections whose last egress sent nothing while they had something
    /// to send: they may wait for ARP (see `NetCore`).
    arp_waiters: Vec<ConnId>,
    in_use: usize,
    /// The connections in use by their `seen` state.
    states: StateCounts,
}

/// Connections in use by the state the table last saw each in: kept as
/// [`ConnTable::set_seen`] records changes, so that reading them (telemetry,
/// every 100 ms) walks nothing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateCounts {
    /// SYN-SENT or SYN-RECEIVED.
    pub(crate) handshaking: u64,
    /// ESTABLISHED.
    pub(crate) established: u64,
    /// FIN-WAIT-1/2, CLOSE-WAIT, CLOSING, LAST-ACK, and TIME-WAIT until the
    /// table reclaims the socket.
    pub(crate) closing: u64,
}

impl StateCounts {
    /// The counter of `state`; none for LISTEN (a passive open before its
    /// SYN) and CLOSED.
    fn slot(&mut self, state: State) -> Option<&mut u64> {
        match state {
            State::SynSent | State::SynReceived => Some(&mut self.handshaking),
            State::Established => Some(&mut self.established),
            State::Listen | State::Closed => None,
            State::FinWait1
            | State::FinWait2
            | State::CloseWait
            | State::Closing
            | State::LastAck
            | State::TimeWait => Some(&mut self.closing),
        }
    }

    fn moved(&mut self, from: State, to: State) {
        if let Some(n) = self.slot(from) {
            debug_assert!(*n > 0, "no connection counted in {from}");
            *n = n.saturating_sub(1);
        }
        if let Some(n) = self.slot(to) {
            *n += 1;
        }
    }
}

impl ConnTable {
    pub(crate) fn new() -> ConnTable {
        ConnTable {
            conns: Vec::new(),
            free_ready: Vec::new(),
            free_empty: Vec::new(),
            by_tuple: TupleMap::default(),
            dirty: VecDeque::new(),
            timers: BinaryHeap::new(),
            arp_waiters: Vec::new(),
            in_use: 0,
            states: StateCounts::default(),
        }
    }

    /// A closed socket with rings of `rx`/`tx` bytes: a free one of that
    /// size (options back at their defaults) or a new one.
    pub(crate) fn alloc(&mut self, rx: usize, tx: usize) -> ConnId {
        let reusable = self.free_ready.iter().rposition(|&id| self.conns[id].buffers == (rx, tx));
        let id = match reusable {
            Some(i) => {
                let id = self.free_ready.swap_remove(i);
                let s = self.socket_mut(id);
                s.set_nagle_enabled(true);
                s.set_keep_alive(None);
                s.set_timeout(None);
                s.set_ack_delay(Some(Duration::from_millis(10)));
                s.set_hop_limit(None);
                // smoltcp turns timestamps off when a peer did not offer them.
                s.set_tsval_generator(Some(super::clock::tsval));
                id
            }
            None => {
                let id = self.free_empty.pop().unwrap_or_else(|| {
                    self.conns.push(Conn::empty());
                    self.conns.len() - 1
                });
                let tx_ring = vec![0u8; tx];
                let tx_front = tx_ring.as_ptr() as usize;
                let mut socket =
                    tcp::Socket::new(tcp::SocketBuffer::new(vec![0u8; rx]), tcp::SocketBuffer::new(tx_ring));
                // Timestamps (RFC 7323): PAWS at the peer lets a tuple in
                // TIME-WAIT be reused safely (see `time_wait`).
                socket.set_tsval_generator(Some(super::clock::tsval));
                let c = &mut self.conns[id];
                c.set = SocketSet::new(Vec::with_capacity(1));
                let handle = c.set.add(socket);
                c.socket_at = c.set.get::<tcp::Socket>(handle) as *const tcp::Socket as usize;
                c.rx_write_at = 0;
                c.tx_front = tx_front;
                c.tx_write_at = 0;
                c.handle = Some(handle);
                c.buffers = (rx, tx);
                id
            }
        };
        let c = &mut self.conns[id];
        c.role = Role::Open;
        // A free slot was left CLOSED by `release` (or never used): counted nowhere.
        debug_assert_eq!(c.seen, State::Closed);
        c.ephemeral = false;
        c.fin_seen = false;
        c.snd_nxt = None;
        c.rcv_nxt = None;
        c.window_sent = 0;
        c.peer_tsval = None;
        self.in_use += 1;
        id
    }

    /// The connection's socket.
    pub(crate) fn socket(&self, id: ConnId) -> &tcp::Socket<'static> {
        let c = &self.conns[id];
        c.set.get::<tcp::Socket>(c.handle.expect("a connection in use has a socket"))
    }

    /// The connection's socket, to change.
    pub(crate) fn socket_mut(&mut self, id: ConnId) -> &mut tcp::Socket<'static> {
        let c = &mut self.conns[id];
        c.set.get_mut::<tcp::Socket>(c.handle.expect("a connection in use has a socket"))
    }

    /// The connection's socket and its readers' and writers' wait lists.
    pub(crate) fn socket_and_waiters(
        &mut self,
        id: ConnId,
    ) -> (&mut tcp::Socket<'static>, &mut WakerList, &mut WakerList) {
        let c = &mut self.conns[id];
        let s = c.set.get_mut::<tcp::Socket>(c.handle.expect("a connection in use has a socket"));
        (s, &mut c.readers, &mut c.writers)
    }

    /// The one-socket set to hand smoltcp for this connection.
    pub(crate) fn set_mut(&mut self, id: ConnId) -> &mut SocketSet<'static> {
        &mut self.conns[id].set
    }

    pub(crate) fn get(&self, id: ConnId) -> &Conn {
        &self.conns[id]
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> &mut Conn {
        &mut self.conns[id]
    }

    /// Files the connection under its 4-tuple.
    pub(crate) fn insert_tuple(&mut self, id: ConnId, tuple: FourTuple) {
        self.conns[id].tuple = Some(tuple);
        self.by_tuple.insert(tuple, id);
    }

    /// The connection with this 4-tuple.
    #[inline]
    pub(crate) fn lookup(&self, tuple: &FourTuple) -> Option<ConnId> {
        self.by_tuple.get(tuple).copied()
    }

    /// Hints the CPU to fetch the connection the egress pass visits
    /// `ahead` connections from now: its entry here and the first lines of
    /// its socket, where smoltcp's dispatch starts reading. With thousands
    /// of connections neither is in cache when its turn comes.
    #[inline]
    pub(crate) fn prefetch_dirty(&self, ahead: usize) {
        if !self.worth_prefetching() {
            return;
        }
        if let Some(&id) = self.dirty.get(ahead) {
            self.prefetch(id);
        }
    }

    /// Whether the connections are too many to stay in cache, so that
    /// fetching them ahead pays for the work of finding them early.
    #[inline]
    pub(crate) fn worth_prefetching(&self) -> bool {
        self.in_use >= PREFETCH_MIN_CONNS
    }

    /// Hints the CPU to fetch the connection's entry here and the first
    /// lines of its socket, ahead of its egress turn.
    #[inline]
    pub(crate) fn prefetch(&self, id: ConnId) {
        self.prefetch_entry(id);
        prefetch(self.conns[id].socket_at as *const u8, SOCKET_PREFETCH_LINES);
    }

    /// Hints the CPU to fetch what a segment for the connection and the
    /// answer to it touch: its socket, the receive-ring lines where the
    /// segment's payload will be written, the transmit-ring lines an answer
    /// would be written to, and the first waiting reader's and writer's
    /// task headers (the wake-up the segment may cause). The rings matter
    /// most: smoltcp writes received bytes after the last ones read and
    /// does not start over at the ring's front when the application has
    /// emptied it, so a request/response connection writes each request to
    /// the next lines of its ring, and with thousands of connections those
    /// lines are never in cache. It reads the entry: call it once
    /// [`prefetch_entry`](Self::prefetch_entry) has brought it in.
    #[inline]
    pub(crate) fn prefetch_for_segment(&self, id: ConnId) {
        let Some(c) = self.conns.get(id) else { return };
        prefetch(c.socket_at as *const u8, SOCKET_PREFETCH_LINES);
        if c.rx_write_at != 0 {
            prefetch(c.rx_write_at as *const u8, 2);
        }
        if c.tx_write_at != 0 {
            prefetch(c.tx_write_at as *const u8, 2);
        }
        c.readers.prefetch_first();
        c.writers.prefetch_first();
    }

    /// Hints the CPU to fetch the connection's entry, without reading it.
    #[inline]
    pub(crate) fn prefetch_entry(&self, id: ConnId) {
        if let Some(c) = self.conns.get(id) {
            prefetch(c as *const Conn as *const u8, std::mem::size_of::<Conn>().div_ceil(LINE));
        }
    }

    /// Remembers where the connection's next in-order byte will be written
    /// in its receive ring (read position plus queued bytes: reads do not
    /// move it, only received data does), and whether the application's
    /// next write will go to the transmit ring's front (it is empty), for
    /// [`prefetch_for_segment`](Self::prefetch_for_segment). Call after
    /// smoltcp has taken a segment. While the queued bytes wrap around the
    /// ring's end the address lies past the end (by the bytes written at
    /// the front): a wasted fill, never a read.
    #[inline]
    pub(crate) fn note_ring_positions(&mut self, id: ConnId) {
        if !self.worth_prefetching() {
            return;
        }
        let c = &mut self.conns[id];
        let Some(handle) = c.handle else { return };
        let s = c.set.get_mut::<tcp::Socket>(handle);
        let queued = s.recv_queue();
        if let Ok(read_at) = s.peek(0).map(|d| d.as_ptr() as usize) {
            c.rx_write_at = read_at.wrapping_add(queued);
        }
        c.tx_write_at = if s.send_queue() == 0 { c.tx_front } else { 0 };
    }

    /// Queues the connection for the next egress pass.
    #[inline]
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        let c = &mut self.conns[id];
        if !c.queued && c.role != Role::Free {
            c.queued = true;
            self.dirty.push_back(id);
        }
    }

    /// The next connection with work, if any.
    pub(crate) fn pop_dirty(&mut self) -> Option<ConnId> {
        let id = self.dirty.pop_front()?;
        self.conns[id].queued = false;
        Some(id)
    }

    /// Connections queued for egress.
    pub(crate) fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// Records when smoltcp next wants the connection polled (`None`: only
    /// when a segment arrives). Keeps at most one heap entry per connection
    /// in the common case: a later deadline only updates the slot; the
    /// entry already in the heap re-arms it when it comes due.
    pub(crate) fn set_deadline(&mut self, id: ConnId, at: Option<Instant>) {
        let at = at.map(|t| t.total_micros());
        let c = &mut self.conns[id];
        c.deadline = at;
        if let Some(t) = at {
            if c.armed.is_none_or(|a| t < a) {
                c.armed = Some(t);
                self.timers.push(Reverse((t, id)));
            }
        }
    }

    /// A connection whose deadline has come, if any (each once).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<ConnId> {
        let now = now.total_micros();
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            if t > now {
                return None;
            }
            self.timers.pop();
            let c = &mut self.conns[id];
            if c.armed != Some(t) {
                continue; // superseded by an earlier entry of the same connection
            }
            c.armed = None;
            match c.deadline {
                Some(d) if d <= now => {
                    c.deadline = None;
                    return Some(id);
                }
                Some(d) => {
                    c.armed = Some(d);
                    self.timers.push(Reverse((d, id)));
                }
                None => {}
            }
        }
        None
    }

    /// The earliest deadline in the heap (possibly a superseded one: waking
    /// early is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| Instant::from_micros(*t))
    }

    /// Notes that the connection may be waiting for a neighbor's MAC.
    pub(crate) fn wait_for_arp(&mut self, id: ConnId) {
        let c = &mut self.conns[id];
        if !c.arp_wait {
            c.arp_wait = true;
            self.arp_waiters.push(id);
        }
    }

    /// An ARP frame arrived: every connection that may have waited for it
    /// gets another egress pass.
    pub(crate) fn wake_arp_waiters(&mut self) {
        let waiters = std::mem::take(&mut self.arp_waiters);
        for &id in &waiters {
            self.conns[id].arp_wait = false;
            self.mark_dirty(id);
        }
        self.arp_waiters = waiters;
        self.arp_waiters.clear();
    }

    /// Ends a connection: unfiles its tuple, closes its socket (abort only
    /// sets the state; smoltcp forgets the connection when the socket is
    /// reopened) and frees the slot. Waiting tasks are woken.
    pub(crate) fn release(&mut self, id: ConnId) {
        let c = &mut self.conns[id];
        if c.role == Role::Free {
            return;
        }
        if let Some(t) = c.tuple.take() {
            if self.by_tuple.get(&t) == Some(&id) {
                self.by_tuple.remove(&t);
            }
        }
        c.role = Role::Free;
        self.states.moved(c.seen, State::Closed);
        c.seen = State::Closed;
        c.deadline = None;
        c.ephemeral = false;
        c.readers.wake_all();
        c.writers.wake_all();
        if let Some(h) = c.handle {
            c.set.get_mut::<tcp::Socket>(h).abort();
        }
        if self.free_ready.len() < FREE_MAX {
            self.free_ready.push(id);
        } else {
            // Enough closed sockets wait for reuse: give this one's rings back.
            c.set = SocketSet::new(Vec::new());
            c.handle = None;
            c.buffers = (0, 0);
            self.free_empty.push(id);
        }
        self.in_use -= 1;
    }

    /// Connections in use (not free).
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// Records that connection `id` was seen in `state`; returns the state
    /// seen before.
    pub(crate) fn set_seen(&mut self, id: ConnId, state: State) -> State {
        let before = std::mem::replace(&mut self.conns[id].seen, state);
        self.states.moved(before, state);
        before
    }

    /// The connections in use by the state each was last seen in (O(1);
    /// debug builds check it against a walk of the table).
    pub(crate) fn state_counts(&self) -> StateCounts {
        debug_assert_eq!(self.states, self.walked_state_counts(), "state counts out of step with the table");
        self.states
    }

    /// What [`ConnTable::state_counts`] must equal: a walk over every
    /// connection in use.
    fn walked_state_counts(&self) -> StateCounts {
        let mut c = StateCounts::default();
        for id in self.ids_in_use() {
            if let Some(n) = c.slot(self.conns[id].seen) {
                *n += 1;
            }
        }
        c
    }

    /// Every connection in use, for shutdown and telemetry (O(n), no
    /// allocation: not for the data path).
    pub(crate) fn ids_in_use(&self) -> impl Iterator<Item = ConnId> + '_ {
        (0..self.conns.len()).filter(|&id| self.conns[id].role != Role::Free)
    }

    /// True if a local port has a connection in this table (any remote).
    #[cfg(test)]
    fn tuples(&self) -> usize {
        self.by_tuple.len()
    }

    /// Drops every socket (end of the core).
    pub(crate) fn clear(&mut self) {
        self.conns.clear();
        self.free_ready.clear();
        self.free_empty.clear();
        self.by_tuple.clear();
        self.dirty.clear();
        self.timers.clear();
        self.arp_waiters.clear();
        self.in_use = 0;
        self.states = StateCounts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::iface::Interface;
    use std::net::Ipv4Addr;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local_ip: Ipv4Addr::new(198, 18, 0, 2),
            local_port: 80,
            remote_ip: Ipv4Addr::new(198, 18, 0, 1),
            remote_port: port,
        }
    }

    #[test]
    fn tuples_find_their_connection_and_release_forgets_them() {
        let mut t = ConnTable::new();
        let (a, b) = (t.alloc(1024, 1024), t.alloc(1024, 1024));
        t.insert_tuple(a, tuple(1));
        t.insert_tuple(b, tuple(2));
        assert_eq!((t.lookup(&tuple(1)), t.lookup(&tuple(2))), (Some(a), Some(b)));
        t.release(a);
        assert_eq!(t.lookup(&tuple(1)), None);
        assert_eq!((t.in_use(), t.tuples()), (1, 1));
        // The freed slot (and its socket) is reused for the same ring sizes.
        assert_eq!(t.alloc(1024, 1024), a);
        // Another size gets a new socket.
        assert_ne!(t.alloc(2048, 1024), a);
    }

    #[test]
    fn a_connection_is_queued_once_until_it_is_popped() {
        let mut t = ConnTable::new();
        let a = t.alloc(1024, 1024);
        t.mark_dirty(a);
        t.mark_dirty(a);
        assert_eq!(t.dirty_len(), 1);
        assert_eq!(t.pop_dirty(), Some(a));
        assert_eq!(t.pop_dirty(), None);
        t.mark_dirty(a);
        assert_eq!(t.pop_dirty(), Some(a));
    }

    #[test]
    fn deadlines_fire_once_at_their_time_and_later_ones_rearm() {
        let mut t = ConnTable::new();
        let (a, b) = (t.alloc(1024, 1024), t.alloc(1024, 1024));
        let at = Instant::from_millis;
        t.set_deadline(a, Some(at(10)));
        t.set_deadline(b, Some(at(5)));
        // a's deadline moves later: its heap entry stays and re-arms.
        t.set_deadline(a, Some(at(20)));
        assert_eq!(t.next_deadline(), Some(at(5)));
        assert_eq!(t.pop_due(at(4)), None);
        assert_eq!(t.pop_due(at(12)), Some(b));
        assert_eq!(t.pop_due(at(12)), None, "a is due at 20, not 10");
        assert_eq!(t.pop_due(at(20)), Some(a));
        assert_eq!(t.pop_due(at(100)), None);
        // An earlier deadline supersedes a later one.
        t.set_deadline(a, Some(at(200)));
        t.set_deadline(a, Some(at(150)));
        assert_eq!(t.pop_due(at(160)), Some(a));
        assert_eq!(t.pop_due(at(300)), None, "fired once");
    }

    #[test]
    fn state_counts_follow_every_change_and_release() {
        let mut t = ConnTable::new();
        let (a, b, c) = (t.alloc(1024, 1024), t.alloc(1024, 1024), t.alloc(1024, 1024));
        assert_eq!(t.state_counts(), StateCounts::default());
        t.set_seen(a, State::Listen);
        t.set_seen(b, State::SynSent);
        t.set_seen(c, State::SynSent);
        assert_eq!(t.state_counts(), StateCounts { handshaking: 2, established: 0, closing: 0 });
        assert_eq!(t.set_seen(a, State::SynReceived), State::Listen);
        t.set_seen(b, State::Established);
        t.set_seen(c, State::Established);
        t.set_seen(c, State::FinWait1);
        t.set_seen(c, State::TimeWait);
        assert_eq!(t.state_counts(), StateCounts { handshaking: 1, established: 1, closing: 1 });
        assert_eq!(t.state_counts(), t.walked_state_counts());
        // Released in any state, a connection leaves its count; its slot,
        // reused, starts counted nowhere.
        t.release(c);
        t.release(b);
        assert_eq!(t.state_counts(), StateCounts { handshaking: 1, established: 0, closing: 0 });
        let d = t.alloc(1024, 1024);
        assert_eq!(t.state_counts(), t.walked_state_counts());
        t.set_seen(d, State::Established);
        assert_eq!(t.state_counts(), StateCounts { handshaking: 1, established: 1, closing: 0 });
        assert_eq!(t.state_counts(), t.walked_state_counts());
    }

    /// A wire for the sockets of one table on one smoltcp interface: each
    /// frame waits until the test hands it to the set of the socket it is
    /// for, as zcnet's demux does.
    #[derive(Default)]
    struct Pipe {
        frames: VecDeque<Vec<u8>>,
    }

    struct PipeRx(Vec<u8>);
    struct PipeTx<'a>(&'a mut VecDeque<Vec<u8>>);

    impl smoltcp::phy::RxToken for PipeRx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl smoltcp::phy::TxToken for PipeTx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = vec![0; len];
            let r = f(&mut frame);
            self.0.push_back(frame);
            r
        }
    }

    impl smoltcp::phy::Device for Pipe {
        type RxToken<'a> = PipeRx;
        type TxToken<'a> = PipeTx<'a>;

        fn receive(&mut self, _: Instant) -> Option<(PipeRx, PipeTx<'_>)> {
            let frame = self.frames.pop_front()?;
            Some((PipeRx(frame), PipeTx(&mut self.frames)))
        }

        fn transmit(&mut self, _: Instant) -> Option<PipeTx<'_>> {
            Some(PipeTx(&mut self.frames))
        }

        fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
            let mut caps = smoltcp::phy::DeviceCapabilities::default();
            caps.medium = smoltcp::phy::Medium::Ethernet;
            caps.max_transmission_unit = 1514;
            caps
        }
    }

    /// Moves frames between `client` and `server` (listening on port 80)
    /// until none is left, noting the server's ring positions after each
    /// segment it takes, as the stack's ingress path does.
    fn pump(iface: &mut Interface, pipe: &mut Pipe, t: &mut ConnTable, (client, server): (ConnId, ConnId)) {
        let now = Instant::from_secs(1);
        for _ in 0..100 {
            let _ = iface.poll_egress(now, pipe, t.set_mut(client));
            let _ = iface.poll_egress(now, pipe, t.set_mut(server));
            if pipe.frames.is_empty() {
                return;
            }
            while let Some(f) = pipe.frames.front() {
                // IPv4 (no options) carrying TCP to port 80; ARP goes to either set.
                let to_server = f.len() >= 38 && f[12..14] == [0x08, 0x00] && f[36..38] == 80u16.to_be_bytes();
                let id = if to_server { server } else { client };
                let _ = iface.poll_ingress_single(now, pipe, t.set_mut(id));
                if to_server {
                    t.note_ring_positions(id);
                }
            }
        }
        panic!("the sockets kept sending");
    }

    #[test]
    fn noted_ring_positions_are_where_the_next_bytes_land() {
        use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
        let mut t = ConnTable::new();
        // Enough connections for the table to take notes at all.
        for _ in 0..PREFETCH_MIN_CONNS {
            t.alloc(1024, 1024);
        }
        let (client, server) = (t.alloc(1024, 1024), t.alloc(1024, 1024));
        let mut pipe = Pipe::default();
        let config = smoltcp::iface::Config::new(HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 2])));
        let mut iface = Interface::new(config, &mut pipe, Instant::from_secs(1));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(198, 18, 0, 2), 24)).unwrap());
        for id in [client, server] {
            // Every segment goes out at once: the test's clock stands still.
            t.socket_mut(id).set_ack_delay(None);
            t.socket_mut(id).set_nagle_enabled(false);
        }
        t.socket_mut(server).listen(80).unwrap();
        t.socket_mut(client).connect(iface.context(), (IpAddress::v4(198, 18, 0, 2), 80), 50_000).unwrap();
        pump(&mut iface, &mut pipe, &mut t, (client, server));
        assert_eq!(t.socket(server).state(), State::Established);

        // Requests, each read and echoed before the next, and one left
        // unread: the next one lands right behind the last, never at the
        // ring's front. Each acknowledges the echo before it, so the
        // server's send ring is empty and its next write goes to the
        // ring's front, where the note says.
        let tx_front = t.get(server).tx_front;
        assert_ne!(tx_front, 0);
        for (len, read) in [(100, true), (64, true), (200, false), (30, true)] {
            let expected = t.get(server).rx_write_at;
            let queued = t.socket(server).recv_queue();
            assert_eq!(t.socket_mut(client).send_slice(&vec![7; len]), Ok(len));
            pump(&mut iface, &mut pipe, &mut t, (client, server));
            assert_eq!(t.socket(server).recv_queue(), queued + len);
            let landed = t.socket_mut(server).peek(queued + len).unwrap().as_ptr() as usize + queued;
            assert_eq!(landed, expected, "{len} bytes landed elsewhere than noted");
            assert_eq!(t.get(server).tx_write_at, tx_front, "the send ring was empty after {len} bytes");
            if read {
                let s = t.socket_mut(server);
                s.recv(|d| (d.len(), ())).unwrap();
                let at = s.send(|space| (len, space.as_ptr() as usize)).unwrap();
                assert_eq!(at, tx_front, "an echo of {len} bytes was written elsewhere than noted");
            }
        }
    }

    #[test]
    fn many_idle_connections_leave_no_work_per_turn() {
        let mut t = ConnTable::new();
        for i in 0..10_000u16 {
            let id = t.alloc(1024, 1024);
            t.insert_tuple(id, tuple(i));
        }
        assert_eq!(t.dirty_len(), 0);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.pop_due(Instant::from_secs(1000)), None);
    }
}
