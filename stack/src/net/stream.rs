//! [`TcpStream`] and its halves: owned-buffer I/O (`read`, `write`, ...)
//! and lent-buffer I/O (`read_with`, `write_with`) that works in place in
//! the connection's smoltcp rings.

use super::buf::{BufResult, IoBuf, IoBufMut};
use super::clock::smol_now;
use super::conn_table::ConnId;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
use super::fill_buf::FillBuf;
use super::frame::FourTuple;
use super::stack::{current, Deferred, Inner, NetCore};
use super::wakers::WakerList;
use super::{err, to_endpoint};
use smoltcp::socket::tcp::{self, State};
use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The state a stream and its halves share. The trait impls (`tokio_io`,
/// `futures_io`, `hyper_io`, `buf_write`) reach the socket through the
/// `pub(crate)` poll functions here.
pub(crate) struct Shared {
    net: Rc<NetCore>,
    id: ConnId,
    local: SocketAddr,
    peer: SocketAddr,
    /// Bytes taken from the receive ring so far: a copy of the ring's head
    /// made at another count is stale (see `fill_buf`).
    taken: Cell<u64>,
}

/// What a poll function gets: the socket, its readers' and writers' wait
/// lists, whether the peer's FIN was seen, and the stack (for counters and
/// scratch space).
struct Sock<'a> {
    s: &'a mut tcp::Socket<'static>,
    readers: &'a mut WakerList,
    writers: &'a mut WakerList,
    fin_seen: bool,
}

