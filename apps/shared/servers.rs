//! The echo and discard services zcnet-echo and zcnet-bench serve, shared
//! so that a benchmark measures exactly the sample server.

use std::net::SocketAddr;
use zcnet::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use zcnet::runtime::spawn;

/// The echo service (RFC 862): TCP and UDP.
pub const ECHO_PORT: u16 = 7;
/// The discard service (RFC 863), for one-way bulk transfers.
pub const DISCARD_PORT: u16 = 9;

/// Accepts connections on `addr` forever, serving each with `serve`.
pub async fn accept_loop<F, Fut>(addr: SocketAddr, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let listener =
        TcpListener::bind(addr).unwrap_or_else(|e| crate::usage::exit_usage(&format!("tcp bind {addr}: {e}")));
    serve_all(listener, serve).await
}

/// Receive ring of the discard service's connections: a bulk sink wants a
/// window far larger than the default (`net.tcp.rx_buffer`).
pub const BULK_RING: usize = 256 * 1024;

/// The discard service on `addr`, its connections with `BULK_RING`-byte
/// receive rings.
pub async fn discard_service(addr: SocketAddr) {
    let listen = || {
        let socket = TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(BULK_RING)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    let listener =
        listen().unwrap_or_else(|e: std::io::Error| crate::usage::exit_usage(&format!("tcp bind {addr}: {e}")));
    serve_all(listener, tcp_discard).await
}

async fn serve_all<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            spawn(serve(stream));
        }
    }
}

/// Echoes one connection until the peer closes its side: each read goes
/// into an owned buffer that is then written back whole.
pub async fn tcp_echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (r, b) = stream.read(buf).await;
        buf = b;
        if !matches!(r, Ok(n) if n > 0) {
            break;
        }
        let (r, b) = stream.write_all(buf).await;
        buf = b;
        if r.is_err() {
            break;
        }
    }
}

/// Discards everything the peer sends (RFC 863), reading in place from the
/// receive ring: no buffer, no copy.
pub async fn tcp_discard(stream: TcpStream) {
    while let Ok(n) = stream.read_with(|bytes| (bytes.len(), bytes.len())).await {
        if n == 0 {
            break;
        }
    }
}

/// Echoes datagrams back to their sender.
pub async fn udp_echo(socket: UdpSocket) {
    let mut buf = Vec::with_capacity(65536);
    loop {
        buf.clear();
        let (r, b) = socket.recv_from(buf).await;
        buf = b;
        let Ok((_, from)) = r else { continue };
        let (_, b) = socket.send_to(buf, from).await;
        buf = b;
    }
}

/// Echoes datagrams with no copy: each goes back in the mbuf it arrived in.
pub async fn udp_echo_zero_copy(socket: UdpSocket) {
    while let Ok(datagram) = socket.recv_packet().await {
        let _ = socket.reply(datagram);
    }
}
