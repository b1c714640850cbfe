//! UDP. Receiving is zero-copy for every bound socket: datagrams are taken
//! off the rx burst into the socket's queue as the mbufs they arrived in
//! (see `datagram`). The application takes them whole ([`UdpSocket::recv_packet`]),
//! lends their payload ([`UdpSocket::recv_with`]) or copies it out
//! ([`UdpSocket::recv_from`]). Sending builds a datagram in place in an mbuf
//! ([`UdpSocket::alloc_datagram`] + [`UdpSocket::send_packet`], or
//! [`UdpSocket::reply`] on a received one), or goes through smoltcp's
//! buffers ([`UdpSocket::send_to`], [`UdpSocket::send_with`]).

use super::datagram::{write_headers, Datagram, Headers, HEADERS_LEN};
use super::{current, err, to_endpoint, BufResult, IoBuf, IoBufMut, NetCore, UdpQueue, UDP_QUEUE};
use crate::packet::Packet;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::task::{Context, Poll};

/// Datagrams queued for sending through smoltcp.
const TX_DATAGRAMS: usize = 256;
/// Payload bytes queued for sending through smoltcp.
const TX_BYTES: usize = 256 * 1024;

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
/// Sockets belong to their core:
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::net::UdpSocket>();
/// ```
pub struct UdpSocket {
    net: Rc<NetCore>,
    handle: SocketHandle,
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
        let (handle, local) = {
            let mut guard = net.inner.borrow_mut();
            let inner = &mut *guard;
            inner.check_local(&addr)?;
            let port = match addr.port() {
                0 => inner.ephemeral_port(true)?,
                p => p,
            };
            if inner.udp_queues.contains_key(&port) {
                return Err(err(io::ErrorKind::AddrInUse, "a UDP socket is already bound to this port"));
            }
            // smoltcp only sends for this socket: the fast path takes every
            // datagram to its port before smoltcp would buffer it.
            let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 1], vec![0u8; 0]);
            let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; TX_DATAGRAMS], vec![0u8; TX_BYTES]);
            let mut s = udp::Socket::new(rx, tx);
            s.bind(port).map_err(|e| err(io::ErrorKind::InvalidInput, &format!("bind: {e}")))?;
            inner.udp_queues.insert(port, UdpQueue { datagrams: VecDeque::with_capacity(UDP_QUEUE), waker: None });
            (inner.sockets.add(s), SocketAddr::from((inner.ip, port)))
        };
        Ok(UdpSocket { net, handle, local })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn poll_datagram(&self, cx: &mut Context<'_>) -> Poll<Datagram> {
        let mut inner = self.net.inner.borrow_mut();
        let Some(q) = inner.udp_queues.get_mut(&self.local.port()) else { return Poll::Pending };
        match q.datagrams.pop_front() {
            Some(d) => Poll::Ready(d),
            None => {
                match &q.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => q.waker = Some(cx.waker().clone()),
                }
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
        Ok(poll_fn(|cx| self.poll_datagram(cx)).await)
    }

    /// Lends the next datagram's payload to `f`, in place in its mbuf, with
    /// its source address; the mbuf is freed afterwards.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn recv_with<R>(&self, f: impl FnOnce(&[u8], SocketAddr) -> R) -> io::Result<R> {
        let d = poll_fn(|cx| self.poll_datagram(cx)).await;
        Ok(f(d.payload(), d.source()))
    }

    /// Receives one datagram into `buf`'s spare capacity; a datagram longer
    /// than that is truncated (the rest is discarded, as with the kernel).
    ///
    /// Cancel safety: cancel-safe: a datagram is dequeued only by the poll
    /// that completes the future.
    pub async fn recv_from<B: IoBufMut>(&self, mut buf: B) -> BufResult<(usize, SocketAddr), B> {
        let d = poll_fn(|cx| self.poll_datagram(cx)).await;
        let n = d.payload().len().min(buf.remaining_mut());
        buf.put_slice(&d.payload()[..n]);
        (Ok((n, d.source())), buf)
    }

    /// Sends a received datagram back to its sender in the same mbuf, with
    /// its payload as it is now: addresses and ports swapped, headers
    /// rewritten in place, no allocation. The sender's MAC comes from the
    /// frame itself, so no neighbor lookup is needed.
    ///
    /// Fails with `WouldBlock` (the datagram is dropped) if the transmit
    /// queue stays full.
    pub fn reply(&self, datagram: Datagram) -> io::Result<()> {
        let mut inner = self.net.inner.borrow_mut();
        let (mac, offload) = (inner.device.mac(), inner.device.tx_offload());
        inner.ip_ident = inner.ip_ident.wrapping_add(1);
        let packet = datagram.turn_around(mac, inner.ip_ident, offload);
        inner.queue_datagram(packet)
    }

    /// A packet from this core's pool for a datagram of `len` payload bytes:
    /// its data is the payload (zeroed), with headroom kept for the headers
    /// [`UdpSocket::send_packet`] adds in place.
    pub fn alloc_datagram(&self, len: usize) -> io::Result<Packet> {
        let inner = self.net.inner.borrow();
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
    /// queued for the NIC. The next hop's MAC comes from datagrams it sent
    /// before; for a host not heard from yet, the payload goes through
    /// smoltcp's buffers instead (one copy), which resolve it with ARP.
    ///
    /// Fails with `InvalidInput` if the headroom is too small, `WouldBlock`
    /// if the transmit queue stays full (the packet is dropped).
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
        let len = packet.len();
        let mut inner = self.net.inner.borrow_mut();
        let Some(dst_mac) = inner.next_hop_mac(*to.ip()) else {
            let s = inner.sockets.get_mut::<udp::Socket>(self.handle);
            return s
                .send_slice(packet.data(), to_endpoint(SocketAddr::V4(to))?)
                .map_err(|e| err(io::ErrorKind::WouldBlock, &format!("send: {e}")));
        };
        if packet.segment_count() > 1 || packet.prepend(HEADERS_LEN).is_err() {
            return Err(err(io::ErrorKind::InvalidInput, "packet needs one segment and 42 bytes of headroom"));
        }
        let from = SocketAddrV4::new(inner.ip, self.local.port());
        inner.ip_ident = inner.ip_ident.wrapping_add(1);
        let h = Headers { src_mac: inner.device.mac(), dst_mac, from, to, ident: inner.ip_ident };
        write_headers(&mut packet, &h, len, inner.device.tx_offload());
        inner.queue_datagram(packet)
    }

    fn with<R>(&self, f: impl FnOnce(&mut udp::Socket<'static>) -> R) -> R {
        let mut inner = self.net.inner.borrow_mut();
        f(inner.sockets.get_mut::<udp::Socket>(self.handle))
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
    /// datagram to `to` in place.
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
            self.with(|s| {
                if len > s.payload_send_capacity() || len > 65507 {
                    return Poll::Ready(Err(err(
                        io::ErrorKind::InvalidInput,
                        "datagram larger than the send queue or 65507 bytes",
                    )));
                }
                match s.send(len, to) {
                    Ok(space) => {
                        (f.take().expect("polled after completion"))(space);
                        Poll::Ready(Ok(()))
                    }
                    Err(udp::SendError::BufferFull) => {
                        s.register_send_waker(cx.waker());
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(Err(err(io::ErrorKind::InvalidInput, &format!("send: {e}")))),
                }
            })
        })
        .await
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.net.inner.try_borrow_mut() {
            inner.sockets.remove(self.handle);
            // Queued datagrams are freed with the queue.
            inner.udp_queues.remove(&self.local.port());
        }
    }
}
