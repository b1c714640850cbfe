//! zcnet-bench: the load generator of scripts/bench.sh, on the zcnet stack.
//!
//! On an in-memory wire (config/wire.toml) it is a whole benchmark in one
//! process: the cores with the first address of `net.core_ips` serve (echo
//! on port 7, discard on 9, UDP echo on 7, HTTP on 80), the others are
//! clients and share `--conns` between them (config/wire-rss.toml: two of
//! each). With `--server ADDR` every core is a client of a server elsewhere
//! (zcnet-echo behind a tap, say).
//!
//!     zcnet-bench --config config/wire.toml --scenario rr --conns 32 --secs 5
//!
//! It prints one `result ...` line (apps/shared/result_line.rs), with the
//! pools-full flag and the resident memory before the first connection and
//! at its peak.

#[path = "shared/bench.rs"]
mod bench;
#[path = "shared/hyper_http.rs"]
mod hyper_http;
#[path = "shared/servers.rs"]
mod servers;
#[path = "shared/usage.rs"]
mod usage;

use bench::{BenchArgs, Scenario, StartLine, Tally};
use clap::Parser;
use servers::{DISCARD_PORT, ECHO_PORT};
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use usage::{config_or_exit, exit_usage};
use zcnet::cli::CommonArgs;
use zcnet::net::{TcpSocket, TcpStream, UdpSocket};
use zcnet::runtime::{sleep, spawn, timeout};

/// Benchmark client (and, on a wire, server) on the zcnet stack.
#[derive(Debug, Parser)]
#[command(name = "zcnet-bench", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    bench: BenchArgs,
    /// Benchmark this server instead of core 0 of an in-memory wire.
    #[arg(long, value_name = "IP")]
    server: Option<IpAddr>,
}

/// What the client cores measured, added up.
struct Measured {
    tally: Tally,
    /// Resident KiB before the first client connected (the smallest of the cores').
    rss_idle_kb: Option<u64>,
    /// Seconds the connections took to open (the slowest core's).
    setup_s: Option<f64>,
}

static RESULT: Mutex<Option<Measured>> = Mutex::new(None);

fn main() {
    let args = Args::parse();
    let config = config_or_exit(&args.common);
    let on_wire = config.effective_ports().first().is_some_and(|p| p.wire);
    if args.server.is_none() && !on_wire {
        exit_usage("give --server IP, or use an in-memory wire (--config config/wire.toml)");
    }
    let server_ip: IpAddr = match args.server {
        Some(ip) => ip,
        None => config.net.core_ips.first().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            exit_usage(
                "an in-memory wire needs net.core_ips (cores with the first address serve, the others are clients)",
            )
        }),
    };
    let bench = args.bench.clone();
    let on_own_wire = args.server.is_none();
    let core_ips: Vec<IpAddr> = config.net.core_ips.iter().filter_map(|s| s.parse().ok()).collect();
    let finished = Arc::new(AtomicUsize::new(0));
    let report = zcnet::run(&config, move |core| {
        let (mut bench, finished) = (bench.clone(), finished.clone());
        // Which cores are clients, and this core's place among them.
        let is_client = |i: usize| !on_own_wire || core_ips.get(i).is_none_or(|&ip| ip != server_ip);
        let clients = (0..core.cores).filter(|&i| is_client(i)).count();
        let place = (0..core.lcore.index).filter(|&i| is_client(i)).count();
        let serves = !is_client(core.lcore.index);
        async move {
            if serves {
                let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
                let udp = UdpSocket::bind(any(ECHO_PORT)).expect("udp bind");
                if bench.scenario == Scenario::UdpZc {
                    spawn(servers::udp_echo_zero_copy(udp));
                } else {
                    spawn(servers::udp_echo(udp));
                }
                spawn(servers::discard_service(any(DISCARD_PORT)));
                spawn(servers::accept_loop(any(hyper_http::HTTP_PORT), |stream| async move {
                    let _ = stream.set_nodelay(true);
                    let _ = hyper_http::serve(stream, hyper_http::hello, zcnet::runtime::HyperTimer).await;
                }));
                servers::accept_loop(any(ECHO_PORT), servers::tcp_echo).await;
                return;
            }
            // The clients share the connections.
            bench.conns = bench.conns / clients + usize::from(place < bench.conns % clients);
            let rss_idle_kb = bench::proc_status_kb("VmRSS");
            let (tally, setup_s) = client(&bench, server_ip).await;
            let mut r = RESULT.lock().unwrap_or_else(|e| e.into_inner());
            match r.as_mut() {
                Some(m) => {
                    m.tally.merge(&tally);
                    m.rss_idle_kb = m.rss_idle_kb.into_iter().chain(rss_idle_kb).min();
                    m.setup_s = m.setup_s.into_iter().chain(setup_s).reduce(f64::max);
                }
                None => *r = Some(Measured { tally, rss_idle_kb, setup_s }),
            }
            drop(r);
            // Every client is done: stop every core (the servers' too).
            if finished.fetch_add(1, Ordering::AcqRel) + 1 == clients {
                zcnet::signal::request_stop();
            }
        }
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    let Some(m) = RESULT.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        exit_usage("no client ran");
    };
    eprintln!("zcnet-bench: pools full at exit: {}", report.pools_full);
    eprintln!("zcnet-bench: steered frames freed at exit: {}", report.steered_left_at_exit);
    for (i, c) in report.cores.iter().enumerate() {
        eprintln!("zcnet-bench: core {i}: {c:?}");
    }
    // The window ran its full length: every client stops at its end.
    let mut line = m.tally.result_line("zcnet", &args.bench, args.bench.secs);
    line.pools_full = Some(report.pools_full);
    line.rss_idle_kb = m.rss_idle_kb;
    line.rss_peak_kb = bench::proc_status_kb("VmHWM");
    line.setup_s = m.setup_s;
    println!("{line}");
}

