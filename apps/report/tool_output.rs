//! Result lines from the outputs of programs that do not print one: wrk
//! (http), dpdk-testpmd and zcnet-fwd (fwd). scripts/bench.sh runs them and
//! hands their output here, so every run in a runs log has the same form.

use crate::result_line::ResultLine;

/// A line that has none of the figures a tool's output must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFigure(pub String);

impl std::fmt::Display for MissingFigure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for MissingFigure {}

fn empty(stack: &str, scenario: &str) -> ResultLine {
    ResultLine {
        stack: stack.into(),
        scenario: scenario.into(),
        conns: 0,
        size: 0,
        secs: 0.0,
        ops: 0,
        rate: 0.0,
        gbps: 0.0,
        p50_us: None,
        p99_us: None,
        p999_us: None,
        errors: 0,
        pools_full: None,
        rss_idle_kb: None,
        rss_peak_kb: None,
        instructions: None,
        setup_s: None,
        machine_cpu_s: None,
        client_cpu_s: None,
    }
}

/// Microseconds in a wrk duration (`812.00us`, `1.23ms`, `2.00s`, `1.50m`).
fn wrk_micros(t: &str) -> Option<f64> {
    let (value, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic())?);
    let k = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 6e7,
        _ => return None,
    };
    Some(value.parse::<f64>().ok()? * k)
}

/// Bytes in a wrk size (`16.00MB`; wrk counts in powers of 1024).
fn wrk_bytes(t: &str) -> Option<f64> {
    let (value, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic())?);
    let k = match unit {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(value.parse::<f64>().ok()? * k)
}

/// The result of one `wrk --latency` run with `conns` connections, as
/// served by `stack`: requests/s, the p50 and p99 of its latency
/// distribution (wrk prints no p99.9), socket errors and non-2xx/3xx
/// responses added up as errors.
pub fn wrk(output: &str, stack: &str, conns: u64) -> Result<ResultLine, MissingFigure> {
    let mut r = empty(stack, "http");
    r.conns = conns;
    let mut rate = None;
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["Requests/sec:", v] => rate = v.parse().ok(),
            ["Transfer/sec:", v] => r.gbps = wrk_bytes(v).map_or(0.0, |b| b * 8.0 / 1e9),
            ["50%", t] => r.p50_us = wrk_micros(t),
            ["99%", t] => r.p99_us = wrk_micros(t),
            [n, "requests", "in", secs, ..] => {
                r.ops = n.parse().unwrap_or(0);
                r.secs = secs.trim_end_matches(',').trim_end_matches('s').parse().unwrap_or(0.0);
            }
            ["Socket", "errors:", ..] => {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                r.errors += words
                    .iter()
                    .skip(3)
                    .step_by(2)
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().unwrap_or(0),
            _ => {}
        }
    }
    r.rate = rate.ok_or_else(|| MissingFigure("wrk printed no `Requests/sec:` line".into()))?;
    Ok(r)
}

/// The TX-packets of each "Accumulated forward statistics for all ports"
/// block testpmd printed, in order.
fn accumulated_tx(output: &str) -> Vec<u64> {
    let mut tx = Vec::new();
    let mut in_block = false;
    for line in output.lines() {
        if line.contains("Accumulated forward statistics for all ports") {
            in_block = true;
        } else if in_block && line.trim_start().starts_with("TX-packets:") {
            in_block = false;
            tx.extend(line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()));
        }
    }
    tx
}

/// The packets/s of one interactive testpmd run that printed `show fwd
/// stats all` at times `t0` and `t1` (seconds): the difference of the
/// first two "Accumulated forward statistics" TX-packets over `t1 - t0`.
pub fn testpmd(output: &str, t0: f64, t1: f64) -> Result<ResultLine, MissingFigure> {
    let tx = accumulated_tx(output);
    let [first, second, ..] = tx[..] else {
        return Err(MissingFigure(format!("{} accumulated TX-packets figure(s), expected 2", tx.len())));
    };
    if t1 <= t0 {
        return Err(MissingFigure(format!("empty window: t0 {t0} >= t1 {t1}")));
    }
    let mut r = empty("testpmd", "fwd");
    r.secs = t1 - t0;
    r.ops = second.saturating_sub(first);
    r.rate = r.ops as f64 / r.secs;
    Ok(r)
}

/// The packets/s of a zcnet-fwd run with `--stats-interval 1`, over the
/// window of its stats lines `warmup + 1 ..= warmup + secs`. Each line
/// (`[   2.001s] rx 123  tx 456     1.234 Mpps`) gives the total TX so far
/// and the rate of its own interval, so an interval's length is recovered
/// exactly as its TX delta over that rate (the printed time is coarser).
pub fn fwd_stats(output: &str, warmup: usize, secs: usize) -> Result<ResultLine, MissingFigure> {
    let stats: Vec<(u64, f64)> = output
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix('[')?;
            let (_, rest) = rest.split_once("s]")?;
            let w: Vec<&str> = rest.split_whitespace().collect();
            match w[..] {
                ["rx", _, "tx", tx, mpps, "Mpps", ..] => Some((tx.parse().ok()?, mpps.parse().ok()?)),
                _ => None,
            }
        })
        .collect();
    if stats.len() < warmup + secs || warmup == 0 {
        return Err(MissingFigure(format!("{} stats line(s), expected {}", stats.len(), warmup + secs)));
    }
    let (mut packets, mut elapsed) = (0u64, 0.0);
    for i in warmup..warmup + secs {
        let d = stats[i].0.saturating_sub(stats[i - 1].0);
        packets += d;
        elapsed += if stats[i].1 > 0.0 { d as f64 / (stats[i].1 * 1e6) } else { 1.0 };
    }
    let mut r = empty("zcnet", "fwd");
    r.secs = elapsed;
    r.ops = packets;
    r.rate = if elapsed > 0.0 { packets as f64 / elapsed } else { 0.0 };
    Ok(r)
}

