//! The HTTP tables: wrk against nginx over a veth pair, zcnet-httpd over
//! AF_XDP on a veth pair and zcnet-httpd behind net_tap (http), and against
//! zcnet-httpd and zcnet-hyper behind the same net_tap (hyper-tap: what
//! hyper costs on zcnet); one row per wrk connection count and server, one
//! chart bar per server path.
//!
//! CPU per request: a server's process time leaves out the kernel's work
//! for it (veth transmit, softirq receive, XDP), and that differs between
//! the paths. So each run records the whole machine's busy CPU-seconds over
//! wrk's run (/proc/stat) and wrk's own; "server-side" is the difference:
//! the server process plus all the kernel's network work (and whatever
//! else ran on the machine, which is why busy starts are flagged).

use super::chart::Chart;
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, ratios_per_row, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::ratio;
use crate::result_line::ResultLine;

/// Servers compared, baseline first: (program in the runs log, what it is).
type Paths<'a> = &'a [(&'static str, &'static str)];

/// http's paths.
const PATHS: Paths = &[
    ("nginx", "nginx over veth"),
    ("zcnet-xdp", "zcnet-httpd over AF_XDP (veth)"),
    ("zcnet", "zcnet-httpd over net_tap"),
];
/// hyper-tap's paths: both behind the same device.
const HYPER_PATHS: Paths = &[("zcnet", "zcnet-httpd over net_tap"), ("hyper", "zcnet-hyper over net_tap")];

const TAP_NOTE: &str = "net_tap tops out near 110k packets/s from kernel to DPDK on these VMs, so a tap figure measures the tap as much as the stack.";

/// Server-side CPU-seconds of a run: the machine's busy time minus wrk's.
fn server_cpu_s(r: &ResultLine) -> Option<f64> {
    Some((r.machine_cpu_s? - r.client_cpu_s?).max(0.0))
}

/// Server-side CPU microseconds per request.
fn server_us_per_request(r: &ResultLine) -> Option<f64> {
    (r.ops > 0).then(|| server_cpu_s(r).map(|s| s * 1e6 / r.ops as f64))?
}

/// Whole-machine busy CPU microseconds per request.
fn machine_us_per_request(r: &ResultLine) -> Option<f64> {
    (r.ops > 0).then(|| r.machine_cpu_s.map(|s| s * 1e6 / r.ops as f64))?
}

/// Requests per server-side CPU-second.
fn requests_per_server_cpu_s(r: &ResultLine) -> Option<f64> {
    server_cpu_s(r).filter(|&s| s > 0.0).map(|s| r.ops as f64 / s)
}

/// The table of wrk runs against `paths`, each compared with the first.
fn table(runs: &Runs, paths: Paths) -> Table {
    let base = paths[0].0;
    let mut table = Table::new(vec![
        "wrk".into(),
        "server".into(),
        "k req/s median (min-max)".into(),
        format!("req/s / {base}"),
        "p50/p99 us".into(),
        "server-side CPU us/req".into(),
        format!("req per server CPU-s / {base}"),
        "machine CPU us/req".into(),
        "process CPU s".into(),
        "errors".into(),
        "runs ok".into(),
    ]);
    for row in runs.rows() {
        let b = Figures::of(runs, row, base);
        for &(program, _) in paths {
            let f = Figures::of(runs, row, program);
            let rate = f.rate().map(|s| s.scaled(1e-3));
            let lat = format!("{}/{}", number(f.median(|r| r.p50_us), 0), number(f.median(|r| r.p99_us), 0));
            table.row(vec![
                format!("-t1 {row}"),
                program.to_string(),
                median_min_max(rate, 1),
                number(ratio(f.median(|r| Some(r.rate)), b.median(|r| Some(r.rate))), 2),
                lat,
                number(f.median(server_us_per_request), 1),
                number(ratio(f.median(requests_per_server_cpu_s), b.median(requests_per_server_cpu_s)), 2),
                number(f.median(machine_us_per_request), 1),
                f.cpu(),
                f.errors().to_string(),
                f.ok().to_string(),
            ]);
        }
    }
    table
}

