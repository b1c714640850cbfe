//! The network stack of one core: a smoltcp `Interface` and `SocketSet`
//! over the core's DPDK device (one queue pair of its port), and the async sockets built on them.
//!
//! Everything here is per core and `!Send`: a socket holds an `Rc` to its
//! core's stack, so using it from another core does not compile.

mod buf;
mod checksum;
mod datagram;
mod device;
mod raw;
mod tcp;
mod udp;

pub use buf::{BufResult, IoBuf, IoBufMut};
pub use datagram::{Datagram, DatagramStats, HEADERS_LEN};
pub use device::DeviceStats;
pub(crate) use device::DpdkDevice;
pub use raw::RawSocket;
pub use tcp::{TcpListener, TcpReadHalf, TcpStream, TcpWriteHalf};
pub use udp::UdpSocket;

use crate::config::{parse_cidr, NetConfig};
use smoltcp::iface::{Config as IfaceConfig, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp as stcp;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::Waker;

/// The clock smoltcp runs on: microseconds since the process's first use.
pub(crate) fn smol_now() -> smoltcp::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    smoltcp::time::Instant::from_micros(base.elapsed().as_micros() as i64)
}

/// CLOSED sockets kept for reuse per core.
const FREE_TCP_MAX: usize = 256;
/// Listening sockets kept ready per listener. Few, because smoltcp scans
/// every socket for every packet; a burst of SYNs is absorbed by
/// `Inner::admit_syn`, which adds a socket for each SYN while the backlog
/// has room.
const LISTEN_AHEAD: usize = 4;
/// Seconds a connection may stay in SYN-RECEIVED.
const HANDSHAKE_TIMEOUT_SECS: u64 = 5;
/// How often closing sockets are checked when no packet changed anything.
const MAINTAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// First ephemeral port for active opens.
const EPHEMERAL_START: u16 = 49152;

/// Counters of one core's stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// The device's counters.
    pub device: DeviceStats,
    /// TCP sockets in use (listening, open or closing; not the free ones).
    pub tcp_sockets: usize,
    /// Connections reset or closed before `accept()` took them; their
    /// places were refilled.
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
    /// Sockets reclaimed after closing.
    pub reclaimed: u64,
}

/// Datagrams received for one bound UDP port, waiting for `recv`.
pub(crate) struct UdpQueue {
    datagrams: VecDeque<Datagram>,
    waker: Option<Waker>,
}

/// Datagrams queued per UDP socket before new ones are dropped (counted).
const UDP_QUEUE: usize = 512;
/// Neighbors remembered for the datagram send path.
const NEIGHBORS_MAX: usize = 1024;

pub(crate) struct Listener {
    backlog: usize,
    /// Sockets of `pending` in LISTEN, as last counted (minus SYNs admitted since).
    listening: usize,
    /// Sockets of this listener not yet accepted, in arrival order.
    pending: VecDeque<SocketHandle>,
    waker: Option<Waker>,
}

pub(crate) struct Inner {
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    pub(crate) device: DpdkDevice,
    listeners: HashMap<u16, Listener>,
    /// Sockets whose owner dropped them: closing gracefully, reclaimed at CLOSED
    /// (or TIME-WAIT once too many are waiting).
    closing: Vec<SocketHandle>,
    /// Local ports of active opens, by socket, until the socket is released.
    client_ports: HashMap<SocketHandle, u16>,
    used_ports: HashSet<u16>,
    /// CLOSED TCP sockets kept for reuse: reopening one costs no allocation
    /// and no zeroing of its two buffers.
    free_tcp: Vec<SocketHandle>,
    /// Raw sockets by EtherType, with their frames.
    raw_queues: HashMap<u16, raw::RawQueue>,
    /// Bound UDP ports and the datagrams waiting for their sockets.
    udp_queues: HashMap<u16, UdpQueue>,
    /// MAC addresses of on-link hosts, learned from datagrams they sent.
    neighbors: HashMap<Ipv4Addr, [u8; 6]>,
    ip_ident: u16,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
    next_port: u16,
    pub(crate) config: NetConfig,
    stats: NetStats,
    ip: Ipv4Addr,
    last_maintain: std::time::Instant,
    port_scratch: Vec<u16>,
    handle_scratch: Vec<SocketHandle>,
}

