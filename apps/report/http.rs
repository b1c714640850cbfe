//! The HTTP tables: wrk against zcnet-httpd behind net_tap and against
//! nginx over a veth pair (http), and against zcnet-hyper and zcnet-httpd
//! behind the same net_tap (hyper-tap: what hyper costs on zcnet); one row
//! per wrk connection count, one chart bar per server path.

use super::chart::Chart;
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, ratios_per_row, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::ratio;

/// Servers compared, baseline first: (program in the runs log, what it is).
type Paths = [(&'static str, &'static str); 2];

/// http's paths.
const PATHS: Paths = [("nginx", "nginx over veth"), ("zcnet", "zcnet-httpd over net_tap")];
/// hyper-tap's paths: both behind the same device.
const HYPER_PATHS: Paths = [("zcnet", "zcnet-httpd over net_tap"), ("hyper", "zcnet-hyper over net_tap")];

const TAP_NOTE: &str = "net_tap tops out near 110k packets/s from kernel to DPDK on these VMs, so a tap figure measures the tap as much as the stack.";

/// The table of wrk runs against `paths`' two servers.
fn table(runs: &Runs, paths: Paths) -> Table {
    let [b, z] = paths.map(|(p, _)| p);
    let mut table = Table::new(vec![
        "wrk".into(),
        format!("{b} k req/s median (min-max)"),
        format!("{z} k req/s median (min-max)"),
        format!("{z}/{b}"),
        format!("{b} p50/p99 us"),
        format!("{z} p50/p99 us"),
        format!("p99 {z}/{b}"),
        format!("{b} CPU s"),
        format!("{z} CPU s"),
        format!("errors {b}/{z}"),
        format!("runs ok {b}/{z}"),
    ]);
    for row in runs.rows() {
        let [n, z] = paths.map(|(p, _)| Figures::of(runs, row, p));
        let (nr, zr) = (n.rate().map(|s| s.scaled(1e-3)), z.rate().map(|s| s.scaled(1e-3)));
        let lat = |c: &Figures| format!("{}/{}", number(c.median(|r| r.p50_us), 0), number(c.median(|r| r.p99_us), 0));
        table.row(vec![
            format!("-t1 {row}"),
            median_min_max(nr, 1),
            median_min_max(zr, 1),
            number(ratio(zr.map(|s| s.median), nr.map(|s| s.median)), 2),
            lat(&n),
            lat(&z),
            number(ratio(z.median(|r| r.p99_us), n.median(|r| r.p99_us)), 2),
            n.cpu(),
            z.cpu(),
            format!("{}/{}", n.errors(), z.errors()),
            format!("{}/{}", n.ok(), z.ok()),
        ]);
    }
    table
}

/// The idle policy line of a zcnet server behind net_tap.
fn idle(setup: &Setup) -> String {
    match &setup.idle {
        Some(i) => format!("{i} (--idle {i}; config/tap.toml's default, what users run, is backoff)"),
        None => "backoff (config/tap.toml's default, what users run)".into(),
    }
}

/// The table, chart and ratios of an http runs log.
pub fn page(runs: &Runs, setup: &Setup) -> Page {
    let idle = idle(setup);
    let (srv, cli) = (setup.server_cpu, setup.client_cpu);
    let mut md = String::from(
        "## http: wrk -t1 against zcnet-httpd behind net_tap vs nginx over veth (13-byte body, keep-alive)\n\n",
    );
    md.push_str(&format!(
        "{}; {} alternating runs each (nginx first), wrk -d{}s.

wrk runs in namespace A under taskset -c {cli}. zcnet: zcnet-httpd --config config/tap.toml in A behind
net_tap (198.18.0.1 -> 198.18.0.2), taskset -c {srv} with --lcores 0@{srv},1@{srv} (main lcore and worker on CPU {srv});
idle policy: {idle}. Baseline: nginx {}, one worker (worker_processes 1, access_log off,
keepalive_requests 1000000, return 200 \"Hello, zcnet\\n\") in namespace B, taskset -c {srv}, reached over a veth
pair (198.18.1.1 -> 198.18.1.2). Latency: wrk --latency medians (it prints p50..p99, no p99.9).
CPU = user+sys seconds of the whole server process over its run (start, wrk -d{}s, stop; nginx: master + worker).

",
        setup.machine, setup.runs, setup.secs, setup.nginx_version, setup.secs
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

/// zcnet/nginx requests/s, per row.
pub fn ratios(runs: &Runs) -> Vec<(String, f64)> {
    ratios_per_row(runs, PATHS.map(|(p, _)| p), |r| r.rate, |row| format!("http wrk {row}"))
}

/// zcnet-hyper/zcnet-httpd requests/s, per row.
pub fn hyper_tap_ratios(runs: &Runs) -> Vec<(String, f64)> {
    ratios_per_row(runs, HYPER_PATHS.map(|(p, _)| p), |r| r.rate, |row| format!("hyper-tap wrk {row}"))
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
