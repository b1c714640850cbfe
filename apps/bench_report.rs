//! zcnet-bench-report: the tables and charts of scripts/bench.sh.
//!
//! bench.sh starts the programs, alternates them and accounts their CPU
//! time; every run becomes one line of a runs log (report/runs.rs) holding
//! the run's `result ...` line — the line zcnet-bench and zcnet-tokio-bench
//! print (shared/result_line.rs, the one type that formats and parses it),
//! or one made here from wrk's, testpmd's, zcnet-fwd's or callgrind's
//! output. From a runs log this program writes the markdown table, an SVG
//! chart and the per-run TSV:
//!
//!     zcnet-bench-report table rr --log runs.log --out-dir target/bench --runs 5 --secs 3
//!     zcnet-bench-report wrk wrk.out --conns 32            # prints a result line
//!     zcnet-bench-report all --out-dir target/bench --command ... rr http
//!
//! It is a program of its own rather than a subcommand of zcnet-bench:
//! zcnet-bench is a DPDK program whose flags are the stack's, and the
//! report must run anywhere (no EAL, no hugepages, no root) and keep the
//! plotting crate out of the load generator.

mod report;
#[path = "shared/result_line.rs"]
mod result_line;

use clap::{Parser, Subcommand};
use report::all::AllFacts;
use report::page::{Page, Setup};
use report::pair::Pair;
use report::runs::Runs;
use report::tool_output::{self, MissingFigure};
use report::{cpu_time, fwd, http, scale, smoke, udp_zc};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Tables and charts from the runs scripts/bench.sh makes.
#[derive(Debug, Parser)]
#[command(name = "zcnet-bench-report", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes BENCH.md, BENCH.svg, BENCH-runs.tsv and BENCH-runs.log into
    /// --out-dir from a runs log, and prints the markdown.
    Table {
        /// rr, stream, crr, udp, udp-zc, http, fwd, scale or smoke.
        bench: String,
        /// The runs log.
        #[arg(long)]
        log: PathBuf,
        /// Where the files go.
        #[arg(long)]
        out_dir: PathBuf,
        /// fwd: a runs log of callgrind runs, for the instructions-per-packet table.
        #[arg(long)]
        callgrind_log: Option<PathBuf>,
        /// udp-zc: the sockets each run used.
        #[arg(long, default_value_t = 32)]
        sockets: u64,
        #[command(flatten)]
        setup: Setup,
    },
    /// Writes all.md (every BENCH.md of --out-dir under one header) and
    /// all.svg (every zcnet/baseline ratio).
    All {
        /// Where the pages are, and where all.md and all.svg go.
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        facts: AllFacts,
        /// The benchmarks, in order.
        benches: Vec<String>,
    },
    /// Prints the result line of one `wrk --latency` output.
    Wrk {
        file: PathBuf,
        /// The connections wrk was given.
        #[arg(long)]
        conns: u64,
        /// The server it measured.
        #[arg(long, default_value = "nginx")]
        stack: String,
        /// A copy of /proc/stat taken just before wrk started (with
        /// --stat-after: the whole machine's busy CPU-seconds over the run).
        #[arg(long, requires = "stat_after")]
        stat_before: Option<PathBuf>,
        /// A copy of /proc/stat taken just after wrk exited.
        #[arg(long, requires = "stat_before")]
        stat_after: Option<PathBuf>,
        /// wrk's `/usr/bin/time -f '%e %U %S'` output (its own CPU-seconds).
        #[arg(long)]
        client_time: Option<PathBuf>,
    },
    /// Prints the result line of one interactive testpmd run whose `show
    /// fwd stats all` were sent at --t0 and --t1 (seconds).
    Testpmd {
        file: PathBuf,
        #[arg(long)]
        t0: f64,
        #[arg(long)]
        t1: f64,
    },
    /// Prints the result line of one zcnet-fwd run (--stats-interval 1).
    FwdStats {
        file: PathBuf,
        /// Stats lines before the window.
        #[arg(long)]
        warmup: usize,
        /// Stats lines in the window.
        #[arg(long)]
        secs: usize,
    },
    /// Prints the result line of one callgrind run: the packets the
    /// program's --output says it forwarded, the forwarding thread's
    /// instructions from its callgrind files.
    Callgrind {
        /// testpmd or zcnet.
        #[arg(long)]
        program: String,
        /// The program's own output.
        #[arg(long)]
        output: PathBuf,
        /// The callgrind.out-NN files (--separate-threads=yes).
        files: Vec<PathBuf>,
    },
    /// Checks every run of a smoke runs log; prints `smoke ok:` or
    /// `smoke FAIL:` for each and fails if any failed.
    Smoke {
        #[arg(long)]
        log: PathBuf,
    },
}

