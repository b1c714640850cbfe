//! The smoke check of the test suite: every run of `scripts/bench.sh
//! smoke` must have printed a well-formed result line for the program and
//! scenario it ran, with a positive rate, no error, its latencies and
//! resident memory, and (zcnet) whether its pools were full at exit.

use super::runs::{Outcome, Run, Runs};

/// Why one smoke run is not acceptable, or `Ok` with its line.
pub fn check(run: &Run) -> Result<String, String> {
    let r = match &run.outcome {
        Outcome::Ok(r) => r,
        Outcome::Stopped(_) => return Err("did not exit after its window".into()),
        Outcome::Failed(why) => return Err(why.clone()),
    };
    let line = r.to_string();
    let fail = |why: String| Err(format!("{why} ({line})"));
    if r.stack != run.program || r.scenario != run.row {
        return fail(format!("stack={} scenario={}, expected {} and {}", r.stack, r.scenario, run.program, run.row));
    }
    if r.rate <= 0.0 || r.ops == 0 {
        return fail("rate is 0".into());
    }
    if r.errors > 0 {
        return fail(format!("{} error(s)", r.errors));
    }
    if r.p50_us.is_none() || r.p99_us.is_none() || r.p999_us.is_none() {
        return fail("a latency field is missing".into());
    }
    if r.rss_idle_kb.is_none() || r.rss_peak_kb.is_none() {
        return fail("a resident-memory field is missing".into());
    }
    // Whether the pools were full is the stack's business (its own tests
    // check it); the smoke check only needs zcnet-bench to say.
    if run.program == "zcnet" && r.pools_full.is_none() {
        return fail("zcnet-bench did not say whether its pools were full".into());
    }
    Ok(line)
}

/// One `smoke ok:` or `smoke FAIL:` line per run, and how many failed.
pub fn report(runs: &Runs) -> (String, usize) {
    let mut out = String::new();
    let mut failed = 0;
    for run in &runs.runs {
        match check(run) {
            Ok(line) => out.push_str(&format!("smoke ok:   {line}\n")),
            Err(why) => {
                failed += 1;
                out.push_str(&format!("smoke FAIL: {} {}: {why}\n", run.program, run.row));
            }
        }
    }
    (out, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::runs::HEADER;

    const GOOD: &str = "result stack=zcnet scenario=rr conns=4 size=64 secs=1.000 ops=684 rate=684.0 gbps=0.000 p50_us=321.5 p99_us=396.9 p999_us=1234.0 errors=0 pools_full=true rss_idle_kb=29320 rss_peak_kb=30800";

    fn verdict(row: &str, program: &str, line: &str) -> Result<String, String> {
        let runs = Runs::parse(&format!("{HEADER}\n{row}\t{program}\t1\t1.0\tnan\tok\t{line}\n")).unwrap();
        check(&runs.runs[0])
    }

    #[test]
    fn smoke_accepts_a_full_line_and_fails_each_kind_of_bad_one() {
        assert_eq!(verdict("rr", "zcnet", GOOD), Ok(GOOD.to_string()));
        let bad = [
            ("crr", "zcnet", GOOD.to_string(), "expected zcnet and crr"),
            ("rr", "zcnet", GOOD.replace("errors=0", "errors=3"), "3 error(s)"),
            ("rr", "zcnet", GOOD.replace("ops=684 rate=684.0", "ops=0 rate=0.0"), "rate is 0"),
            ("rr", "zcnet", GOOD.replace(" pools_full=true", ""), "whether its pools were full"),
            ("rr", "zcnet", GOOD.replace(" p999_us=1234.0", ""), "latency field is missing"),
            ("rr", "zcnet", GOOD.replace(" rss_idle_kb=29320", ""), "resident-memory field"),
            ("rr", "zcnet", GOOD.replace(" gbps=0.000", ""), "field gbps missing"),
        ];
        for (row, program, line, why) in bad {
            let v = verdict(row, program, &line);
            assert!(v.as_ref().is_err_and(|e| e.contains(why)), "{line}: {v:?}");
        }
    }
}
