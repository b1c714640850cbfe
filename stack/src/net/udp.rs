//! UDP: [`UdpSocket`] and the delivery of datagrams to it.
//!
//! Receiving is zero-copy for every bound socket: the ingress path hands
//! each valid datagram for a bound port to [`Inner::deliver_datagram`],
//! which queues it as the mbuf it arrived in. The application takes it whole
//! ([`UdpSocket::recv_packet`]), lends its payload ([`UdpSocket::recv_with`])
//! or copies it out ([`UdpSocket::recv_from`]). Sending builds a datagram in
//! place in an mbuf ([`UdpSocket::alloc_datagram`] + [`UdpSocket::send_packet`],
//! or [`UdpSocket::reply`] on a received one), or goes through smoltcp's
//! buffers ([`UdpSocket::send_to`], [`UdpSocket::send_with`]), which resolve
//! unknown neighbors with ARP.

use super::buf::{BufResult, IoBuf, IoBufMut};
use super::datagram::{write_headers, Datagram, Headers, HEADERS_LEN};
use super::device::DpdkDevice;
use super::frame::{Ipv4Info, UdpInfo};
use super::held_mbufs::{MbufQueue, QueueRefused};
use super::stack::{current, Deferred, Inner, NetCore};
use super::wakers::WakerList;
use super::{err, to_endpoint};
use crate::packet::Packet;
use smoltcp::iface::{Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::task::{Context, Poll};

/// Datagrams queued per UDP socket before new ones are dropped (counted);
/// all of a core's socket queues together hold at most its share of the
/// pool (`held_mbufs`).
pub(crate) const UDP_QUEUE: usize = 512;
/// Datagrams queued for sending through smoltcp.
const TX_DATAGRAMS: usize = 256;
/// Payload bytes queued for sending through smoltcp.
const TX_BYTES: usize = 256 * 1024;

/// Datagrams received for one bound port, waiting for `recv`.
struct UdpQueue {
    datagrams: MbufQueue<Datagram>,
    handle: SocketHandle,
    /// Tasks waiting to receive.
    receivers: WakerList,
    /// Tasks waiting for room in smoltcp's send queue.
    senders: WakerList,
}

/// The UDP sockets of one core: their receive queues, and the smoltcp set
/// their copying send path goes through (never scanned on receive).
pub(crate) struct UdpSockets {
    set: SocketSet<'static>,
    queues: HashMap<u16, UdpQueue>,
    /// A socket queued a datagram in smoltcp (or a neighbor became known).
    dirty: bool,
    /// When smoltcp next wants the set polled (ARP retries).
    deadline: Option<Instant>,
}

impl UdpSockets {
    pub(crate) fn new() -> UdpSockets {
        UdpSockets { set: SocketSet::new(Vec::new()), queues: HashMap::new(), dirty: false, deadline: None }
    }

    /// True if a socket is bound to `port`.
    #[inline]
    pub(crate) fn is_bound(&self, port: u16) -> bool {
        self.queues.contains_key(&port)
    }

    /// Queues the set for the next egress pass.
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = !self.queues.is_empty();
    }

    pub(crate) fn egress_due(&self, now: Instant) -> bool {
        self.dirty || self.deadline.is_some_and(|t| t <= now)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Lets smoltcp send what the sockets queued; true if anything went out.
    pub(crate) fn egress(&mut self, now: Instant, iface: &mut Interface, device: &mut DpdkDevice) -> bool {
        if !self.egress_due(now) {
            return false;
        }
        self.dirty = false;
        let mut sent = false;
        for _ in 0..crate::MAX_BURST {
            match iface.poll_egress(now, device, &mut self.set) {
                PollResult::None => break,
                PollResult::SocketStateChanged => sent = true,
            }
        }
        self.deadline = iface.poll_at(now, &self.set).filter(|_| !self.queues.is_empty());
        for q in self.queues.values_mut() {
            q.senders.wake_all();
        }
        sent
    }

    /// Unbinds `port`; its queued datagrams are freed.
    pub(crate) fn remove(&mut self, port: u16) {
        if let Some(q) = self.queues.remove(&port) {
            self.set.remove(q.handle);
        }
    }

    /// Drops every socket and queued datagram (end of the core).
    pub(crate) fn clear(&mut self) {
        self.queues.clear();
        self.set = SocketSet::new(Vec::new());
    }
}

impl Inner {
    /// The datagram fast path: a checksum-verified UDP frame for bound port
    /// `udp.dst_port`, queued for its socket as the mbuf it came in, or
    /// dropped and counted (IP options, fragments, a full queue).
    pub(crate) fn deliver_datagram(&mut self, packet: Packet, ip: &Ipv4Info, udp: &UdpInfo) {
        let stats = &mut self.stats.datagrams;
        let dgram = match Datagram::from_frame(packet, ip, udp) {
            Ok(d) => d,
            Err(why) => {
                stats.count(why);
                return;
            }
        };
        let Some(q) = self.udp.queues.get_mut(&udp.dst_port) else { return };
        let source_mac = dgram.source_mac();
        match q.datagrams.push(dgram) {
            Ok(()) => {
                self.neighbors.learn_from_datagram(ip.src, source_mac);
                stats.delivered += 1;
                q.receivers.wake_all();
            }
            Err((_dropped, QueueRefused::SocketFull)) => stats.queue_full += 1,
            Err((_dropped, QueueRefused::CoreShareFull)) => stats.core_share_full += 1,
        }
    }

    /// Queues a datagram the application built for the next tx burst.
    fn queue_datagram(&mut self, packet: Packet) -> io::Result<()> {
        match self.device.queue_tx(packet) {
            Ok(()) => {
                self.stats.datagrams.sent += 1;
                Ok(())
            }
            Err(_dropped) => {
                self.stats.datagrams.tx_dropped += 1;
                Err(err(io::ErrorKind::OutOfMemory, "transmit queue full; the datagram was dropped (counted)"))
            }
        }
    }
}

/// A UDP socket of one core.
///
/// A complete zero-copy echo server — each datagram goes back out in the
/// very mbuf it arrived in, payload rewritten in place:
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::net::UdpSocket;
/// let socket = UdpSocket::bind("0.0.0.0:7".parse().unwrap())?;
/// loop {
///     let mut datagram = socket.recv_packet().await?;
///     datagram.payload_mut().make_ascii_uppercase(); // in place, in the mbuf
///     socket.reply(datagram)?;                        // the same mbuf goes out
/// }
/// # }
/// ```
///
/// Sending a new datagram without a copy:
///
/// ```no_run
/// # fn example(socket: &zcnet_stack::net::UdpSocket) -> std::io::Result<()> {
/// let mut packet = socket.alloc_datagram(5)?;      // headroom kept for the headers
/// packet.data_mut().copy_from_slice(b"hello");
/// socket.send_packet(packet, "198.18.0.1:9000".parse().unwrap())?;
/// # Ok(()) }
/// ```
///
/// Any number of tasks may receive on one socket; each datagram goes to one
/// of them.
///
/// Received datagrams wait in the mbufs they arrived in, up to 512 per
/// socket. So that sockets nobody reads cannot hold the pool the rest of
/// the core receives and sends with, all of a core's UDP and raw sockets
/// together hold at most half of what the pool had free at start, and past
/// a quarter each only its fair part of that quarter (a socket alone, all
/// of the half)
/// ([`NetStats::queued_mbufs_share`](super::NetStats::queued_mbufs_share));
/// datagrams beyond either bound are dropped and counted
/// (`DatagramStats::queue_full`, `DatagramStats::core_share_full`), as a
/// kernel drops what overflows a socket's receive buffer.
///
/// Sockets belong to their core:
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::net::UdpSocket>();
/// ```
pub struct UdpSocket {
    net: Rc<NetCore>,
    port: u16,
    local: SocketAddr,
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket").field("local", &self.local).finish()
    }
}