impl Shared {
    /// Runs `f` on the connection's socket. `dirty`: the call may give
    /// smoltcp something to send (data, a window update, a FIN), so the
    /// connection is queued for egress.
    fn with<R>(&self, dirty: bool, f: impl FnOnce(Sock<'_>) -> R) -> io::Result<R> {
        let mut guard = self.net.lock()?;
        let inner: &mut Inner = &mut guard;
        if dirty {
            inner.conns.mark_dirty(self.id);
        }
        let fin_seen = inner.conns.get(self.id).fin_seen;
        let (s, readers, writers) = inner.conns.socket_and_waiters(self.id);
        Ok(f(Sock { s, readers, writers, fin_seen }))
    }

    fn poll_read<B: IoBufMut>(&self, cx: &mut Context<'_>, buf: &mut B) -> Poll<io::Result<usize>> {
        if buf.remaining_mut() == 0 {
            return Poll::Ready(Err(err(
                io::ErrorKind::InvalidInput,
                "read into a buffer with no spare capacity (Ok(0) would mean end of stream): reserve room first",
            )));
        }
        self.poll_read_into(cx, buf.remaining_mut(), |data| buf.put_slice(data))
    }

    /// Takes up to `want` (> 0) received bytes from the ring, waiting for
    /// at least one, and hands them to `put` (one or two slices: the data
    /// may wrap around the ring): the one copy of a read. `Ok(0)`: end of
    /// stream.
    pub(crate) fn poll_read_into(
        &self,
        cx: &mut Context<'_>,
        want: usize,
        mut put: impl FnMut(&[u8]),
    ) -> Poll<io::Result<usize>> {
        ready(self.with(true, |k| {
            if k.s.can_recv() {
                let mut total = 0;
                // Two rounds at most: the data may wrap around the ring.
                while total < want && k.s.can_recv() {
                    let n =
                        k.s.recv(|data| {
                            let n = data.len().min(want - total);
                            put(&data[..n]);
                            (n, n)
                        })
                        .unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                self.taken.set(self.taken.get() + total as u64);
                self.copied_out(total);
                return Poll::Ready(Ok(total));
            }
            if !k.s.may_recv() {
                return Poll::Ready(eof_or_reset(&k).map(|()| 0));
            }
            k.readers.register(cx.waker());
            Poll::Pending
        }))
    }

    fn poll_read_with<R>(&self, cx: &mut Context<'_>, f: &mut impl FnMut(&[u8]) -> (usize, R)) -> Poll<io::Result<R>> {
        let net = self.net.clone();
        ready(self.with(true, |k| {
            if !k.s.can_recv() {
                if !k.s.may_recv() {
                    return Poll::Ready(eof_or_reset(&k).map(|()| f(&[]).1));
                }
                k.readers.register(cx.waker());
                return Poll::Pending;
            }
            let available = k.s.recv_queue();
            // In place: the contiguous bytes up to the ring's end.
            let (mut n, mut r, contiguous) = match k.s.peek(available) {
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
                net.read_wraps.set(net.read_wraps.get() + 1);
                let mut scratch = net.scratch.borrow_mut();
                scratch.resize(available, 0);
                let got = k.s.peek_slice(&mut scratch[..]).unwrap_or(0);
                self.copied_out(got);
                let (m, r2) = f(&scratch[..got]);
                (n, r) = (m.min(got), r2);
            }
            if n > 0 {
                self.taken.set(self.taken.get() + discard(k.s, n) as u64);
                return Poll::Ready(Ok(r));
            }
            // The closure needs more bytes.
            if !k.s.may_recv() {
                // None will come: the peer closed; it has seen everything.
                return Poll::Ready(Ok(r));
            }
            if available == k.s.recv_capacity() {
                return Poll::Ready(Err(err(
                    io::ErrorKind::InvalidData,
                    "read_with consumed nothing from a full receive buffer (a message larger than the receive ring?)",
                )));
            }
            k.readers.register(cx.waker());
            Poll::Pending
        }))
    }

    /// Queues what fits of `data` in the send ring (the one copy of a
    /// write), waiting for room for at least one byte.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready(self.with(true, |k| {
            if !k.s.may_send() {
                return Poll::Ready(Err(send_error(&k)));
            }
            if data.is_empty() {
                return Poll::Ready(Ok(0));
            }
            if k.s.can_send() {
                let sent = k.s.send_slice(data).map_err(|_| send_error(&k));
                self.copied_in(*sent.as_ref().unwrap_or(&0));
                return Poll::Ready(sent);
            }
            k.writers.register(cx.waker());
            Poll::Pending
        }))
    }

    #[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
    /// Queues what fits of `bufs`, in order, like one `poll_write` of their
    /// concatenation (each byte copied once, into the send ring).
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return self.poll_write(cx, &[]);
        };
        ready(self.with(true, |k| {
            if !k.s.may_send() {
                return Poll::Ready(Err(send_error(&k)));
            }
            if !k.s.can_send() {
                k.writers.register(cx.waker());
                return Poll::Pending;
            }
            let mut total = 0;
            for b in &bufs[first..] {
                match k.s.send_slice(b) {
                    Ok(n) => total += n,
                    Err(_) => return Poll::Ready(Err(send_error(&k))),
                }
                if total == 0 || !k.s.can_send() {
                    break;
                }
            }
            self.copied_in(total);
            Poll::Ready(Ok(total))
        }))
    }

    pub(crate) fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        min: usize,
        f: &mut Option<impl FnOnce(&mut [u8]) -> (usize, R)>,
    ) -> Poll<io::Result<R>> {
        let net = self.net.clone();
        ready(self.with(true, |k| {
            if min > k.s.send_capacity() {
                return Poll::Ready(Err(err(
                    io::ErrorKind::InvalidInput,
                    "write_with asks for more space than the send ring has",
                )));
            }
            if !k.s.may_send() {
                return Poll::Ready(Err(send_error(&k)));
            }
            let free = k.s.send_capacity() - k.s.send_queue();
            if free < min.max(1) {
                k.writers.register(cx.waker());
                return Poll::Pending;
            }
            let mut out = None;
            // In place when the contiguous free space is large enough.
            let _ = k.s.send(|space| {
                if space.len() >= min.max(1) {
                    let (n, r) = (f.take().expect("polled after completion"))(space);
                    out = Some(r);
                    (n.min(space.len()), ())
                } else {
                    (0, ())
                }
            });
            if let Some(r) = out {
                return Poll::Ready(Ok(r));
            }
            // The free space wraps around the ring: serialise into scratch
            // space, then copy into the ring (rare: once per trip around it).
            net.write_wraps.set(net.write_wraps.get() + 1);
            let mut scratch = net.scratch.borrow_mut();
            scratch.clear();
            scratch.resize(free, 0);
            let (n, r) = (f.take().expect("polled after completion"))(&mut scratch[..]);
            self.copied_in(k.s.send_slice(&scratch[..n.min(free)]).unwrap_or(0));
            Poll::Ready(Ok(r))
        }))
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready(self.with(false, |k| {
            if k.s.can_recv() || !k.s.may_recv() {
                Poll::Ready(Ok(()))
            } else {
                k.readers.register(cx.waker());
                Poll::Pending
            }
        }))
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready(self.with(false, |k| {
            if !k.s.may_send() {
                Poll::Ready(Err(send_error(&k)))
            } else if k.s.can_send() {
                Poll::Ready(Ok(()))
            } else {
                k.writers.register(cx.waker());
                Poll::Pending
            }
        }))
    }

    fn poll_acked(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready(self.with(false, |k| {
            if k.s.send_queue() == 0 {
                Poll::Ready(Ok(()))
            } else if !k.s.is_active() {
                Poll::Ready(Err(send_error(&k)))
            } else {
                k.writers.register(cx.waker());
                Poll::Pending
            }
        }))
    }

    /// Counts `n` bytes copied out of the receive ring (`NetStats::copied_to_app`).
    fn copied_out(&self, n: usize) {
        self.net.copied_to_app.set(self.net.copied_to_app.get() + n as u64);
    }

    /// Counts `n` bytes copied into the send ring (`NetStats::copied_from_app`).
    fn copied_in(&self, n: usize) {
        self.net.copied_from_app.set(self.net.copied_from_app.get() + n as u64);
    }

    /// Closes the write side: smoltcp sends a FIN after the queued data.
    pub(crate) fn shutdown(&self) -> io::Result<()> {
        self.with(true, |k| k.s.close())
    }

    /// Bytes taken from the receive ring so far.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn taken(&self) -> u64 {
        self.taken.get()
    }

    /// Waits until data (or the end of the stream) can be read, then copies
    /// every received byte into `dst` (cleared first) without taking them
    /// from the ring, and returns [`Shared::taken`]. Empty: end of stream.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn poll_peek(&self, cx: &mut Context<'_>, dst: &mut Vec<u8>) -> Poll<io::Result<u64>> {
        ready(self.with(false, |k| {
            dst.clear();
            if k.s.can_recv() {
                dst.resize(k.s.recv_queue(), 0);
                let n = k.s.peek_slice(dst).unwrap_or(0);
                dst.truncate(n);
                self.copied_out(n);
                return Poll::Ready(Ok(self.taken.get()));
            }
            if !k.s.may_recv() {
                return Poll::Ready(eof_or_reset(&k).map(|()| self.taken.get()));
            }
            k.readers.register(cx.waker());
            Poll::Pending
        }))
    }

    /// Takes `n` received bytes from the ring without copying them (they
    /// were peeked); returns how many it took.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn discard_received(&self, n: usize) -> io::Result<usize> {
        let n = self.with(true, |k| discard(k.s, n))?;
        self.taken.set(self.taken.get() + n as u64);
        Ok(n)
    }
}