/// Runs `bench.conns` client tasks against `server` and adds up their
/// tallies. The window opens once every task has connected (StartLine);
/// returns it with the seconds the connections took to open.
async fn client(bench: &BenchArgs, server: IpAddr) -> (Tally, Option<f64>) {
    let line = Arc::new(StartLine::new(bench.conns, bench));
    // One tally for the core's clients: a histogram is 200 KiB resident,
    // which must not count as the stack's memory per connection.
    let tally = Rc::new(RefCell::new(Tally::new()));
    let tasks: Vec<_> = (0..bench.conns)
        .map(|_| {
            let (scenario, size, line, tally) = (bench.scenario, bench.size, line.clone(), tally.clone());
            spawn(async move {
                let (line, t) = (&line, &tally);
                match scenario {
                    Scenario::Rr => rr(SocketAddr::new(server, ECHO_PORT), size, line, t).await,
                    Scenario::Stream => stream(SocketAddr::new(server, DISCARD_PORT), size, line, t).await,
                    Scenario::Crr => crr(SocketAddr::new(server, ECHO_PORT), size, line, t).await,
                    Scenario::Udp => udp(SocketAddr::new(server, ECHO_PORT), size, line, t).await,
                    Scenario::UdpZc => udp_zc(SocketAddr::new(server, ECHO_PORT), size, line, t).await,
                    Scenario::Hyper => hyper_rr(SocketAddr::new(server, hyper_http::HTTP_PORT), line, t).await,
                }
            })
        })
        .collect();
    for t in tasks {
        if t.await.is_err() {
            tally.borrow_mut().errors += 1;
        }
    }
    (tally.take(), line.setup_secs())
}

/// Waits (on a 1 ms timer) until the start line opens the window.
async fn start(line: &StartLine) -> (Instant, Instant) {
    line.arrive();
    loop {
        if let Some(window) = line.window() {
            return window;
        }
        sleep(Duration::from_millis(1)).await;
    }
}

/// Reads exactly `len` bytes, in place, discarding them.
async fn read_n(s: &TcpStream, len: usize) -> bool {
    let mut left = len;
    while left > 0 {
        match s.read_with(|b| (b.len().min(left), b.len().min(left))).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => left -= n,
        }
    }
    true
}

async fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect(addr).await.ok()?;
    let _ = s.set_nodelay(true);
    Some(s)
}

async fn rr(addr: SocketAddr, size: usize, line: &StartLine, tally: &RefCell<Tally>) {
    let s = connect(addr).await;
    let (warm_end, end) = start(line).await;
    let Some(s) = s else {
        tally.borrow_mut().errors += 1;
        return;
    };
    let mut req = vec![0x5a; size];
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let (r, b) = s.write_all(req).await;
        req = b;
        if r.is_err() || !read_n(&s, size).await {
            tally.borrow_mut().errors += 1;
            break;
        }
        if t0 >= warm_end {
            tally.borrow_mut().record(t0.elapsed(), size);
        }
    }
}

