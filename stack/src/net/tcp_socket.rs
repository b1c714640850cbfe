//! [`TcpSocket`]: a TCP socket before it listens or connects, to choose its
//! ring sizes — shaped like tokio's `TcpSocket`.

use super::listener::TcpListener;
use super::stack::current;
use super::stream::TcpStream;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Smallest and largest ring the stack accepts (as `net.tcp.rx_buffer`).
const RING_MIN: usize = 1024;
const RING_MAX: usize = 1 << 30;

/// A TCP socket that is not yet listening or connected: where a
/// connection's receive and send rings get their sizes. Each connection
/// owns two rings of these sizes for its whole life, so they are its memory
/// cost (the defaults are `net.tcp.rx_buffer` and `net.tcp.tx_buffer`);
/// a bulk transfer wants large rings, ten thousand mostly idle connections
/// small ones.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::net::TcpSocket;
/// // A listener whose connections get 256 KiB receive rings.
/// let socket = TcpSocket::new_v4()?;
/// socket.set_recv_buffer_size(256 * 1024)?;
/// socket.bind("0.0.0.0:9".parse().unwrap())?;
/// let listener = socket.listen(1024)?;
///
/// // A client connection with small rings.
/// let socket = TcpSocket::new_v4()?;
/// socket.set_recv_buffer_size(4096)?;
/// socket.set_send_buffer_size(4096)?;
/// let stream = socket.connect("198.18.0.1:7".parse().unwrap()).await?;
/// # let _ = (listener, stream); Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct TcpSocket {
    local: Cell<Option<SocketAddr>>,
    rx: Cell<Option<usize>>,
    tx: Cell<Option<usize>>,
}

fn ring_size(bytes: usize, what: &str) -> io::Result<usize> {
    if (RING_MIN..=RING_MAX).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{what} of {bytes} bytes: must be 1 KiB..=1 GiB")))
    }
}

impl TcpSocket {
    /// A new IPv4 TCP socket (zcnet speaks IPv4 only). Never fails; the
    /// `Result` is tokio's shape.
    pub fn new_v4() -> io::Result<TcpSocket> {
        Ok(TcpSocket::default())
    }

    /// Sets the receive ring's size in bytes (1 KiB..=1 GiB): the most the
    /// peer may send ahead of the application's reads.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.rx.set(Some(ring_size(bytes, "receive buffer")?));
        Ok(())
    }

    /// Sets the send ring's size in bytes (1 KiB..=1 GiB): the most written
    /// and not yet acknowledged.
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.tx.set(Some(ring_size(bytes, "send buffer")?));
        Ok(())
    }

    /// The receive ring's size (the configured default unless set).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(self.buffers()?.0)
    }

    /// The send ring's size (the configured default unless set).
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        Ok(self.buffers()?.1)
    }

    /// Binds to `addr`, for [`listen`](Self::listen) (this host's address or
    /// `0.0.0.0`; port 0 picks a free port). A connecting socket picks its
    /// own local port.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        if addr.is_ipv6() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "zcnet speaks IPv4 only"));
        }
        self.local.set(Some(addr));
        Ok(())
    }

    /// Listens for connections, keeping up to `backlog` of them for `accept`.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let addr = self.local.get().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "bind the socket to an address before listen")
        })?;
        TcpListener::listen(addr, backlog.max(1) as usize, self.buffers()?)
    }

    /// [`listen`](Self::listen) with the configured backlog (`net.tcp.backlog`).
    pub(crate) fn listen_default(self) -> io::Result<TcpListener> {
        let backlog = current()?.lock()?.config.tcp.backlog;
        let addr = self.local.get().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        TcpListener::listen(addr, backlog, self.buffers()?)
    }

    /// Opens a connection to `addr`, failing with `TimedOut` after the
    /// configured timeout (`net.tcp.connect_timeout_secs`).
    ///
    /// Cancel safety: dropping the future aborts the attempt and frees its socket.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let secs = current()?.lock()?.config.tcp.connect_timeout_secs;
        self.connect_timeout(addr, Duration::from_secs_f64(secs)).await
    }

    /// Opens a connection to `addr`, failing with `TimedOut` after `timeout`.
    ///
    /// Cancel safety: dropping the future aborts the attempt and frees its socket.
    pub async fn connect_timeout(self, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::open(addr, timeout, self.buffers()?).await
    }

    fn buffers(&self) -> io::Result<(usize, usize)> {
        let net = current()?;
        let inner = net.lock()?;
        let tcp = &inner.config.tcp;
        Ok((self.rx.get().unwrap_or(tcp.rx_buffer), self.tx.get().unwrap_or(tcp.tx_buffer)))
    }
}