/// One core's stack, shared by that core's sockets through `Rc`.
pub(crate) struct NetCore {
    pub(crate) inner: RefCell<Inner>,
    /// Linear space for lent-buffer operations whose bytes wrap around a ring.
    pub(crate) scratch: RefCell<Vec<u8>>,
    /// When smoltcp next wants an egress pass (see `egress`).
    egress_at: std::cell::Cell<Option<smoltcp::time::Instant>>,
    /// `read_with` calls shown a linear copy because the data wrapped
    /// around the receive ring.
    pub(crate) read_wraps: std::cell::Cell<u64>,
    /// `write_with` calls served from scratch space because the free space
    /// wrapped around the transmit ring.
    pub(crate) write_wraps: std::cell::Cell<u64>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<NetCore>>> = const { RefCell::new(None) };
}

/// An `io::Error` of `kind` with a message.
pub(crate) fn err(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_string())
}

/// The stack of the calling core, or an error outside a zcnet core.
pub(crate) fn current() -> io::Result<Rc<NetCore>> {
    CURRENT
        .with(|c| c.borrow().clone())
        .ok_or_else(|| io::Error::other("no zcnet stack on this thread: sockets work inside zcnet::run"))
}

fn tcp_socket(config: &NetConfig) -> stcp::Socket<'static> {
    let rx = stcp::SocketBuffer::new(vec![0u8; config.tcp.rx_buffer]);
    let tx = stcp::SocketBuffer::new(vec![0u8; config.tcp.tx_buffer]);
    stcp::Socket::new(rx, tx)
}

pub(crate) fn to_endpoint(addr: SocketAddr) -> io::Result<smoltcp::wire::IpEndpoint> {
    match addr {
        SocketAddr::V4(a) => Ok(smoltcp::wire::IpEndpoint::new(IpAddress::Ipv4(*a.ip()), a.port())),
        SocketAddr::V6(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "zcnet speaks IPv4 only")),
    }
}

pub(crate) fn from_endpoint(ep: smoltcp::wire::IpEndpoint) -> SocketAddr {
    #[allow(irrefutable_let_patterns)]
    let IpAddress::Ipv4(ip) = ep.addr
    else {
        unreachable!("IPv4 only")
    };
    SocketAddr::V4(SocketAddrV4::new(ip, ep.port))
}

