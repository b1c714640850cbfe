//! The connection-scale table (issue 10): rr at 32 to 8k connections and
//! crr at 32 and 4k, zcnet against tokio, with resident memory per
//! connection and the targets marked.

use super::chart::{Chart, Series};
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, ratios_per_row, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::{ratio, Summary};
use crate::result_line::ResultLine;

const PROGRAMS: [&str; 2] = ["tokio", "zcnet"];

/// The targets: zcnet's rr rate at the most connections over its rate at
/// the fewest, zcnet/tokio from 1k connections on, and zcnet's p99.9 over
/// tokio's at every count.
pub const KEEP_AT_SCALE: f64 = 0.6;
pub const TIMES_TOKIO: f64 = 8.0;
pub const TAIL_SHARE: f64 = 0.2;

/// A row name, `"rr 4096"`, as (scenario, connections).
fn parse_row(row: &str) -> Option<(&str, u64)> {
    let (scenario, conns) = row.split_once(' ')?;
    Some((scenario, conns.parse().ok()?))
}

/// Resident KiB per connection of one run: its peak minus its idle
/// baseline, over its connections (both ends live in the one process).
fn kib_per_conn(r: &ResultLine) -> Option<f64> {
    let (idle, peak) = (r.rss_idle_kb?, r.rss_peak_kb?);
    (r.conns > 0).then(|| peak.saturating_sub(idle) as f64 / r.conns as f64)
}

fn verdict(met: Option<bool>, what: &str, value: Option<f64>) -> String {
    let mark = match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "n/a",
    };
    format!("{what}: {mark} ({})", number(value, 2))
}

/// zcnet's median rr rate at the most connections over the fewest, and the same for tokio.
pub fn keep_ratio(runs: &Runs) -> Option<(u64, u64, Option<f64>, Option<f64>)> {
    let rr: Vec<u64> =
        runs.rows().into_iter().filter_map(parse_row).filter(|(s, _)| *s == "rr").map(|(_, c)| c).collect();
    let (lo, hi) = (*rr.iter().min()?, *rr.iter().max()?);
    let rate = |p: &str, c: u64| Figures::of(runs, &format!("rr {c}"), p).median(|r| Some(r.rate));
    Some((lo, hi, ratio(rate("zcnet", hi), rate("zcnet", lo)), ratio(rate("tokio", hi), rate("tokio", lo))))
}

