//! The zcnet-against-tokio tables (rr, stream, crr, udp and the smoke
//! check): zcnet-bench on the in-memory wire beside zcnet-tokio-bench on
//! the kernel's loopback, one row per connection count.

use super::chart::{Chart, Series};
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, ratios_per_row, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::ratio;
use crate::result_line::ResultLine;

/// What one pair benchmark measures and how its table shows it.
pub struct Pair {
    /// The subcommand, and the name of its files.
    pub name: &'static str,
    /// The title after `## name: `.
    pub title: &'static str,
    /// The unit of the main figure, as the column titles say it.
    pub unit: &'static str,
    /// The main figure of a result line, in `unit`.
    pub figure: fn(&ResultLine) -> f64,
    /// Decimals of the main figure.
    pub decimals: usize,
    /// Whether the table has latency columns.
    pub latency: bool,
}

/// The pair benchmarks of scripts/bench.sh.
pub const PAIRS: [Pair; 6] = [
    Pair {
        name: "rr",
        title: "zcnet-bench vs zcnet-tokio-bench, request/response, 64 B each way, one request in flight per connection",
        unit: "k req/s",
        figure: |r| r.rate / 1e3,
        decimals: 1,
        latency: true,
    },
    Pair {
        name: "stream",
        title: "zcnet-bench vs zcnet-tokio-bench, one-way bulk transfer, 64 KiB writes (Gbit/s of payload)",
        unit: "Gbit/s",
        figure: |r| r.gbps,
        decimals: 2,
        latency: false,
    },
    Pair {
        name: "crr",
        title: "zcnet-bench vs zcnet-tokio-bench, connect + one 64 B request/response + close, repeated (connections/s)",
        unit: "k conn/s",
        figure: |r| r.rate / 1e3,
        decimals: 1,
        latency: true,
    },
    Pair {
        name: "udp",
        title: "zcnet-bench vs zcnet-tokio-bench, 64 B datagram request/response, one per socket in flight (datagrams echoed/s)",
        unit: "k dgram/s",
        figure: |r| r.rate / 1e3,
        decimals: 1,
        latency: true,
    },
    Pair {
        name: "hyper",
        title: "zcnet-bench vs zcnet-tokio-bench, the same hyper 1.x HTTP/1.1 server and client code, GET / (13-byte body), keep-alive, one request in flight per connection",
        unit: "k req/s",
        figure: |r| r.rate / 1e3,
        decimals: 1,
        latency: true,
    },
    Pair {
        name: "smoke",
        title: "every scenario of zcnet-bench and zcnet-tokio-bench for 1 s, 4 connections (a check, not a measurement)",
        unit: "k ops/s",
        figure: |r| r.rate / 1e3,
        decimals: 1,
        latency: true,
    },
];

/// The two programs, baseline first.
const PROGRAMS: [&str; 2] = ["tokio", "zcnet"];

/// The line under a zcnet/tokio table's title: when, where, how often.
pub fn alternation(setup: &Setup) -> String {
    format!(
        "{}; {} alternating runs each (tokio first), {} s window after a {} s warm-up.\n\n",
        setup.machine,
        setup.runs,
        setup.secs,
        setup.secs / 10.0
    )
}

/// How both programs were run, for the lines under the title.
pub fn app_note(setup: &Setup) -> String {
    let (s, c) = (setup.server_cpu, setup.client_cpu);
    let wire = if setup.wire == "config/wire.toml" {
        format!(
            "config/wire.toml:
server on lcore 1 = CPU {s}, client on lcore 2 = CPU {c}, busy polling, so it burns two CPUs by design"
        )
    } else {
        format!("{}: its server and client cores, CPUs and idle policy as written there", setup.wire)
    };
    format!(
        "Baseline: zcnet-tokio-bench (apps/tokio-bench), the same client and server written with tokio
(current_thread runtimes, TCP_NODELAY on both sides) over the kernel's loopback, server thread pinned
to CPU {s}, client to CPU {c}. zcnet: zcnet-bench on the in-memory wire ({wire}).
Closed loop, one operation in flight per connection; the warm-up and the window start once every
client has connected. Latency is per operation, from hdrhistogram.
CPU = user+sys seconds of the whole process, both threads (median).
"
    )
}

/// The program name of the hyper runs with no network (zcnet-tokio-bench
/// --hyper-in-memory: client and server on one thread over an in-memory pipe).
pub const HYPER_ALONE: &str = "hyper-alone";