impl UdpSocket {
    /// Binds to `addr` (this host's address or `0.0.0.0`; port 0 picks one).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let net = current()?;
        let (port, local) = {
            let mut guard = net.lock()?;
            let inner = &mut *guard;
            inner.check_local(&addr)?;
            let port = match addr.port() {
                0 => {
                    // With several cores, a port of this core's partition,
                    // so datagrams to it come back here (without RSS; with
                    // RSS the remote decides, see `UdpSocket`).
                    let (udp, steering, me, ip) = (&inner.udp, &inner.steering, inner.me, inner.ip);
                    inner.ports.pick(|p| {
                        udp.is_bound(p) || steering.as_ref().is_some_and(|s| !s.ephemeral_is_mine(me, ip, p))
                    })?
                }
                p => p,
            };
            if inner.udp.is_bound(port) {
                return Err(err(io::ErrorKind::AddrInUse, "a UDP socket is already bound to this port"));
            }
            // smoltcp only sends for this socket: the fast path takes every
            // datagram to its port before smoltcp would buffer it.
            let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 1], vec![0u8; 0]);
            let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; TX_DATAGRAMS], vec![0u8; TX_BYTES]);
            let mut s = udp::Socket::new(rx, tx);
            s.bind(port).map_err(|e| err(io::ErrorKind::InvalidInput, &format!("bind: {e}")))?;
            let handle = inner.udp.set.add(s);
            let q = UdpQueue {
                datagrams: MbufQueue::new(UDP_QUEUE, inner.held.clone()),
                handle,
                receivers: WakerList::default(),
                senders: WakerList::default(),
            };
            inner.udp.queues.insert(port, q);
            (port, SocketAddr::from((inner.ip, port)))
        };
        Ok(UdpSocket { net, port, local })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn poll_datagram(&self, cx: &mut Context<'_>) -> Poll<io::Result<Datagram>> {
        let mut inner = match self.net.lock() {
            Ok(i) => i,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let Some(q) = inner.udp.queues.get_mut(&self.port) else {
            return Poll::Ready(Err(err(io::ErrorKind::NotConnected, "socket closed")));
        };
        match q.datagrams.pop() {
            Some(d) => Poll::Ready(Ok(d)),
            None => {
                q.receivers.register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Receives the next datagram as the mbuf it arrived in: no copy.
    ///
    /// Cancel safety: cancel-safe: a datagram is taken off the queue only by
    /// the poll that completes the future.
    ///
    /// ```no_run
    /// # async fn example(socket: zcnet_stack::net::UdpSocket) -> std::io::Result<()> {
    /// let datagram = socket.recv_packet().await?;
    /// let first_byte = datagram.payload().first(); // in the mbuf's data room
    /// # let _ = first_byte;
    /// socket.reply(datagram)?; // back out, same mbuf
    /// # Ok(()) }
    /// ```
    pub async fn recv_packet(&self) -> io::Result<Datagram> {
        poll_fn(|cx| self.poll_datagram(cx)).await
    }

    /// Lends the next datagram's payload to `f`, in place in its mbuf, with
    /// its source address; the mbuf is freed afterwards.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn recv_with<R>(&self, f: impl FnOnce(&[u8], SocketAddr) -> R) -> io::Result<R> {
        let d = poll_fn(|cx| self.poll_datagram(cx)).await?;
        Ok(f(d.payload(), d.source()))
    }

    /// Receives one datagram into `buf`'s spare capacity; a datagram longer
    /// than that is truncated (the rest is discarded, as with the kernel).
    ///
    /// Cancel safety: cancel-safe: a datagram is dequeued only by the poll
    /// that completes the future.
    pub async fn recv_from<B: IoBufMut>(&self, mut buf: B) -> BufResult<(usize, SocketAddr), B> {
        let d = match poll_fn(|cx| self.poll_datagram(cx)).await {
            Ok(d) => d,
            Err(e) => return (Err(e), buf),
        };
        let n = d.payload().len().min(buf.remaining_mut());
        buf.put_slice(&d.payload()[..n]);
        (Ok((n, d.source())), buf)
    }

    /// Sends a received datagram back to its sender in the same mbuf, with
    /// its payload as it is now: addresses and ports swapped, headers
    /// rewritten in place, no allocation. The sender's MAC comes from the
    /// frame itself, so no neighbor lookup is needed.
    ///
    /// Fails with `OutOfMemory` (the datagram is dropped and counted in
    /// `datagrams.tx_dropped`) if the transmit queue stays full.
    pub fn reply(&self, datagram: Datagram) -> io::Result<()> {
        let mut inner = self.net.lock()?;
        let (mac, offload) = (inner.device.mac(), inner.device.tx_offload());
        inner.ip_ident = inner.ip_ident.wrapping_add(1);
        let packet = datagram.turn_around(mac, inner.ip_ident, offload);
        inner.queue_datagram(packet)
    }

    /// A packet from this core's pool for a datagram of `len` payload bytes:
    /// its data is the payload (zeroed), with headroom kept for the headers
    /// [`UdpSocket::send_packet`] adds in place. `OutOfMemory` when the pool
    /// is exhausted (back-pressure: retry when packets are freed).
    pub fn alloc_datagram(&self, len: usize) -> io::Result<Packet> {
        let inner = self.net.lock()?;
        let max = inner.device.mtu() - (HEADERS_LEN - 14);
        if len > max {
            return Err(err(io::ErrorKind::InvalidInput, &format!("{len} bytes do not fit one frame (max {max})")));
        }
        let mut p = inner
            .device
            .pool()
            .try_alloc()
            .ok_or_else(|| err(io::ErrorKind::OutOfMemory, "mempool exhausted; retry when packets are freed"))?;
        if p.headroom() < HEADERS_LEN || p.append(len).is_err() {
            return Err(err(io::ErrorKind::InvalidInput, "mbuf too small for this datagram"));
        }
        Ok(p)
    }

    /// Sends `packet` (its data is the payload) to `to` as one datagram:
    /// UDP/IPv4/Ethernet headers are prepended in place and the very mbuf is
    /// queued for the NIC. The next hop's MAC comes from the neighbor table
    /// (learned from ARP and from datagrams of on-link hosts); for a host not
    /// known yet, the payload goes through smoltcp's buffers instead (one
    /// copy), which resolve it with ARP.
    ///
    /// Fails with `InvalidInput` if the packet is chained or its headroom is
    /// too small, and with `OutOfMemory` if the transmit queue (or, for an
    /// unknown neighbor, smoltcp's send queue) stays full: the datagram is
    /// dropped and counted in `datagrams.tx_dropped`, as a NIC drops what it
    /// has no room for; sending again later may succeed.
    ///
    /// ```no_run
    /// # fn example(socket: &zcnet_stack::net::UdpSocket) -> std::io::Result<()> {
    /// let mut packet = socket.alloc_datagram(8)?;
    /// packet.data_mut().copy_from_slice(&42u64.to_be_bytes()); // serialise in place
    /// socket.send_packet(packet, "198.18.0.1:9000".parse().unwrap())?; // this mbuf goes out
    /// # Ok(()) }
    /// ```
    pub fn send_packet(&self, mut packet: Packet, to: SocketAddr) -> io::Result<()> {
        let SocketAddr::V4(to) = to else {
            return Err(err(io::ErrorKind::Unsupported, "zcnet speaks IPv4 only"));
        };
        if packet.segment_count() > 1 || packet.headroom() < HEADERS_LEN {
            return Err(err(io::ErrorKind::InvalidInput, "packet needs one segment and 42 bytes of headroom"));
        }
        let len = packet.len();
        let mut guard = self.net.lock()?;
        let inner = &mut *guard;
        let Some(dst_mac) = inner.neighbors.next_hop(*to.ip()) else {
            let handle = self.queue(inner)?.handle;
            let r = inner
                .udp
                .set
                .get_mut::<udp::Socket>(handle)
                .send_slice(packet.data(), to_endpoint(SocketAddr::V4(to))?);
            inner.udp.mark_dirty();
            return r.map_err(|e| match e {
                udp::SendError::BufferFull => {
                    inner.stats.datagrams.tx_dropped += 1;
                    err(io::ErrorKind::OutOfMemory, "send queue full; the datagram was dropped (counted)")
                }
                e => err(io::ErrorKind::InvalidInput, &format!("send: {e}")),
            });
        };
        if packet.prepend(HEADERS_LEN).is_err() {
            return Err(err(io::ErrorKind::InvalidInput, "packet needs 42 bytes of headroom"));
        }
        let from = SocketAddrV4::new(inner.ip, self.port);
        inner.ip_ident = inner.ip_ident.wrapping_add(1);
        let h = Headers { src_mac: inner.device.mac(), dst_mac, from, to, ident: inner.ip_ident };
        write_headers(&mut packet, &h, len, inner.device.tx_offload());
        inner.queue_datagram(packet)
    }

    fn queue<'a>(&self, inner: &'a mut Inner) -> io::Result<&'a mut UdpQueue> {
        inner.udp.queues.get_mut(&self.port).ok_or_else(|| err(io::ErrorKind::NotConnected, "socket closed"))
    }

    /// Sends `buf` as one datagram to `to` through smoltcp's buffers (one
    /// copy), waiting for room in the queue.
    ///
    /// Cancel safety: cancel-safe: the datagram is queued only by the poll
    /// that completes the future.
    pub async fn send_to<B: IoBuf>(&self, buf: B, to: SocketAddr) -> BufResult<usize, B> {
        let r = match to_endpoint(to) {
            Ok(ep) => {
                let data = buf.as_bytes();
                self.send_inner(data.len(), ep, |space| space.copy_from_slice(data)).await.map(|()| data.len())
            }
            Err(e) => Err(e),
        };
        (r, buf)
    }

    /// Lends `f` `len` bytes in smoltcp's transmit ring to write one
    /// datagram to `to` in place. Socket calls inside `f` fail with
    /// `ResourceBusy`.
    ///
    /// Cancel safety: cancel-safe: `f` runs only in the completing poll.
    pub async fn send_with<R>(&self, len: usize, to: SocketAddr, f: impl FnOnce(&mut [u8]) -> R) -> io::Result<R> {
        let ep = to_endpoint(to)?;
        let mut out = None;
        self.send_inner(len, ep, |space| out = Some(f(space))).await?;
        out.ok_or_else(|| io::Error::other("datagram was not written"))
    }

    async fn send_inner(&self, len: usize, to: smoltcp::wire::IpEndpoint, f: impl FnOnce(&mut [u8])) -> io::Result<()> {
        let mut f = Some(f);
        poll_fn(|cx| {
            let mut guard = match self.net.lock() {
                Ok(g) => g,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let inner = &mut *guard;
            let q = match self.queue(inner) {
                Ok(q) => q,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let handle = q.handle;
            let s = inner.udp.set.get_mut::<udp::Socket>(handle);
            if len > s.payload_send_capacity() || len > 65507 {
                return Poll::Ready(Err(err(
                    io::ErrorKind::InvalidInput,
                    "datagram larger than the send queue or 65507 bytes",
                )));
            }
            match s.send(len, to) {
                Ok(space) => {
                    (f.take().expect("polled after completion"))(space);
                    inner.udp.mark_dirty();
                    Poll::Ready(Ok(()))
                }
                Err(udp::SendError::BufferFull) => {
                    if let Some(q) = inner.udp.queues.get_mut(&self.port) {
                        q.senders.register(cx.waker());
                    }
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(err(io::ErrorKind::InvalidInput, &format!("send: {e}")))),
            }
        })
        .await
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        // Queued datagrams are freed with the queue.
        self.net.run_or_defer(Deferred::RemoveUdp(self.port));
    }
}
