//! What every benchmark's page has in common: the facts of the invocation
//! scripts/bench.sh passes in, the per-program figures of one row, and the
//! notes under a table (busy starts, stopped and failed runs).

use super::chart::Chart;
use super::markdown;
use super::runs::{Outcome, Runs};
use super::summary::{ratio, Summary};
use crate::result_line::ResultLine;

/// How the benchmark was run (scripts/bench.sh knows; the page says).
#[derive(Debug, Clone, clap::Args)]
pub struct Setup {
    /// "DATE, N CPUs (MODEL), commit ABC" for the line under the title.
    #[arg(long, default_value = "unknown machine")]
    pub machine: String,
    /// Alternating runs per program and row.
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Seconds of each measured window.
    #[arg(long, default_value_t = 1.0)]
    pub secs: f64,
    /// A run started with more of the machine busy than this (%) is flagged.
    #[arg(long, default_value_t = 10.0)]
    pub quiet_pct: f64,
    /// CPU of the server (thread or lcore).
    #[arg(long, default_value_t = 0)]
    pub server_cpu: u32,
    /// CPU of the client (thread, lcore or wrk).
    #[arg(long, default_value_t = 1)]
    pub client_cpu: u32,
    /// fwd and udp-zc: seconds of traffic before the window.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// fwd and udp-zc: the EAL core list of both forwarders.
    #[arg(long, default_value = "0-1")]
    pub cores: String,
    /// fwd and udp-zc: the burst size.
    #[arg(long, default_value_t = 32)]
    pub burst: u32,
    /// http: the idle policy zcnet-httpd was given (`busy`, `backoff`), if any.
    #[arg(long)]
    pub idle: Option<String>,
    /// rr, stream, crr, udp, scale: zcnet-bench's wire configuration.
    #[arg(long, default_value = "config/wire.toml")]
    pub wire: String,
    /// http: nginx's version, for the note.
    #[arg(long, default_value = "?")]
    pub nginx_version: String,
    /// http: the driver of zcnet-httpd's veth port (net_af_xdp, or
    /// net_af_packet where the kernel has no AF_XDP).
    #[arg(long, default_value = "net_af_xdp")]
    pub veth_driver: String,
}

/// A benchmark's page: its markdown and the chart drawn beside it. (Each
/// benchmark's `ratios` gives its zcnet/baseline figures for `all`.)
pub struct Page {
    /// The table with its title and notes.
    pub markdown: String,
    /// The chart drawn beside it.
    pub chart: Chart,
}

/// One program's figures in one row.
pub struct Figures<'a> {
    results: Vec<&'a ResultLine>,
    cpu: Option<Summary>,
}

impl<'a> Figures<'a> {
    /// The runs of `program` in `row`.
    pub fn of(runs: &'a Runs, row: &str, program: &str) -> Figures<'a> {
        let measured = runs.of(row, program).into_iter().filter(|r| r.result().is_some());
        Figures { results: runs.results(row, program), cpu: Summary::of(measured.filter_map(|r| r.cpu_s)) }
    }

    /// The summary of one figure over the runs that have it.
    pub fn summary(&self, f: impl Fn(&ResultLine) -> Option<f64>) -> Option<Summary> {
        Summary::of(self.results.iter().filter_map(|r| f(r)))
    }

    /// The median of one figure.
    pub fn median(&self, f: impl Fn(&ResultLine) -> Option<f64>) -> Option<f64> {
        self.summary(f).map(|s| s.median)
    }

    /// The median of the operation rate.
    pub fn rate(&self) -> Option<Summary> {
        self.summary(|r| Some(r.rate))
    }

    /// "p50/p99/p99.9" medians in microseconds.
    pub fn latencies(&self) -> String {
        markdown::latencies(&[self.median(|r| r.p50_us), self.median(|r| r.p99_us), self.median(|r| r.p999_us)])
    }

    /// The median CPU seconds, two decimals.
    pub fn cpu(&self) -> String {
        markdown::number(self.cpu.map(|s| s.median), 2)
    }

    /// Errors over every measured run.
    pub fn errors(&self) -> u64 {
        self.results.iter().map(|r| r.errors).sum()
    }

    /// How many runs measured their window.
    pub fn ok(&self) -> usize {
        self.results.len()
    }

    /// The results themselves.
    pub fn results(&self) -> &[&'a ResultLine] {
        &self.results
    }
}

/// The notes under a table: busy starts, stopped runs and each failed run's reason.
pub fn notes(runs: &Runs, setup: &Setup, name: &str) -> String {
    let mut out = String::new();
    let stopped = runs.stopped();
    if stopped > 0 {
        out.push_str(&format!(
            "\nWarning: {stopped} run(s) did not exit after their window and were stopped (their CPU time is left out).\n"
        ));
    }
    let busy = runs.busy_starts(setup.quiet_pct);
    if busy > 0 {
        out.push_str(&format!(
            "\nWarning: {busy} run(s) started on a busy machine (> {}% CPU); see target/bench/{name}-runs.tsv.\n",
            setup.quiet_pct
        ));
    }
    let failed: Vec<String> = runs
        .runs
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed(why) => Some(format!("- {} {} run {}: {why}\n", r.program, r.row, r.run)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        out.push_str(&format!("\nFailed runs ({}):\n\n{}", failed.len(), failed.concat()));
    }
    out
}

/// The setup clap gives when no flag is passed (for tests).
#[cfg(test)]
pub fn default_setup() -> Setup {
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        setup: Setup,
    }
    <Flags as clap::Parser>::parse_from(["test"]).setup
}

/// The medians of `figure` of `programs[1]` over `programs[0]` (zcnet over
/// its baseline), per row, labelled by `label(row)`; rows missing either are left out.
pub fn ratios_per_row(
    runs: &Runs,
    programs: [&str; 2],
    figure: impl Fn(&ResultLine) -> Option<f64>,
    label: impl Fn(&str) -> String,
) -> Vec<(String, f64)> {
    runs.rows()
        .into_iter()
        .filter_map(|row| {
            let [base, zcnet] = programs.map(|p| Figures::of(runs, row, p).median(&figure));
            Some((label(row), ratio(zcnet, base)?))
        })
        .collect()
}
