//! The packet-forwarding table: zcnet-fwd against dpdk-testpmd on the same
//! vdevs and cores (Mpps), and the instructions per forwarded packet that
//! callgrind counts, when it ran.

use super::chart::Chart;
use super::markdown::{median_min_max, number, Table};
use super::page::{notes, ratios_per_row, Figures, Page, Setup};
use super::runs::Runs;
use super::summary::ratio;

const PROGRAMS: [&str; 2] = ["testpmd", "zcnet"];
/// The row whose ratio closes the page.
const HEADLINE: &str = "macswap/net_ring";

/// The Mpps table (from `runs`, if it has runs) and the callgrind table
/// (from `callgrind`, if given).
pub fn page(runs: &Runs, callgrind: Option<&Runs>, setup: &Setup) -> Page {
    let mut md = String::new();
    if !runs.runs.is_empty() {
        let mut table = Table::new(
            [
                "scenario",
                "testpmd Mpps median (min-max)",
                "zcnet Mpps median (min-max)",
                "zcnet/testpmd",
                "testpmd CPU s",
                "zcnet CPU s",
                "runs ok tp/zc",
            ]
            .map(String::from),
        );
        for row in runs.rows() {
            let [t, z] = PROGRAMS.map(|p| Figures::of(runs, row, p));
            let (tm, zm) = (t.rate().map(|s| s.scaled(1e-6)), z.rate().map(|s| s.scaled(1e-6)));
            table.row(vec![
                row.to_string(),
                median_min_max(tm, 1),
                median_min_max(zm, 1),
                number(ratio(zm.map(|s| s.median), tm.map(|s| s.median)), 2),
                t.cpu(),
                z.cpu(),
                format!("{}/{}", t.ok(), z.ok()),
            ]);
        }
        md.push_str("## fwd: zcnet-fwd vs dpdk-testpmd (Mpps, TX packets summed over both ports)\n\n");
        md.push_str(&format!(
            "{}; -l {} (forwarding on lcore 1), burst {}, hugepages, {} alternating runs each, window {} s after {} s warm-up. CPU = user+sys seconds of the whole process (median).\n\n",
            setup.machine, setup.cores, setup.burst, setup.runs, setup.secs, setup.warmup
        ));
        md.push_str(&table.render());
        md.push_str(&notes(runs, setup, "fwd"));
    }
    if let Some(cg) = callgrind {
        if !md.is_empty() {
            md.push('\n');
        }
        md.push_str(&callgrind_table(cg));
    }
    if !runs.runs.is_empty() {
        md.push_str(&format!("\n{HEADLINE} zcnet/testpmd = {}\n", number(headline(runs), 2)));
    }
    Page { markdown: md, chart: chart(runs) }
}

fn headline(runs: &Runs) -> Option<f64> {
    let [t, z] = PROGRAMS.map(|p| Figures::of(runs, HEADLINE, p).median(|r| Some(r.rate)));
    ratio(z, t)
}

/// Instructions per forwarded packet of the forwarding thread.
fn callgrind_table(cg: &Runs) -> String {
    let mut table = Table::new(["scenario", "testpmd Ir/pkt", "zcnet Ir/pkt", "zcnet/testpmd"].map(String::from));
    let ipp = |row: &str, p: &str| {
        Figures::of(cg, row, p).median(|r| r.instructions.filter(|_| r.ops > 0).map(|i| i as f64 / r.ops as f64))
    };
    for row in cg.rows() {
        let (t, z) = (ipp(row, "testpmd"), ipp(row, "zcnet"));
        table.row(vec![row.to_string(), number(t, 1), number(z, 1), number(ratio(z, t), 2)]);
    }
    let mut md =
        String::from("## fwd: instructions per forwarded packet (forwarding thread, callgrind, --no-huge)\n\n");
    md.push_str(&table.render());
    if cg.rows().contains(&HEADLINE) {
        let r = ratio(ipp(HEADLINE, "zcnet"), ipp(HEADLINE, "testpmd"));
        md.push_str(&format!("\n{HEADLINE} zcnet/testpmd Ir/packet = {}\n", number(r, 2)));
    }
    md
}

/// zcnet/testpmd Mpps, per scenario.
pub fn ratios(runs: &Runs) -> Vec<(String, f64)> {
    ratios_per_row(runs, PROGRAMS, |r| Some(r.rate), |row| format!("fwd {row}"))
}

fn chart(runs: &Runs) -> Chart {
    let rows = runs.rows();
    Chart::Bars {
        title: "fwd: Mpps per scenario".into(),
        y_label: "Mpps".into(),
        categories: rows.iter().map(|r| r.to_string()).collect(),
        series: PROGRAMS
            .iter()
            .map(|p| {
                let v = rows.iter().map(|row| Figures::of(runs, row, p).rate().map(|s| s.scaled(1e-6)));
                (p.to_string(), v.collect())
            })
            .collect(),
    }
}
