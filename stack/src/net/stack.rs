//! One core's network stack: the smoltcp `Interface` over the core's DPDK
//! device, the connection table in front of it, and the two paths each
//! turn of the core's loop runs.
//!
//! Ingress, per received frame: classify it once ([`Frame`]); raw sockets
//! take their EtherTypes; checksums are verified (or the NIC's verdict
//! trusted) and every failure counted; UDP to a bound port takes the
//! datagram fast path; TCP to this host is looked up by 4-tuple and handed
//! to smoltcp together with a socket set holding only its connection (a SYN
//! for a listening port gets a fresh socket while the backlog has room);
//! everything else (ARP, ICMP, TCP for no connection, UDP to unbound ports)
//! goes to smoltcp with an empty set, which answers it (ARP reply, echo
//! reply, RST, port unreachable) or drops it.
//!
//! Egress: only connections with work — queued by ingress, by the
//! application, or by their timer — are polled, each with its own set.

use super::checksum;
use super::clock::smol_now;
use super::conn_table::{ConnId, ConnTable, Role};
use super::device::DpdkDevice;
use super::frame::{FourTuple, Frame, Ipv4Info, L4};
use super::held_mbufs::HeldMbufs;
use super::listener::Listener;
use super::neighbors::Neighbors;
use super::ports::EphemeralPorts;
use super::raw::RawQueue;
use super::rfc5961::ChallengeLimiter;
use super::stats::{NetStats, SocketStates};
use super::steering::Steering;
use super::time_wait::TimeWaitTable;
use super::udp::UdpSockets;
use crate::config::{parse_cidr, NetConfig};
use crate::packet::Packet;
use smoltcp::iface::{Config as IfaceConfig, Interface, PollResult, SocketSet};
use smoltcp::socket::tcp::State;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpProtocol, Ipv4Address};
use std::cell::{Cell, RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;

/// Segments one connection may emit in one egress pass before the others
/// get their turn (it is queued again if it has more).
const SEGMENTS_PER_PASS: usize = crate::MAX_BURST;
/// When smoltcp says a connection is due but it emitted nothing (nothing
/// it could send yet), look again after this long instead of spinning.
const IDLE_RECHECK_US: i64 = 1000;

/// How many connections ahead of the one being polled the egress pass
/// prefetches (see `ConnTable::prefetch_dirty`).
const EGRESS_PREFETCH_AHEAD: usize = 4;

/// An operation a socket's `Drop` could not do because the stack was in
/// use (the socket was dropped inside a `read_with`/`write_with` closure);
/// the core does it before its next step.
pub(crate) enum Deferred {
    /// A stream was dropped: close the connection gracefully.
    CloseStream(ConnId),
    /// A write half was dropped: send FIN after queued data.
    ShutdownWrite(ConnId),
    /// A listener was dropped.
    RemoveListener(u16),
    /// A UDP socket was dropped.
    RemoveUdp(u16),
    /// A raw socket was dropped.
    RemoveRaw(u16),
}

/// The mutable state of one core's stack.
pub(crate) struct Inner {
    pub(crate) iface: Interface,
    pub(crate) device: DpdkDevice,
    pub(crate) conns: ConnTable,
    pub(crate) listeners: HashMap<u16, Listener>,
    pub(crate) udp: UdpSockets,
    pub(crate) raw_queues: HashMap<u16, RawQueue>,
    /// The share of the pool the UDP and raw sockets' queues may hold.
    pub(crate) held: Rc<HeldMbufs>,
    pub(crate) neighbors: Neighbors,
    pub(crate) ports: EphemeralPorts,
    /// 4-tuples in TIME-WAIT (no sockets).
    pub(crate) time_wait: TimeWaitTable,
    /// The rate limit of challenge ACKs (RFC 5961 §7).
    pub(crate) challenges: ChallengeLimiter,
    /// Local ports of active opens (each used by one connection at a time).
    pub(crate) active_ports: HashSet<u16>,
    /// The set smoltcp gets for frames no socket of zcnet's claims.
    empty: SocketSet<'static>,
    /// Flow ownership between the cores of the run (none with one core).
    pub(crate) steering: Option<Arc<Steering>>,
    /// This core's index (its queue pair).
    pub(crate) me: usize,
    /// Cores frames were handed to in this step (bit per core), to wake.
    pub(crate) handed_to: u64,
    /// The frames in the receive batch came from other cores.
    pub(crate) steered_pass: bool,
    pub(crate) config: NetConfig,
    pub(crate) stats: NetStats,
    pub(crate) ip: Ipv4Addr,
    pub(crate) ip_ident: u16,
    /// The frame after the head of the receive batch, classified by
    /// `prefetch_next_conn` (keyed by where its bytes are, which no other
    /// frame of the batch shares): the router takes it from here instead
    /// of classifying that frame again.
    classified_ahead: Cell<Option<(usize, Frame)>>,
    /// The frame two places behind the head, classified and looked up by
    /// `prefetch_next_conn` one frame earlier (keyed like
    /// `classified_ahead`), whose connection's entry is on its way into
    /// cache: when that frame is next, its entry is read without waiting.
    looked_up_ahead: Cell<Option<(usize, Frame, Option<ConnId>)>>,
}

/// One core's stack, shared by that core's sockets through `Rc`.
pub(crate) struct NetCore {
    pub(crate) inner: RefCell<Inner>,
    /// Linear space for lent-buffer operations whose bytes wrap around a ring.
    pub(crate) scratch: RefCell<Vec<u8>>,
    /// What socket drops left for the core to do (see [`Deferred`]).
    deferred: RefCell<Vec<Deferred>>,
    /// `read_with` calls shown a linear copy (data wrapped around the ring).
    pub(crate) read_wraps: Cell<u64>,
    /// `write_with` calls served from scratch space (space wrapped around).
    pub(crate) write_wraps: Cell<u64>,
    /// Payload bytes copied out of receive rings for the application.
    pub(crate) copied_to_app: Cell<u64>,
    /// Payload bytes copied from the application into send rings.
    pub(crate) copied_from_app: Cell<u64>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<NetCore>>> = const { RefCell::new(None) };
}

/// The stack of the calling core, or an error outside a zcnet core.
pub(crate) fn current() -> io::Result<Rc<NetCore>> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| io::Error::other("no zcnet stack on this thread: sockets work inside zcnet::run"))
}

