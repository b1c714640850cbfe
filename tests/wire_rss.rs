//! Multi-core on a wire that behaves like a NIC (config/wire-rss.toml): two
//! server cores and two client cores in one zcnet-bench process, the wire
//! spreading frames over each side's queues by RSS (`toeplitz`) or whatever
//! their flow (`round_robin`). These prove the ownership rule end to end:
//! with RSS, passive flows are served where they arrive and connect picks
//! ports whose replies come home, so nothing is steered; without it, every
//! misdelivered frame is handed to its owner and none is lost.
//!
//! No kernel and no namespace is involved: the wire is rte_rings in one
//! process.

mod common;

use common::{assert_success, run_bounded, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BENCH: &str = env!("CARGO_BIN_EXE_zcnet-bench");
const LIMIT: Duration = Duration::from_secs(90);

/// config/wire-rss.toml with `replace` applied (pairs of old and new text).
fn wire_rss(dir: &TempDir, replace: &[(&str, &str)]) -> PathBuf {
    let base = common::repo_root().join("config/wire-rss.toml");
    let mut text = std::fs::read_to_string(&base).expect("read config/wire-rss.toml");
    for (old, new) in replace {
        assert!(text.contains(old), "config/wire-rss.toml has no {old:?}");
        text = text.replace(old, new);
    }
    let path = dir.path().join("wire-rss.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// What one zcnet-bench run printed: its result line and each core's stats.
struct Run {
    result: String,
    cores: Vec<String>,
    /// Frames handed to a core after it had stopped, freed at the end.
    left_at_exit: u64,
}

impl Run {
    /// `key=value` of the result line.
    fn result(&self, key: &str) -> f64 {
        let prefix = format!("{key}=");
        let v = self.result.split(' ').find_map(|f| f.strip_prefix(&prefix));
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {key} in {:?}", self.result))
    }

    /// `field: N` in each core's stats, in core order.
    fn per_core(&self, field: &str) -> Vec<u64> {
        let key = format!(" {field}: ");
        self.cores
            .iter()
            .map(|l| {
                let at = l.find(&key).unwrap_or_else(|| panic!("no {field} in {l}")) + key.len();
                l[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("a number")
            })
            .collect()
    }
}

fn bench(config: &Path, scenario: &str, conns: &str) -> Run {
    let out = run_bounded(
        Command::new(BENCH).args(["--config", config.to_str().expect("utf-8")]).args([
            "--scenario",
            scenario,
            "--conns",
            conns,
            "--secs",
            "2",
        ]),
        LIMIT,
    );
    assert_success(&out, "zcnet-bench");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let result = stdout.lines().find(|l| l.starts_with("result ")).unwrap_or_else(|| panic!("no result:\n{stdout}"));
    let cores: Vec<String> =
        stderr.lines().filter(|l| l.starts_with("zcnet-bench: core ")).map(str::to_string).collect();
    assert_eq!(cores.len(), 4, "four cores report\n{stderr}");
    eprintln!("{result}");
    for c in &cores {
        let steering = c.find("steering: ").map_or("", |at| &c[at..]);
        eprintln!("{}", steering.split('}').next().unwrap_or_default());
    }
    let left_at_exit = stderr
        .lines()
        .find_map(|l| l.strip_prefix("zcnet-bench: steered frames freed at exit: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no steered-at-exit line\n{stderr}"));
    Run { result: result.to_string(), cores, left_at_exit }
}

/// The run completed every request: no errors, work done, every mbuf home.
fn assert_complete(run: &Run) {
    assert_eq!(run.result("errors"), 0.0, "{}", run.result);
    assert!(run.result("ops") > 1000.0, "{}", run.result);
    assert!(run.result.contains("pools_full=true"), "an mbuf was left out: {}", run.result);
    assert_eq!(run.per_core("steer_drops"), [0; 4], "no steering queue overflowed");
}

fn rss_serves_on_both_server_cores_and_steers_nothing(scenario: &str) {
    let dir = TempDir::new();
    let run = bench(&wire_rss(&dir, &[]), scenario, "64");
    assert_complete(&run);
    assert_eq!(run.per_core("steered_out"), [0; 4], "with RSS and RSS-aware connect no frame is steered");
    let accepted = run.per_core("accepted");
    assert!(accepted[0] > 0 && accepted[1] > 0, "both server cores accept: {accepted:?}");
}

#[test]
fn rss_wire_rr_completes_on_both_server_cores_with_nothing_steered() {
    rss_serves_on_both_server_cores_and_steers_nothing("rr");
}

#[test]
fn rss_wire_crr_completes_on_both_server_cores_with_nothing_steered() {
    rss_serves_on_both_server_cores_and_steers_nothing("crr");
}

fn round_robin_steers_every_misdelivered_frame_and_loses_none(scenario: &str) {
    let dir = TempDir::new();
    let config = wire_rss(&dir, &[("wire_spread = \"toeplitz\"", "wire_spread = \"round_robin\"")]);
    let run = bench(&config, scenario, "64");
    assert_complete(&run);
    let (out, into) = (run.per_core("steered_out"), run.per_core("steered_in"));
    assert!(out.iter().all(|&n| n > 100), "every core gets frames of flows it does not own: {out:?}");
    // What was handed over arrived (steered_in also counts the ARP copies),
    // but for frames handed to a core after it had stopped at the end,
    // which are freed then: none vanished.
    let arp: u64 = run.per_core("arp_copies").iter().sum();
    let (sent, got) = (out.iter().sum::<u64>() + arp, into.iter().sum::<u64>());
    assert_eq!(got + run.left_at_exit, sent, "out {out:?} in {into:?} arp {arp} left at exit {}", run.left_at_exit);
    assert!(run.left_at_exit <= 64, "only frames in flight at the very end are left: {}", run.left_at_exit);
}

#[test]
fn round_robin_wire_rr_steers_misdelivered_frames_to_their_owner_and_loses_none() {
    round_robin_steers_every_misdelivered_frame_and_loses_none("rr");
}

#[test]
fn round_robin_wire_crr_steers_misdelivered_frames_to_their_owner_and_loses_none() {
    round_robin_steers_every_misdelivered_frame_and_loses_none("crr");
}

#[test]
fn a_steering_queue_that_fills_drops_and_counts_and_tcp_recovers_with_pools_full() {
    // Four frames in flight per pair of cores, and bulk streams whose
    // bursts exceed that: drops happen, are counted, and TCP retransmits.
    let dir = TempDir::new();
    let config = wire_rss(
        &dir,
        &[
            ("wire_spread = \"toeplitz\"", "wire_spread = \"round_robin\""),
            ("[net.tcp]", "steer_queue = 4\n\n[net.tcp]"),
        ],
    );
    let run = bench(&config, "stream", "4");
    let drops: u64 = run.per_core("steer_drops").iter().sum();
    assert!(drops > 0, "a 4-frame queue under bulk streams overflows");
    assert_eq!(run.result("errors"), 0.0, "TCP recovers what steering dropped: {}", run.result);
    assert!(run.result("ops") > 0.0, "{}", run.result);
    assert!(run.result.contains("pools_full=true"), "dropped frames were freed: {}", run.result);
}
