//! TCP: [`TcpListener`] and [`TcpStream`] over smoltcp, with owned-buffer
//! I/O (`read`, `write`, ...) and lent-buffer I/O (`read_with`,
//! `write_with`) that works in place in the socket's rings.

use super::{current, err, from_endpoint, to_endpoint, BufResult, IoBuf, IoBufMut, Listener, NetCore};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A TCP socket listening for connections.
///
/// It keeps up to `backlog` connections that completed (or are completing)
/// their handshake and wait for [`accept`](TcpListener::accept); a burst of
/// SYNs is answered as long as the backlog has room. A connection that is
/// reset before it is accepted is dropped quietly and its place refilled.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::net::TcpListener;
/// let listener = TcpListener::bind("0.0.0.0:7".parse().unwrap())?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     zcnet_stack::runtime::spawn(async move {
///         let mut buf = Vec::with_capacity(4096);
///         loop {
///             buf.clear();
///             let (n, b) = stream.read(buf).await;
///             buf = b;
///             if n.unwrap_or(0) == 0 { break; }
///             let (r, b) = stream.write_all(buf).await;
///             buf = b;
///             if r.is_err() { break; }
///         }
///         let _ = peer;
///     });
/// }
/// # }
/// ```
pub struct TcpListener {
    net: Rc<NetCore>,
    port: u16,
    local: SocketAddr,
}

impl TcpListener {
    /// Listens on `addr` (this host's address or `0.0.0.0`) with the
    /// configured default backlog (`net.tcp.backlog`).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let backlog = current()?.inner.borrow().config.tcp.backlog;
        Self::bind_with_backlog(addr, backlog)
    }

    /// Listens on `addr` keeping up to `backlog` connections for `accept`.
    pub fn bind_with_backlog(addr: SocketAddr, backlog: usize) -> io::Result<TcpListener> {
        let net = current()?;
        let port = {
            let mut guard = net.inner.borrow_mut();
            let inner = &mut *guard;
            inner.check_local(&addr)?;
            let port = match addr.port() {
                0 => inner.ephemeral_port(false)?,
                p => p,
            };
            if inner.listeners.contains_key(&port) {
                return Err(err(io::ErrorKind::AddrInUse, "a listener is already bound to this port"));
            }
            inner.listeners.insert(
                port,
                Listener { backlog: backlog.max(1), listening: 0, pending: VecDeque::new(), waker: None },
            );
            inner.maintain_listener(port);
            port
        };
        let ip = net.inner.borrow().ip;
        Ok(TcpListener { net, port, local: SocketAddr::from((ip, port)) })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Cancel safety: cancelling `accept` loses no connection; it stays in
    /// the backlog for the next call.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut guard = self.net.inner.borrow_mut();
        let inner = &mut *guard;
        let Some(l) = inner.listeners.get_mut(&self.port) else {
            return Poll::Ready(Err(err(io::ErrorKind::NotConnected, "listener was shut down")));
        };
        let found = l.pending.iter().position(|&h| {
            !matches!(inner.sockets.get::<tcp::Socket>(h).state(), State::Listen | State::SynReceived | State::Closed)
        });
        match found {
            Some(i) => {
                let h = l.pending.remove(i).expect("index from position");
                inner.sockets.get_mut::<tcp::Socket>(h).set_timeout(None);
                let s = inner.sockets.get::<tcp::Socket>(h);
                let peer = s.remote_endpoint().map(from_endpoint);
                let local = s.local_endpoint().map(from_endpoint);
                inner.stats.accepted += 1;
                inner.maintain_listener(self.port);
                drop(guard);
                let (Some(peer), Some(local)) = (peer, local) else {
                    // Cannot happen for a synchronised socket; never panic on it.
                    return Poll::Ready(Err(err(io::ErrorKind::Other, "accepted socket has no endpoints")));
                };
                Poll::Ready(Ok((TcpStream::from_handle(self.net.clone(), h, local, peer), peer)))
            }
            None => {
                l.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.net.inner.try_borrow_mut() {
            inner.remove_listener(self.port);
        }
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.local).finish()
    }
}

/// The shared state of a stream and its halves.
struct Conn {
    net: Rc<NetCore>,
    handle: SocketHandle,
    local: SocketAddr,
    peer: SocketAddr,
    /// The peer's FIN was seen, so a later CLOSED state is an orderly end.
    saw_fin: Cell<bool>,
}

