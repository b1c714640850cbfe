//! zcnet-tokio-bench: the baseline zcnet is measured against — the same
//! scenarios as zcnet-bench (apps/shared/bench.rs), the same echo and
//! discard server as zcnet-echo, written with tokio over the kernel's
//! loopback. Server and client each run a single-threaded tokio runtime on
//! one thread pinned to its own CPU, as the zcnet run pins its two cores.
//!
//!     zcnet-tokio-bench --scenario rr --conns 32 --secs 5 --client-cpu 0 --server-cpu 1

#[path = "../../shared/bench.rs"]
mod bench;
#[path = "../../shared/hyper_http.rs"]
mod hyper_http;

use bench::{BenchArgs, Scenario, StartLine, Tally};
use clap::Parser;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// tokio-on-the-kernel benchmark: server and client in one process.
#[derive(Debug, Parser)]
#[command(name = "zcnet-tokio-bench", version, about)]
struct Args {
    #[command(flatten)]
    bench: BenchArgs,
    /// CPU for the client thread.
    #[arg(long, default_value_t = 0)]
    client_cpu: usize,
    /// CPU for the server thread.
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    /// hyper scenario only: run each connection's server on the client's
    /// thread, over an in-memory pipe (`tokio::io::duplex`) instead of a
    /// socket — hyper's own cost per request, client and server, with no
    /// network stack at all (the floor any stack's hyper run pays).
    #[arg(long)]
    hyper_in_memory: bool,
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn main() {
    let args = Args::parse();
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    // Bind before either thread starts, so the client never races the server.
    let std_echo = std::net::TcpListener::bind(loopback).expect("bind echo");
    let std_discard = std::net::TcpListener::bind(loopback).expect("bind discard");
    let std_udp = std::net::UdpSocket::bind(loopback).expect("bind udp");
    let std_http = std::net::TcpListener::bind(loopback).expect("bind http");
    let http = std_http.local_addr().unwrap();
    std_http.set_nonblocking(true).expect("nonblocking");
    let (echo, discard, udp) =
        (std_echo.local_addr().unwrap(), std_discard.local_addr().unwrap(), std_udp.local_addr().unwrap());
    for s in [&std_echo, &std_discard] {
        s.set_nonblocking(true).expect("nonblocking");
    }
    std_udp.set_nonblocking(true).expect("nonblocking");

    let server_cpu = args.server_cpu;
    std::thread::spawn(move || {
        pin(server_cpu);
        runtime().block_on(async move {
            let echo = TcpListener::from_std(std_echo).unwrap();
            let discard = TcpListener::from_std(std_discard).unwrap();
            let udp = UdpSocket::from_std(std_udp).unwrap();
            tokio::spawn(udp_echo(udp));
            tokio::spawn(accept_loop(discard, false));
            tokio::spawn(hyper_accept_loop(TcpListener::from_std(std_http).unwrap()));
            accept_loop(echo, true).await;
        })
    });

    pin(args.client_cpu);
    let bench = args.bench.clone();
    let hyper_in_memory = args.hyper_in_memory;
    let (tally, rss_idle, setup) = runtime().block_on(async move {
        // The idle baseline: listeners bound, runtimes built, no connection yet.
        let rss_idle = bench::proc_status_kb("VmRSS");
        // The window opens once every task has connected (StartLine).
        let line = Arc::new(StartLine::new(bench.conns, &bench));
        // One tally for all clients, as zcnet-bench keeps one per core: a
        // histogram is 200 KiB resident, not memory of a connection.
        let tally = Arc::new(Mutex::new(Tally::new()));
        let tasks: Vec<_> = (0..bench.conns)
            .map(|_| {
                let (scenario, size, line, tally) = (bench.scenario, bench.size, line.clone(), tally.clone());
                let in_memory = hyper_in_memory;
                tokio::spawn(async move {
                    let (line, t) = (&line, &tally);
                    match scenario {
                        Scenario::Rr => rr(echo, size, line, t).await,
                        Scenario::Stream => stream(discard, size, line, t).await,
                        Scenario::Crr => crr(echo, size, line, t).await,
                        Scenario::Udp => udp_rr(udp, size, line, t).await,
                        // The kernel has no zero-copy datagram path: the
                        // closest baseline is the ordinary one.
                        Scenario::UdpZc => udp_rr(udp, size, line, t).await,
                        Scenario::Hyper if in_memory => hyper_rr_in_memory(line, t).await,
                        Scenario::Hyper => hyper_rr(http, line, t).await,
                    }
                })
            })
            .collect();
        for t in tasks {
            if t.await.is_err() {
                lock(&tally).errors += 1;
            }
        }
        let mut total = Tally::new();
        total.merge(&lock(&tally));
        (total, rss_idle, line.setup_secs())
    });
    // The window ran its full length: every client stops at its end.
    let mut line = tally.result_line("tokio", &args.bench, args.bench.secs);
    line.rss_idle_kb = rss_idle;
    line.rss_peak_kb = bench::proc_status_kb("VmHWM");
    line.setup_s = setup;
    println!("{line}");
}

/// The clients' shared tally (uncontended: one thread runs them all).
fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits (on a 1 ms timer) until the start line opens the window.
async fn start(line: &StartLine) -> (Instant, Instant) {
    line.arrive();
    loop {
        if let Some(window) = line.window() {
            return window;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn accept_loop(listener: TcpListener, echo: bool) {
    loop {
        if let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut s = s;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if echo => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    }
}

async fn udp_echo(socket: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    loop {
        if let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await;
        }
    }
}

async fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect(addr).await.ok()?;
    s.set_nodelay(true).ok()?;
    Some(s)
}

async fn rr(addr: SocketAddr, size: usize, line: &StartLine, tally: &Mutex<Tally>) {
    let s = connect(addr).await;
    let (warm_end, end) = start(line).await;
    let Some(mut s) = s else {
        lock(tally).errors += 1;
        return;
    };
    let (req, mut resp) = (vec![0x5a; size], vec![0u8; size]);
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        if s.write_all(&req).await.is_err() || s.read_exact(&mut resp).await.is_err() {
            lock(tally).errors += 1;
            break;
        }
        if t0 >= warm_end {
            lock(tally).record(t0.elapsed(), size);
        }
    }
}

async fn stream(addr: SocketAddr, size: usize, line: &StartLine, tally: &Mutex<Tally>) {
    let s = connect(addr).await;
    let (warm_end, end) = start(line).await;
    let Some(mut s) = s else {
        lock(tally).errors += 1;
        return;
    };
    let chunk = vec![0x5a; size.max(1)];
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        if s.write_all(&chunk).await.is_err() {
            lock(tally).errors += 1;
            break;
        }
        if t0 >= warm_end {
            lock(tally).record(t0.elapsed(), chunk.len());
        }
    }
}

