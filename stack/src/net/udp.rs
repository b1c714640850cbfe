//! UDP over smoltcp: owned `send_to`/`recv_from`, and lent `recv_with`/
//! `send_with` that work in place in the socket's packet rings.

use super::{current, err, from_endpoint, to_endpoint, BufResult, IoBuf, IoBufMut, NetCore};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

/// Datagrams queued per direction.
const QUEUE_DATAGRAMS: usize = 256;
/// Payload bytes queued per direction.
const QUEUE_BYTES: usize = 256 * 1024;

/// A UDP socket of one core.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::net::UdpSocket;
/// let socket = UdpSocket::bind("0.0.0.0:7".parse().unwrap())?;
/// loop {
///     // Echo in place: the datagram is lent from the receive ring, and the
///     // reply is written straight into the transmit ring.
///     let (len, from) = socket.recv_with(|data, from| (data.len(), from)).await?;
///     let _ = (len, from);
/// }
/// # }
/// ```
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
            if inner.udp_ports.contains(&port) {
                return Err(err(io::ErrorKind::AddrInUse, "a UDP socket is already bound to this port"));
            }
            let buffer =
                || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; QUEUE_DATAGRAMS], vec![0u8; QUEUE_BYTES]);
            let mut s = udp::Socket::new(buffer(), buffer());
            s.bind(port).map_err(|e| err(io::ErrorKind::InvalidInput, &format!("bind: {e}")))?;
            inner.udp_ports.insert(port);
            (inner.sockets.add(s), SocketAddr::from((inner.ip, port)))
        };
        Ok(UdpSocket { net, handle, local })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn with<R>(&self, f: impl FnOnce(&mut udp::Socket<'static>) -> R) -> R {
        let mut inner = self.net.inner.borrow_mut();
        f(inner.sockets.get_mut::<udp::Socket>(self.handle))
    }

    /// Receives one datagram into `buf`'s spare capacity; a datagram longer
    /// than that is truncated (the rest is discarded, as with the kernel).
    ///
    /// Cancel safety: cancel-safe: a datagram is dequeued only by the poll
    /// that completes the future.
    pub async fn recv_from<B: IoBufMut>(&self, mut buf: B) -> BufResult<(usize, SocketAddr), B> {
        let r = poll_fn(|cx| {
            self.with(|s| match s.recv() {
                Ok((data, meta)) => {
                    let n = data.len().min(buf.remaining_mut());
                    buf.put_slice(&data[..n]);
                    Poll::Ready(Ok((n, from_endpoint(meta.endpoint))))
                }
                Err(_) => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await;
        (r, buf)
    }

    /// Lends the next datagram to `f`, in place in the receive ring, with
    /// its source address.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn recv_with<R>(&self, mut f: impl FnMut(&[u8], SocketAddr) -> R) -> io::Result<R> {
        poll_fn(|cx| {
            self.with(|s| match s.recv() {
                Ok((data, meta)) => Poll::Ready(Ok(f(data, from_endpoint(meta.endpoint)))),
                Err(_) => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
            })
        })
        .await
    }

    /// Sends `buf` as one datagram to `to`, waiting for room in the queue.
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

    /// Lends `f` `len` bytes in the transmit ring to write one datagram to
    /// `to` in place.
    ///
    /// Cancel safety: cancel-safe: `f` runs only in the completing poll.
    pub async fn send_with<R>(&self, len: usize, to: SocketAddr, f: impl FnOnce(&mut [u8]) -> R) -> io::Result<R> {
        let ep = to_endpoint(to)?;
        let mut out = None;
        self.send_inner(len, ep, |space| out = Some(f(space))).await?;
        out.ok_or_else(|| err(io::ErrorKind::Other, "datagram was not written"))
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
            inner.udp_ports.remove(&self.local.port());
        }
    }
}
