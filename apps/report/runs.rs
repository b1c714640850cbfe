//! The runs log: one line per benchmark run, written by scripts/bench.sh as
//! it alternates the programs, read here to make the tables and charts.
//!
//! A tab-separated file with a header line and these columns:
//!
//! ```text
//! row  program  run  cpu_s  busy_pct  status  result
//! ```
//!
//! `row` names the table row (a connection count, `rr 4096`, `ring-io`),
//! `program` the column (`tokio`, `zcnet`, `nginx`, `testpmd`, ...), `run`
//! the alternation (1..N); `cpu_s` is the user+sys seconds of the whole
//! process and `busy_pct` how busy the machine was when the run started
//! (`nan` when unknown). `status` is `ok`, `stopped` (the window was
//! measured but the process had to be stopped after it: its CPU time is
//! unknown) or, for a failed run, why it failed. `result` is the run's
//! result line (result_line.rs), empty when there is none.

use crate::result_line::ResultLine;
use std::fmt;

/// How one run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It measured its window and ended by itself.
    Ok(ResultLine),
    /// It measured its window but had to be stopped afterwards.
    Stopped(ResultLine),
    /// No usable result, and why.
    Failed(String),
}

/// One run: a line of the runs log.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The table row it belongs to.
    pub row: String,
    /// The program (table column) that ran.
    pub program: String,
    /// Which alternation, from 1.
    pub run: u32,
    /// User+sys CPU seconds of the process.
    pub cpu_s: Option<f64>,
    /// Busy percentage of the machine just before the run.
    pub busy_pct: Option<f64>,
    /// Its result, or why there is none.
    pub outcome: Outcome,
}

impl Run {
    /// The result line, if the run measured its window.
    pub fn result(&self) -> Option<&ResultLine> {
        match &self.outcome {
            Outcome::Ok(r) | Outcome::Stopped(r) => Some(r),
            Outcome::Failed(_) => None,
        }
    }
}

/// A malformed line of a runs log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub what: String,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for LogError {}

/// The header line scripts/bench.sh writes first.
pub const HEADER: &str = "row\tprogram\trun\tcpu_s\tbusy_pct\tstatus\tresult";

/// Every run of a log, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runs {
    /// The runs, in file order.
    pub runs: Vec<Run>,
}

/// `None` for `nan`, `n/a` or empty; a number otherwise.
fn optional_number(s: &str) -> Result<Option<f64>, String> {
    match s {
        "" | "nan" | "n/a" => Ok(None),
        _ => match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(format!("`{s}` is not a number")),
        },
    }
}