/// An `io::Error` of `kind` with a message.
pub(crate) fn err(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_string())
}

/// The error of a socket call made while the stack is in use: from inside a
/// `read_with`, `write_with` or `send_with` closure.
fn busy() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "zcnet sockets cannot be used inside a read_with/write_with/send_with closure; use them after it returns",
    )
}

impl NetCore {
    /// Builds the stack of core `core` over `device`, with the address and
    /// routes of `config`.
    pub(crate) fn new(
        mut device: DpdkDevice,
        config: &NetConfig,
        core: usize,
        seed: u64,
        steering: Option<Arc<Steering>>,
    ) -> io::Result<Rc<NetCore>> {
        let (ip, prefix) = core_address(config, core)?;
        let mut ic = IfaceConfig::new(EthernetAddress(device.mac()).into());
        ic.random_seed = seed;
        let mut iface = Interface::new(ic, &mut device, smol_now());
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ip), prefix));
        });
        let gateway = match &config.gateway {
            Some(gw) => {
                let gw: Ipv4Address =
                    gw.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "net.gateway"))?;
                iface.routes_mut().add_default_ipv4_route(gw).map_err(|_| io::Error::other("route table full"))?;
                Some(gw)
            }
            None => None,
        };
        // A quarter of what the pool has free once the port's receive ring
        // is filled (the queues hold at most twice that): sockets nobody
        // reads cannot starve the core's own receiving (held_mbufs.rs says
        // where the pool of a queued mbuf is another core's).
        let held = HeldMbufs::new(device.pool().available() / 4);
        Ok(Rc::new(NetCore {
            inner: RefCell::new(Inner {
                iface,
                device,
                conns: ConnTable::new(),
                listeners: HashMap::new(),
                udp: UdpSockets::new(),
                raw_queues: HashMap::new(),
                held,
                neighbors: Neighbors::new(ip, prefix, gateway),
                ports: EphemeralPorts::new(seed),
                time_wait: TimeWaitTable::new(config.tcp.time_wait_secs, config.tcp.time_wait_max),
                challenges: ChallengeLimiter::new(config.tcp.challenge_acks_per_sec),
                active_ports: HashSet::new(),
                empty: SocketSet::new(Vec::new()),
                steering,
                me: core,
                handed_to: 0,
                steered_pass: false,
                config: config.clone(),
                stats: NetStats::default(),
                ip,
                ip_ident: seed as u16,
                classified_ahead: Cell::new(None),
                looked_up_ahead: Cell::new(None),
            }),
            scratch: RefCell::new(Vec::new()),
            deferred: RefCell::new(Vec::new()),
            read_wraps: Cell::new(0),
            write_wraps: Cell::new(0),
            copied_to_app: Cell::new(0),
            copied_from_app: Cell::new(0),
        }))
    }

    /// Makes `self` the calling thread's current stack.
    pub(crate) fn set_current(self: &Rc<Self>) {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
    }

    /// Clears the calling thread's current stack.
    pub(crate) fn clear_current() {
        CURRENT.with(|c| c.borrow_mut().take());
    }

    /// The stack's state, for a socket call; `ResourceBusy` if the call comes
    /// from inside a closure that the stack is running (it holds the state).
    pub(crate) fn lock(&self) -> io::Result<RefMut<'_, Inner>> {
        self.inner.try_borrow_mut().map_err(|_| busy())
    }

    /// Runs `op` now if the stack is free, else leaves it for the core's
    /// next step. For `Drop` impls, which cannot fail.
    pub(crate) fn run_or_defer(&self, op: Deferred) {
        match self.inner.try_borrow_mut() {
            Ok(mut inner) => inner.apply(op),
            Err(_) => self.deferred.borrow_mut().push(op),
        }
    }

    /// Does what socket drops deferred.
    fn run_deferred(&self) {
        if self.deferred.borrow().is_empty() {
            return;
        }
        let ops = std::mem::take(&mut *self.deferred.borrow_mut());
        let mut inner = self.inner.borrow_mut();
        for op in ops {
            inner.apply(op);
        }
    }

    /// One ingress step: receive a burst and route every frame. Returns how
    /// many frames arrived.
    pub(crate) fn ingress(&self) -> usize {
        self.run_deferred();
        let mut inner = self.inner.borrow_mut();
        let n = inner.device.rx_burst();
        if n > 0 {
            inner.process_rx();
        }
        n + inner.take_steered()
    }

    /// True if other cores handed this one frames it has not taken yet.
    pub(crate) fn has_steered_input(&self) -> bool {
        let inner = self.inner.borrow();
        inner.steering.as_ref().is_some_and(|s| s.has_input(inner.me))
    }

    /// Routes every frame waiting in the device (see the module docs).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn process_rx(&self) {
        self.run_deferred();
        self.inner.borrow_mut().process_rx();
    }

    /// Lets the connections with work (and the UDP sockets) emit, then
    /// flushes the device. Returns true if anything was sent.
    pub(crate) fn egress(&self) -> bool {
        self.run_deferred();
        self.inner.borrow_mut().egress()
    }

    /// True if an egress pass has work although nothing arrived and no task
    /// ran: a connection's timer is due, or frames wait for the NIC.
    pub(crate) fn egress_due(&self) -> bool {
        if !self.deferred.borrow().is_empty() {
            return true;
        }
        let inner = self.inner.borrow();
        let now = smol_now();
        inner.conns.dirty_len() > 0
            || inner.conns.next_deadline().is_some_and(|t| t <= now)
            || inner.udp.egress_due(now)
            || inner.device.tx_pending() > 0
    }

    /// How long until the stack needs a turn on its own (timers).
    pub(crate) fn poll_at(&self) -> Option<std::time::Duration> {
        let inner = self.inner.borrow();
        let now = smol_now();
        let at = match (inner.conns.next_deadline(), inner.udp.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        let micros = at.total_micros().saturating_sub(now.total_micros()).max(0);
        Some(std::time::Duration::from_micros(micros as u64))
    }

    /// Counters of this core's stack.
    pub(crate) fn stats(&self) -> io::Result<NetStats> {
        let inner = self.inner.try_borrow().map_err(|_| busy())?;
        let mut s = inner.stats;
        s.device = inner.device.stats();
        s.read_wraps = self.read_wraps.get();
        s.write_wraps = self.write_wraps.get();
        s.copied_to_app = self.copied_to_app.get();
        s.copied_from_app = self.copied_from_app.get();
        s.tcp_sockets = inner.conns.in_use();
        s.mbufs_in_use = inner.device.pool().in_use();
        s.queued_mbufs = inner.held.held();
        s.queued_mbufs_share = inner.held.share();
        s.tcp.time_wait = inner.time_wait.len();
        s.tcp.time_wait_evicted = inner.time_wait.evicted;
        Ok(s)
    }

    /// This core's connections by state, as the connection table last saw
    /// each (after every turn that touched it): kept as states change, so
    /// O(1) however many connections there are.
    pub(crate) fn socket_states(&self) -> io::Result<SocketStates> {
        let inner = self.inner.try_borrow().map_err(|_| busy())?;
        let c = inner.conns.state_counts();
        Ok(SocketStates {
            listening_ports: inner.listeners.len() as u64,
            handshaking: c.handshaking,
            established: c.established,
            closing: c.closing,
        })
    }

    /// Starts a graceful close of every connection and stops listening (shutdown).
    pub(crate) fn close_all(&self) {
        self.run_deferred();
        let mut inner = self.inner.borrow_mut();
        let ports: Vec<u16> = inner.listeners.keys().copied().collect();
        for p in ports {
            inner.remove_listener(p);
        }
        let ids: Vec<ConnId> = inner.conns.ids_in_use().collect();
        for id in ids {
            inner.conns.socket_mut(id).close();
            inner.conns.mark_dirty(id);
        }
    }

    /// True when every connection has closed (TIME-WAIT counts as closed).
    pub(crate) fn all_closed(&self) -> bool {
        self.inner.borrow().conns.in_use() == 0
    }

    /// Frees every socket and every queued frame (end of the core).
    pub(crate) fn teardown(&self) {
        self.deferred.borrow_mut().clear();
        let mut inner = self.inner.borrow_mut();
        inner.listeners.clear();
        inner.conns.clear();
        inner.time_wait.clear();
        inner.udp.clear();
        inner.raw_queues.clear();
        inner.device.drain();
    }
}