/// Flattens a poll that could not reach the stack into a ready error.
fn ready<T>(r: io::Result<Poll<io::Result<T>>>) -> Poll<io::Result<T>> {
    r.unwrap_or_else(|e| Poll::Ready(Err(e)))
}

/// The outcome of a read on a socket that can no longer receive.
fn eof_or_reset(k: &Sock<'_>) -> io::Result<()> {
    if k.s.state() == State::Closed && !k.fin_seen {
        Err(err(io::ErrorKind::ConnectionReset, "connection reset by peer"))
    } else {
        Ok(())
    }
}

fn send_error(k: &Sock<'_>) -> io::Error {
    match k.s.state() {
        State::Closed if !k.fin_seen => err(io::ErrorKind::ConnectionReset, "connection reset by peer"),
        State::SynSent | State::SynReceived | State::Listen => err(io::ErrorKind::NotConnected, "not connected"),
        _ => err(io::ErrorKind::BrokenPipe, "the write side is shut down"),
    }
}

/// Removes `n` received bytes (possibly wrapping around the ring); returns
/// how many it removed.
fn discard(s: &mut tcp::Socket, n: usize) -> usize {
    let mut left = n;
    while left > 0 {
        let k = s.recv(|d| {
            let k = d.len().min(left);
            (k, k)
        });
        match k {
            Ok(0) | Err(_) => break,
            Ok(k) => left -= k,
        }
    }
    n - left
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Close gracefully (FIN after any queued data); the table reclaims
        // the connection when it is done. Inside a read_with/write_with
        // closure the stack is busy: the core closes it right after.
        self.net.run_or_defer(Deferred::CloseStream(self.id));
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
/// Any number of tasks of the core may read or write one stream (or its
/// halves): each waiting task is woken when the socket changes, and each
/// read takes what is there when it completes, so two readers split the
/// byte stream between them. Dropping the stream closes it gracefully
/// (FIN after queued data).
///
/// A stream belongs to the core that made it:
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::net::TcpStream>();
/// ```
pub struct TcpStream {
    shared: Rc<Shared>,
    /// `AsyncBufRead`'s copy of the receive ring's head.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    fill: FillBuf,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("local", &self.shared.local).field("peer", &self.shared.peer).finish()
    }
}

