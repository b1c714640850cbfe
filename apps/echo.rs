//! zcnet-echo: TCP and UDP echo servers on the zcnet stack — the smallest
//! complete socket program. Every core listens on the same ports; each
//! connection is a task that reads into an owned buffer and writes it back.
//!
//!     ip netns exec NS zcnet-echo --config config/tap.toml --port 7

use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;
use zcnet::cli::{exit_usage, CommonArgs};
use zcnet::net::{TcpListener, TcpStream, UdpSocket};
use zcnet::runtime::{sleep, spawn};

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
}

fn main() {
    let args = Args::parse();
    let config = args.common.config_or_exit();
    let port = args.port;
    let duration = args.duration;
    let report = zcnet::run(&config, move |core| async move {
        println!("core {}: echo on {}:{port} (tcp, udp)", core.lcore.id, core.ip);
        if let Some(secs) = duration {
            spawn(async move {
                sleep(Duration::from_secs_f64(secs)).await;
                zcnet::signal::request_stop();
            });
        }
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| exit_usage(&format!("udp bind {addr}: {e}")));
        spawn(udp_echo(udp));
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| exit_usage(&format!("tcp bind {addr}: {e}")));
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    spawn(tcp_echo(stream));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    for (i, c) in report.cores.iter().enumerate() {
        println!("core {i}: {c:?}");
    }
}

/// Echoes one connection until the peer closes its side.
async fn tcp_echo(stream: TcpStream) {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (r, b) = stream.read(buf).await;
        buf = b;
        match r {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let (r, b) = stream.write_all(buf).await;
        buf = b;
        if r.is_err() {
            break;
        }
    }
    // Dropping the stream closes it: FIN after everything queued.
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