/// What hyper itself costs, from the `hyper-alone` runs: the rate one CPU
/// reaches running client and server with no network stack, and about
/// what that allows any stack's run with client and server on their own
/// CPUs (twice that rate: both CPUs busy with hyper and nothing else — an
/// estimate, not a bound), against tokio's rate at the same count. Empty
/// without such runs.
pub fn hyper_alone_note(runs: &Runs) -> String {
    let mut md = String::new();
    for row in runs.rows() {
        let alone = Figures::of(runs, row, HYPER_ALONE);
        let (Some(a), Some(t)) =
            (alone.summary(|r| Some(r.rate / 1e3)), Figures::of(runs, row, "tokio").median(|r| Some(r.rate / 1e3)))
        else {
            continue;
        };
        md.push_str(&format!(
            "\nhyper alone at {row} connections (zcnet-tokio-bench --hyper-in-memory: the same client and server code on one \
             thread over tokio::io::duplex, no network stack): {} k req/s on one CPU. With client and server on their own \
             CPUs and a stack that cost nothing, a run could reach about twice that, {} k req/s: {}x tokio's median \
             here ({} k req/s). An estimate, not a bound: the in-memory run pays tokio's scheduler and the pipe's lock, \
             which a stack would not, and shares one CPU's caches, which two CPUs would not.\n",
            median_min_max(Some(a), 1),
            number(Some(2.0 * a.median), 1),
            number(ratio(Some(2.0 * a.median), Some(t)), 2),
            number(Some(t), 1),
        ));
    }
    md
}