/// The table, chart and ratios of a scale runs log.
pub fn page(runs: &Runs, setup: &Setup) -> Page {
    let mut table = Table::new(
        [
            "scenario",
            "conns",
            "tokio k/s median (min-max)",
            "zcnet k/s median (min-max)",
            "zcnet/tokio",
            "tokio p50/p99/p99.9 us",
            "zcnet p50/p99/p99.9 us",
            "p99.9 zcnet/tokio",
            "tokio CPU s",
            "zcnet CPU s",
            "setup s tokio/zcnet",
            "tokio KiB/conn",
            "zcnet KiB/conn",
            "zcnet pools full",
            "errors tokio/zcnet",
            "runs ok tokio/zcnet",
            "targets",
        ]
        .map(String::from),
    );
    let keep = keep_ratio(runs);
    for row in runs.rows() {
        let Some((scenario, conns)) = parse_row(row) else { continue };
        let [t, z] = PROGRAMS.map(|p| Figures::of(runs, row, p));
        let (tr, zr) = (t.rate().map(|s| s.scaled(1e-3)), z.rate().map(|s| s.scaled(1e-3)));
        let times = ratio(zr.map(|s| s.median), tr.map(|s| s.median));
        let tail = ratio(z.median(|r| r.p999_us), t.median(|r| r.p999_us));
        let full = z.results().iter().filter(|r| r.pools_full == Some(true)).count();
        let known = z.results().iter().filter(|r| r.pools_full.is_some()).count();
        let mut targets = Vec::new();
        if scenario == "rr" {
            if conns >= 1024 {
                targets.push(verdict(times.map(|v| v >= TIMES_TOKIO), ">= 8x tokio", times));
            }
            targets.push(verdict(tail.map(|v| v <= TAIL_SHARE), "p99.9 <= 1/5 of tokio's", tail));
            if let Some((lo, hi, zk, _)) = keep {
                if conns == hi && hi != lo {
                    targets.push(verdict(zk.map(|v| v >= KEEP_AT_SCALE), &format!("{hi}/{lo} >= 0.6"), zk));
                }
            }
        }
        table.row(vec![
            scenario.to_string(),
            conns.to_string(),
            median_min_max(tr, 1),
            median_min_max(zr, 1),
            number(times, 2),
            t.latencies(),
            z.latencies(),
            number(tail, 2),
            t.cpu(),
            z.cpu(),
            format!("{}/{}", number(t.median(|r| r.setup_s), 1), number(z.median(|r| r.setup_s), 1)),
            number(t.median(kib_per_conn), 1),
            number(z.median(kib_per_conn), 1),
            if known == 0 { "n/a".into() } else { format!("{full}/{known}") },
            format!("{}/{}", t.errors(), z.errors()),
            format!("{}/{}", t.ok(), z.ok()),
            if targets.is_empty() { "-".into() } else { targets.join("; ") },
        ]);
    }
    let mut md =
        String::from("## scale: zcnet-bench vs zcnet-tokio-bench from 32 to 8k connections (rr, crr; 64 B)\n\n");
    md.push_str(&super::pair::alternation(setup));
    md.push_str(&super::pair::app_note(setup));
    md.push_str(
        "k/s: requests/s for rr, connections/s for crr. setup s: how long the clients took to open their
connections before the warm-up began (median; clients not connected after 20 s are left behind).
KiB/conn: resident memory per connection, both ends (client and server live in the one process for
both stacks): the process's peak resident set (VmHWM in /proc/self/status at exit) minus its resident
set (VmRSS) just before the client opened its first connection, over the connection count; median
over runs. It includes the benchmark programs' own per-connection task and buffers (their latency
histograms are one per client core, not per connection). zcnet's mbuf pools are hugepages, which the
resident set does not count, and exist before the baseline anyway. zcnet pools full: runs whose pools
held every mbuf again at exit, of the runs that said. Every run is bounded in time; one that does not
finish is stopped and listed under the table. Targets (issue 10): zcnet >= 8x tokio from 1k
connections on, zcnet's p99.9 <= 1/5 of tokio's at every count, zcnet's rate at the most connections
>= 0.6 of its rate at 32.
",
    );
    md.push('\n');
    md.push_str(&table.render());
    md.push_str(&notes(runs, setup, "scale"));
    if let Some((lo, hi, zk, tk)) = keep {
        md.push_str(&format!(
            "\nrr {hi}/{lo} connections: zcnet {} (target >= {KEEP_AT_SCALE}), tokio {}\n",
            number(zk, 2),
            number(tk, 2)
        ));
    }
    Page { markdown: md, chart: chart(runs) }
}

/// zcnet/tokio of the rate, per row.
pub fn ratios(runs: &Runs) -> Vec<(String, f64)> {
    ratios_per_row(runs, PROGRAMS, |r| Some(r.rate), |row| format!("scale {row} conns"))
}

