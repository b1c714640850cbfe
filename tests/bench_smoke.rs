//! The benchmark smoke test: `scripts/bench.sh smoke --debug` runs every
//! scenario of zcnet-bench (on the in-memory wire) and zcnet-tokio-bench for
//! one second each; zcnet-bench-report fails it unless each printed a
//! well-formed result line (every field present, rate > 0, errors = 0)
//! and writes the smoke table and its chart,
//! which this test reads. The benchmarks themselves never run in the test
//! suite; this only proves they, and the report path, still work.
//!
//! zcnet-bench and zcnet-bench-report are the binaries cargo built for this
//! test run; the script builds zcnet-tokio-bench (dev profile, that package only).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BENCH: &str = env!("CARGO_BIN_EXE_zcnet-bench");
const REPORT: &str = env!("CARGO_BIN_EXE_zcnet-bench-report");

/// Ten one-second runs take about 15 s; the first build of
/// zcnet-tokio-bench may add a little. Past this, the script is stopped.
const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn bench_smoke_every_scenario_produces_a_well_formed_row() {
    // The repository root: these tests belong to apps/ (zcnet-apps).
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // The table and chart go to a directory of this test's own.
    let out_dir = std::env::temp_dir().join(format!("zcnet-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut child = Command::new("bash")
        .arg(format!("{root}/scripts/bench.sh"))
        .args(["smoke", "--debug"])
        .current_dir(root)
        .env("ZCNET_BENCH", BENCH)
        .env("BENCH_REPORT", REPORT)
        .env("BENCH_OUT_DIR", &out_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start scripts/bench.sh");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Drain both pipes while waiting, so the script never blocks on a full pipe.
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for scripts/bench.sh") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // SIGTERM lets the script end its own children (by PID) and
            // remove its scratch directory; SIGKILL if it does not.
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let stop = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < stop {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    match status {
        None => panic!("scripts/bench.sh smoke did not finish within {LIMIT:?}\nstdout:\n{out}\nstderr:\n{err}"),
        Some(s) => assert!(s.success(), "scripts/bench.sh smoke failed ({s})\nstdout:\n{out}\nstderr:\n{err}"),
    }
    assert_eq!(out.matches("smoke ok:").count(), 12, "expected 12 well-formed rows\nstdout:\n{out}");

    // The report's table has a row per scenario with both programs' runs,
    // and its chart is an SVG naming both.
    let read = |name: &str| {
        std::fs::read_to_string(out_dir.join(name)).unwrap_or_else(|e| panic!("no {name} from the report: {e}"))
    };
    let (table, chart) = (read("smoke.md"), read("smoke.svg"));
    for scenario in ["rr", "stream", "crr", "udp", "udp-zc", "hyper"] {
        let row = table.lines().find(|l| l.starts_with(&format!("| {scenario} |")));
        assert!(row.is_some_and(|r| r.ends_with("| 0/0 | 1/1 |")), "no clean {scenario} row in\n{table}");
    }
    assert!(chart.starts_with("<svg") && chart.contains("tokio") && chart.contains("zcnet"), "{chart}");
    let _ = std::fs::remove_dir_all(&out_dir);
}