/// The idle policy line of the zcnet servers.
fn idle(setup: &Setup) -> String {
    match &setup.idle {
        Some(i) => format!("{i} (--idle {i}; the configurations' default, what users run, is backoff)"),
        None => "backoff, with the [runtime] settings of each server's config file (what users run)".into(),
    }
}

/// How the CPU columns are measured.
const CPU_NOTE: &str =
    "CPU: machine CPU = busy CPU-seconds of both CPUs over wrk's run (/proc/stat: user, nice, system, irq,
softirq, steal), per request; server-side CPU = that minus wrk's own user+sys seconds: the server process plus
the kernel's network work for both ends (veth, softirq, XDP), which the server's process time does not show.
`req per server CPU-s` is requests over server-side CPU-seconds, as a ratio to the baseline's. process CPU s =
user+sys seconds of the whole server process over its run (start, wrk, stop). The machine is shared: other
work on it lands in the machine figures too (busy starts are flagged below).";

/// The table, chart and ratios of an http runs log.
pub fn page(runs: &Runs, setup: &Setup) -> Page {
    let idle = idle(setup);
    let (srv, cli) = (setup.server_cpu, setup.client_cpu);
    let mut md = String::from(
        "## http: wrk -t1 against nginx over veth, zcnet-httpd over AF_XDP (veth) and zcnet-httpd behind net_tap (13-byte body, keep-alive)\n\n",
    );
    md.push_str(&format!(
        "{}; {} alternating runs each (nginx first), wrk -d{}s.

wrk runs in namespace A under taskset -c {cli}; every server under taskset -c {srv} (zcnet-httpd with
--lcores 0@{srv},1@{srv}: main lcore and worker on CPU {srv}); zcnet idle policy: {idle}.
zcnet-xdp: zcnet-httpd --config config/xdp.toml in A on one end of a veth pair ({} on zcv0, 198.18.2.1 -> 198.18.2.2;
the kernel end has tx checksum offload off). zcnet: zcnet-httpd --config config/tap.toml in A behind net_tap
(198.18.0.1 -> 198.18.0.2). Baseline: nginx {}, one worker (worker_processes 1, access_log off,
keepalive_requests 1000000, return 200 \"Hello, zcnet\\n\") in namespace B, reached over a veth pair
(198.18.1.1 -> 198.18.1.2). Latency: wrk --latency medians (it prints p50..p99, no p99.9).
{CPU_NOTE}

",
        setup.machine, setup.runs, setup.secs, setup.veth_driver, setup.nginx_version
    ));
    md.push_str(&table(runs, PATHS).render());
    md.push_str(&format!("\nNote: {TAP_NOTE}\n"));
    md.push_str(&notes(runs, setup, "http"));
    Page { markdown: md, chart: chart(runs, "http", PATHS) }
}

/// The table and chart of a hyper-tap runs log: zcnet-hyper against
/// zcnet-httpd, both behind net_tap, wrk as in http.
pub fn hyper_tap_page(runs: &Runs, setup: &Setup) -> Page {
    let (srv, cli) = (setup.server_cpu, setup.client_cpu);
    let mut md = String::from(
        "## hyper-tap: wrk -t1 against zcnet-hyper vs zcnet-httpd, both behind net_tap (13-byte body, keep-alive)\n\n",
    );
    md.push_str(&format!(
        "{}; {} alternating runs each (zcnet-httpd first), wrk -d{}s.

wrk runs in namespace A under taskset -c {cli}; each server is started with --config config/tap.toml in A
behind net_tap (198.18.0.1 -> 198.18.0.2), taskset -c {srv} with --lcores 0@{srv},1@{srv}; idle policy: {}.
zcnet-httpd parses in place (read_with) and writes its headers in place (write_with); zcnet-hyper is
hyper 1.x's HTTP/1.1 server on zcnet's hyper::rt traits (one copy each way). The ratio is the cost of hyper
on zcnet behind the same device.
{CPU_NOTE}

",
        setup.machine,
        setup.runs,
        setup.secs,
        idle(setup)
    ));
    md.push_str(&table(runs, HYPER_PATHS).render());
    md.push_str(&format!("\nNote: {TAP_NOTE}\n"));
    md.push_str(&notes(runs, setup, "hyper-tap"));
    Page { markdown: md, chart: chart(runs, "hyper-tap", HYPER_PATHS) }
}

/// zcnet/nginx requests/s per row, for each zcnet path, and zcnet-xdp's
/// requests per server-side CPU-second over nginx's.
pub fn ratios(runs: &Runs) -> Vec<(String, f64)> {
    let rate = |program, path: &'static str| {
        ratios_per_row(runs, ["nginx", program], |r| Some(r.rate), move |row| format!("http {path} wrk {row}"))
    };
    let mut all = rate("zcnet-xdp", "AF_XDP");
    all.extend(rate("zcnet", "net_tap"));
    all.extend(ratios_per_row(runs, ["nginx", "zcnet-xdp"], requests_per_server_cpu_s, |row| {
        format!("http AF_XDP req/server-CPU-s wrk {row}")
    }));
    all
}