impl Conn {
    fn with<R>(&self, f: impl FnOnce(&mut tcp::Socket<'static>) -> R) -> R {
        let mut inner = self.net.inner.borrow_mut();
        f(inner.sockets.get_mut::<tcp::Socket>(self.handle))
    }

    /// The outcome of a read on a socket that can no longer receive.
    fn eof_or_reset(&self, s: &tcp::Socket) -> io::Result<()> {
        self.note_fin(s);
        if s.state() == State::Closed && !self.saw_fin.get() {
            Err(err(io::ErrorKind::ConnectionReset, "connection reset by peer"))
        } else {
            Ok(())
        }
    }

    fn note_fin(&self, s: &tcp::Socket) {
        if matches!(s.state(), State::CloseWait | State::LastAck | State::Closing | State::TimeWait) {
            self.saw_fin.set(true);
        }
    }

    fn poll_read<B: IoBufMut>(&self, cx: &mut Context<'_>, buf: &mut B) -> Poll<io::Result<usize>> {
        self.with(|s| {
            let want = buf.remaining_mut();
            if want == 0 {
                return Poll::Ready(Ok(0));
            }
            if s.can_recv() {
                let mut total = 0;
                // Two rounds at most: the data may wrap around the ring.
                while total < want && s.can_recv() {
                    let n = s
                        .recv(|data| {
                            let n = data.len().min(want - total);
                            buf.put_slice(&data[..n]);
                            (n, n)
                        })
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                return Poll::Ready(Ok(total));
            }
            if !s.may_recv() {
                return Poll::Ready(self.eof_or_reset(s).map(|()| 0));
            }
            s.register_recv_waker(cx.waker());
            Poll::Pending
        })
    }

    fn poll_read_with<R>(&self, cx: &mut Context<'_>, f: &mut impl FnMut(&[u8]) -> (usize, R)) -> Poll<io::Result<R>> {
        self.with(|s| {
            if !s.can_recv() {
                if !s.may_recv() {
                    return Poll::Ready(self.eof_or_reset(s).map(|()| f(&[]).1));
                }
                s.register_recv_waker(cx.waker());
                return Poll::Pending;
            }
            let available = s.recv_queue();
            // In place: the contiguous bytes up to the ring's end.
            let (mut n, mut r, contiguous) = match s.peek(available) {
                Ok(data) => {
                    let (n, r) = f(data);
                    (n.min(data.len()), r, data.len())
                }
                Err(_) => return Poll::Ready(Err(err(io::ErrorKind::Other, "receive ring unavailable"))),
            };
            if n == 0 && contiguous < available {
                // The data wraps around the ring and the closure wants more
                // than the first part: show it everything, contiguous, from
                // scratch space (at most once per trip around the ring).
                self.net.read_wraps.set(self.net.read_wraps.get() + 1);
                let mut scratch = self.net.scratch.borrow_mut();
                scratch.resize(available, 0);
                let got = s.peek_slice(&mut scratch[..]).unwrap_or(0);
                let (m, r2) = f(&scratch[..got]);
                (n, r) = (m.min(got), r2);
            }
            if n > 0 {
                discard(s, n);
                return Poll::Ready(Ok(r));
            }
            // The closure needs more bytes.
            if !s.may_recv() {
                // None will come: the peer closed; it has seen everything.
                return Poll::Ready(Ok(r));
            }
            if available == s.recv_capacity() {
                return Poll::Ready(Err(err(
                    io::ErrorKind::InvalidData,
                    "read_with consumed nothing from a full receive buffer (message larger than net.tcp.rx_buffer?)",
                )));
            }
            s.register_recv_waker(cx.waker());
            Poll::Pending
        })
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.with(|s| {
            if !s.may_send() {
                return Poll::Ready(Err(self.send_error(s)));
            }
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if s.can_send() {
                return Poll::Ready(s.send_slice(data).map_err(|_| self.send_error(s)));
            }
            s.register_send_waker(cx.waker());
            Poll::Pending
        })
    }

    fn send_error(&self, s: &tcp::Socket) -> io::Error {
        match s.state() {
            State::Closed if !self.saw_fin.get() => err(io::ErrorKind::ConnectionReset, "connection reset by peer"),
            State::SynSent | State::SynReceived | State::Listen => err(io::ErrorKind::NotConnected, "not connected"),
            _ => err(io::ErrorKind::BrokenPipe, "the write side is shut down"),
        }
    }

    fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        min: usize,
        f: &mut Option<impl FnOnce(&mut [u8]) -> (usize, R)>,
    ) -> Poll<io::Result<R>> {
        self.with(|s| {
            if min > s.send_capacity() {
                return Poll::Ready(Err(err(
                    io::ErrorKind::InvalidInput,
                    "write_with asks for more space than net.tcp.tx_buffer",
                )));
            }
            if !s.may_send() {
                return Poll::Ready(Err(self.send_error(s)));
            }
            let free = s.send_capacity() - s.send_queue();
            if free < min.max(1) {
                s.register_send_waker(cx.waker());
                return Poll::Pending;
            }
            let mut out = None;
            // In place when the contiguous free space is large enough.
            let _ = s.send(|space| {
                if space.len() >= min.max(1) {
                    let (n, r) = (f.take().expect("polled after completion"))(space);
                    let n = n.min(space.len());
                    out = Some(r);
                    (n, ())
                } else {
                    (0, ())
                }
            });
            if let Some(r) = out {
                return Poll::Ready(Ok(r));
            }
            // The free space wraps around the ring: serialise into scratch
            // space, then copy into the ring (rare: once per trip around it).
            self.net.write_wraps.set(self.net.write_wraps.get() + 1);
            let mut scratch = self.net.scratch.borrow_mut();
            scratch.clear();
            scratch.resize(free, 0);
            let (n, r) = (f.take().expect("polled after completion"))(&mut scratch[..]);
            let n = n.min(free);
            let _ = s.send_slice(&scratch[..n]);
            Poll::Ready(Ok(r))
        })
    }
}

/// Removes `n` received bytes (possibly wrapping around the ring).
fn discard(s: &mut tcp::Socket, mut n: usize) {
    while n > 0 {
        let k = s.recv(|d| {
            let k = d.len().min(n);
            (k, k)
        });
        match k {
            Ok(0) | Err(_) => break,
            Ok(k) => n -= k,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Close gracefully (FIN after any queued data); the core reclaims
        // the socket when it reaches CLOSED, or TIME-WAIT under pressure.
        if let Ok(mut guard) = self.net.inner.try_borrow_mut() {
            let inner = &mut *guard;
            inner.sockets.get_mut::<tcp::Socket>(self.handle).close();
            inner.closing.push(self.handle);
        }
    }
}

/// A TCP connection.
///
/// Two kinds of I/O:
/// - **owned buffers**: [`read`](TcpStream::read), [`write`](TcpStream::write),
///   [`read_exact`](TcpStream::read_exact), [`write_all`](TcpStream::write_all)
///   take the buffer by value and return it with the result;
/// - **lent buffers**: [`read_with`](TcpStream::read_with) and
///   [`write_with`](TcpStream::write_with) run a closure on the bytes in
///   place in the socket's receive or transmit ring — no copy on the
///   application's side.
///
/// Dropping the stream closes it gracefully (FIN after queued data).
/// A stream belongs to the core that made it:
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::net::TcpStream>();
/// ```
pub struct TcpStream {
    conn: Rc<Conn>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("local", &self.conn.local).field("peer", &self.conn.peer).finish()
    }
}

macro_rules! read_methods {
    () => {
        /// Reads what is available (at least one byte, waiting if needed)
        /// into `buf`'s spare capacity. `Ok(0)` means the peer closed its
        /// side (or `buf` has no spare capacity).
        ///
        /// Cancel safety: bytes are taken from the socket only in the poll
        /// that completes the future, so dropping it loses nothing.
        pub async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
            let r = poll_fn(|cx| self.conn.poll_read(cx, &mut buf)).await;
            (r, buf)
        }

        /// Reads until `buf` has no spare capacity. Fails with
        /// `UnexpectedEof` if the peer closes first.
        ///
        /// Cancel safety: not cancel-safe as a whole: bytes read before the
        /// cancellation are in `buf`, which is dropped with the future.
        pub async fn read_exact<B: IoBufMut>(&self, mut buf: B) -> BufResult<(), B> {
            while buf.remaining_mut() > 0 {
                match poll_fn(|cx| self.conn.poll_read(cx, &mut buf)).await {
                    Ok(0) => {
                        return (Err(err(io::ErrorKind::UnexpectedEof, "peer closed before the buffer was full")), buf)
                    }
                    Ok(_) => {}
                    Err(e) => return (Err(e), buf),
                }
            }
            (Ok(()), buf)
        }

        /// Lends the received bytes to `f` in place, in the socket's receive
        /// ring. `f` returns how many bytes it consumed and a value; when it
        /// consumes 0 (it needs more to make progress), `read_with` waits for
        /// more data and calls it again with everything available. After the
        /// peer has closed its side, the value of the last call is returned
        /// even if it consumed nothing, and with nothing left `f` sees `&[]`.
        ///
        /// The bytes are contiguous: where the data wraps around the ring and
        /// `f` asks for more than the first part, it is shown a linear copy.
        ///
        /// Cancel safety: cancel-safe; only what `f` consumed in a completed
        /// call is removed from the socket.
        pub async fn read_with<R>(&self, mut f: impl FnMut(&[u8]) -> (usize, R)) -> io::Result<R> {
            poll_fn(|cx| self.conn.poll_read_with(cx, &mut f)).await
        }

        /// Waits until data (or end of stream) can be read.
        ///
        /// Cancel safety: cancel-safe.
        pub async fn readable(&self) -> io::Result<()> {
            poll_fn(|cx| {
                self.conn.with(|s| {
                    if s.can_recv() || !s.may_recv() {
                        Poll::Ready(Ok(()))
                    } else {
                        s.register_recv_waker(cx.waker());
                        Poll::Pending
                    }
                })
            })
            .await
        }
    };
}