impl Runs {
    /// Parses a runs log. A run whose result line is malformed becomes a
    /// failed run saying why; a malformed log line is an error.
    pub fn parse(text: &str) -> Result<Runs, LogError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h == HEADER => {}
            _ => return Err(LogError { line: 1, what: format!("the header must be `{HEADER}`") }),
        }
        let mut runs = Vec::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |what: String| LogError { line: i + 1, what };
            let cols: Vec<&str> = line.split('\t').collect();
            let [row, program, run, cpu_s, busy_pct, status, result] = cols[..] else {
                return Err(bad(format!("{} columns, expected 7", cols.len())));
            };
            let run = run.parse().map_err(|_| bad(format!("run `{run}` is not a number")))?;
            let cpu_s = optional_number(cpu_s).map_err(|e| bad(format!("cpu_s: {e}")))?;
            let busy_pct = optional_number(busy_pct).map_err(|e| bad(format!("busy_pct: {e}")))?;
            let outcome = match (status, result.parse::<ResultLine>()) {
                ("ok", Ok(r)) => Outcome::Ok(r),
                ("stopped", Ok(r)) => Outcome::Stopped(r),
                ("ok" | "stopped", Err(e)) => Outcome::Failed(format!("malformed result line: {e}")),
                ("", _) => return Err(bad("empty status".into())),
                (why, _) => Outcome::Failed(why.to_string()),
            };
            runs.push(Run { row: row.into(), program: program.into(), run, cpu_s, busy_pct, outcome });
        }
        Ok(Runs { runs })
    }

    /// The row names, in the order they first ran.
    pub fn rows(&self) -> Vec<&str> {
        let mut rows: Vec<&str> = Vec::new();
        for r in &self.runs {
            if !rows.contains(&r.row.as_str()) {
                rows.push(&r.row);
            }
        }
        rows
    }

    /// The runs of `program` in `row`.
    pub fn of(&self, row: &str, program: &str) -> Vec<&Run> {
        self.runs.iter().filter(|r| r.row == row && r.program == program).collect()
    }

    /// The result lines of the runs of `program` in `row` that measured their window.
    pub fn results(&self, row: &str, program: &str) -> Vec<&ResultLine> {
        self.of(row, program).into_iter().filter_map(Run::result).collect()
    }

    /// How many runs started on a busy machine (more than `quiet_pct` % of all CPUs).
    pub fn busy_starts(&self, quiet_pct: f64) -> usize {
        self.runs.iter().filter(|r| r.busy_pct.is_some_and(|b| b > quiet_pct)).count()
    }

    /// The runs that had to be stopped after their window.
    pub fn stopped(&self) -> usize {
        self.runs.iter().filter(|r| matches!(r.outcome, Outcome::Stopped(_))).count()
    }

    /// The per-run table people load into a spreadsheet: the log with the
    /// result line spread over typed columns (`nan` where unknown).
    pub fn to_tsv(&self) -> String {
        let mut out = String::from(
            "row\tprogram\trun\tstatus\trate\tgbps\tp50_us\tp99_us\tp999_us\terrors\tcpu_s\tbusy_pct\tpools_full\trss_idle_kb\trss_peak_kb\tsetup_s\n",
        );
        let num = |v: Option<f64>| v.map_or_else(|| "nan".to_string(), |v| format!("{v}"));
        for r in &self.runs {
            let status = match &r.outcome {
                Outcome::Ok(_) => "ok",
                Outcome::Stopped(_) => "stopped",
                Outcome::Failed(why) => why,
            };
            let res = r.result();
            let cols = [
                r.row.clone(),
                r.program.clone(),
                r.run.to_string(),
                status.to_string(),
                num(res.map(|x| x.rate)),
                num(res.map(|x| x.gbps)),
                num(res.and_then(|x| x.p50_us)),
                num(res.and_then(|x| x.p99_us)),
                num(res.and_then(|x| x.p999_us)),
                num(res.map(|x| x.errors as f64)),
                num(r.cpu_s),
                num(r.busy_pct),
                res.and_then(|x| x.pools_full).map_or_else(|| "n/a".to_string(), |f| f.to_string()),
                num(res.and_then(|x| x.rss_idle_kb).map(|v| v as f64)),
                num(res.and_then(|x| x.rss_peak_kb).map(|v| v as f64)),
                num(res.and_then(|x| x.setup_s)),
            ];
            out.push_str(&cols.join("\t"));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve runs recorded by `scripts/bench.sh rr --runs 2 --secs 1`.
    pub const RR_LOG: &str = include_str!("testdata/rr-runs.log");

    #[test]
    fn recorded_result_lines_round_trip_through_parse_and_display() {
        let runs = Runs::parse(RR_LOG).expect("the recorded log parses");
        assert_eq!(runs.runs.len(), 12);
        for (run, line) in runs.runs.iter().zip(RR_LOG.lines().skip(1)) {
            let printed = run.result().expect("every recorded run measured").to_string();
            assert_eq!(printed, line.rsplit('\t').next().unwrap());
        }
        let zcnet = runs.runs[1].result().unwrap();
        assert_eq!((zcnet.stack.as_str(), zcnet.conns, zcnet.ops), ("zcnet", 1, 31529));
        assert_eq!((zcnet.pools_full, zcnet.rss_idle_kb, zcnet.rss_peak_kb), (Some(true), Some(25932), Some(26516)));
        assert_eq!(runs.runs[0].result().unwrap().pools_full, None, "tokio has no pools");
    }

    #[test]
    fn result_line_names_the_field_that_is_missing_or_bad() {
        let line = "result stack=zcnet scenario=rr conns=1 size=64 secs=1.000 ops=5 rate=5.0 gbps=0.0 errors=0";
        assert!(line.parse::<ResultLine>().is_ok(), "latencies and the rest are optional");
        let without_rate = line.replace(" rate=5.0", "");
        assert_eq!(without_rate.parse::<ResultLine>(), Err(crate::result_line::ParseError::Missing("rate")));
        let bad = line.replace("ops=5", "ops=five");
        assert_eq!(bad.parse::<ResultLine>().unwrap_err().to_string(), "field ops=five is not a valid value");
        for odd in [format!("{line} errors=0"), format!("{line} colour=red"), format!("{line} stray")] {
            assert!(matches!(odd.parse::<ResultLine>(), Err(crate::result_line::ParseError::BadField(_))), "{odd}");
        }
        assert_eq!(
            line.replace("result ", "").parse::<ResultLine>(),
            Err(crate::result_line::ParseError::NotAResultLine)
        );
        assert!(line.replace("rate=5.0", "rate=-1").parse::<ResultLine>().is_err(), "no negative rate");
    }

    #[test]
    fn a_malformed_result_becomes_a_failed_run_that_says_why() {
        let log = format!(
            "{HEADER}\n32\tzcnet\t1\t1.5\t3\tok\tresult stack=zcnet\n32\ttokio\t1\tnan\t3\tdid not finish within 31 s; stopped\t\n"
        );
        let runs = Runs::parse(&log).unwrap();
        assert_eq!(runs.runs[0].outcome, Outcome::Failed("malformed result line: field scenario missing".into()));
        assert_eq!(runs.runs[1].outcome, Outcome::Failed("did not finish within 31 s; stopped".into()));
        assert_eq!(runs.runs[1].cpu_s, None);
        assert!(runs.results("32", "zcnet").is_empty());
    }

    #[test]
    fn a_log_with_a_wrong_header_or_column_count_is_refused_with_its_line() {
        assert_eq!(Runs::parse("row\tprogram\n").unwrap_err().line, 1);
        let e = Runs::parse(&format!("{HEADER}\n32\tzcnet\t1\n")).unwrap_err();
        assert_eq!(e.to_string(), "line 2: 3 columns, expected 7");
        let e = Runs::parse(&format!("{HEADER}\n32\tzcnet\tone\tnan\tnan\tok\t\n")).unwrap_err();
        assert!(e.what.contains("run `one`"), "{e}");
    }
}
