//! End-to-end tests of the `zcnet-fwd` sample: it forwards on virtual
//! devices (net_null, net_ring; EAL always runs with `--no-pci`), reports its
//! rate, stops cleanly on SIGINT, and rejects bad configuration with exit
//! code 2 and a message naming the problem.
//!
//! Every child process is owned by a [`Running`] guard that kills it (by its
//! PID) if the test fails, and every wait has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FWD: &str = env!("CARGO_BIN_EXE_zcnet-fwd");

/// How long a 3-second run may take in all, start-up and shutdown included.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A running child process. Dropping it kills the child and reaps it, so a
/// failing test never leaves a forwarder spinning.
struct Running {
    child: Child,
    stdout_lines: Receiver<String>,
    stdout: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished child printed, and how it ended.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Running {
    /// Starts `zcnet-fwd` with `args`, capturing its output.
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(FWD)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {FWD}: {e}"));
        let (out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, stdout_lines) = mpsc::channel();
        // Reader threads keep the pipes drained, so the child never blocks on a full pipe.
        let stdout = std::thread::spawn(move || {
            let mut all = Vec::new();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push(line);
            }
            all
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Running { child, stdout_lines, stdout: Some(stdout), stderr: Some(stderr) }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a stdout line satisfies `want` and returns it.
    fn wait_for_line(&self, limit: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no expected output line within {limit:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("zcnet-fwd closed its stdout before the expected line")
                }
            }
        }
    }

