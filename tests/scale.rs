//! Connection scale on an in-memory wire, in one process: core 0 serves an
//! echo, core 1 is the client (config like config/wire.toml). These prove
//! the connection table keeps its promises at counts where a linear socket
//! scan would not: every byte of 10,000 concurrent connections comes back,
//! and after they close (or after 200,000 short ones) the sockets, mbufs
//! and memory of both cores are back where they started. Run under
//! cargo-nextest (one EAL per process).

#[path = "../apps/shared/servers.rs"]
#[allow(dead_code)]
mod servers;
#[path = "../apps/shared/usage.rs"]
#[allow(dead_code)]
mod usage;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zcnet::config::{Config, IdlePolicy, PortConfig};
use zcnet::net::{stats, NetStats, TcpListener, TcpSocket, TcpStream};
use zcnet::runtime::{sleep, spawn, timeout};

const SERVER: &str = "198.18.0.2";
const PORT: u16 = 7;
/// Ring sizes of both ends: small, as a service with many mostly idle
/// connections would choose (the defaults are `net.tcp.*_buffer`).
const RING: usize = 4096;

fn wire_config(name: &str) -> Config {
    let mut c = Config::default();
    c.eal.lcores = "0@0,1@0,2@1".into();
    c.ports = vec![PortConfig { name: name.into(), wire: true, ..PortConfig::default() }];
    c.net.ip = format!("{SERVER}/24");
    c.net.core_ips = vec![SERVER.into(), "198.18.0.3".into()];
    c.mempool.mbufs = 16383;
    c.runtime.idle = IdlePolicy::Busy;
    c.runtime.shutdown_grace_secs = 5.0;
    c
}

/// The resident set of this process, from /proc (kB).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// An echo server on core 0 (the samples' echo service) with rings of
/// `RING` bytes and a backlog that takes a whole burst of connects.
async fn echo_server(backlog: u32) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(RING).expect("rx ring");
    socket.set_send_buffer_size(RING).expect("tx ring");
    socket.bind(SocketAddr::from(([0, 0, 0, 0], PORT))).expect("bind");
    let listener: TcpListener = socket.listen(backlog).expect("listen");
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            spawn(servers::tcp_echo(stream));
        }
    }
}

async fn connect() -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(RING)?;
    socket.set_send_buffer_size(RING)?;
    socket.connect_timeout(SocketAddr::from(([198, 18, 0, 2], PORT)), Duration::from_secs(20)).await
}

/// Sends `request` and reads back exactly its echo, comparing in place in
/// the receive ring; false on any difference, error or early end.
async fn round_trip(stream: &TcpStream, request: Vec<u8>) -> (bool, Vec<u8>) {
    let (r, request) = stream.write_all(request).await;
    if r.is_err() {
        return (false, request);
    }
    let mut got = 0;
    while got < request.len() {
        let want = &request[got..];
        let same = stream
            .read_with(|bytes| {
                let n = bytes.len().min(want.len());
                (n, (n, bytes[..n] == want[..n]))
            })
            .await;
        match same {
            Ok((n, true)) if n > 0 => got += n,
            _ => return (false, request),
        }
    }
    (true, request)
}

/// Waits until this core's connections are all gone (closing handshakes
/// included) and returns its counters then; panics after `limit`.
async fn settle(limit: Duration) -> NetStats {
    let end = Instant::now() + limit;
    loop {
        let s = stats().expect("stats");
        if s.tcp_sockets == 0 || Instant::now() > end {
            return s;
        }
        sleep(Duration::from_millis(5)).await;
    }
}

static SERVER_AT_START: Mutex<Option<NetStats>> = Mutex::new(None);
static SERVER_AT_END: Mutex<Option<NetStats>> = Mutex::new(None);
static CLIENT_AT_END: Mutex<Option<NetStats>> = Mutex::new(None);
static CLIENT_DONE: AtomicBool = AtomicBool::new(false);
static SERVER_SETTLED: AtomicBool = AtomicBool::new(false);

/// What `run_on_wire` reports: the client's result, each core's counters
/// once both have settled, and the run report.
struct WireRun<T> {
    client: T,
    server_start: NetStats,
    server_end: NetStats,
    client_end: NetStats,
    report: zcnet::RunReport,
}