impl NetCore {
    /// Builds the stack of a core over `device`, with the address and routes of `config`.
    pub(crate) fn new(mut device: DpdkDevice, config: &NetConfig, core: usize, seed: u64) -> io::Result<Rc<NetCore>> {
        let (ip, prefix) = core_address(config, core)?;
        let mut ic = IfaceConfig::new(EthernetAddress(device.mac()).into());
        ic.random_seed = seed;
        let mut iface = Interface::new(ic, &mut device, smol_now());
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ip), prefix));
        });
        if let Some(gw) = &config.gateway {
            let gw: Ipv4Address = gw.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "net.gateway"))?;
            iface.routes_mut().add_default_ipv4_route(gw).map_err(|_| io::Error::other("route table full"))?;
        }
        Ok(Rc::new(NetCore {
            inner: RefCell::new(Inner {
                iface,
                sockets: SocketSet::new(Vec::new()),
                device,
                listeners: HashMap::new(),
                closing: Vec::new(),
                client_ports: HashMap::new(),
                used_ports: HashSet::new(),
                free_tcp: Vec::new(),
                udp_queues: HashMap::new(),
                raw_queues: HashMap::new(),
                neighbors: HashMap::with_capacity(NEIGHBORS_MAX),
                ip_ident: seed as u16,
                prefix,
                gateway: config.gateway.as_ref().and_then(|g| g.parse().ok()),
                next_port: EPHEMERAL_START + (seed % 1000) as u16,
                config: config.clone(),
                stats: NetStats::default(),
                ip,
                last_maintain: std::time::Instant::now(),
                port_scratch: Vec::new(),
                handle_scratch: Vec::new(),
            }),
            scratch: RefCell::new(Vec::new()),
            egress_at: std::cell::Cell::new(None),
            read_wraps: std::cell::Cell::new(0),
            write_wraps: std::cell::Cell::new(0),
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

    /// One network step: receive a burst, feed it to smoltcp, keep the
    /// listeners' backlogs full and reclaim closed sockets. Returns how many
    /// frames arrived.
    pub(crate) fn ingress(&self) -> usize {
        let n = self.inner.borrow_mut().device.rx_burst();
        if n > 0 {
            self.process_rx();
        }
        n
    }

    /// Feeds every frame waiting in the device to the raw sockets, the
    /// datagram fast path and smoltcp, in that order.
    pub(crate) fn process_rx(&self) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let now = smol_now();
        let mut changed = false;
        loop {
            if let Some(frame) = inner.device.peek_rx().map(|p| p.data()) {
                if !inner.raw_queues.is_empty() {
                    let claimed = raw::ethertype(frame).and_then(|t| {
                        let q = inner.raw_queues.get(&t)?;
                        q.dst_mac.is_none_or(|m| frame[..6] == m).then_some(t)
                    });
                    if let Some(t) = claimed {
                        if let (Some(packet), Some(q)) = (inner.device.take_rx(), inner.raw_queues.get_mut(&t)) {
                            q.push(packet);
                        }
                        continue;
                    }
                }
                if let Some(port) = udp_port(frame, inner.ip).filter(|p| inner.udp_queues.contains_key(p)) {
                    if let Some(packet) = inner.device.take_rx() {
                        inner.deliver_datagram(port, packet);
                    }
                    continue;
                }
                if inner.device.drop_bad_head() {
                    continue;
                }
                let Some(frame) = inner.device.peek_rx().map(|p| p.data()) else { continue };
                if let Some((port, src, sport)) = syn_tuple(frame, inner.ip) {
                    // A SYN for a connection that exists is no new connection:
                    // keep it from the LISTEN sockets, which would take it
                    // (RFC 5961 4.2 wants a challenge ACK; smoltcp's own
                    // socket drops it).
                    if inner.owns_tuple(port, src, sport) || !inner.admit_syn(port) {
                        inner.device.drop_rx();
                        continue;
                    }
                }
            }
            match inner.iface.poll_ingress_single(now, &mut inner.device, &mut inner.sockets) {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => changed = true,
            }
        }
        if changed {
            inner.maintain();
        }
    }

    /// Sends what the sockets have queued (and their timers' segments),
    /// then flushes the device. Returns true if anything was sent.
    pub(crate) fn egress(&self) -> bool {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let now = smol_now();
        let mut changed = false;
        // poll_egress emits at most one segment per socket per call; call it
        // until nothing more is sent or the device has no room.
        for _ in 0..crate::MAX_BURST {
            match inner.iface.poll_egress(now, &mut inner.device, &mut inner.sockets) {
                PollResult::None => break,
                PollResult::SocketStateChanged => changed = true,
            }
        }
        // Sockets reach CLOSED on timers too, without sending anything: look
        // at the closing ones now and then even when nothing changed.
        if changed || (!inner.closing.is_empty() && inner.last_maintain.elapsed() > MAINTAIN_EVERY) {
            inner.maintain();
        }
        let sent = inner.device.flush();
        // When smoltcp next needs an egress pass on its own (retransmission,
        // delayed ACK, keep-alive): until then, idle turns skip it — it
        // visits every socket.
        let next = if inner.device.tx_pending() > 0 { Some(now) } else { inner.iface.poll_at(now, &inner.sockets) };
        self.egress_at.set(next);
        changed || sent > 0
    }

    /// True if an egress pass is due although nothing was received and no
    /// task ran: a smoltcp timer expired, frames wait for the NIC, or
    /// closing sockets need a look.
    pub(crate) fn egress_due(&self) -> bool {
        let timer = self.egress_at.get().is_some_and(|t| smol_now() >= t);
        timer || {
            let inner = self.inner.borrow();
            !inner.closing.is_empty() && inner.last_maintain.elapsed() > MAINTAIN_EVERY
        }
    }

    /// When smoltcp next needs to run (retransmissions, delayed ACKs, keepalive).
    pub(crate) fn poll_at(&self) -> Option<std::time::Duration> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        inner.iface.poll_delay(smol_now(), &inner.sockets).map(|d| std::time::Duration::from_micros(d.total_micros()))
    }

    /// Counters of this core's stack.
    pub(crate) fn stats(&self) -> NetStats {
        let inner = self.inner.borrow();
        let mut s = inner.stats;
        s.device = inner.device.stats();
        s.read_wraps = self.read_wraps.get();
        s.write_wraps = self.write_wraps.get();
        let tcp = inner.sockets.iter().filter(|(_, s)| matches!(s, smoltcp::socket::Socket::Tcp(_))).count();
        s.tcp_sockets = tcp - inner.free_tcp.len();
        s
    }

    /// Starts a graceful close of every TCP socket (shutdown).
    pub(crate) fn close_all(&self) {
        let mut inner = self.inner.borrow_mut();
        let ports: Vec<u16> = inner.listeners.keys().copied().collect();
        for p in ports {
            inner.remove_listener(p);
        }
        for (_, s) in inner.sockets.iter_mut() {
            if let smoltcp::socket::Socket::Tcp(t) = s {
                t.close();
            }
        }
    }

    /// True when no TCP socket is still open or closing (TIME-WAIT counts as done).
    pub(crate) fn all_closed(&self) -> bool {
        let inner = self.inner.borrow();
        let done = inner.sockets.iter().all(|(_, s)| match s {
            smoltcp::socket::Socket::Tcp(t) => matches!(t.state(), stcp::State::Closed | stcp::State::TimeWait),
            _ => true,
        });
        done
    }

    /// Frees every socket and every queued frame (end of the core).
    pub(crate) fn teardown(&self) {
        let mut inner = self.inner.borrow_mut();
        let handles: Vec<SocketHandle> = inner.sockets.iter().map(|(h, _)| h).collect();
        for h in handles {
            inner.sockets.remove(h);
        }
        inner.listeners.clear();
        inner.closing.clear();
        inner.free_tcp.clear();
        inner.device.drain();
    }
}