macro_rules! write_methods {
    () => {
        /// Queues as much of `buf` as the transmit ring takes (at least one
        /// byte, waiting for room if needed) and returns how many bytes.
        ///
        /// Cancel safety: cancel-safe: bytes are queued only in the poll that
        /// completes the future.
        pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
            let r = poll_fn(|cx| self.conn.poll_write(cx, buf.as_bytes())).await;
            (r, buf)
        }

        /// Queues all of `buf`, waiting for room as the peer acknowledges.
        ///
        /// Cancel safety: not cancel-safe as a whole: a prefix of `buf` may
        /// already be queued (and will be sent) when the future is dropped.
        pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
            let mut done = 0;
            while done < buf.as_bytes().len() {
                match poll_fn(|cx| self.conn.poll_write(cx, &buf.as_bytes()[done..])).await {
                    Ok(n) => done += n,
                    Err(e) => return (Err(e), buf),
                }
            }
            (Ok(()), buf)
        }

        /// Lends `f` at least `min` bytes of free space in the transmit ring,
        /// to serialise into in place; `f` returns how many bytes it produced
        /// and a value. Waits until `min` bytes are free. Where the free space
        /// wraps around the ring, `f` writes to scratch space that is then
        /// copied in (rare). Fails with `InvalidInput` if `min` exceeds the
        /// transmit buffer (`net.tcp.tx_buffer`).
        ///
        /// Cancel safety: cancel-safe: `f` runs only in the poll that
        /// completes the future.
        pub async fn write_with<R>(&self, min: usize, f: impl FnOnce(&mut [u8]) -> (usize, R)) -> io::Result<R> {
            let mut f = Some(f);
            poll_fn(|cx| self.conn.poll_write_with(cx, min, &mut f)).await
        }

        /// Waits until the transmit ring has room.
        ///
        /// Cancel safety: cancel-safe.
        pub async fn writable(&self) -> io::Result<()> {
            poll_fn(|cx| {
                self.conn.with(|s| {
                    if !s.may_send() {
                        Poll::Ready(Err(self.conn.send_error(s)))
                    } else if s.can_send() {
                        Poll::Ready(Ok(()))
                    } else {
                        s.register_send_waker(cx.waker());
                        Poll::Pending
                    }
                })
            })
            .await
        }

        /// Waits until everything written has been sent and acknowledged by
        /// the peer.
        ///
        /// Cancel safety: cancel-safe.
        pub async fn flush(&self) -> io::Result<()> {
            poll_fn(|cx| {
                self.conn.with(|s| {
                    if s.send_queue() == 0 {
                        Poll::Ready(Ok(()))
                    } else if !s.is_active() {
                        Poll::Ready(Err(self.conn.send_error(s)))
                    } else {
                        s.register_send_waker(cx.waker());
                        Poll::Pending
                    }
                })
            })
            .await
        }

        /// Closes the write side: a FIN follows the queued data. Reading
        /// goes on until the peer closes its side.
        pub fn shutdown(&self) {
            self.conn.with(|s| {
                self.conn.note_fin(s);
                s.close()
            })
        }
    };
}