/// Runs `client` on core 1 against the echo server on core 0, then lets
/// both cores settle: the server waits until its connections are gone (so
/// every frame the client sent has been received), then the client reads
/// its own counters (so every frame the server sent has been received too).
fn run_on_wire<C, F>(name: &str, backlog: u32, client: C) -> WireRun<F::Output>
where
    C: Fn() -> F + Send + Sync + 'static,
    F: std::future::Future + 'static,
    F::Output: Send + 'static,
{
    let result: &'static Mutex<Option<F::Output>> = Box::leak(Box::new(Mutex::new(None)));
    let report = zcnet::run(&wire_config(name), move |core| {
        let client = client();
        async move {
            if core.lcore.index == 0 {
                *SERVER_AT_START.lock().unwrap() = Some(stats().expect("stats"));
                spawn(echo_server(backlog));
                while !CLIENT_DONE.load(Ordering::Acquire) {
                    sleep(Duration::from_millis(5)).await;
                }
                *SERVER_AT_END.lock().unwrap() = Some(settle(Duration::from_secs(20)).await);
                SERVER_SETTLED.store(true, Ordering::Release);
                std::future::pending::<()>().await;
            } else {
                let out = client.await;
                *result.lock().unwrap() = Some(out);
                CLIENT_DONE.store(true, Ordering::Release);
                while !SERVER_SETTLED.load(Ordering::Acquire) {
                    sleep(Duration::from_millis(5)).await;
                }
                *CLIENT_AT_END.lock().unwrap() = Some(settle(Duration::from_secs(20)).await);
                zcnet::signal::request_stop();
            }
        }
    })
    .expect("zcnet::run");
    let take = |m: &Mutex<Option<NetStats>>, what| m.lock().unwrap().take().unwrap_or_else(|| panic!("no {what}"));
    WireRun {
        client: result.lock().unwrap().take().expect("the client finished"),
        server_start: take(&SERVER_AT_START, "server start counters"),
        server_end: take(&SERVER_AT_END, "server end counters"),
        client_end: take(&CLIENT_AT_END, "client end counters"),
        report,
    }
}

/// Both cores are back where they started: no connection left, and no more
/// mbufs in use than at the start (a few in the per-core batches at most).
fn assert_back_to_start(run: &WireRun<impl std::fmt::Debug>, client_start: &NetStats) {
    let (c, s) = (&run.client_end, &run.server_end);
    assert_eq!(c.tcp_sockets, client_start.tcp_sockets, "client sockets: {c:?}");
    assert_eq!(s.tcp_sockets, run.server_start.tcp_sockets, "server sockets: {s:?}");
    assert!(c.mbufs_in_use <= client_start.mbufs_in_use + 64, "client mbufs: {c:?}");
    assert!(s.mbufs_in_use <= run.server_start.mbufs_in_use + 64, "server mbufs: {s:?}");
    assert!(run.report.pools_full, "pools full at exit");
}

const CONNS: usize = 10_000;
const REQUESTS: usize = 100;

#[derive(Debug)]
struct ManyOutcome {
    connected: usize,
    completed: usize,
    mismatched: usize,
    failed: usize,
    before: NetStats,
    peak_open: usize,
    rss_before: u64,
    rss_open: u64,
    secs: f64,
}