impl Inner {
    /// Refills listen backlogs, wakes acceptors, reclaims closed sockets.
    fn maintain(&mut self) {
        self.last_maintain = std::time::Instant::now();
        // Scratch vectors keep their capacity: maintenance runs on every
        // state change and must not allocate each time.
        let mut ports = std::mem::take(&mut self.port_scratch);
        ports.clear();
        ports.extend(self.listeners.keys().copied());
        for &port in &ports {
            self.maintain_listener(port);
        }
        self.port_scratch = ports;
        // A socket closed by its owner is freed at CLOSED, or already at
        // TIME-WAIT: zcnet holds no TIME-WAIT state. smoltcp finds sockets
        // by linear search, so every socket held costs every packet, and a
        // client closing thousands of connections a second would pay for
        // each for 10 s. The price: if our last ACK is lost, the peer's
        // retransmitted FIN meets a RST and its LAST-ACK ends early.
        let mut done = std::mem::take(&mut self.handle_scratch);
        done.clear();
        let sockets = &self.sockets;
        self.closing.retain(|&h| {
            let finished =
                matches!(sockets.get::<stcp::Socket>(h).state(), stcp::State::Closed | stcp::State::TimeWait);
            if finished {
                done.push(h);
            }
            !finished
        });
        for &h in &done {
            self.release(h);
        }
        self.handle_scratch = done;
    }

