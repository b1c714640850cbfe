//! zcnet-echo: TCP and UDP echo servers (and TCP discard on port 9) on the
//! zcnet stack — the smallest complete socket program. Every core listens on the same ports; each
//! connection is a task that reads into an owned buffer and writes it back.
//! With `--connect` it is the client instead: it sends a pattern to an echo
//! server, half-closes, and checks that every byte came back.
//!
//!     ip netns exec NS zcnet-echo --config config/tap.toml --port 7
//!     ip netns exec NS zcnet-echo --config config/tap.toml --connect 198.18.0.1:7 --send 1048576

#[path = "shared/servers.rs"]
mod servers;
#[path = "shared/usage.rs"]
mod usage;

use clap::Parser;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use usage::{config_or_exit, exit_usage};
use zcnet::cli::CommonArgs;
use zcnet::net::{RawSocket, TcpStream, UdpSocket};
use zcnet::runtime::{sleep, spawn, timeout};

/// TCP and UDP echo servers.
#[derive(Debug, Parser)]
#[command(name = "zcnet-echo", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// TCP and UDP port to echo on.
    #[arg(long, default_value_t = servers::ECHO_PORT)]
    port: u16,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Be a client: connect to this echo server instead of serving.
    #[arg(long, value_name = "ADDR")]
    connect: Option<SocketAddr>,
    /// Client: bytes to send (and expect back) on each connection.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    send: usize,
    /// Client: connections each core opens at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    conns: usize,
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
    let config = config_or_exit(&args.common);
    let (port, duration, connect, send, conns, cancel_reads) =
        (args.port, args.duration, args.connect, args.send, args.conns, args.cancel_reads);
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
            let clients: Vec<_> = (0..conns).map(|_| spawn(client(server, send))).collect();
            for c in clients {
                if !matches!(c.await, Ok(true)) {
                    CLIENT_FAILED.store(true, Ordering::Relaxed);
                }
            }
            return;
        }
        println!(
            "core {} (queue {}): echo on {}:{port} (tcp, udp), discard on tcp port {}",
            core.lcore.id,
            core.lcore.index,
            core.ip,
            servers::DISCARD_PORT
        );
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| exit_usage(&format!("udp bind {addr}: {e}")));
        if udp_zero_copy {
            spawn(servers::udp_echo_zero_copy(udp));
        } else {
            spawn(servers::udp_echo(udp));
        }
        if let Some(ethertype) = raw_ethertype {
            let raw =
                RawSocket::bind(ethertype, None).unwrap_or_else(|e| exit_usage(&format!("raw {ethertype:#x}: {e}")));
            spawn(raw_echo(raw));
        }
        if port != servers::DISCARD_PORT {
            spawn(servers::discard_service(SocketAddr::from(([0, 0, 0, 0], servers::DISCARD_PORT))));
        }
        servers::accept_loop(addr, move |stream| async move {
            if cancel_reads {
                tcp_echo_cancelling_reads(stream).await
            } else {
                servers::tcp_echo(stream).await
            }
        })
        .await;
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    for (i, c) in report.cores.iter().enumerate() {
        println!("queue {i}: {c:?}");
    }
    println!("total: {:?}", report.total());
    println!("port: {:?}", report.port);
    if CLIENT_FAILED.load(Ordering::Relaxed) {
        std::process::exit(1);
    }
}

static CLIENT_FAILED: AtomicBool = AtomicBool::new(false);

/// Echoes one connection like `servers::tcp_echo`, but every other read is
/// given a few microseconds and then dropped, buffer and all: no byte may be
/// lost, the next read must see it.
async fn tcp_echo_cancelling_reads(stream: TcpStream) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut cancelled = 0u64;
    for turn in 0u64.. {
        buf.clear();
        let read = if turn % 2 == 0 {
            match timeout(Duration::from_micros(turn % 7), stream.read(Vec::with_capacity(64 * 1024))).await {
                Err(_) => {
                    cancelled += 1;
                    continue;
                }
                Ok(done) => done,
            }
        } else {
            stream.read(buf).await
        };
        let (r, b) = read;
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
    println!("connection {}: {cancelled} read(s) cancelled", stream.peer_addr());
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
        let _ = write_half.shutdown().await;
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