async fn stream(addr: SocketAddr, size: usize, line: &StartLine, tally: &RefCell<Tally>) {
    // A bulk sender wants a send ring far larger than the default.
    let bulk = async {
        let socket = TcpSocket::new_v4().ok()?;
        socket.set_send_buffer_size(servers::BULK_RING).ok()?;
        socket.connect(addr).await.ok()
    };
    let s = bulk.await;
    let (warm_end, end) = start(line).await;
    let Some(s) = s else {
        tally.borrow_mut().errors += 1;
        return;
    };
    let chunk = bytes::Bytes::from(vec![0x5a; size.max(1)]);
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        // Bytes::clone shares the chunk: no copy on the application's side.
        if s.write_all(chunk.clone()).await.0.is_err() {
            tally.borrow_mut().errors += 1;
            break;
        }
        if t0 >= warm_end {
            tally.borrow_mut().record(t0.elapsed(), chunk.len());
        }
    }
}

async fn crr(addr: SocketAddr, size: usize, line: &StartLine, tally: &RefCell<Tally>) {
    let (warm_end, end) = start(line).await;
    let mut req = vec![0x5a; size];
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let Some(s) = connect(addr).await else {
            tally.borrow_mut().errors += 1;
            continue;
        };
        let (r, b) = s.write_all(req).await;
        req = b;
        if r.is_err() || !read_n(&s, size).await {
            tally.borrow_mut().errors += 1;
            continue;
        }
        drop(s); // graceful close
        if t0 >= warm_end {
            tally.borrow_mut().record(t0.elapsed(), size);
        }
    }
}

async fn udp(addr: SocketAddr, size: usize, line: &StartLine, tally: &RefCell<Tally>) {
    let sock = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0)));
    let (warm_end, end) = start(line).await;
    let Ok(sock) = sock else {
        tally.borrow_mut().errors += 1;
        return;
    };
    let mut req = vec![0x5a; size];
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let (r, b) = sock.send_to(req, addr).await;
        req = b;
        if r.is_err() {
            tally.borrow_mut().errors += 1;
            continue;
        }
        match timeout(Duration::from_millis(100), sock.recv_with(|d, _| d.len())).await {
            Ok(Ok(_)) if t0 >= warm_end => tally.borrow_mut().record(t0.elapsed(), size),
            Ok(Ok(_)) => {}
            _ => tally.borrow_mut().errors += 1,
        }
    }
}

/// UDP request/response with no copy: requests are built in place in an
/// mbuf's headroom, responses are taken as the mbufs they arrived in.
async fn udp_zc(addr: SocketAddr, size: usize, line: &StartLine, tally: &RefCell<Tally>) {
    let sock = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0)));
    let (warm_end, end) = start(line).await;
    let Ok(sock) = sock else {
        tally.borrow_mut().errors += 1;
        return;
    };
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let sent = sock.alloc_datagram(size).and_then(|p| sock.send_packet(p, addr));
        if sent.is_err() {
            tally.borrow_mut().errors += 1;
            zcnet::runtime::yield_now().await;
            continue;
        }
        match timeout(Duration::from_millis(100), sock.recv_packet()).await {
            Ok(Ok(_)) if t0 >= warm_end => tally.borrow_mut().record(t0.elapsed(), size),
            Ok(Ok(_)) => {}
            _ => tally.borrow_mut().errors += 1,
        }
    }
}

/// GET / over hyper's HTTP/1.1 client, keep-alive, one request in flight.
async fn hyper_rr(addr: SocketAddr, line: &StartLine, tally: &RefCell<Tally>) {
    let conn = match connect(addr).await {
        Some(s) => hyper_http::connect(s).await.ok(),
        None => None,
    };
    let (warm_end, end) = start(line).await;
    let Some((mut sender, conn)) = conn else {
        tally.borrow_mut().errors += 1;
        return;
    };
    spawn(conn);
    let host = addr.to_string();
    if hyper_http::get_until(&mut sender, &host, (warm_end, end), |d, n| tally.borrow_mut().record(d, n)).await.is_err()
    {
        tally.borrow_mut().errors += 1;
    }
}
