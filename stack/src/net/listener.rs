//! [`TcpListener`] and the state behind it: the backlog of a listening port
//! and SYN admission.
//!
//! No socket waits in LISTEN. A SYN for a listening port that matches no
//! connection gets a fresh socket (from the connection table's free list),
//! put in LISTEN and handed that one SYN, as long as the backlog — handshakes
//! in progress plus established connections not yet accepted — has room;
//! otherwise the SYN is dropped silently, so the client retries instead of
//! seeing a reset. Admission is O(1) per SYN, whatever the number of
//! connections or listeners.

use super::conn_table::{ConnId, Role};
use super::frame::FourTuple;
use super::stack::{current, Deferred, Inner, NetCore};
use super::stream::TcpStream;
use super::tcp_socket::TcpSocket;
use super::wakers::WakerList;
use smoltcp::socket::tcp::State;
use smoltcp::wire::{IpAddress, IpListenEndpoint};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Seconds a connection may stay in SYN-RECEIVED.
const HANDSHAKE_TIMEOUT_SECS: u64 = 5;

/// A listening port of one core.
pub(crate) struct Listener {
    backlog: usize,
    /// Connections in their handshake (SYN-RECEIVED).
    half_open: Vec<ConnId>,
    /// Established connections waiting for `accept`, in arrival order.
    ready: VecDeque<ConnId>,
    /// Tasks waiting in `accept`.
    acceptors: WakerList,
    /// Ring sizes of the sockets this listener accepts.
    buffers: (usize, usize),
}

impl Listener {
    fn has_room(&self) -> bool {
        self.half_open.len() + self.ready.len() < self.backlog
    }

    /// A handshake failed: its place in the backlog is free again.
    pub(crate) fn handshake_failed(&mut self, id: ConnId) {
        self.half_open.retain(|&c| c != id);
    }

    /// A handshake completed: the connection waits for `accept`.
    pub(crate) fn handshake_done(&mut self, id: ConnId) {
        self.half_open.retain(|&c| c != id);
        self.ready.push_back(id);
        self.acceptors.wake_all();
    }

    /// An established connection went away before it was accepted.
    pub(crate) fn forget(&mut self, id: ConnId) {
        self.ready.retain(|&c| c != id);
    }
}

impl Inner {
    /// A socket for a SYN to a listening port, or `None` (counted) if the
    /// listener's backlog is full.
    pub(crate) fn admit_syn(&mut self, tuple: FourTuple) -> Option<ConnId> {
        let l = self.listeners.get(&tuple.local_port)?;
        if !l.has_room() {
            self.stats.syn_backlog_full += 1;
            return None;
        }
        let (rx, tx) = l.buffers;
        let id = self.conns.alloc(rx, tx);
        let s = self.conns.socket_mut(id);
        // A handshake that does not complete gives its place back.
        s.set_timeout(Some(smoltcp::time::Duration::from_secs(HANDSHAKE_TIMEOUT_SECS)));
        let endpoint = IpListenEndpoint { addr: Some(IpAddress::Ipv4(tuple.local_ip)), port: tuple.local_port };
        if s.listen(endpoint).is_err() {
            self.conns.release(id);
            return None;
        }
        self.conns.get_mut(id).role = Role::Pending(tuple.local_port);
        self.conns.set_seen(id, State::Listen);
        self.conns.insert_tuple(id, tuple);
        if let Some(l) = self.listeners.get_mut(&tuple.local_port) {
            l.half_open.push(id);
        }
        Some(id)
    }

    /// Stops listening on `port`: connections not yet accepted are reset.
    pub(crate) fn remove_listener(&mut self, port: u16) {
        let Some(l) = self.listeners.remove(&port) else { return };
        if let Some(s) = &self.steering {
            s.set_listening(port, self.me, false);
        }
        for id in l.half_open.into_iter().chain(l.ready) {
            self.conns.socket_mut(id).abort();
            self.conns.get_mut(id).role = Role::Closing;
            self.conns.mark_dirty(id);
        }
    }
}

/// A TCP socket listening for connections.
///
/// It keeps up to `backlog` connections that completed (or are completing)
/// their handshake and wait for [`accept`](TcpListener::accept); a burst of
/// SYNs is answered as long as the backlog has room, and SYNs beyond it are
/// dropped (the client retries) — never reset. A connection that is reset
/// before it is accepted is dropped quietly and its place freed. Any number
/// of tasks may await `accept` on one listener.
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
///
/// A listener belongs to its core:
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::net::TcpListener>();
/// ```
pub struct TcpListener {
    net: Rc<NetCore>,
    port: u16,
    local: SocketAddr,
}

impl TcpListener {
    /// Listens on `addr` (this host's address or `0.0.0.0`) with the
    /// configured backlog and ring sizes (`net.tcp.*`). For other sizes,
    /// see [`TcpSocket`].
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(addr)?;
        socket.listen_default()
    }

    /// Listens on `addr` keeping up to `backlog` connections for `accept`.
    pub fn bind_with_backlog(addr: SocketAddr, backlog: usize) -> io::Result<TcpListener> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(addr)?;
        socket.listen(backlog.min(u32::MAX as usize) as u32)
    }

    /// Listens on `addr` with `backlog` and sockets of `buffers` (rx, tx)
    /// bytes: what [`TcpSocket::listen`] does.
    pub(crate) fn listen(addr: SocketAddr, backlog: usize, buffers: (usize, usize)) -> io::Result<TcpListener> {
        let net = current()?;
        let port = {
            let mut guard = net.lock()?;
            let inner = &mut *guard;
            inner.check_local(&addr)?;
            let port = match addr.port() {
                0 => {
                    // With several cores, a port of this core's partition:
                    // flows to it are this core's (`steering`).
                    let (listeners, active) = (&inner.listeners, &inner.active_ports);
                    let (steering, me, ip) = (&inner.steering, inner.me, inner.ip);
                    inner.ports.pick(|p| {
                        listeners.contains_key(&p)
                            || active.contains(&p)
                            || steering.as_ref().is_some_and(|s| !s.ephemeral_is_mine(me, ip, p))
                    })?
                }
                p => p,
            };
            if inner.listeners.contains_key(&port) {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "a listener is already bound to this port"));
            }
            let l = Listener {
                backlog: backlog.max(1),
                half_open: Vec::new(),
                ready: VecDeque::new(),
                acceptors: WakerList::default(),
                buffers,
            };
            inner.listeners.insert(port, l);
            if let Some(s) = &inner.steering {
                s.set_listening(port, inner.me, true);
            }
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

    /// Polls for a connection (the building block of [`accept`](Self::accept)).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut guard = match self.net.lock() {
            Ok(g) => g,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let inner = &mut *guard;
        let Some(l) = inner.listeners.get_mut(&self.port) else {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "listener was shut down")));
        };
        let Some(id) = l.ready.pop_front() else {
            l.acceptors.register(cx.waker());
            return Poll::Pending;
        };
        inner.conns.get_mut(id).role = Role::Open;
        inner.conns.socket_mut(id).set_timeout(None);
        inner.stats.accepted += 1;
        let tuple = inner.conns.get(id).tuple.expect("a ready connection has its 4-tuple");
        drop(guard);
        let local = SocketAddr::from((tuple.local_ip, tuple.local_port));
        let peer = SocketAddr::from((tuple.remote_ip, tuple.remote_port));
        Poll::Ready(Ok((TcpStream::from_conn(self.net.clone(), id, local, peer), peer)))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.net.run_or_defer(Deferred::RemoveListener(self.port));
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.local).finish()
    }
}