/// zcnet-hyper/zcnet-httpd requests/s, per row.
pub fn hyper_tap_ratios(runs: &Runs) -> Vec<(String, f64)> {
    let programs = [HYPER_PATHS[0].0, HYPER_PATHS[1].0];
    ratios_per_row(runs, programs, |r| Some(r.rate), |row| format!("hyper-tap wrk {row}"))
}

/// Requests/s per path, grouped by wrk's connection count.
fn chart(runs: &Runs, name: &str, paths: Paths) -> Chart {
    let rows = runs.rows();
    Chart::Bars {
        title: format!("{name}: k req/s per path (wrk -t1)"),
        y_label: "k req/s".into(),
        categories: rows.iter().map(|r| format!("wrk {r}")).collect(),
        series: paths
            .iter()
            .map(|(p, label)| {
                let v = rows.iter().map(|row| Figures::of(runs, row, p).rate().map(|s| s.scaled(1e-3)));
                (label.to_string(), v.collect())
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::page::default_setup;

    /// A runs-log line of one wrk run.
    fn run(row: &str, program: &str, i: u32, ops: u64, machine: f64, client: f64) -> String {
        format!(
            "{row}\t{program}\t{i}\t1.00\t1\tok\tresult stack={program} scenario=http conns=32 size=0 secs=5.000 ops={ops} rate={:.1} gbps=0.100 p50_us=100.0 p99_us=900.0 errors=0 machine_cpu_s={machine:.3} client_cpu_s={client:.3}\n",
            ops as f64 / 5.0
        )
    }

    #[test]
    fn server_side_cpu_per_request_leaves_the_client_out_and_compares_with_nginx() {
        let mut log = String::from(crate::report::runs::HEADER);
        log.push('\n');
        // nginx: 500k requests on 10 - 4 = 6 server-side seconds (12 us/req);
        // zcnet-xdp: 600k on 8 - 5 = 3 s (5 us/req): 2.4x the requests per
        // server CPU-second, 1.2x the requests/s.
        for i in 1..=3 {
            log.push_str(&run("-c32", "nginx", i, 500_000, 10.0, 4.0));
            log.push_str(&run("-c32", "zcnet-xdp", i, 600_000, 8.0, 5.0));
        }
        let runs = Runs::parse(&log).unwrap();
        let page = page(&runs, &default_setup());
        let line = |program: &str| {
            page.markdown.lines().find(|l| l.starts_with(&format!("| -t1 -c32 | {program} |"))).unwrap().to_string()
        };
        let xdp = line("zcnet-xdp");
        assert!(xdp.contains("| 1.20 |") && xdp.contains("| 5.0 |") && xdp.contains("| 2.40 |"), "{xdp}");
        assert!(xdp.contains("| 13.3 |"), "machine CPU: 8 s / 600k = 13.3 us/req\n{xdp}");
        assert!(line("nginx").contains("| 12.0 |"), "{}", line("nginx"));
        let r = ratios(&runs);
        let cpu = r.iter().find(|(l, _)| l.contains("req/server-CPU-s")).unwrap();
        assert!((cpu.1 - 2.4).abs() < 1e-9, "{r:?}");
    }
}