    fn maintain_listener(&mut self, port: u16) {
        let Some(l) = self.listeners.get_mut(&port) else { return };
        let mut listening = 0;
        let mut ready = false;
        let mut dropped = Vec::new();
        l.pending.retain(|&h| {
            let s = self.sockets.get::<stcp::Socket>(h);
            match s.state() {
                stcp::State::Listen => {
                    listening += 1;
                    true
                }
                stcp::State::SynReceived => true,
                stcp::State::Closed | stcp::State::TimeWait => {
                    dropped.push(h);
                    false
                }
                _ => {
                    ready = true;
                    true
                }
            }
        });
        let in_progress = l.pending.len() - listening;
        let want = LISTEN_AHEAD.min(l.backlog.saturating_sub(in_progress));
        l.listening = listening.max(want);
        let waker = if ready { l.waker.take() } else { None };
        for _ in listening..want {
            self.add_listen_socket(port);
        }
        self.stats.dropped_before_accept += dropped.len() as u64;
        for h in dropped {
            self.release(h);
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Queues a datagram the application built for the next tx burst.
    fn queue_datagram(&mut self, packet: Packet) -> io::Result<()> {
        match self.device.queue_tx(packet) {
            Ok(()) => {
                self.stats.datagrams.sent += 1;
                Ok(())
            }
            Err(_dropped) => Err(err(io::ErrorKind::WouldBlock, "transmit queue full; the datagram was dropped")),
        }
    }

    /// The datagram fast path: validates a UDP frame for bound port `port`
    /// and queues it for its socket, or drops and counts it.
    fn deliver_datagram(&mut self, port: u16, packet: Packet) {
        let stats = &mut self.stats.datagrams;
        let dgram = match datagram::parse(packet) {
            Ok(d) => d,
            Err((why, _packet)) => {
                stats.count(why);
                return;
            }
        };
        let Some(q) = self.udp_queues.get_mut(&port) else { return };
        if q.datagrams.len() >= UDP_QUEUE {
            stats.queue_full += 1;
            return;
        }
        if let SocketAddr::V4(src) = dgram.source() {
            if self.neighbors.len() >= NEIGHBORS_MAX && !self.neighbors.contains_key(src.ip()) {
                self.neighbors.clear();
            }
            self.neighbors.insert(*src.ip(), dgram.source_mac());
        }
        stats.delivered += 1;
        q.datagrams.push_back(dgram);
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    /// The MAC address to send to `to` through, if known: the host itself
    /// when it is on-link, else the gateway.
    fn next_hop_mac(&self, to: Ipv4Addr) -> Option<[u8; 6]> {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix as u32) };
        let on_link = u32::from(to) & mask == u32::from(self.ip) & mask;
        let hop = if on_link { to } else { self.gateway? };
        self.neighbors.get(&hop).copied()
    }

    /// Makes sure a SYN to listening port `port` finds a socket in LISTEN:
    /// adds one if none is left and the backlog has room. Returns false if
    /// the SYN must be dropped (backlog full) — silently, so the client
    /// retries later instead of seeing a reset.
    fn admit_syn(&mut self, port: u16) -> bool {
        let Some(l) = self.listeners.get_mut(&port) else { return true };
        if l.listening > 0 {
            l.listening -= 1;
            return true;
        }
        if l.pending.len() >= l.backlog {
            // Sockets may have closed on a timer (a handshake that timed
            // out) without any frame telling `maintain`: count again.
            self.maintain_listener(port);
            let Some(l) = self.listeners.get_mut(&port) else { return true };
            if l.listening > 0 {
                l.listening -= 1;
                return true;
            }
            if l.pending.len() >= l.backlog {
                self.stats.syn_backlog_full += 1;
                return false;
            }
        }
        self.add_listen_socket(port);
        true
    }

    /// A TCP socket in CLOSED, reused from the free list when there is one
    /// (with its options back at their defaults) or freshly allocated.
    pub(crate) fn tcp_socket(&mut self) -> SocketHandle {
        if let Some(h) = self.free_tcp.pop() {
            let s = self.sockets.get_mut::<stcp::Socket>(h);
            s.set_nagle_enabled(true);
            s.set_keep_alive(None);
            s.set_timeout(None);
            s.set_ack_delay(Some(smoltcp::time::Duration::from_millis(10)));
            s.set_hop_limit(None);
            return h;
        }
        self.sockets.add(tcp_socket(&self.config))
    }

    /// True if a synchronised (or closing) socket has this 4-tuple.
    fn owns_tuple(&self, port: u16, src: Ipv4Addr, sport: u16) -> bool {
        let remote = smoltcp::wire::IpEndpoint::new(IpAddress::Ipv4(src), sport);
        self.sockets.iter().any(|(_, s)| match s {
            smoltcp::socket::Socket::Tcp(t) => {
                !matches!(t.state(), stcp::State::Listen | stcp::State::Closed)
                    && t.remote_endpoint() == Some(remote)
                    && t.local_endpoint().map(|e| e.port) == Some(port)
            }
            _ => false,
        })
    }

    /// Adds a socket in LISTEN on `port` to that port's listener.
    fn add_listen_socket(&mut self, port: u16) {
        let h = self.tcp_socket();
        // A handshake that does not complete gives its place back
        // (accept clears the timeout again).
        self.sockets
            .get_mut::<stcp::Socket>(h)
            .set_timeout(Some(smoltcp::time::Duration::from_secs(HANDSHAKE_TIMEOUT_SECS)));
        if self.sockets.get_mut::<stcp::Socket>(h).listen(port).is_err() {
            self.release(h);
            return;
        }
        match self.listeners.get_mut(&port) {
            Some(l) => l.pending.push_back(h),
            None => self.release(h),
        }
    }

    fn remove_listener(&mut self, port: u16) {
        if let Some(l) = self.listeners.remove(&port) {
            for h in l.pending {
                let s = self.sockets.get_mut::<stcp::Socket>(h);
                if s.state() == stcp::State::Listen {
                    s.abort();
                    self.release(h);
                } else {
                    s.abort();
                    self.closing.push(h);
                }
            }
        }
    }

    /// Frees a TCP socket's local port and puts it back to CLOSED, on the
    /// free list for reuse (or out of the set when the list is full).
    pub(crate) fn release(&mut self, h: SocketHandle) {
        if let Some(port) = self.client_ports.remove(&h) {
            self.used_ports.remove(&port);
        }
        // CLOSED or TIME-WAIT here; abort only sets the state (smoltcp
        // forgets the connection when the socket is reopened).
        self.sockets.get_mut::<stcp::Socket>(h).abort();
        if self.free_tcp.len() < FREE_TCP_MAX {
            self.free_tcp.push(h);
        } else {
            self.sockets.remove(h);
        }
        self.stats.reclaimed += 1;
    }

    /// A free ephemeral port: not used by an active open (TCP) or a bound
    /// UDP socket, and not a listening port.
    fn ephemeral_port(&mut self, udp: bool) -> io::Result<u16> {
        for _ in 0..(u16::MAX - EPHEMERAL_START) {
            let p = self.next_port;
            self.next_port = if p == u16::MAX { EPHEMERAL_START } else { p + 1 };
            let taken = if udp { self.udp_queues.contains_key(&p) } else { self.used_ports.contains(&p) };
            if !taken && !self.listeners.contains_key(&p) {
                return Ok(p);
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrNotAvailable, "no free ephemeral port"))
    }

    /// Checks that `addr` is this host's address (or unspecified).
    fn check_local(&self, addr: &SocketAddr) -> io::Result<()> {
        match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() || *a.ip() == self.ip => Ok(()),
            SocketAddr::V4(a) => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{} is not this host's address ({})", a.ip(), self.ip),
            )),
            SocketAddr::V6(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "zcnet speaks IPv4 only")),
        }
    }
}