impl Inner {
    /// Does an operation a socket's drop deferred (or could do at once).
    fn apply(&mut self, op: Deferred) {
        match op {
            Deferred::CloseStream(id) => self.close_stream(id),
            Deferred::ShutdownWrite(id) => {
                self.conns.socket_mut(id).close();
                self.conns.mark_dirty(id);
            }
            Deferred::RemoveListener(port) => self.remove_listener(port),
            Deferred::RemoveUdp(port) => self.udp.remove(port),
            Deferred::RemoveRaw(ethertype) => {
                self.raw_queues.remove(&ethertype);
            }
        }
    }

    /// The owner dropped its stream: FIN after queued data; the table
    /// reclaims the connection when it is done.
    pub(crate) fn close_stream(&mut self, id: ConnId) {
        if self.conns.get(id).role != Role::Open {
            return;
        }
        self.conns.get_mut(id).role = Role::Closing;
        self.conns.socket_mut(id).close();
        self.conns.mark_dirty(id);
        self.settle(id);
    }

    /// Hints the CPU to fetch what the frames behind the head will touch,
    /// in two stages so that neither waits on memory: the frame two places
    /// behind is classified and its connection looked up, and only that
    /// connection's entry is fetched; the frame right behind the head
    /// (looked up one call earlier, its entry fetched since) has its
    /// entry read for the addresses of its socket, rings and waiting
    /// tasks, which are fetched. The classifications are kept for the
    /// router. (The frames' own bytes were prefetched further ahead.)
    #[inline]
    fn prefetch_next_conn(&self) {
        if !self.conns.worth_prefetching() {
            return;
        }
        let Some(p) = self.device.peek_rx_ahead(1) else { return };
        let at = p.data().as_ptr() as usize;
        let (frame, id) = match self.looked_up_ahead.take() {
            Some((was_at, frame, id)) if was_at == at => (frame, id),
            _ => {
                let frame = Frame::classify(p.data());
                (frame, self.tcp_conn_of(&frame))
            }
        };
        if let Some(id) = id {
            self.conns.prefetch_for_segment(id);
        }
        self.classified_ahead.set(Some((at, frame)));
        if let Some(p) = self.device.peek_rx_ahead(2) {
            let frame = Frame::classify(p.data());
            let id = self.tcp_conn_of(&frame);
            if let Some(id) = id {
                self.conns.prefetch_entry(id);
            }
            self.looked_up_ahead.set(Some((p.data().as_ptr() as usize, frame, id)));
        }
    }

