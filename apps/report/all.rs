//! The page of `scripts/bench.sh all`: every benchmark's table under one
//! header, and one chart of every zcnet/baseline ratio.

use super::chart::Chart;

/// The header facts of an `all` run.
#[derive(Debug, Clone, clap::Args)]
pub struct AllFacts {
    /// The command line that ran.
    #[arg(long)]
    pub command: String,
    /// When it started.
    #[arg(long)]
    pub date: String,
    /// "N CPUs, MODEL".
    #[arg(long)]
    pub machine: String,
    /// The commit (with +dirty).
    #[arg(long)]
    pub commit: String,
    /// Seconds the whole run took.
    #[arg(long)]
    pub total_secs: u64,
}

/// all.md from the pages' markdown, in order.
pub fn markdown(facts: &AllFacts, pages: &[String]) -> String {
    let t = facts.total_secs;
    let mut md = format!(
        "# zcnet benchmarks\n\n- command: `{}`\n- date: {}\n- machine: {}\n- commit: {}\n- total time: {} min {:02} s\n- chart of every ratio: all.svg\n\n",
        facts.command,
        facts.date,
        facts.machine,
        facts.commit,
        t / 60,
        t % 60
    );
    for p in pages {
        md.push_str(p);
        md.push('\n');
    }
    md
}

/// The chart of every benchmark's zcnet/baseline ratios.
pub fn chart(ratios: Vec<(String, f64)>) -> Chart {
    Chart::Ratios { title: "zcnet / baseline, median of each row (all benchmarks)".into(), entries: ratios }
}