use crate::packet::Packet;
use datagram::udp_port;

/// (destination port, source address, source port) of `frame` if it is a
/// TCP SYN (without ACK) to `ip`.
fn syn_tuple(frame: &[u8], ip: Ipv4Addr) -> Option<(u16, Ipv4Addr, u16)> {
    use smoltcp::wire::{EthernetFrame, Ipv4Packet, TcpPacket};
    let port = syn_port(frame, ip)?;
    let ipv4 = Ipv4Packet::new_checked(EthernetFrame::new_checked(frame).ok()?.payload()).ok()?;
    let tcp = TcpPacket::new_checked(ipv4.payload()).ok()?;
    Some((port, ipv4.src_addr(), tcp.src_port()))
}

/// The destination port of `frame` if it is a TCP SYN (without ACK) to
/// `ip`. Parsed with smoltcp's checked views: malformed frames give `None`
/// and are left to smoltcp, which drops and counts them.
fn syn_port(frame: &[u8], ip: Ipv4Addr) -> Option<u16> {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ipv4 = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ipv4.dst_addr() != ip || ipv4.next_header() != IpProtocol::Tcp || ipv4.more_frags() || ipv4.frag_offset() != 0 {
        return None;
    }
    let tcp = TcpPacket::new_checked(ipv4.payload()).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| tcp.dst_port())
}

/// The address of core `core`: `net.core_ips[core]` if the list is given,
/// else `net.ip`; the prefix always comes from `net.ip`.
pub(crate) fn core_address(config: &NetConfig, core: usize) -> io::Result<(Ipv4Addr, u8)> {
    let (ip, prefix) = parse_cidr(&config.ip).map_err(|e| err(io::ErrorKind::InvalidInput, &e))?;
    if config.core_ips.is_empty() {
        return Ok((ip, prefix));
    }
    let ip = config
        .core_ips
        .get(core)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(io::ErrorKind::InvalidInput, &format!("net.core_ips has no address for core {core}")))?;
    Ok((ip, prefix))
}

/// Counters of the calling core's stack (inside [`crate::run`]).
pub fn stats() -> io::Result<NetStats> {
    Ok(current()?.stats())
}