impl TcpStream {
    fn from_handle(net: Rc<NetCore>, handle: SocketHandle, local: SocketAddr, peer: SocketAddr) -> TcpStream {
        TcpStream { conn: Rc::new(Conn { net, handle, local, peer, saw_fin: Cell::new(false) }) }
    }

    /// Opens a connection to `addr`, failing after the configured timeout
    /// (`net.tcp.connect_timeout_secs`).
    ///
    /// Cancel safety: dropping the future aborts the attempt and frees its socket.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let secs = current()?.inner.borrow().config.tcp.connect_timeout_secs;
        Self::connect_timeout(addr, Duration::from_secs_f64(secs)).await
    }

    /// Opens a connection to `addr`, failing with `TimedOut` after `timeout`.
    ///
    /// Cancel safety: dropping the future aborts the attempt and frees its socket.
    pub async fn connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let net = current()?;
        let remote = to_endpoint(addr)?;
        let (handle, local) = {
            let mut guard = net.inner.borrow_mut();
            let inner = &mut *guard;
            let port = inner.ephemeral_port(false)?;
            let h = inner.tcp_socket();
            let s = inner.sockets.get_mut::<tcp::Socket>(h);
            if let Err(e) = s.connect(inner.iface.context(), remote, port) {
                inner.release(h);
                return Err(err(io::ErrorKind::InvalidInput, &format!("connect: {e}")));
            }
            inner.used_ports.insert(port);
            inner.client_ports.insert(h, port);
            (h, SocketAddr::from((inner.ip, port)))
        };
        let stream = TcpStream::from_handle(net, handle, local, addr);
        let established = poll_fn(|cx| {
            stream.conn.with(|s| match s.state() {
                State::SynSent | State::SynReceived => {
                    s.register_send_waker(cx.waker());
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                State::Closed => Poll::Ready(Err(err(io::ErrorKind::ConnectionRefused, "connection refused"))),
                _ => Poll::Ready(Ok(())),
            })
        });
        match crate::runtime::timeout(timeout, established).await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(e)) => {
                stream.abort();
                Err(e)
            }
            Err(_) => {
                stream.abort();
                Err(err(io::ErrorKind::TimedOut, "connect timed out"))
            }
        }
    }

    read_methods!();
    write_methods!();

    /// Resets the connection (RST); queued data is discarded.
    pub fn abort(&self) {
        self.conn.with(|s| s.abort())
    }

    /// The local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.conn.local
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.peer
    }

    /// Disables (true) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) {
        self.conn.with(|s| s.set_nagle_enabled(!nodelay))
    }

    /// True if Nagle's algorithm is disabled.
    pub fn nodelay(&self) -> bool {
        self.conn.with(|s| !s.nagle_enabled())
    }

    /// Sends keep-alive probes after `interval` of silence (`None`: off).
    pub fn set_keepalive(&self, interval: Option<Duration>) {
        self.conn.with(|s| s.set_keep_alive(interval.map(Into::into)))
    }

    /// Aborts the connection if the peer stays silent (no ACK for sent data,
    /// no answer to keep-alives) for `timeout` (`None`: never).
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.conn.with(|s| s.set_timeout(timeout.map(Into::into)))
    }

    /// Delay before a lone ACK is sent (`None`: ACK at once).
    pub fn set_ack_delay(&self, delay: Option<Duration>) {
        self.conn.with(|s| s.set_ack_delay(delay.map(Into::into)))
    }

    /// Splits the stream into a read half and a write half that can be used
    /// by two tasks of the same core. Dropping the write half shuts the
    /// write side down; the connection closes when both are dropped.
    pub fn into_split(self) -> (TcpReadHalf, TcpWriteHalf) {
        (TcpReadHalf { conn: self.conn.clone() }, TcpWriteHalf { conn: self.conn })
    }
}

/// The read half of a [`TcpStream`], from [`TcpStream::into_split`].
pub struct TcpReadHalf {
    conn: Rc<Conn>,
}

impl TcpReadHalf {
    read_methods!();
}

/// The write half of a [`TcpStream`], from [`TcpStream::into_split`].
pub struct TcpWriteHalf {
    conn: Rc<Conn>,
}

impl TcpWriteHalf {
    write_methods!();
}

impl Drop for TcpWriteHalf {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.conn.net.inner.try_borrow_mut() {
            inner.sockets.get_mut::<tcp::Socket>(self.conn.handle).close();
        }
    }
}