    /// The connection a classified TCP segment is for, if it has one.
    #[inline]
    fn tcp_conn_of(&self, frame: &Frame) -> Option<ConnId> {
        match frame {
            Frame::Ipv4 { ip, l4: L4::Tcp(t) } => self.conns.lookup(&FourTuple::inbound(ip, t.src_port, t.dst_port)),
            _ => None,
        }
    }

    /// The head frame's classification: the one `prefetch_next_conn` made
    /// when it was next (`ahead`), or a new one.
    #[inline]
    fn classify_head(packet: &Packet, ahead: Option<(usize, Frame)>) -> Frame {
        match ahead {
            Some((at, frame)) if at == packet.data().as_ptr() as usize => frame,
            _ => Frame::classify(packet.data()),
        }
    }

    /// Routes every frame in the receive batch (see the module docs).
    pub(crate) fn process_rx(&mut self) {
        let now = smol_now();
        let mtu = self.device.mtu();
        // A classification kept from an earlier call may name bytes that
        // have since been freed and reused.
        self.classified_ahead.set(None);
        self.looked_up_ahead.set(None);
        while let Some(packet) = self.device.peek_rx() {
            let ahead = self.classified_ahead.take();
            self.device.prefetch_rx();
            self.prefetch_next_conn();
            if packet.len() > mtu + 14 || packet.segment_count() > 1 {
                self.device.drop_rx(|s| s.drop_oversized += 1);
                continue;
            }
            let frame = Self::classify_head(packet, ahead);
            if !self.raw_queues.is_empty() {
                let claimed = frame.ethertype().filter(|t| {
                    self.raw_queues.get(t).is_some_and(|q| q.dst_mac.is_none_or(|m| packet.data()[..6] == m))
                });
                if let Some(t) = claimed {
                    if let (Some(p), Some(q)) = (self.device.take_rx(), self.raw_queues.get_mut(&t)) {
                        q.push(p);
                    }
                    continue;
                }
            }
            if self.steering.is_some() && !self.steered_pass {
                if let Some(owner) = self.foreign_owner(&frame, packet) {
                    self.hand_over(owner);
                    continue;
                }
            }
            match frame {
                Frame::Ipv4 { ip, l4 } if ip.dst == self.ip => {
                    let bound_udp = match l4 {
                        L4::Udp(u) => self.udp.is_bound(u.dst_port),
                        L4::Bad { protocol: IpProtocol::Udp, dst_port: Some(p) } => self.udp.is_bound(p),
                        _ => false,
                    };
                    if !checksum::verify(packet, &frame) {
                        if bound_udp {
                            self.stats.datagrams.bad_checksum += 1;
                            self.device.drop_rx(|_| {});
                        } else {
                            self.device.drop_rx(|s| s.drop_bad_checksum += 1);
                        }
                        continue;
                    }
                    match l4 {
                        L4::Udp(u) if bound_udp => {
                            if let Some(p) = self.device.take_rx() {
                                self.deliver_datagram(p, &ip, &u);
                            }
                        }
                        L4::Bad { .. } if bound_udp => {
                            self.stats.datagrams.malformed += 1;
                            self.device.drop_rx(|_| {});
                        }
                        L4::Bad { .. } => self.device.drop_rx(|s| s.drop_malformed += 1),
                        L4::Tcp(t) if !ip.fragment => self.tcp_ingress(now, &ip, &t),
                        _ => self.pass_to_smoltcp(now),
                    }
                }
                Frame::Ipv4 { .. } => {
                    // Not for this host: smoltcp drops it (or answers a broadcast ping).
                    if checksum::verify(packet, &frame) {
                        self.pass_to_smoltcp(now);
                    } else {
                        self.device.drop_rx(|s| s.drop_bad_checksum += 1);
                    }
                }
                Frame::Arp => {
                    self.neighbors.learn_from_arp(packet.data());
                    if self.steering.is_some() {
                        self.share_arp();
                    }
                    self.pass_to_smoltcp(now);
                    // A neighbor may have become known: connections and UDP
                    // sockets that waited for its MAC can send now.
                    self.conns.wake_arp_waiters();
                    self.udp.mark_dirty();
                }
                Frame::BadIpv4 | Frame::Runt => self.device.drop_rx(|s| s.drop_malformed += 1),
                Frame::Other(_) => self.pass_to_smoltcp(now),
            }
        }
        self.wake_handed_to();
    }