impl Pair {
    /// The pair benchmark called `name`.
    pub fn named(name: &str) -> Option<&'static Pair> {
        PAIRS.iter().find(|p| p.name == name)
    }

    /// The table, chart and ratios of a runs log.
    pub fn page(&self, runs: &Runs, setup: &Setup) -> Page {
        let rows = runs.rows();
        let mut header = vec![
            self.row_title().to_string(),
            format!("tokio {} median (min-max)", self.unit),
            format!("zcnet {} median (min-max)", self.unit),
            "zcnet/tokio".into(),
        ];
        if self.latency {
            header.extend(["tokio p50/p99/p99.9 us", "zcnet p50/p99/p99.9 us", "p99 zcnet/tokio"].map(String::from));
        }
        header.extend(["tokio CPU s", "zcnet CPU s", "errors tokio/zcnet", "runs ok tokio/zcnet"].map(String::from));
        let mut table = Table::new(header);
        for row in &rows {
            let [t, z] = PROGRAMS.map(|p| Figures::of(runs, row, p));
            let (tv, zv) = (t.summary(|r| Some((self.figure)(r))), z.summary(|r| Some((self.figure)(r))));
            let mut cells = vec![
                row.to_string(),
                median_min_max(tv, self.decimals),
                median_min_max(zv, self.decimals),
                number(ratio(zv.map(|s| s.median), tv.map(|s| s.median)), 2),
            ];
            if self.latency {
                cells.push(t.latencies());
                cells.push(z.latencies());
                cells.push(number(ratio(z.median(|r| r.p99_us), t.median(|r| r.p99_us)), 2));
            }
            cells.extend([
                t.cpu(),
                z.cpu(),
                format!("{}/{}", t.errors(), z.errors()),
                format!("{}/{}", t.ok(), z.ok()),
            ]);
            table.row(cells);
        }
        let mut md = format!("## {}: {}\n\n", self.name, self.title);
        if self.name == "smoke" {
            md.push_str(&format!("{}; one run each, zcnet first.\n\n", setup.machine));
        } else {
            md.push_str(&alternation(setup));
        }
        md.push_str(&app_note(setup));
        md.push('\n');
        md.push_str(&table.render());
        if self.name == "hyper" {
            md.push_str(&hyper_alone_note(runs));
        }
        md.push_str(&notes(runs, setup, self.name));
        Page { markdown: md, chart: self.chart(runs) }
    }

    fn row_title(&self) -> &'static str {
        if self.name == "smoke" {
            "scenario"
        } else {
            "conns"
        }
    }

    /// zcnet/tokio of the main figure, per row.
    pub fn ratios(&self, runs: &Runs) -> Vec<(String, f64)> {
        let what = if self.name == "smoke" { "" } else { " conns" };
        ratios_per_row(runs, PROGRAMS, |r| Some((self.figure)(r)), |row| format!("{} {row}{what}", self.name))
    }

    /// Curves against the connection count when there are two counts or
    /// more; bars otherwise.
    fn chart(&self, runs: &Runs) -> Chart {
        let rows = runs.rows();
        let conns: Option<Vec<f64>> = rows.iter().map(|r| r.parse::<f64>().ok()).collect();
        let title = format!("{}: {}", self.name, self.unit);
        match conns {
            Some(conns) if conns.len() >= 2 => {
                let series = |f: &dyn Fn(&ResultLine) -> Option<f64>| -> Vec<Series> {
                    PROGRAMS
                        .iter()
                        .map(|p| Series {
                            name: p.to_string(),
                            points: rows
                                .iter()
                                .zip(&conns)
                                .filter_map(|(row, x)| Some((*x, Figures::of(runs, row, p).summary(f)?)))
                                .collect(),
                        })
                        .collect()
                };
                let rate = series(&|r| Some((self.figure)(r)));
                let p99 = if self.latency { series(&|r| r.p99_us) } else { Vec::new() };
                Chart::Curves { title, rate_label: self.unit.into(), rate, p99 }
            }
            _ => Chart::Bars {
                title,
                y_label: self.unit.into(),
                categories: rows
                    .iter()
                    .map(|r| if self.name == "smoke" { r.to_string() } else { format!("{r} conns") })
                    .collect(),
                series: PROGRAMS
                    .iter()
                    .map(|p| {
                        let v = rows.iter().map(|row| Figures::of(runs, row, p).summary(|r| Some((self.figure)(r))));
                        (p.to_string(), v.collect())
                    })
                    .collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr_page() -> Page {
        let runs = Runs::parse(include_str!("testdata/rr-runs.log")).unwrap();
        let setup = Setup { runs: 2, ..crate::report::page::default_setup() };
        Pair::named("rr").unwrap().page(&runs, &setup)
    }

    #[test]
    fn rr_table_from_recorded_runs_has_every_column_and_the_medians() {
        let md = rr_page().markdown;
        assert!(md.starts_with("## rr: zcnet-bench vs zcnet-tokio-bench"), "{md}");
        assert!(md.contains(
            "| conns | tokio k req/s median (min-max) | zcnet k req/s median (min-max) | zcnet/tokio | tokio p50/p99/p99.9 us | zcnet p50/p99/p99.9 us | p99 zcnet/tokio | tokio CPU s | zcnet CPU s | errors tokio/zcnet | runs ok tokio/zcnet |"
        ));
        // 32 connections: tokio 42.4k and 51.4k, zcnet 442.8k and 54.1k req/s.
        assert!(
            md.contains("| 32 | 46.9 (42.4-51.4) | 248.5 (54.1-442.8) | 5.30 | 258/6191/12480 | 63/3300/145069 | 0.53 | 0.89 | 1.93 | 0/0 | 2/2 |"),
            "{md}"
        );
        assert!(md.contains("| 1 | 16.1 (11.6-20.6) | 24.3 (17.2-31.5) | 1.51 | 34/1172/3806 | 4.8/15/4089 |"), "{md}");
        assert_eq!(md.matches("\n| ").count(), 4, "a header and three rows");
        assert!(md.contains("Warning: 10 run(s) started on a busy machine (> 10% CPU)"), "{md}");
    }

    #[test]
    fn rr_ratios_are_zcnet_over_tokio_per_connection_count() {
        let runs = Runs::parse(include_str!("testdata/rr-runs.log")).unwrap();
        let r = Pair::named("rr").unwrap().ratios(&runs);
        let labels: Vec<&str> = r.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["rr 1 conns", "rr 32 conns", "rr 256 conns"]);
        assert!((r[1].1 - 248.464 / 46.887).abs() < 1e-3, "{r:?}");
    }

    #[test]
    fn hyper_page_says_what_hyper_alone_allows_against_tokio() {
        let line = |program: &str, run: u32, rate: f64| {
            format!(
                "32\t{program}\t{run}\t1.00\t1\tok\tresult stack=tokio scenario=hyper conns=32 size=64 secs=1.000 \
                 ops={rate} rate={rate} gbps=0.001 p50_us=200.0 p99_us=300.0 p999_us=400.0 errors=0\n"
            )
        };
        let mut log = String::from("row\tprogram\trun\tcpu_s\tbusy_pct\tstatus\tresult\n");
        for (i, (t, z, a)) in
            [(90_000.0, 130_000.0, 150_000.0), (100_000.0, 120_000.0, 160_000.0)].into_iter().enumerate()
        {
            let i = i as u32 + 1;
            log += &line("tokio", i, t);
            log += &line("zcnet", i, z);
            log += &line(HYPER_ALONE, i, a);
        }
        let runs = Runs::parse(&log).unwrap();
        let md = Pair::named("hyper").unwrap().page(&runs, &crate::report::page::default_setup()).markdown;
        // Medians: hyper alone 155k, tokio 95k; the ceiling 310k = 3.26x.
        assert!(md.contains("155.0 (150.0-160.0) k req/s on one CPU"), "{md}");
        assert!(md.contains("about twice that, 310.0 k req/s: 3.26x tokio's median here (95.0 k req/s)"), "{md}");
        // The table itself is only tokio against zcnet.
        assert!(md.contains("| 32 | 95.0 (90.0-100.0) | 125.0 (120.0-130.0) | 1.32 |"), "{md}");
        let rr = Pair::named("rr").unwrap().page(&runs, &crate::report::page::default_setup()).markdown;
        assert!(!rr.contains("hyper alone"), "only the hyper page has the line");
    }
}
