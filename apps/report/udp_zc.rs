//! The zero-copy datagram table: zcnet's recv_packet/send_packet path
//! against its UdpSocket copy path on the same wire, beside dpdk-testpmd's
//! macswap on a net_ring pair.

use super::chart::Chart;
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::ratio;

/// (program in the runs log, what it is), in table order.
const PATHS: [(&str, &str); 3] = [
    ("fast", "zcnet udp-zc (fast path)"),
    ("smoltcp", "zcnet udp (UdpSocket copy path)"),
    ("testpmd", "dpdk-testpmd macswap/net_ring"),
];

/// The median rate of one path over every row.
fn rate(runs: &Runs, program: &str) -> Option<f64> {
    let rows = runs.rows();
    let cells: Vec<Figures> = rows.iter().map(|row| Figures::of(runs, row, program)).collect();
    super::summary::Summary::of(cells.iter().flat_map(|c| c.results().iter().map(|r| r.rate))).map(|s| s.median)
}

/// The table, chart and ratios of a udp-zc runs log.
pub fn page(runs: &Runs, setup: &Setup, sockets: u64) -> Page {
    let mut table = Table::new(
        ["path", "M packets turned around/s median (min-max)", "p50/p99/p99.9 us", "CPU s", "errors", "runs ok"]
            .map(String::from),
    );
    for row in runs.rows() {
        for (p, label) in PATHS {
            let c = Figures::of(runs, row, p);
            let lat = if p == "testpmd" { "n/a".to_string() } else { c.latencies() };
            let ran = runs.of(row, p).len();
            table.row(vec![
                label.to_string(),
                median_min_max(c.rate().map(|s| s.scaled(1e-6)), 3),
                lat,
                c.cpu(),
                c.errors().to_string(),
                format!("{}/{ran}", c.ok()),
            ]);
        }
    }
    let (srv, cli) = (setup.server_cpu, setup.client_cpu);
    let mut md = String::from("## udp-zc: zero-copy datagram echo vs the smoltcp UdpSocket path vs dpdk-testpmd macswap (same in-memory wire / net_ring)\n\n");
    md.push_str(&format!(
        "{}; {} alternating runs each (testpmd, smoltcp, fast), {} s windows.

zcnet rows: zcnet-bench --scenario udp-zc (fast path: recv_packet/send_packet, the server turns the
received mbuf around) and --scenario udp (UdpSocket recv_from/send_to: a copy each way, sends through
smoltcp's buffer; receives now share the fast path's per-socket queue) on config/wire.toml,
{sockets} sockets, 64 B datagrams, server on CPU {srv}, client on CPU {cli}; the rate is datagram echoes completed per
second, i.e. packets the server core receives, rewrites (Ethernet, IPv4, UDP) and sends back.
testpmd row: one dpdk-testpmd macswap run on a net_ring pair per alternation (the fwd subcommand's
ring-macswap machinery: -l {}, burst {}, start tx_first 16, {} s after a {} s warm-up); the rate is packets
forwarded per second by its one forwarding core (TX summed over both ports; it only swaps MACs).
CPU = user+sys seconds of the whole process (median).

",
        setup.machine, setup.runs, setup.secs, setup.cores, setup.burst, setup.secs, setup.warmup
    ));
    md.push_str(&table.render());
    let [fast, smol, tp] = PATHS.map(|(p, _)| rate(runs, p));
    md.push_str(&format!(
        "\nfast/smoltcp = {} (target >= 3); fast/testpmd = {} (target >= 0.5)\n",
        number(ratio(fast, smol), 2),
        number(ratio(fast, tp), 2)
    ));
    md.push_str(&notes(runs, setup, "udp-zc"));
    Page { markdown: md, chart: chart(runs) }
}

/// The fast path over the copy path.
pub fn ratios(runs: &Runs) -> Vec<(String, f64)> {
    ratio(rate(runs, "fast"), rate(runs, "smoltcp"))
        .map(|r| ("udp-zc fast/UdpSocket path".to_string(), r))
        .into_iter()
        .collect()
}

fn chart(runs: &Runs) -> Chart {
    Chart::Bars {
        title: "udp-zc: M packets turned around/s".into(),
        y_label: "M packets/s".into(),
        categories: PATHS.iter().map(|(_, l)| l.to_string()).collect(),
        series: vec![(
            "median, min-max".into(),
            PATHS
                .iter()
                .map(|(p, _)| {
                    let c: Vec<Figures> = runs.rows().iter().map(|row| Figures::of(runs, row, p)).collect();
                    super::summary::Summary::of(c.iter().flat_map(|c| c.results().iter().map(|r| r.rate * 1e-6)))
                })
                .collect(),
        )],
    }
}
