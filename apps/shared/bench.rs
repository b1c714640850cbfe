//! What the zcnet and tokio benchmark programs share: the scenarios, their
//! flags, the latency histogram and the result line that zcnet-bench-report
//! reads (result_line.rs). Included by both with `#[path]`, so the two
//! measure the same way.

#[path = "result_line.rs"]
pub mod result_line;

use hdrhistogram::Histogram;
use result_line::ResultLine;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Request/response over long-lived connections, one request in flight each.
    Rr,
    /// One-way bulk transfer.
    Stream,
    /// Connect, one request/response, close; repeated.
    Crr,
    /// UDP datagram request/response.
    Udp,
    /// UDP request/response on zcnet's zero-copy datagram path (zcnet only).
    UdpZc,
    /// HTTP/1.1 `GET /` (13-byte body) with hyper's client and server,
    /// keep-alive, one request in flight per connection.
    Hyper,
}

/// Flags of a benchmark client.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "rr")]
    pub scenario: Scenario,
    /// Concurrent connections (or UDP sockets).
    #[arg(long, default_value_t = 32)]
    pub conns: usize,
    /// Request and response size in bytes (rr, crr, udp); write size for stream.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Seconds to measure, after a warm-up of a tenth of it.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
}

impl BenchArgs {
    /// The measured window.
    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.secs)
    }

    /// The warm-up before the window.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.secs / 10.0)
    }
}

/// How long the clients may take to open their connections before the
/// window starts without the late ones. Below scripts/bench.sh's limit of
/// 30 s more than the window.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(20);

/// Where the measurement starts: when every client has opened its
/// connection (or failed to), so that the warm-up and the window measure
/// traffic, not the connection setup — which takes seconds at thousands of
/// connections. Clients still connecting after [`CONNECT_DEADLINE`] are
/// left behind. Shared by the clients of one core (or runtime).
pub struct StartLine {
    clients: usize,
    arrived: AtomicUsize,
    created: Instant,
    opened: OnceLock<Instant>,
    warmup: Duration,
    window: Duration,
}

impl StartLine {
    /// A start line for `clients` clients measuring as `args` says.
    pub fn new(clients: usize, args: &BenchArgs) -> StartLine {
        StartLine {
            clients,
            arrived: AtomicUsize::new(0),
            created: Instant::now(),
            opened: OnceLock::new(),
            warmup: args.warmup(),
            window: args.window(),
        }
    }

    /// One client is ready (connected, or given up).
    pub fn arrive(&self) {
        self.arrived.fetch_add(1, Ordering::Relaxed);
    }

    /// `(end of warm-up, end of window)` once every client has arrived or
    /// the deadline has passed; `None` while the start line still waits.
    pub fn window(&self) -> Option<(Instant, Instant)> {
        let now = Instant::now();
        let open = self.opened.get().copied().or_else(|| {
            let ready = self.arrived.load(Ordering::Relaxed) >= self.clients;
            (ready || now >= self.created + CONNECT_DEADLINE).then(|| *self.opened.get_or_init(|| now))
        })?;
        Some((open + self.warmup, open + self.warmup + self.window))
    }

    /// Seconds from creation to the start of the warm-up (the connection
    /// setup), once started.
    pub fn setup_secs(&self) -> Option<f64> {
        self.opened.get().map(|t| t.duration_since(self.created).as_secs_f64())
    }
}

/// Counts and latencies of one client (task or connection).
pub struct Tally {
    /// Completed operations inside the window.
    pub ops: u64,
    /// Bytes moved inside the window.
    pub bytes: u64,
    /// Errors (failed connects, resets, lost datagrams).
    pub errors: u64,
    /// Latency of each operation, in nanoseconds.
    pub latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// An empty tally (latencies from 1 ns to 60 s, 3 significant digits).
    pub fn new() -> Tally {
        Tally {
            ops: 0,
            bytes: 0,
            errors: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// Records one operation that took `d`.
    pub fn record(&mut self, d: Duration, bytes: usize) {
        self.ops += 1;
        self.bytes += bytes as u64;
        let _ = self.latency.record((d.as_nanos() as u64).max(1));
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.errors += other.errors;
        let _ = self.latency.add(&other.latency);
    }

    /// This tally as a result line. The caller adds what only it knows
    /// (`pools_full`, the resident memory) before printing it.
    pub fn result_line(&self, stack: &str, args: &BenchArgs, secs: f64) -> ResultLine {
        let us = |q: f64| Some(self.latency.value_at_quantile(q) as f64 / 1000.0);
        let scenario = clap::ValueEnum::to_possible_value(&args.scenario).expect("no scenario is hidden");
        ResultLine {
            stack: stack.to_string(),
            scenario: scenario.get_name().to_string(),
            conns: args.conns as u64,
            size: args.size as u64,
            secs,
            ops: self.ops,
            rate: self.ops as f64 / secs,
            gbps: self.bytes as f64 * 8.0 / secs / 1e9,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            errors: self.errors,
            pools_full: None,
            rss_idle_kb: None,
            rss_peak_kb: None,
            instructions: None,
            setup_s: None,
            machine_cpu_s: None,
            client_cpu_s: None,
        }
    }
}

/// A memory figure of this process from /proc/self/status, in KiB:
/// `"VmRSS"` (resident now) or `"VmHWM"` (the peak so far). `None` where
/// /proc is not mounted or the field is absent.
pub fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}