/// What went wrong, for the one `error:` line.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))
}

fn runs_of(path: &Path) -> Result<Runs, Failure> {
    Runs::parse(&read(path)?).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn page(bench: &str, runs: &Runs, callgrind: Option<&Runs>, sockets: u64, setup: &Setup) -> Result<Page, Failure> {
    Ok(match bench {
        "udp-zc" => udp_zc::page(runs, setup, sockets),
        "http" => http::page(runs, setup),
        "hyper-tap" => http::hyper_tap_page(runs, setup),
        "fwd" => fwd::page(runs, callgrind, setup),
        "scale" => scale::page(runs, setup),
        other => Pair::named(other).ok_or_else(|| Failure(format!("unknown benchmark `{other}`")))?.page(runs, setup),
    })
}

fn ratios(bench: &str, runs: &Runs) -> Vec<(String, f64)> {
    match bench {
        "udp-zc" => udp_zc::ratios(runs),
        "http" => http::ratios(runs),
        "hyper-tap" => http::hyper_tap_ratios(runs),
        "fwd" => fwd::ratios(runs),
        "scale" => scale::ratios(runs),
        other => Pair::named(other).map(|p| p.ratios(runs)).unwrap_or_default(),
    }
}

fn result_line(r: Result<result_line::ResultLine, MissingFigure>) -> Result<ExitCode, Failure> {
    println!("{}", r?);
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Table { bench, log, out_dir, callgrind_log, sockets, setup } => {
            let runs = runs_of(&log)?;
            let callgrind = callgrind_log.as_deref().map(runs_of).transpose()?;
            let page = page(&bench, &runs, callgrind.as_ref(), sockets, &setup)?;
            std::fs::create_dir_all(&out_dir)
                .map_err(|e| Failure(format!("cannot create {}: {e}", out_dir.display())))?;
            let file = |ext: &str| out_dir.join(format!("{bench}{ext}"));
            write(&file(".md"), &page.markdown)?;
            write(&file(".svg"), &page.chart.to_svg()?)?;
            write(&file("-runs.tsv"), &runs.to_tsv())?;
            if log != file("-runs.log") {
                write(&file("-runs.log"), &read(&log)?)?;
            }
            print!("{}", page.markdown);
            Ok(ExitCode::SUCCESS)
        }
        Command::All { out_dir, facts, benches } => {
            let (mut pages, mut all_ratios) = (Vec::new(), Vec::new());
            for b in &benches {
                pages.push(read(&out_dir.join(format!("{b}.md")))?);
                all_ratios.extend(ratios(b, &runs_of(&out_dir.join(format!("{b}-runs.log")))?));
            }
            write(&out_dir.join("all.md"), &report::all::markdown(&facts, &pages))?;
            write(&out_dir.join("all.svg"), &report::all::chart(all_ratios).to_svg()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Wrk { file, conns, stack, stat_before, stat_after, client_time } => {
            let mut line = tool_output::wrk(&read(&file)?, &stack, conns)?;
            if let (Some(before), Some(after)) = (stat_before, stat_after) {
                line.machine_cpu_s = Some(cpu_time::machine_busy_secs(&read(&before)?, &read(&after)?)?);
            }
            if let Some(time) = client_time {
                line.client_cpu_s = Some(cpu_time::process_cpu_secs(&read(&time)?)?);
            }
            result_line(Ok(line))
        }
        Command::Testpmd { file, t0, t1 } => result_line(tool_output::testpmd(&read(&file)?, t0, t1)),
        Command::FwdStats { file, warmup, secs } => result_line(tool_output::fwd_stats(&read(&file)?, warmup, secs)),
        Command::Callgrind { program, output, files } => {
            let testpmd = match program.as_str() {
                "testpmd" => true,
                "zcnet" => false,
                other => return Err(Failure(format!("--program must be testpmd or zcnet, not `{other}`"))),
            };
            let packets = tool_output::forwarded_packets(&read(&output)?, testpmd)
                .ok_or_else(|| Failure(format!("{} says nothing about forwarded packets", output.display())))?;
            let files =
                files.iter().map(|f| Ok((f.display().to_string(), read(f)?))).collect::<Result<Vec<_>, Failure>>()?;
            result_line(tool_output::callgrind(&program, packets, &files))
        }
        Command::Smoke { log } => {
            let runs = runs_of(&log)?;
            let (lines, failed) = smoke::report(&runs);
            print!("{lines}");
            if failed > 0 {
                eprintln!("smoke: {failed} of {} run(s) failed", runs.runs.len());
                return Ok(ExitCode::FAILURE);
            }
            println!("smoke: all {} runs produced well-formed result lines", runs.runs.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    run(Cli::parse()).unwrap_or_else(|Failure(e)| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}