/// Packets forwarded by a run under callgrind, from the program's own
/// output: testpmd's last accumulated TX-packets, or zcnet-fwd's summary.
pub fn forwarded_packets(output: &str, testpmd: bool) -> Option<u64> {
    if testpmd {
        accumulated_tx(output).last().copied()
    } else {
        // "summary: mode Io, 2 port(s), 1 core(s), 2.00 s: rx N tx N dropped N = X Mpps"
        let line = output.lines().rev().find(|l| l.starts_with("summary:"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "tx")?;
        words.get(at + 1)?.parse().ok()
    }
}

/// A callgrind run as a result line: `ops` the packets forwarded,
/// `instructions` those of the forwarding thread — the busiest thread in
/// the `--separate-threads=yes` files given as (name, contents), leaving
/// out the main thread's (`*-01`).
pub fn callgrind(stack: &str, packets: u64, files: &[(String, String)]) -> Result<ResultLine, MissingFigure> {
    let busiest = files
        .iter()
        .filter(|(name, _)| !name.ends_with("-01"))
        .filter_map(|(_, text)| text.lines().find_map(|l| l.strip_prefix("totals:")?.trim().parse::<u64>().ok()))
        .max()
        .ok_or_else(|| MissingFigure("no callgrind thread file with a `totals:` line".into()))?;
    if packets == 0 {
        return Err(MissingFigure("no packets forwarded".into()));
    }
    let mut r = empty(stack, "callgrind");
    r.ops = packets;
    r.instructions = Some(busiest);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 3s test @ http://198.18.1.2/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   245.10us   40.20us   2.10ms   91.00%
    Req/Sec   131.00k     4.00k  137.00k    80.00%
  Latency Distribution
     50%  240.00us
     75%  260.00us
     90%  290.00us
     99%    1.33ms
  393000 requests in 3.00s, 48.35MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec: 130999.50
Transfer/sec:     16.12MB
";

    #[test]
    fn wrk_output_becomes_a_result_line_with_its_latencies_and_errors() {
        let r = wrk(WRK, "nginx", 32).unwrap();
        assert_eq!((r.stack.as_str(), r.scenario.as_str(), r.conns, r.ops), ("nginx", "http", 32, 393000));
        assert_eq!((r.rate, r.secs, r.p50_us, r.p99_us, r.p999_us), (130999.5, 3.0, Some(240.0), Some(1330.0), None));
        assert_eq!(r.errors, 2 + 1 + 4);
        assert!((r.gbps - 16.12 * 1024.0 * 1024.0 * 8.0 / 1e9).abs() < 1e-9);
        let line = r.to_string();
        assert_eq!(line.parse::<ResultLine>().unwrap().to_string(), line, "it prints as a line the report reads back");
        assert!(wrk("unable to connect to 198.18.1.2:80 Connection refused", "nginx", 32).is_err());
    }

    #[test]
    fn testpmd_rate_is_the_tx_difference_of_the_first_two_accumulated_blocks() {
        let block = |tx: u64| {
            format!("  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n  RX-packets: 5  RX-dropped: 0  RX-total: 5\n  TX-packets: {tx}  TX-dropped: 0  TX-total: {tx}\n")
        };
        let out = format!("testpmd> {}testpmd> {}testpmd> {}", block(1_000), block(301_001_000), block(400_000_000));
        let r = testpmd(&out, 10.0, 11.0).unwrap();
        assert_eq!((r.ops, r.rate, r.secs), (301_000_000, 301e6, 1.0));
        assert!(testpmd(&block(5), 10.0, 11.0).is_err(), "one block is not a window");
        assert_eq!(forwarded_packets(&out, true), Some(400_000_000));
    }

    #[test]
    fn fwd_stats_window_skips_the_warmup_and_uses_each_interval_rate() {
        let out = "[   1.001s] rx 100000000  tx 100000000   100.000 Mpps
[   2.001s] rx 300000000  tx 300000000   200.000 Mpps
[   3.002s] rx 400000000  tx 400000000   100.000 Mpps
summary: mode Io, 2 port(s), 1 core(s), 3.20 s: rx 400000000 tx 400000000 dropped 0 = 125.000 Mpps
";
        let r = fwd_stats(out, 1, 2).unwrap();
        // 300M packets over 1 s (200 Mpps) + 1 s (100 Mpps).
        assert_eq!((r.ops, r.secs, r.rate), (300_000_000, 2.0, 150e6));
        assert!(fwd_stats(out, 1, 3).is_err(), "the window needs four lines");
        assert_eq!(forwarded_packets(out, false), Some(400_000_000));
    }

    #[test]
    fn callgrind_counts_the_busiest_thread_but_not_the_main_one() {
        let files = [
            ("cg.out-01".to_string(), "events: Ir\ntotals: 999999999\n".to_string()),
            ("cg.out-02".to_string(), "events: Ir\ntotals: 4000\n".to_string()),
            ("cg.out-03".to_string(), "events: Ir\ntotals: 9000\n".to_string()),
        ];
        let r = callgrind("zcnet", 100, &files).unwrap();
        assert_eq!((r.ops, r.instructions), (100, Some(9000)));
        assert!(callgrind("zcnet", 0, &files).is_err());
        assert!(callgrind("zcnet", 100, &files[..1]).is_err());
    }
}
