//! CPU time from the files scripts/bench.sh keeps around a run: two copies
//! of /proc/stat (before and after) for the busy time of the whole machine,
//! and `/usr/bin/time -f '%e %U %S'` output for one process's. The machine's
//! figure charges a server with the kernel's work for it (veth transmit,
//! softirq receive, XDP), which its process's own time leaves out.

use super::tool_output::MissingFigure;

/// Clock ticks per second in /proc/stat: USER_HZ, 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// The busy ticks of the aggregate `cpu` line of a /proc/stat copy: user,
/// nice, system, irq, softirq and steal (not idle or iowait; guest time is
/// already inside user).
fn busy_ticks(stat: &str) -> Result<u64, MissingFigure> {
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| MissingFigure("no aggregate `cpu` line in the /proc/stat copy".into()))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map_while(|v| v.parse().ok()).collect();
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks[..] else {
        return Err(MissingFigure(format!("a `cpu` line with {} counters, expected at least 8", ticks.len())));
    };
    Ok(user + nice + system + irq + softirq + steal)
}

/// Busy CPU-seconds of the whole machine between two /proc/stat copies.
pub fn machine_busy_secs(before: &str, after: &str) -> Result<f64, MissingFigure> {
    let (b, a) = (busy_ticks(before)?, busy_ticks(after)?);
    if a < b {
        return Err(MissingFigure(format!("busy ticks went backwards ({b} -> {a}): copies swapped?")));
    }
    Ok((a - b) as f64 / USER_HZ)
}

/// User+system seconds of a `/usr/bin/time -f '%e %U %S'` output; an error
/// if the process was killed by a signal (its time is then unknown).
pub fn process_cpu_secs(time_output: &str) -> Result<f64, MissingFigure> {
    if time_output.contains("terminated by signal") {
        return Err(MissingFigure("the client was killed by a signal".into()));
    }
    time_output
        .lines()
        .rev()
        .find_map(|l| {
            let v: Vec<f64> = l.split_whitespace().map_while(|w| w.parse().ok()).collect();
            match v[..] {
                [_elapsed, user, system] => Some(user + system),
                _ => None,
            }
        })
        .ok_or_else(|| MissingFigure("no `elapsed user system` line in the time output".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_busy_time_counts_user_system_irq_softirq_and_steal_but_not_idle() {
        let before = "cpu  100 5 50 1000 7 1 20 2 0 0\ncpu0 50 0 25 500 3 1 10 1 0 0\nintr 1\n";
        let after = "cpu  300 5 150 1400 9 3 120 4 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n";
        // (200 + 0 + 100 + 2 + 100 + 2) ticks = 4.04 s; idle and iowait ignored.
        assert!((machine_busy_secs(before, after).unwrap() - 4.04).abs() < 1e-9);
        assert!(machine_busy_secs(after, before).is_err(), "swapped copies are refused");
        assert!(machine_busy_secs("cpu0 1 2 3 4 5 6 7 8\n", after).is_err(), "the aggregate line is needed");
        assert!(machine_busy_secs("cpu  1 2 3\n", after).is_err());
    }

    #[test]
    fn process_time_is_user_plus_system_unless_killed() {
        assert!((process_cpu_secs("5.02 1.25 2.50\n").unwrap() - 3.75).abs() < 1e-9);
        assert!(process_cpu_secs("Command terminated by signal 9\n5.02 1.25 2.50\n").is_err());
        assert!(process_cpu_secs("").is_err());
    }
}