    /// Hands the head frame to smoltcp with no socket: it answers ARP, ICMP
    /// echo and TCP segments for no connection (RST), and drops the rest.
    fn pass_to_smoltcp(&mut self, now: Instant) {
        let _ = self.iface.poll_ingress_single(now, &mut self.device, &mut self.empty);
    }

    /// A TCP segment for this host: to its connection (screened per RFC
    /// 5961 first), to the TIME-WAIT table, to a new connection for a SYN to
    /// a listener with room, or to smoltcp (which resets it).
    fn tcp_ingress(&mut self, now: Instant, ip: &Ipv4Info, t: &super::frame::TcpInfo) {
        let tuple = FourTuple::inbound(ip, t.src_port, t.dst_port);
        let src_mac = self.device.peek_rx().map_or([0; 6], |p| {
            let mut mac = [0; 6];
            mac.copy_from_slice(&p.data()[6..12]);
            mac
        });
        if let Some(id) = self.conns.lookup(&tuple) {
            let state = self.conns.socket(id).state();
            let synchronized = !matches!(state, State::Listen | State::SynSent | State::SynReceived | State::Closed);
            if t.rst && state != State::SynSent {
                if !self.screen_rst(now, id, t, src_mac) {
                    self.device.drop_rx(|_| {});
                    return;
                }
            } else if t.syn && synchronized {
                self.screen_syn(now, id, t, src_mac);
                self.device.drop_rx(|_| {});
                return;
            }
            if t.tsval.is_some() {
                self.conns.get_mut(id).peer_tsval = t.tsval;
            }
            self.feed(now, id);
            return;
        }
        if let Some(e) = self.time_wait.get(&tuple, now.total_micros()) {
            if !self.time_wait_segment(now.total_micros(), &tuple, e, t, src_mac) {
                self.device.drop_rx(|_| {});
                return;
            }
        }
        if t.syn && !t.ack_flag && !t.rst && self.listeners.contains_key(&t.dst_port) {
            match self.admit_syn(tuple) {
                Some(id) => self.feed(now, id),
                None => self.device.drop_rx(|_| {}),
            }
            return;
        }
        if t.syn && !t.ack_flag && self.steering.as_ref().is_some_and(|s| s.listened_anywhere(t.dst_port)) {
            // This core owns the flow but has no listener on the port while
            // another core has: not a closed port, so no RST; the client
            // retries (see `steering`).
            self.stats.steering.syn_owner_not_listening += 1;
            self.device.drop_rx(|_| {});
            return;
        }
        self.pass_to_smoltcp(now);
    }

