//! zcnet's messages go through the `log` facade; the samples' logger
//! prints them as `zcnet: LEVEL: message` on stderr. `--log-level` sets
//! zcnet's level and EAL's at once (`warn` is EAL's `warning`), `RUST_LOG`
//! sets zcnet's alone, and a bad level of either is a usage error (exit 2).

mod common;

use common::run_bounded;
use std::process::{Command, Output};
use std::time::Duration;

const FWD: &str = env!("CARGO_BIN_EXE_zcnet-fwd");

/// Runs zcnet-fwd on net_null for a second with `args`, and `RUST_LOG` set
/// to `rust_log` (unset if None).
fn fwd(args: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(FWD);
    cmd.args(["--vdev", "net_null0", "--vdev", "net_null1", "--no-huge", "--duration", "1"]).args(args);
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    run_bounded(&mut cmd, Duration::from_secs(30))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// zcnet's start-up message (info) and one of EAL's (debug).
const ZCNET_INFO: &str = "zcnet: info: EAL file prefix";
const EAL_DEBUG: &str = "EAL: Detected CPU lcores";

#[test]
fn by_default_zcnet_says_info_and_eal_only_errors() {
    let out = fwd(&[], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(ZCNET_INFO), "{}", stderr(&out));
    assert!(!stderr(&out).contains(EAL_DEBUG), "{}", stderr(&out));
}

#[test]
fn log_level_flag_sets_zcnet_and_eal_levels_together() {
    let debug = fwd(&["--log-level", "debug"], Some("error"));
    assert_eq!(debug.status.code(), Some(0), "{}", stderr(&debug));
    assert!(stderr(&debug).contains(ZCNET_INFO), "the flag did not win over RUST_LOG:\n{}", stderr(&debug));
    assert!(stderr(&debug).contains(EAL_DEBUG), "EAL did not get debug:\n{}", stderr(&debug));
    let warn = fwd(&["--log-level", "warn"], None);
    assert_eq!(warn.status.code(), Some(0), "{}", stderr(&warn));
    assert!(!stderr(&warn).contains(ZCNET_INFO), "{}", stderr(&warn));
    assert!(!stderr(&warn).contains(EAL_DEBUG), "{}", stderr(&warn));
}

#[test]
fn rust_log_sets_zcnet_level_alone() {
    let quiet = fwd(&[], Some("warn"));
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains(ZCNET_INFO), "{}", stderr(&quiet));
    let per_target = fwd(&[], Some("error,zcnet_stack=info"));
    assert!(stderr(&per_target).contains(ZCNET_INFO), "{}", stderr(&per_target));
}

#[test]
fn bad_levels_exit_2_naming_where_they_came_from() {
    let flag = fwd(&["--log-level", "loud"], None);
    assert_eq!(flag.status.code(), Some(2), "{}", stderr(&flag));
    assert!(stderr(&flag).starts_with("error: ") && stderr(&flag).contains("eal.log_level"), "{}", stderr(&flag));
    let env = fwd(&[], Some("zcnet_stack=loud"));
    assert_eq!(env.status.code(), Some(2), "{}", stderr(&env));
    assert!(stderr(&env).starts_with("error: RUST_LOG"), "{}", stderr(&env));
}
