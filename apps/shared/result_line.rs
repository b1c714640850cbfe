//! The `result ...` line: one measured run, as the benchmark programs print
//! it and as zcnet-bench-report reads it back. One type formats it
//! (`Display`) and parses it (`FromStr`), so the writer and the reader can
//! never disagree about a field.
//!
//! ```text
//! result stack=zcnet scenario=rr conns=32 size=64 secs=5.000 ops=4990000 rate=998000.0 gbps=0.511
//!        p50_us=30.1 p99_us=71.0 p999_us=120.3 errors=0 pools_full=true rss_idle_kb=81234 rss_peak_kb=90120
//! ```
//!
//! One line, `key=value` pairs separated by single spaces, in this order.
//! The fields up to `errors` are always present (latencies only where the
//! program measures them: zcnet-bench and zcnet-tokio-bench always do);
//! `pools_full` (zcnet only), the two resident-memory fields, for a run
//! under callgrind `instructions`, the seconds the connections took to
//! open (`setup_s`), and for a run measured against the whole machine the
//! busy CPU-seconds of every CPU over the run (`machine_cpu_s`, from
//! /proc/stat) and of the client process (`client_cpu_s`) follow when known.
//! A value never contains a space or `=`.

use std::fmt;
use std::str::FromStr;

/// One run's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultLine {
    /// Which stack (or program) served and drove the run: `zcnet`, `tokio`, `nginx`, `testpmd`.
    pub stack: String,
    /// What ran: `rr`, `stream`, `crr`, `udp`, `udp-zc`, `http`, `fwd`.
    pub scenario: String,
    /// Concurrent connections (or sockets); 0 where there are none.
    pub conns: u64,
    /// Request, response or write size in bytes; 0 where it does not apply.
    pub size: u64,
    /// Length of the measured window, seconds.
    pub secs: f64,
    /// Operations (requests, writes, packets) completed inside the window.
    pub ops: u64,
    /// Operations per second.
    pub rate: f64,
    /// Payload throughput, Gbit/s.
    pub gbps: f64,
    /// Median latency of one operation, microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, microseconds.
    pub p99_us: Option<f64>,
    /// 99.9th percentile latency, microseconds.
    pub p999_us: Option<f64>,
    /// Failed operations (connects, resets, lost datagrams, HTTP errors).
    pub errors: u64,
    /// Whether every mbuf was back in its pool when the program ended (zcnet only).
    pub pools_full: Option<bool>,
    /// Resident memory (VmRSS) before the first connection opened, KiB.
    pub rss_idle_kb: Option<u64>,
    /// Peak resident memory of the process (VmHWM) at the end, KiB.
    pub rss_peak_kb: Option<u64>,
    /// Instructions the measured thread executed (callgrind runs only).
    pub instructions: Option<u64>,
    /// Seconds the clients took to open their connections, before the warm-up.
    pub setup_s: Option<f64>,
    /// Busy CPU-seconds of the whole machine (every CPU, user, system, irq
    /// and softirq) over the run: the server, the client and the kernel's
    /// network work between them.
    pub machine_cpu_s: Option<f64>,
    /// User+system CPU-seconds of the client process over the run.
    pub client_cpu_s: Option<f64>,
}