macro_rules! read_methods {
    () => {
        /// Reads what is available (at least one byte, waiting if needed)
        /// into `buf`'s spare capacity. `Ok(0)` means the peer closed its
        /// side. A buffer with no spare capacity is an `InvalidInput` error
        /// (not `Ok(0)`, which would read as end of stream): reserve room
        /// (`Vec::with_capacity`) before each read.
        ///
        /// Cancel safety: bytes are taken from the socket only in the poll
        /// that completes the future, so dropping it loses nothing.
        pub async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
            let r = poll_fn(|cx| self.shared.poll_read(cx, &mut buf)).await;
            (r, buf)
        }

        /// Reads until `buf` has no spare capacity. Fails with
        /// `UnexpectedEof` if the peer closes first.
        ///
        /// Cancel safety: not cancel-safe as a whole: bytes read before the
        /// cancellation are in `buf`, which is dropped with the future.
        pub async fn read_exact<B: IoBufMut>(&self, mut buf: B) -> BufResult<(), B> {
            while buf.remaining_mut() > 0 {
                match poll_fn(|cx| self.shared.poll_read(cx, &mut buf)).await {
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
        /// `f` runs while the stack lends it the ring: socket calls made
        /// inside it fail with `ResourceBusy`, and a socket dropped inside it
        /// is closed right after it returns.
        ///
        /// Cancel safety: cancel-safe; only what `f` consumed in a completed
        /// call is removed from the socket.
        pub async fn read_with<R>(&self, mut f: impl FnMut(&[u8]) -> (usize, R)) -> io::Result<R> {
            poll_fn(|cx| self.shared.poll_read_with(cx, &mut f)).await
        }

        /// Waits until data (or end of stream) can be read.
        ///
        /// Cancel safety: cancel-safe.
        pub async fn readable(&self) -> io::Result<()> {
            poll_fn(|cx| self.shared.poll_readable(cx)).await
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
            let r = poll_fn(|cx| self.shared.poll_write(cx, buf.as_bytes())).await;
            (r, buf)
        }

        /// Queues all of `buf`, waiting for room as the peer acknowledges.
        ///
        /// Cancel safety: not cancel-safe as a whole: a prefix of `buf` may
        /// already be queued (and will be sent) when the future is dropped.
        pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
            let mut done = 0;
            while done < buf.as_bytes().len() {
                match poll_fn(|cx| self.shared.poll_write(cx, &buf.as_bytes()[done..])).await {
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
        /// send ring. As with `read_with`, socket calls inside `f` fail with
        /// `ResourceBusy`.
        ///
        /// Cancel safety: cancel-safe: `f` runs only in the poll that
        /// completes the future.
        pub async fn write_with<R>(&self, min: usize, f: impl FnOnce(&mut [u8]) -> (usize, R)) -> io::Result<R> {
            let mut f = Some(f);
            poll_fn(|cx| self.shared.poll_write_with(cx, min, &mut f)).await
        }

        /// Waits until the transmit ring has room.
        ///
        /// Cancel safety: cancel-safe.
        pub async fn writable(&self) -> io::Result<()> {
            poll_fn(|cx| self.shared.poll_writable(cx)).await
        }

        /// Waits until everything written has been sent and acknowledged by
        /// the peer (zcnet's own operation: tokio has none; `flush` is not it).
        /// After [`shutdown`](Self::shutdown), it tells that the peer has all
        /// the data.
        ///
        /// Cancel safety: cancel-safe.
        pub async fn wait_acked(&self) -> io::Result<()> {
            poll_fn(|cx| self.shared.poll_acked(cx)).await
        }

        /// Flushes in tokio's sense, which for a TCP socket means nothing to
        /// wait for: written bytes are already in the send ring, which the
        /// stack sends on its own (as a kernel socket's buffer is). Returns
        /// `Ok(())` at once. To wait until the peer has acknowledged the
        /// bytes, use [`wait_acked`](Self::wait_acked).
        ///
        /// Cancel safety: cancel-safe.
        pub async fn flush(&self) -> io::Result<()> {
            Ok(())
        }

        /// Closes the write side, as tokio's `AsyncWriteExt::shutdown` does:
        /// a FIN follows the queued data, and the call returns once it is
        /// queued (it does not wait for the peer; [`wait_acked`](Self::wait_acked)
        /// does). Reading goes on until the peer closes its side. Writing
        /// afterwards fails with `BrokenPipe`.
        ///
        /// Cancel safety: cancel-safe (the FIN is queued in the first poll).
        pub async fn shutdown(&self) -> io::Result<()> {
            self.shared.shutdown()
        }
    };
}

impl TcpStream {
    pub(crate) fn from_conn(net: Rc<NetCore>, id: ConnId, local: SocketAddr, peer: SocketAddr) -> TcpStream {
        TcpStream {
            shared: Rc::new(Shared { net, id, local, peer, taken: Cell::new(0) }),
            #[cfg(any(feature = "tokio", feature = "futures-io"))]
            fill: FillBuf::default(),
        }
    }

    /// Opens a connection to `addr`, failing after the configured timeout
    /// (`net.tcp.connect_timeout_secs`). For other ring sizes, see
    /// [`TcpSocket`](super::TcpSocket).
    ///
    /// Cancel safety: dropping the future aborts the attempt and frees its socket.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        super::TcpSocket::new_v4()?.connect(addr).await
    }

    /// Opens a connection to `addr`, failing with `TimedOut` after `timeout`.
    ///
    /// Cancel safety: dropping the future aborts the attempt and frees its socket.
    pub async fn connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        super::TcpSocket::new_v4()?.connect_timeout(addr, timeout).await
    }

    /// An active open with rings of `buffers` (rx, tx) bytes.
    pub(crate) async fn open(addr: SocketAddr, timeout: Duration, buffers: (usize, usize)) -> io::Result<TcpStream> {
        let net = current()?;
        let remote = to_endpoint(addr)?;
        let IpAddr::V4(remote_ip) = addr.ip() else { unreachable!("to_endpoint accepts IPv4 only") };
        let (id, local) = {
            let mut guard = net.lock()?;
            let inner = &mut *guard;
            // A port free for this peer: no listener, no connection of ours,
            // and its tuple not in TIME-WAIT unless it may be reused safely.
            let now = smol_now().total_micros();
            let tuple = |port| FourTuple { local_ip: inner.ip, local_port: port, remote_ip, remote_port: addr.port() };
            // With several cores, also one whose replies come back to this
            // core by the ownership rule (`steering`).
            let (listeners, active, time_wait) = (&inner.listeners, &inner.active_ports, &inner.time_wait);
            let (steering, me) = (&inner.steering, inner.me);
            let port = inner.ports.pick(|p| {
                listeners.contains_key(&p)
                    || active.contains(&p)
                    || steering.as_ref().is_some_and(|s| !s.port_is_mine(me, &tuple(p)))
                    || time_wait.blocks_active_open(&tuple(p), now)
            })?;
            if inner.time_wait.get(&tuple(port), now).is_some() {
                inner.time_wait.remove(&tuple(port));
                inner.stats.tcp.time_wait_reused += 1;
            }
            let id = inner.conns.alloc(buffers.0, buffers.1);
            if let Err(e) = inner.conns.socket_mut(id).connect(inner.iface.context(), remote, port) {
                inner.conns.release(id);
                return Err(err(io::ErrorKind::InvalidInput, &format!("connect: {e}")));
            }
            inner.active_ports.insert(port);
            inner.conns.insert_tuple(id, tuple(port));
            inner.conns.get_mut(id).ephemeral = true;
            inner.conns.set_seen(id, State::SynSent);
            inner.conns.mark_dirty(id);
            (id, SocketAddr::from((inner.ip, port)))
        };
        let stream = TcpStream::from_conn(net, id, local, addr);
        let established = poll_fn(|cx| {
            ready(stream.shared.with(false, |k| match k.s.state() {
                State::SynSent | State::SynReceived => {
                    k.writers.register(cx.waker());
                    Poll::Pending
                }
                State::Closed => Poll::Ready(Err(err(io::ErrorKind::ConnectionRefused, "connection refused"))),
                _ => Poll::Ready(Ok(())),
            }))
        });
        match crate::runtime::timeout(timeout, established).await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(e)) => {
                let _ = stream.abort();
                Err(e)
            }
            Err(_) => {
                let _ = stream.abort();
                Err(err(io::ErrorKind::TimedOut, "connect timed out"))
            }
        }
    }

    read_methods!();
    write_methods!();

    /// Resets the connection (RST); queued data is discarded.
    pub fn abort(&self) -> io::Result<()> {
        self.shared.with(true, |k| k.s.abort())
    }

    /// The local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    /// Disables (true) or enables Nagle's algorithm.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.shared.with(true, |k| k.s.set_nagle_enabled(!nodelay))
    }

    /// True if Nagle's algorithm is disabled.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.shared.with(false, |k| !k.s.nagle_enabled())
    }

    /// Sends keep-alive probes after `interval` of silence (`None`: off).
    pub fn set_keepalive(&self, interval: Option<Duration>) -> io::Result<()> {
        self.shared.with(true, |k| k.s.set_keep_alive(interval.map(Into::into)))
    }

    /// Aborts the connection if the peer stays silent (no ACK for sent data,
    /// no answer to keep-alives) for `timeout` (`None`: never).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.shared.with(true, |k| k.s.set_timeout(timeout.map(Into::into)))
    }

    /// Delay before a lone ACK is sent (`None`: ACK at once).
    pub fn set_ack_delay(&self, delay: Option<Duration>) -> io::Result<()> {
        self.shared.with(true, |k| k.s.set_ack_delay(delay.map(Into::into)))
    }

    /// Splits the stream into a read half and a write half that can be used
    /// by two tasks of the same core. Dropping the write half shuts the
    /// write side down; the connection closes when both are dropped.
    pub fn into_split(self) -> (TcpReadHalf, TcpWriteHalf) {
        // A copy `poll_fill_buf` made is only a copy: the bytes are still in the ring.
        let read = TcpReadHalf {
            shared: self.shared.clone(),
            #[cfg(any(feature = "tokio", feature = "futures-io"))]
            fill: FillBuf::default(),
        };
        (read, TcpWriteHalf { shared: self.shared })
    }
}

