//! `zcnet-doctor` reports every check it makes, with a fix for each that is
//! not ok, and fails (exit 1) when zcnet could not run as configured.

mod common;

use common::run_bounded;
use std::process::{Command, Output};
use std::time::Duration;

const DOCTOR: &str = env!("CARGO_BIN_EXE_zcnet-doctor");

const CHECKS: [&str; 10] =
    ["hugepages", "hugetlbfs", "iommu", "vfio", "pmds", "nics", "lcores", "fd-limit", "bpffs", "root"];

fn doctor(args: &[&str]) -> (Output, String) {
    let out = run_bounded(Command::new(DOCTOR).args(args), Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// The status tag of check `name` ("ok", "warn", "FAIL") in the report.
fn status<'a>(report: &'a str, name: &str) -> &'a str {
    let line = report
        .lines()
        .find(|l| l.starts_with('[') && l.contains(&format!("] {name}: ")))
        .unwrap_or_else(|| panic!("no {name} check in the report:\n{report}"));
    line[1..line.find(']').expect("tag")].trim()
}

#[test]
fn doctor_reports_every_check_with_a_fix_for_each_problem() {
    let (out, report) = doctor(&[]);
    let lines: Vec<&str> = report.lines().collect();
    for name in CHECKS {
        let tag = status(&report, name);
        assert!(["ok", "warn", "FAIL"].contains(&tag), "{name}: tag {tag:?}\n{report}");
        if tag != "ok" {
            let at = lines.iter().position(|l| l.contains(&format!("] {name}: "))).expect("line");
            assert!(
                lines.get(at + 1).is_some_and(|l| l.trim_start().starts_with("fix: ")),
                "{name} has no fix:\n{report}"
            );
        }
    }
    // This machine runs the suite: the DPDK install has the PMDs the tests use.
    assert_eq!(status(&report, "pmds"), "ok", "{report}");
    let failed = CHECKS.iter().any(|c| status(&report, c) == "FAIL");
    assert_eq!(out.status.code(), Some(if failed { 1 } else { 0 }), "{report}");
}

#[test]
fn doctor_fails_on_lcores_this_machine_lacks() {
    let (out, report) = doctor(&["--lcores", "0,100"]);
    assert_eq!(status(&report, "lcores"), "FAIL", "{report}");
    assert!(report.contains("CPU 100 is not online"), "{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
}
