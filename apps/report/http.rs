//! The HTTP table: wrk against zcnet-httpd behind net_tap and against nginx
//! over a veth pair, one row per wrk connection count, one chart bar per
//! server path.

use super::chart::Chart;
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, ratios_per_row, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::ratio;

/// The paths, baseline first: (program in the runs log, what it is).
const PATHS: [(&str, &str); 2] = [("nginx", "nginx over veth"), ("zcnet", "zcnet-httpd over net_tap")];

const TAP_NOTE: &str = "net_tap tops out near 110k packets/s from kernel to DPDK on these VMs, so a tap figure measures the tap as much as the stack.";

/// The table, chart and ratios of an http runs log.
pub fn page(runs: &Runs, setup: &Setup) -> Page {
    let mut table = Table::new(
        [
            "wrk",
            "nginx k req/s median (min-max)",
            "zcnet k req/s median (min-max)",
            "zcnet/nginx",
            "nginx p50/p99 us",
            "zcnet p50/p99 us",
            "p99 zcnet/nginx",
            "nginx CPU s",
            "zcnet-httpd CPU s",
            "errors nginx/zcnet",
            "runs ok nginx/zcnet",
        ]
        .map(String::from),
    );
    for row in runs.rows() {
        let [n, z] = PATHS.map(|(p, _)| Figures::of(runs, row, p));
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
    let idle = match &setup.idle {
        Some(i) => format!("{i} (--idle {i}; config/tap.toml's default, what users run, is backoff)"),
        None => "backoff (config/tap.toml's default, what users run)".into(),
    };
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
    md.push_str(&table.render());
    md.push_str(&format!("\nNote: {TAP_NOTE}\n"));
    md.push_str(&notes(runs, setup, "http"));
    Page { markdown: md, chart: chart(runs) }
}

/// zcnet/nginx requests/s, per row.
pub fn ratios(runs: &Runs) -> Vec<(String, f64)> {
    ratios_per_row(runs, PATHS.map(|(p, _)| p), |r| r.rate, |row| format!("http wrk {row}"))
}

/// Requests/s per path, grouped by wrk's connection count.
fn chart(runs: &Runs) -> Chart {
    let rows = runs.rows();
    Chart::Bars {
        title: "http: k req/s per path (wrk -t1)".into(),
        y_label: "k req/s".into(),
        categories: rows.iter().map(|r| format!("wrk {r}")).collect(),
        series: PATHS
            .iter()
            .map(|(p, label)| {
                let v = rows.iter().map(|row| Figures::of(runs, row, p).rate().map(|s| s.scaled(1e-3)));
                (label.to_string(), v.collect())
            })
            .collect(),
    }
}