/// The read half of a [`TcpStream`], from [`TcpStream::into_split`].
pub struct TcpReadHalf {
    shared: Rc<Shared>,
    /// `AsyncBufRead`'s copy of the receive ring's head.
    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    fill: FillBuf,
}

impl TcpReadHalf {
    read_methods!();
}

/// The write half of a [`TcpStream`], from [`TcpStream::into_split`].
pub struct TcpWriteHalf {
    shared: Rc<Shared>,
}

impl TcpWriteHalf {
    write_methods!();
}

impl Drop for TcpWriteHalf {
    fn drop(&mut self) {
        self.shared.net.run_or_defer(Deferred::ShutdownWrite(self.shared.id));
    }
}

// The way in for the trait impls (`tokio_io`, `futures_io`, `hyper_io`,
// `buf_write`): the shared state and, on the read side, the copy that
// `poll_fill_buf` lends.
impl TcpStream {
    #[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
    pub(crate) fn io(&self) -> &Shared {
        &self.shared
    }

    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn read_parts(&mut self) -> (&Shared, &mut FillBuf) {
        (&self.shared, &mut self.fill)
    }
}

impl TcpReadHalf {
    #[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
    pub(crate) fn io(&self) -> &Shared {
        &self.shared
    }

    #[cfg(any(feature = "tokio", feature = "futures-io"))]
    pub(crate) fn read_parts(&mut self) -> (&Shared, &mut FillBuf) {
        (&self.shared, &mut self.fill)
    }
}

impl TcpWriteHalf {
    #[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
    pub(crate) fn io(&self) -> &Shared {
        &self.shared
    }
}
