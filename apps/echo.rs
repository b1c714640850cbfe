//! zcnet-echo: TCP and UDP echo servers on the zcnet stack — the smallest
//! complete socket program. Every core listens on the same ports; each
//! connection is a task that reads into an owned buffer and writes it back.
//! With `--connect` it is the client instead: it sends a pattern to an echo
//! server, half-closes, and checks that every byte came back.
//!
//!     ip netns exec NS zcnet-echo --config config/tap.toml --port 7
//!     ip netns exec NS zcnet-echo --config config/tap.toml --connect 198.18.0.1:7 --send 1048576

use clap::Parser;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zcnet::cli::{exit_usage, CommonArgs};
use zcnet::net::{RawSocket, TcpListener, TcpStream, UdpSocket};
use zcnet::runtime::{sleep, spawn, timeout};

/// TCP and UDP echo servers.
#[derive(Debug, Parser)]
#[command(name = "zcnet-echo", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// TCP and UDP port to echo on.
    #[arg(long, default_value_t = 7)]
    port: u16,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Be a client: connect to this echo server instead of serving.
    #[arg(long, value_name = "ADDR")]
    connect: Option<SocketAddr>,
    /// Client: bytes to send (and expect back).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    send: usize,
    /// Server: cancel every other read after a few microseconds (a test
    /// that dropping a read future loses no byte).
    #[arg(long)]
    cancel_reads: bool,
    /// Server: echo UDP with no copy: each datagram goes back out in the
    /// mbuf it arrived in.
    #[arg(long)]
    udp_zero_copy: bool,
    /// Server: also echo raw Ethernet frames of this EtherType (e.g. 0x88b5),
    /// MAC addresses swapped, in the same mbuf.
    #[arg(long, value_name = "ETHERTYPE", value_parser = parse_ethertype)]
    raw_ethertype: Option<u16>,
}

fn parse_ethertype(s: &str) -> Result<u16, String> {
    let t = s.trim_start_matches("0x");
    u16::from_str_radix(t, 16).map_err(|_| format!("{s:?} is not a hexadecimal EtherType like 0x88b5"))
}

fn main() {
    let args = Args::parse();
    let config = args.common.config_or_exit();
    let (port, duration, connect, send, cancel_reads) =
        (args.port, args.duration, args.connect, args.send, args.cancel_reads);
    let (udp_zero_copy, raw_ethertype) = (args.udp_zero_copy, args.raw_ethertype);
    let report = zcnet::run(&config, move |core| async move {
        if let Some(secs) = duration {
            spawn(async move {
                sleep(Duration::from_secs_f64(secs)).await;
                zcnet::signal::request_stop();
            });
        }
        if let Some(server) = connect {
            // The client's core ends when this future returns.
            if !client(server, send).await {
                CLIENT_FAILED.store(true, Ordering::Relaxed);
            }
            return;
        }
        println!("core {} (queue {}): echo on {}:{port} (tcp, udp)", core.lcore.id, core.lcore.index, core.ip);
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| exit_usage(&format!("udp bind {addr}: {e}")));
        if udp_zero_copy {
            spawn(udp_echo_zero_copy(udp));
        } else {
            spawn(udp_echo(udp));
        }
        if let Some(ethertype) = raw_ethertype {
            let raw =
                RawSocket::bind(ethertype, None).unwrap_or_else(|e| exit_usage(&format!("raw {ethertype:#x}: {e}")));
            spawn(raw_echo(raw));
        }
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| exit_usage(&format!("tcp bind {addr}: {e}")));
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    spawn(tcp_echo(stream, cancel_reads));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    for (i, c) in report.cores.iter().enumerate() {
        println!("queue {i}: {c:?}");
    }
    if CLIENT_FAILED.load(Ordering::Relaxed) {
        std::process::exit(1);
    }
}

static CLIENT_FAILED: AtomicBool = AtomicBool::new(false);

/// Echoes one connection until the peer closes its side.
async fn tcp_echo(stream: TcpStream, cancel_reads: bool) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut cancelled = 0u64;
    for turn in 0u64.. {
        buf.clear();
        if cancel_reads && turn % 2 == 0 {
            // Give the read a few microseconds, then drop it, buffer and all:
            // no byte may be lost, the next read must see it.
            match timeout(Duration::from_micros(turn % 7), stream.read(Vec::with_capacity(64 * 1024))).await {
                Err(_) => {
                    cancelled += 1;
                    continue;
                }
                Ok((r, b)) => {
                    buf = b;
                    if !matches!(r, Ok(n) if n > 0) {
                        break;
                    }
                }
            }
        } else {
            let (r, b) = stream.read(buf).await;
            buf = b;
            if !matches!(r, Ok(n) if n > 0) {
                break;
            }
        }
        let (r, b) = stream.write_all(buf).await;
        buf = b;
        if r.is_err() {
            break;
        }
    }
    if cancel_reads {
        println!("connection {}: {cancelled} read(s) cancelled", stream.peer_addr());
    }
    // Dropping the stream closes it: FIN after everything queued.
}

/// Sends `len` pattern bytes to an echo server, half-closes, and checks
/// that exactly the same bytes come back.
async fn client(server: SocketAddr, len: usize) -> bool {
    let stream = match TcpStream::connect(server).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("client: connect {server}: {e}");
            return false;
        }
    };
    println!("client: connected {} -> {server}", stream.local_addr());
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let (read_half, write_half) = stream.into_split();
    let writer = spawn(async move {
        let (r, _) = write_half.write_all(data).await;
        write_half.shutdown();
        r
    });
    let mut back = Vec::with_capacity(len + 1);
    loop {
        if back.len() == back.capacity() {
            back.reserve(64 * 1024);
        }
        let (r, b) = read_half.read(back).await;
        back = b;
        match r {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("client: read: {e}");
                return false;
            }
        }
    }
    let sent_ok = matches!(writer.await, Ok(Ok(())));
    let expected: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let ok = sent_ok && back == expected;
    println!("client: sent {len} received {} {}", back.len(), if ok { "ok" } else { "MISMATCH" });
    ok
}

/// Echoes datagrams with no copy: the received mbuf is turned around.
async fn udp_echo_zero_copy(socket: UdpSocket) {
    while let Ok(datagram) = socket.recv_packet().await {
        let _ = socket.reply(datagram);
    }
}

/// Echoes raw frames: MAC addresses swapped in place, same mbuf.
async fn raw_echo(raw: RawSocket) {
    while let Ok(mut frame) = raw.recv().await {
        let d = frame.data_mut();
        if d.len() >= 12 {
            let (dst, src) = d.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
            let _ = raw.send(frame);
        }
    }
}

/// Echoes datagrams back to their sender.
async fn udp_echo(socket: UdpSocket) {
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