/// rr rate and p99 against connections.
fn chart(runs: &Runs) -> Chart {
    let rr: Vec<(&str, u64)> = runs
        .rows()
        .into_iter()
        .filter(|r| parse_row(r).is_some_and(|(s, _)| s == "rr"))
        .map(|r| (r, parse_row(r).expect("checked").1))
        .collect();
    let series = |f: &dyn Fn(&ResultLine) -> Option<f64>| -> Vec<Series> {
        PROGRAMS
            .iter()
            .map(|p| Series {
                name: p.to_string(),
                points: rr
                    .iter()
                    .filter_map(|(row, c)| Some((*c as f64, Figures::of(runs, row, p).summary(f)?)))
                    .collect::<Vec<(f64, Summary)>>(),
            })
            .collect()
    };
    Chart::Curves {
        title: "scale: rr k req/s".into(),
        rate_label: "k req/s".into(),
        rate: series(&|r| Some(r.rate / 1e3)),
        p99: series(&|r| r.p99_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::page::default_setup;
    use crate::report::runs::HEADER;

    /// A runs log line of a synthetic rr or crr run.
    fn run(row: &str, program: &str, rate: f64, p999: f64, rss: (u64, u64)) -> String {
        let (scenario, conns) = parse_row(row).unwrap();
        let pools = if program == "zcnet" { " pools_full=true" } else { "" };
        format!(
            "{row}\t{program}\t1\t2.00\t1\tok\tresult stack={program} scenario={scenario} conns={conns} size=64 secs=3.000 ops={} rate={rate:.1} gbps=0.100 p50_us=10.0 p99_us=50.0 p999_us={p999:.1} errors=0{pools} rss_idle_kb={} rss_peak_kb={} setup_s=0.500\n",
            (rate * 3.0) as u64, rss.0, rss.1
        )
    }

    fn log() -> String {
        let mut log = format!("{HEADER}\n");
        for (conns, t, z) in [(32u64, 190e3, 1500e3), (1024, 158e3, 1400e3), (8192, 81e3, 600e3)] {
            let row = format!("rr {conns}");
            // tokio holds 8 KiB a connection, zcnet 300 KiB.
            log += &run(&row, "tokio", t, 40_000.0, (3_000, 3_000 + 8 * conns));
            log += &run(&row, "zcnet", z, 1_000.0, (26_000, 26_000 + 300 * conns));
        }
        log += "rr 8192\tzcnet\t2\tnan\t1\tdid not finish within 33 s; stopped\t\n";
        log += &run("crr 32", "tokio", 14e3, 900.0, (3_000, 3_100));
        log += &run("crr 32", "zcnet", 320e3, 100.0, (26_000, 26_500));
        log
    }

    #[test]
    fn scale_table_marks_the_targets_and_ends_with_the_8k_over_32_ratio() {
        let runs = Runs::parse(&log()).unwrap();
        let md = page(&runs, &default_setup()).markdown;
        let row = |start: &str| {
            md.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no {start} row in\n{md}"))
        };
        // 1024: 1400/158 = 8.86x tokio, p99.9 1 ms against 40 ms.
        let r1k = row("| rr | 1024 |");
        assert!(r1k.contains("| 8.86 |") && r1k.contains(">= 8x tokio: yes (8.86)"), "{r1k}");
        assert!(r1k.contains("p99.9 <= 1/5 of tokio's: yes (0.03)"), "{r1k}");
        assert!(r1k.contains("| 0.5/0.5 | 8.0 | 300.0 | 1/1 |"), "setup, KiB per connection and pools: {r1k}");
        // 8192: 600/81 = 7.41x (missed); 600/1500 = 0.40 of its rate at 32 (missed); one run stopped.
        let r8k = row("| rr | 8192 |");
        assert!(r8k.contains(">= 8x tokio: **no** (7.41)") && r8k.contains("8192/32 >= 0.6: **no** (0.40)"), "{r8k}");
        assert!(r8k.contains("| 0/0 | 1/1 |"), "errors, and one zcnet run of two ok: {r8k}");
        assert!(row("| rr | 32 |").ends_with("| p99.9 <= 1/5 of tokio's: yes (0.03) |"));
        assert!(row("| crr | 32 |").ends_with("| - |"), "crr has no targets");
        assert!(md.contains("- zcnet rr 8192 run 2: did not finish within 33 s; stopped"), "{md}");
        let last = md.lines().last().unwrap();
        assert_eq!(last, "rr 8192/32 connections: zcnet 0.40 (target >= 0.6), tokio 0.43");
    }
}