    /// Waits for the child to exit (at most `limit`) and collects its output.
    /// A child still running at the deadline is killed and the test fails,
    /// showing what it printed.
    fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => break None,
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let pid = self.pid();
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The child has exited, so its pipes are closed and the readers end.
        let stdout = self.stdout.take().map(|t| t.join().expect("stdout reader")).unwrap_or_default();
        let stderr = self.stderr.take().map(|t| t.join().expect("stderr reader")).unwrap_or_default();
        let stdout = stdout.join("\n");
        match status {
            Some(status) => Finished { status, stdout, stderr },
            None => panic!(
                "zcnet-fwd (pid {pid}) still running after {limit:?}; killed it\nstdout:\n{stdout}\nstderr:\n{stderr}"
            ),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Kills exactly this child, by its PID (SIGKILL), then reaps it.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `zcnet-fwd` with `args` to completion.
fn run(args: &[&str], limit: Duration) -> Finished {
    Running::start(args).finish(limit)
}

/// A file in the temp directory, unique to this test process, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("zcnet-fwd-test-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The forwarder's final `summary:` line: (rx, tx, Mpps).
fn summary(out: &Finished) -> (u64, u64, f64) {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{}\nstderr:\n{}", out.stdout, out.stderr));
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| -> &str {
        let i = words.iter().position(|w| *w == key).unwrap_or_else(|| panic!("no {key:?} in {line:?}"));
        words.get(i + 1).unwrap_or_else(|| panic!("nothing after {key:?} in {line:?}"))
    };
    let number = |key: &str| -> u64 { after(key).parse().unwrap_or_else(|e| panic!("{key} in {line:?}: {e}")) };
    let mpps_at = words.iter().position(|w| *w == "Mpps").unwrap_or_else(|| panic!("no Mpps in {line:?}"));
    let mpps: f64 = words[mpps_at - 1].parse().unwrap_or_else(|e| panic!("rate in {line:?}: {e}"));
    (number("rx"), number("tx"), mpps)
}

/// Fails if the forwarder reported leaked mbufs or a skipped EAL cleanup.
fn assert_nothing_leaked(out: &Finished) {
    for bad in ["still has", "leaking", "still hold"] {
        assert!(!out.stderr.contains(bad), "zcnet-fwd reported a leak ({bad:?}):\n{}", out.stderr);
    }
}

#[test]
fn fwd_runs_3s_on_net_null_and_reports_a_nonzero_rate() {
    let args = ["--vdev", "net_null0", "--vdev", "net_null1", "--no-huge", "--duration", "3"];
    let out = run(&args, RUN_LIMIT);
    assert!(out.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status, out.stdout, out.stderr);
    let (rx, tx, mpps) = summary(&out);
    assert!(rx > 0 && tx > 0, "rx {rx} tx {tx}");
    assert!(mpps > 0.0, "rate {mpps} Mpps");
    assert!(out.stdout.contains("Mpps"), "no stats line:\n{}", out.stdout);
    assert_nothing_leaked(&out);
}

#[test]
fn fwd_runs_3s_on_net_ring_and_reports_a_nonzero_rate() {
    let args = [
        "--vdev",
        "net_ring0",
        "--vdev",
        "net_ring1",
        "--tx-first",
        "16",
        "--mode",
        "macswap",
        "--no-huge",
        "--duration",
        "3",
    ];
    let out = run(&args, RUN_LIMIT);
    assert!(out.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status, out.stdout, out.stderr);
    let (rx, tx, mpps) = summary(&out);
    assert!(rx > 0 && tx > 0, "rx {rx} tx {tx}");
    assert!(mpps > 0.0, "rate {mpps} Mpps");
    assert!(out.stdout.contains("Macswap"), "mode not reported:\n{}", out.stdout);
    assert_nothing_leaked(&out);
}

#[test]
fn fwd_help_works() {
    let out = run(&["--help"], Duration::from_secs(20));
    assert!(out.status.success(), "exit {:?}\nstderr:\n{}", out.status, out.stderr);
    for flag in ["Usage", "--config", "--vdev", "--no-huge", "--mode", "--duration", "--tx-first"] {
        assert!(out.stdout.contains(flag), "--help does not mention {flag}:\n{}", out.stdout);
    }
}

#[test]
fn fwd_missing_config_file_exits_2_and_names_it() {
    let path = std::env::temp_dir().join(format!("zcnet-fwd-test-{}-no-such-file.toml", std::process::id()));
    let path = path.to_str().expect("utf-8 temp path");
    assert!(!std::path::Path::new(path).exists());
    let out = run(&["--config", path, "--duration", "1"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains(path), "stderr does not name {path}:\n{}", out.stderr);
    assert!(!out.stdout.contains("summary:"), "it ran anyway:\n{}", out.stdout);
}

#[test]
fn fwd_bad_config_field_exits_2_and_names_it() {
    let bad_value = TempFile::new("bad-value.toml", "[[ports]]\nname = \"x\"\nrx_desc = 1000\n");
    let out = run(&["--config", bad_value.path(), "--duration", "1"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("ports[0].rx_desc"), "stderr does not name the field:\n{}", out.stderr);
    assert!(out.stderr.contains("1000"), "stderr does not show the value:\n{}", out.stderr);

    let unknown_key = TempFile::new("unknown-key.toml", "[eal]\nlcores = \"0-1\"\nno_such_key = 1\n");
    let out = run(&["--config", unknown_key.path(), "--duration", "1"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("no_such_key"), "stderr does not name the key:\n{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:3", unknown_key.path())),
        "stderr does not name the file and line:\n{}",
        out.stderr
    );

    // A bad flag is a usage error too.
    let out = run(&["--vdev", "net_null0", "--burst", "0", "--duration", "1"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("runtime.burst"), "stderr does not name the field:\n{}", out.stderr);
}

#[test]
fn fwd_sigint_stops_cleanly_with_exit_0() {
    let args = ["--vdev", "net_ring0", "--vdev", "net_ring1", "--tx-first", "4", "--no-huge"];
    let fwd = Running::start(&args);
    // The first stats line means the workers are forwarding.
    fwd.wait_for_line(Duration::from_secs(30), |l| l.starts_with('[') && l.contains("Mpps"));
    let pid = fwd.pid().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().expect("run kill");
    assert!(kill.success(), "kill -INT {pid} failed");
    let out = fwd.finish(Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "exit {:?}\nstderr:\n{}", out.status, out.stderr);
    let (rx, tx, _) = summary(&out);
    assert!(rx > 0 && tx > 0, "rx {rx} tx {tx}");
    assert_nothing_leaked(&out);
}