    /// Hands the head frame to smoltcp with connection `id`'s set, then
    /// settles what changed and keeps RCV.NXT (see `rfc5961`): it grows by
    /// what smoltcp queued in order, and by one for a FIN it accepted.
    fn feed(&mut self, now: Instant, id: ConnId) {
        let queued = self.conns.socket(id).recv_queue();
        let fin_seen = self.conns.get(id).fin_seen;
        let _ = self.iface.poll_ingress_single(now, &mut self.device, self.conns.set_mut(id));
        let grown = self.conns.socket(id).recv_queue().saturating_sub(queued);
        if grown > 0 {
            self.conns.note_ring_positions(id);
        }
        self.settle(id);
        let c = self.conns.get_mut(id);
        if c.role == Role::Free {
            return;
        }
        if let Some(r) = c.rcv_nxt.as_mut() {
            *r = r.wrapping_add(grown as u32 + (c.fin_seen && !fin_seen) as u32);
        }
        // An answer smoltcp sent at once (a duplicate ACK, a RST) is exact.
        self.note_tx(id);
        // The egress pass decides what the segment calls for (an ACK now,
        // a delayed one, nothing) and sets the next deadline: once per
        // connection and turn, however many of its segments arrived.
        self.conns.mark_dirty(id);
    }

    /// Reads what the segments smoltcp just wrote for connection `id`
    /// carried: its SND.NXT, and RCV.NXT exactly (the last ACK number).
    fn note_tx(&mut self, id: ConnId) {
        let tx = self.device.take_tcp_tx();
        if tx.segments == 0 {
            return;
        }
        let c = self.conns.get_mut(id);
        if let Some(end) = tx.snd_nxt {
            c.snd_nxt = Some(match c.snd_nxt {
                Some(n) if super::rfc5961::seq_lt(end, n) => n,
                _ => end,
            });
        }
        if let Some((ack, window)) = tx.ack {
            c.rcv_nxt = Some(ack);
            c.window_sent = window;
        }
    }