async fn crr(addr: SocketAddr, size: usize, line: &StartLine, tally: &Mutex<Tally>) {
    let (warm_end, end) = start(line).await;
    let (req, mut resp) = (vec![0x5a; size], vec![0u8; size]);
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let Some(mut s) = connect(addr).await else {
            lock(tally).errors += 1;
            continue;
        };
        if s.write_all(&req).await.is_err() || s.read_exact(&mut resp).await.is_err() {
            lock(tally).errors += 1;
            continue;
        }
        drop(s);
        if t0 >= warm_end {
            lock(tally).record(t0.elapsed(), size);
        }
    }
}

async fn udp_rr(addr: SocketAddr, size: usize, line: &StartLine, tally: &Mutex<Tally>) {
    let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let (warm_end, end) = start(line).await;
    let Ok(sock) = sock else {
        lock(tally).errors += 1;
        return;
    };
    let (req, mut resp) = (vec![0x5a; size], vec![0u8; 65536]);
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        if sock.send_to(&req, addr).await.is_err() {
            lock(tally).errors += 1;
            continue;
        }
        match tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut resp)).await {
            Ok(Ok(_)) if t0 >= warm_end => lock(tally).record(t0.elapsed(), size),
            Ok(Ok(_)) => {}
            _ => lock(tally).errors += 1,
        }
    }
}

/// Serves GET / with hyper's HTTP/1.1 server (the code zcnet-bench runs).
async fn hyper_accept_loop(listener: TcpListener) {
    loop {
        if let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            let io = hyper_util::rt::TokioIo::new(s);
            tokio::spawn(hyper_http::serve(io, hyper_http::hello, hyper_util::rt::TokioTimer::new()));
        }
    }
}

/// GET / over hyper's HTTP/1.1 client, keep-alive, one request in flight.
async fn hyper_rr(addr: SocketAddr, line: &StartLine, tally: &Mutex<Tally>) {
    let conn = match connect(addr).await {
        Some(s) => hyper_http::connect(hyper_util::rt::TokioIo::new(s)).await.ok(),
        None => None,
    };
    let (warm_end, end) = start(line).await;
    let Some((mut sender, conn)) = conn else {
        lock(tally).errors += 1;
        return;
    };
    tokio::spawn(conn);
    let host = addr.to_string();
    if hyper_http::get_until(&mut sender, &host, (warm_end, end), |d, n| lock(tally).record(d, n)).await.is_err() {
        lock(tally).errors += 1;
    }
}

/// `hyper_rr` with its server on this thread at the other end of an
/// in-memory pipe: the same hyper client and server code, no sockets.
async fn hyper_rr_in_memory(line: &StartLine, tally: &Mutex<Tally>) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(hyper_http::serve(
        hyper_util::rt::TokioIo::new(server),
        hyper_http::hello,
        hyper_util::rt::TokioTimer::new(),
    ));
    let conn = hyper_http::connect(hyper_util::rt::TokioIo::new(client)).await.ok();
    let (warm_end, end) = start(line).await;
    let Some((mut sender, conn)) = conn else {
        lock(tally).errors += 1;
        return;
    };
    tokio::spawn(conn);
    if hyper_http::get_until(&mut sender, "memory", (warm_end, end), |d, n| lock(tally).record(d, n)).await.is_err() {
        lock(tally).errors += 1;
    }
}
