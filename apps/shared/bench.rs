//! What the zcnet and tokio benchmark programs share: the scenarios, their
//! flags, the latency histogram and the result line that scripts/bench.sh
//! parses. Included by both with `#[path]`, so the two measure the same way.

use hdrhistogram::Histogram;
use std::time::Duration;

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

    /// The result line scripts/bench.sh parses (one line, key=value pairs).
    pub fn result_line(&self, stack: &str, args: &BenchArgs, secs: f64) -> String {
        let us = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        format!(
            "result stack={stack} scenario={:?} conns={} size={} secs={secs:.3} ops={} rate={:.1} gbps={:.3} p50_us={:.1} p99_us={:.1} p999_us={:.1} errors={}",
            args.scenario,
            args.conns,
            args.size,
            self.ops,
            self.ops as f64 / secs,
            self.bytes as f64 * 8.0 / secs / 1e9,
            us(0.5),
            us(0.99),
            us(0.999),
            self.errors
        )
        .to_lowercase()
    }
}