    /// Looks at connection `id` after smoltcp or the application touched
    /// it: wakes the tasks its change concerns, moves a passive open to its
    /// listener's ready queue once established (or frees its place if the
    /// handshake failed), and reclaims what is over.
    pub(crate) fn settle(&mut self, id: ConnId) {
        let s = self.conns.socket(id);
        let state = s.state();
        let readable = s.can_recv() || !s.may_recv();
        let writable = s.can_send() || !s.may_send() || s.send_queue() == 0;
        // Aborted: CLOSED with its endpoints kept until the RST has gone out.
        let rst_pending = state == State::Closed && s.remote_endpoint().is_some();
        let before = self.conns.set_seen(id, state);
        let changed = before != state;
        let c = self.conns.get_mut(id);
        if matches!(state, State::CloseWait | State::LastAck | State::Closing | State::TimeWait) {
            c.fin_seen = true;
        }
        if readable || changed {
            c.readers.wake_all();
        }
        if writable || changed {
            c.writers.wake_all();
        }
        let over = matches!(state, State::Listen | State::Closed | State::TimeWait);
        match c.role {
            Role::Pending(_) if state == State::SynReceived => {}
            Role::Pending(port) if over => {
                // A handshake that failed (reset: smoltcp goes back to
                // LISTEN; timed out) or a SYN smoltcp refused.
                if before == State::SynReceived {
                    self.stats.dropped_before_accept += 1;
                }
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.handshake_failed(id);
                }
                self.release(id);
            }
            Role::Pending(port) => {
                // Synchronised: established (perhaps already half-closed).
                self.conns.get_mut(id).role = Role::Ready(port);
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.handshake_done(id);
                }
            }
            Role::Ready(port) if over => {
                // Established, then reset before `accept` took it.
                self.stats.dropped_before_accept += 1;
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.forget(id);
                }
                self.release(id);
            }
            Role::Closing if state == State::Closed && !rst_pending => self.release(id),
            // TIME-WAIT: the ACK of the peer's FIN (or an aborted socket's
            // RST) must go out first; the egress pass that sends it frees
            // the connection.
            Role::Closing if state == State::TimeWait => {
                self.conns.socket_mut(id).set_ack_delay(None);
                self.conns.mark_dirty(id);
            }
            Role::Closing if rst_pending => self.conns.mark_dirty(id),
            _ => {}
        }
    }

    /// Files connection `id`'s tuple in the TIME-WAIT table with the
    /// sequence numbers of its last ACK.
    fn enter_time_wait(&mut self, now: Instant, id: ConnId) {
        let c = self.conns.get(id);
        let (Some(tuple), Some(snd_nxt), Some(rcv_nxt)) = (c.tuple, c.snd_nxt, c.rcv_nxt) else { return };
        let ts = self.conns.socket(id).timestamp_enabled().then(|| c.peer_tsval.unwrap_or(0));
        self.time_wait.insert(tuple, snd_nxt, rcv_nxt, c.window_sent, ts, now.total_micros());
    }

    /// Frees connection `id` and its ephemeral port.
    pub(crate) fn release(&mut self, id: ConnId) {
        let c = self.conns.get(id);
        if c.ephemeral {
            if let Some(t) = c.tuple {
                self.active_ports.remove(&t.local_port);
            }
        }
        self.conns.release(id);
        self.stats.reclaimed += 1;
    }

    fn egress(&mut self) -> bool {
        let now = smol_now();
        while let Some(id) = self.conns.pop_due(now) {
            self.conns.mark_dirty(id);
        }
        if self.time_wait.next_expiry().is_some_and(|t| t <= now.total_micros()) {
            self.time_wait.expire(now.total_micros());
        }
        let mut sent_any = false;
        // Only the connections queued now: one re-queued below (it has
        // more to send) waits for the next turn, behind the others.
        for _ in 0..self.conns.dirty_len() {
            if !self.device.has_room() {
                break;
            }
            self.conns.prefetch_dirty(EGRESS_PREFETCH_AHEAD);
            let Some(id) = self.conns.pop_dirty() else { break };
            if self.conns.get(id).role == Role::Free {
                continue;
            }
            // Send while smoltcp has something due. After the first
            // segment, `poll_at` (which mirrors the start of smoltcp's
            // dispatch) says whether another is due now: for the usual one
            // segment per turn, one call that also gives the deadline instead
            // of a dispatch that finds nothing to send; a bulk sender goes
            // on dispatching until smoltcp has nothing left.
            let mut sent = 0;
            let next = loop {
                if sent >= SEGMENTS_PER_PASS || !self.device.has_room() {
                    break self.iface.poll_at(now, self.conns.set_mut(id));
                }
                match self.iface.poll_egress(now, &mut self.device, self.conns.set_mut(id)) {
                    PollResult::None => break self.iface.poll_at(now, self.conns.set_mut(id)),
                    PollResult::SocketStateChanged => {
                        sent += 1;
                        if sent == 1 {
                            let at = self.iface.poll_at(now, self.conns.set_mut(id));
                            if at.is_none_or(|t| t > now) {
                                break at;
                            }
                        }
                    }
                }
            };
            sent_any |= sent > 0;
            self.note_tx(id);
            let state = self.conns.socket(id).state();
            if self.conns.get(id).role == Role::Closing && state == State::TimeWait {
                // Its last ACK has gone out (smoltcp sends it at once: no ack
                // delay in TIME-WAIT, see `settle`): the tuple waits out
                // 2·MSL in the TIME-WAIT table, the socket is free now.
                self.enter_time_wait(now, id);
                self.release(id);
                continue;
            }
            // Sending changes nothing `settle` looks at (readability and
            // room to write change with what arrives, or what the
            // application does, and both settle there) except the state (a
            // timeout aborting, TIME-WAIT ending) and an aborted socket's
            // RST going out (CLOSED either way).
            if state != self.conns.get(id).seen() || state == State::Closed {
                self.settle(id);
                if self.conns.get(id).role == Role::Free {
                    continue;
                }
            }
            match next {
                Some(t) if t <= now => {
                    if sent > 0 || !self.device.has_room() {
                        self.conns.mark_dirty(id);
                    } else {
                        let later = Instant::from_micros(now.total_micros() + IDLE_RECHECK_US);
                        self.conns.set_deadline(id, Some(later));
                    }
                }
                at => self.conns.set_deadline(id, at),
            }
            if sent == 0 && may_have_output(self.conns.socket(id).state(), self.conns.socket(id).send_queue()) {
                // Nothing went out although something may be waiting to: the
                // next hop's MAC may be unknown (smoltcp sent an ARP request,
                // or holds back while one is out). An ARP frame re-polls it.
                self.conns.wait_for_arp(id);
            }
        }
        sent_any |= self.udp.egress(now, &mut self.iface, &mut self.device);
        sent_any | (self.device.flush() > 0)
    }
}

/// True if a socket in `state` with `send_queue` bytes unacknowledged may
/// have a segment to send (SYN, data, FIN).
fn may_have_output(state: State, send_queue: usize) -> bool {
    send_queue > 0
        || matches!(state, State::SynSent | State::SynReceived | State::FinWait1 | State::Closing | State::LastAck)
}

/// The address of core `core`: `net.core_ips[core]` if the list is given,
/// else `net.ip`; the prefix always comes from `net.ip`.
pub(crate) fn core_address(config: &NetConfig, core: usize) -> io::Result<(Ipv4Addr, u8)> {
    let (ip, prefix) =
        parse_cidr(&config.ip).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    if config.core_ips.is_empty() {
        return Ok((ip, prefix));
    }
    let ip = config.core_ips.get(core).and_then(|s| s.parse().ok()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("net.core_ips has no address for core {core}"))
    })?;
    Ok((ip, prefix))
}