#[test]
fn ten_thousand_concurrent_connections_each_echo_100_requests_byte_for_byte() {
    static OPEN: AtomicUsize = AtomicUsize::new(0);
    static CONNECTED: AtomicUsize = AtomicUsize::new(0);
    let run = run_on_wire("scale-wire", CONNS as u32 + 16, || async {
        let before = stats().expect("stats");
        let rss_before = rss_kib();
        static RSS_OPEN: AtomicU64 = AtomicU64::new(0);
        let started = Instant::now();
        // Every connection waits until all are established, so all 10,000
        // are open at once before the first request.
        let tasks: Vec<_> = (0..CONNS)
            .map(|c| {
                spawn(async move {
                    let Ok(stream) = connect().await else { return Err(()) };
                    CONNECTED.fetch_add(1, Ordering::AcqRel);
                    OPEN.fetch_max(CONNECTED.load(Ordering::Acquire), Ordering::AcqRel);
                    while CONNECTED.load(Ordering::Acquire) < CONNS {
                        sleep(Duration::from_millis(2)).await;
                    }
                    if c == 0 {
                        RSS_OPEN.store(rss_kib(), Ordering::Release);
                    }
                    let _ = stream.set_nodelay(true);
                    let mut request = Vec::with_capacity(64);
                    for r in 0..REQUESTS {
                        request.clear();
                        request.extend_from_slice(format!("conn {c:05} request {r:03} ").as_bytes());
                        request.extend((0..(c + r) % 24).map(|i| (i + c) as u8));
                        let (ok, q) = round_trip(&stream, request).await;
                        request = q;
                        if !ok {
                            return Ok(1);
                        }
                    }
                    Ok(0)
                })
            })
            .collect();
        let (mut completed, mut mismatched, mut failed) = (0, 0, 0);
        for t in tasks {
            match t.await {
                Ok(Ok(0)) => completed += 1,
                Ok(Ok(_)) => mismatched += 1,
                _ => failed += 1,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        ManyOutcome {
            connected: CONNECTED.load(Ordering::Acquire),
            completed,
            mismatched,
            failed,
            before,
            peak_open: OPEN.load(Ordering::Acquire),
            rss_before,
            rss_open: RSS_OPEN.load(Ordering::Acquire),
            secs,
        }
    });
    let outcome = &run.client;
    eprintln!("{outcome:?}\nserver at end {:?}\nclient at end {:?}", run.server_end, run.client_end);
    assert_eq!(outcome.connected, CONNS, "connections established");
    assert_eq!(outcome.peak_open, CONNS, "all connections open at once");
    assert_eq!((outcome.completed, outcome.mismatched, outcome.failed), (CONNS, 0, 0));
    assert_eq!(run.server_end.accepted, CONNS as u64);
    assert_back_to_start(&run, &outcome.before);
    eprintln!(
        "{} requests over {CONNS} connections in {:.2} s ({:.0} req/s); resident memory {:.1} KiB per connection pair \
         ({} KiB rings each)",
        CONNS * REQUESTS,
        outcome.secs,
        (CONNS * REQUESTS) as f64 / outcome.secs,
        outcome.rss_open.saturating_sub(outcome.rss_before) as f64 / CONNS as f64,
        2 * RING / 1024,
    );
}

const CYCLES: u64 = 200_000;
const WORKERS: usize = 64;

#[derive(Debug)]
struct ChurnOutcome {
    done: u64,
    errors: u64,
    rss_at_quarter: u64,
    rss_at_end: u64,
    before: NetStats,
    secs: f64,
}

#[test]
fn two_hundred_thousand_connect_request_close_cycles_leave_memory_and_sockets_flat() {
    static DONE: AtomicU64 = AtomicU64::new(0);
    static ERRORS: AtomicU64 = AtomicU64::new(0);
    static RSS_AT_QUARTER: AtomicU64 = AtomicU64::new(0);
    let run = run_on_wire("churn-wire", 1024, || async {
        let before = stats().expect("stats");
        let started = Instant::now();
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                spawn(async move {
                    let mut request = Vec::with_capacity(16);
                    loop {
                        let n = DONE.fetch_add(1, Ordering::AcqRel);
                        if n >= CYCLES {
                            break;
                        }
                        if n == CYCLES / 4 {
                            RSS_AT_QUARTER.store(rss_kib(), Ordering::Release);
                        }
                        let cycle = async {
                            let stream = connect().await.ok()?;
                            request.clear();
                            request.extend_from_slice(&(n ^ w as u64).to_le_bytes());
                            let (ok, q) = round_trip(&stream, std::mem::take(&mut request)).await;
                            request = q;
                            ok.then_some(())
                            // The stream drops here: this side closes first.
                        };
                        if timeout(Duration::from_secs(20), cycle).await.ok().flatten().is_none() {
                            ERRORS.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
        let secs = started.elapsed().as_secs_f64();
        ChurnOutcome {
            done: DONE.load(Ordering::Acquire).min(CYCLES),
            errors: ERRORS.load(Ordering::Acquire),
            rss_at_quarter: RSS_AT_QUARTER.load(Ordering::Acquire),
            rss_at_end: rss_kib(),
            before,
            secs,
        }
    });
    let outcome = &run.client;
    eprintln!("{outcome:?}\nserver at end {:?}\nclient at end {:?}", run.server_end, run.client_end);
    assert_eq!((outcome.done, outcome.errors), (CYCLES, 0));
    assert_eq!(run.server_end.accepted, CYCLES);
    assert_back_to_start(&run, &outcome.before);
    // Flat: the last three quarters of the churn added (almost) nothing.
    let grown = outcome.rss_at_end.saturating_sub(outcome.rss_at_quarter);
    assert!(grown < 8 * 1024, "RSS grew {grown} KiB over 150,000 cycles: {outcome:?}");
    eprintln!("{CYCLES} cycles in {:.2} s ({:.0} conn/s)", outcome.secs, CYCLES as f64 / outcome.secs);
}