/// Why a line is not a well-formed result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line does not start with `result `.
    NotAResultLine,
    /// A required field is absent.
    Missing(&'static str),
    /// A field's value does not parse as its type.
    BadValue { key: String, value: String },
    /// A word without `=`, a key that is not a field, or one given twice.
    BadField(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotAResultLine => write!(f, "not a result line (it must start with `result `)"),
            ParseError::Missing(key) => write!(f, "field {key} missing"),
            ParseError::BadValue { key, value } => write!(f, "field {key}={value} is not a valid value"),
            ParseError::BadField(word) => write!(f, "unexpected `{word}` (unknown or repeated field)"),
        }
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for ResultLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "result stack={} scenario={} conns={} size={} secs={:.3} ops={} rate={:.1} gbps={:.3}",
            self.stack, self.scenario, self.conns, self.size, self.secs, self.ops, self.rate, self.gbps
        )?;
        for (key, v) in [("p50_us", self.p50_us), ("p99_us", self.p99_us), ("p999_us", self.p999_us)] {
            if let Some(v) = v {
                write!(f, " {key}={v:.1}")?;
            }
        }
        write!(f, " errors={}", self.errors)?;
        if let Some(full) = self.pools_full {
            write!(f, " pools_full={full}")?;
        }
        for (key, v) in
            [("rss_idle_kb", self.rss_idle_kb), ("rss_peak_kb", self.rss_peak_kb), ("instructions", self.instructions)]
        {
            if let Some(v) = v {
                write!(f, " {key}={v}")?;
            }
        }
        for (key, v) in
            [("setup_s", self.setup_s), ("machine_cpu_s", self.machine_cpu_s), ("client_cpu_s", self.client_cpu_s)]
        {
            if let Some(v) = v {
                write!(f, " {key}={v:.3}")?;
            }
        }
        Ok(())
    }
}

/// The fields in line order; the first nine are required.
const KEYS: [&str; 19] = [
    "stack",
    "scenario",
    "conns",
    "size",
    "secs",
    "ops",
    "rate",
    "gbps",
    "p50_us",
    "p99_us",
    "p999_us",
    "errors",
    "pools_full",
    "rss_idle_kb",
    "rss_peak_kb",
    "instructions",
    "setup_s",
    "machine_cpu_s",
    "client_cpu_s",
];
const REQUIRED: [&str; 9] = ["stack", "scenario", "conns", "size", "secs", "ops", "rate", "gbps", "errors"];

impl FromStr for ResultLine {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<ResultLine, ParseError> {
        let rest = line.trim_end().strip_prefix("result ").ok_or(ParseError::NotAResultLine)?;
        let mut values: [Option<&str>; KEYS.len()] = [None; KEYS.len()];
        for word in rest.split(' ') {
            let bad = || ParseError::BadField(word.to_string());
            let (key, value) = word.split_once('=').ok_or_else(bad)?;
            let slot = KEYS.iter().position(|k| *k == key).ok_or_else(bad)?;
            if values[slot].replace(value).is_some() {
                return Err(bad());
            }
        }
        let get = |key: &'static str| values[KEYS.iter().position(|k| *k == key).expect("a known key")];
        for key in REQUIRED {
            if get(key).is_none_or(str::is_empty) {
                return Err(ParseError::Missing(key));
            }
        }
        fn parse<T: FromStr>(key: &str, value: &str) -> Result<T, ParseError> {
            value.parse().map_err(|_| ParseError::BadValue { key: key.to_string(), value: value.to_string() })
        }
        let number = |key: &'static str| -> Result<Option<f64>, ParseError> {
            match get(key) {
                None => Ok(None),
                Some(v) => match parse::<f64>(key, v)? {
                    x if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                    _ => Err(ParseError::BadValue { key: key.to_string(), value: v.to_string() }),
                },
            }
        };
        let count = |key: &'static str| get(key).map(|v| parse::<u64>(key, v)).transpose();
        let required = |v: Option<f64>| v.expect("checked above");
        Ok(ResultLine {
            stack: get("stack").expect("checked above").to_string(),
            scenario: get("scenario").expect("checked above").to_string(),
            conns: count("conns")?.expect("checked above"),
            size: count("size")?.expect("checked above"),
            secs: required(number("secs")?),
            ops: count("ops")?.expect("checked above"),
            rate: required(number("rate")?),
            gbps: required(number("gbps")?),
            p50_us: number("p50_us")?,
            p99_us: number("p99_us")?,
            p999_us: number("p999_us")?,
            errors: count("errors")?.expect("checked above"),
            pools_full: get("pools_full").map(|v| parse::<bool>("pools_full", v)).transpose()?,
            rss_idle_kb: count("rss_idle_kb")?,
            rss_peak_kb: count("rss_peak_kb")?,
            instructions: count("instructions")?,
            setup_s: number("setup_s")?,
            machine_cpu_s: number("machine_cpu_s")?,
            client_cpu_s: number("client_cpu_s")?,
        })
    }
}
