//! EAL's files on disk: the runtime directory of a file prefix
//! (`/var/run/dpdk/<prefix>/`: shared config, memory maps, the multi-process
//! and telemetry sockets) and its hugepage files (`<hugetlbfs>/<prefix>map_*`).
//!
//! EAL keeps them so secondary processes (`dpdk-dumpcap`, `dpdk-pdump`,
//! `dpdk-proc-info`) can attach, and leaves them behind when it exits. A
//! process that exits cleanly removes its own ([`remove_prefix`]); one that
//! is killed cannot, so a starting zcnet process removes those of zcnet
//! processes that are gone ([`remove_dead_zcnet_prefixes`]). Hugepage files
//! hold their pages until removed, so left alone they starve later runs.

use std::collections::HashSet;
use std::path::PathBuf;

/// The prefix zcnet gives a process by default.
pub(crate) const DEFAULT_PREFIX: &str = "zcnet-";

/// Where EAL puts runtime directories: `/var/run/dpdk` for root, else
/// `$XDG_RUNTIME_DIR/dpdk` (or `/tmp/dpdk`), as EAL chooses.
pub(crate) fn runtime_base() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/run/dpdk");
    }
    std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp/dpdk"), |d| PathBuf::from(d).join("dpdk"))
}

/// The mount points of hugetlbfs (from /proc/mounts).
pub fn hugetlbfs_mounts() -> Vec<PathBuf> {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return Vec::new() };
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, dir, fs) = (f.next()?, f.next()?, f.next()?);
            (fs == "hugetlbfs").then(|| PathBuf::from(dir))
        })
        .collect()
}

/// The hugepage files of `prefix` (`<mount>/<prefix>map_<n>`).
fn hugepage_files(prefix: &str) -> Vec<PathBuf> {
    let stem = format!("{prefix}map_");
    hugetlbfs_mounts()
        .iter()
        .filter_map(|m| std::fs::read_dir(m).ok())
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.strip_prefix(&stem).is_some_and(is_number)))
        .map(|e| e.path())
        .collect()
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Removes the runtime directory `dir` and the hugepage files of `prefix`.
/// Only for a prefix this process owns (its EAL held it) or one whose owner
/// is gone.
pub(crate) fn remove_prefix(dir: &std::path::Path, prefix: &str) {
    let _ = std::fs::remove_dir_all(dir);
    for f in hugepage_files(prefix) {
        let _ = std::fs::remove_file(f);
    }
}

/// True if a process with this PID exists (a zombie included).
fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Every file some live process has open or mapped (from /proc/*/fd and
/// /proc/*/maps), as far as this process may see them.
fn files_in_use() -> HashSet<PathBuf> {
    let mut used = HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return used };
    for p in procs.flatten() {
        if !p.file_name().to_str().is_some_and(is_number) {
            continue;
        }
        if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
            used.extend(fds.flatten().filter_map(|fd| std::fs::read_link(fd.path()).ok()));
        }
        if let Ok(maps) = std::fs::read_to_string(p.path().join("maps")) {
            // The path is the sixth field and may contain spaces.
            used.extend(
                maps.lines()
                    .filter_map(|l| l.splitn(6, char::is_whitespace).nth(5))
                    .map(|p| PathBuf::from(p.trim_start().trim_end_matches(" (deleted)"))),
            );
        }
    }
    used
}

/// The PID in a default zcnet prefix (`zcnet-<pid>`), if `name` is one.
fn zcnet_pid(name: &str) -> Option<i32> {
    name.strip_prefix(DEFAULT_PREFIX).filter(|p| is_number(p)).and_then(|p| p.parse().ok())
}

/// Removes what zcnet processes that are gone left behind: runtime
/// directories and hugepage files of the prefixes `zcnet-<pid>` whose
/// process no longer exists and of which no live process has a file open
/// or mapped (a secondary process still attached to it). Nothing of a live
/// process, of another prefix or of another program is touched. Returns the
/// prefixes removed.
pub(crate) fn remove_dead_zcnet_prefixes() -> Vec<String> {
    let mut dead: Vec<String> = Vec::new();
    let mut consider = |name: &str| {
        if zcnet_pid(name).is_some_and(|pid| !pid_alive(pid)) && !dead.iter().any(|d| d == name) {
            dead.push(name.to_string());
        }
    };
    if let Ok(dirs) = std::fs::read_dir(runtime_base()) {
        for d in dirs.flatten() {
            if let Some(name) = d.file_name().to_str() {
                consider(name);
            }
        }
    }
    for m in hugetlbfs_mounts() {
        for f in std::fs::read_dir(m).into_iter().flatten().flatten() {
            if let Some(prefix) = f.file_name().to_str().and_then(|n| n.rsplit_once("map_")).map(|(p, _)| p) {
                consider(prefix);
            }
        }
    }
    if dead.is_empty() {
        return dead;
    }
    let used = files_in_use();
    let in_use = |prefix: &str| {
        // /proc shows resolved paths (/var/run is a link to /run).
        let real = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        let dir = real(runtime_base().join(prefix));
        used.iter().any(|u| u.starts_with(&dir)) || hugepage_files(prefix).into_iter().any(|f| used.contains(&real(f)))
    };
    dead.retain(|prefix| !in_use(prefix));
    for prefix in &dead {
        remove_prefix(&runtime_base().join(prefix), prefix);
    }
    dead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_default_prefixes_with_a_pid_are_zcnet_ones() {
        assert_eq!(zcnet_pid("zcnet-1234"), Some(1234));
        assert_eq!(zcnet_pid("zcnet-"), None);
        assert_eq!(zcnet_pid("zcnet-12x"), None);
        assert_eq!(zcnet_pid("zcbench-1234"), None);
        assert_eq!(zcnet_pid("rte"), None);
    }

    #[test]
    fn this_process_is_alive_and_an_unused_pid_is_not() {
        assert!(pid_alive(std::process::id() as i32));
        // Above the kernel's maximum PID (4194304 on 64-bit): never in use.
        assert!(!pid_alive(i32::MAX - 1));
    }

    #[test]
    fn a_dead_prefix_is_removed_and_a_live_one_is_kept() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root for /var/run/dpdk");
            return;
        }
        let base = runtime_base();
        // PIDs above the kernel's maximum: their processes are surely gone.
        let dead = format!("{DEFAULT_PREFIX}{}", i32::MAX - 2);
        let held = format!("{DEFAULT_PREFIX}{}", i32::MAX - 3);
        let live = format!("{DEFAULT_PREFIX}{}", std::process::id());
        for p in [&dead, &held, &live] {
            std::fs::create_dir_all(base.join(p)).expect("mkdir");
            std::fs::write(base.join(p).join("config"), b"x").expect("write");
        }
        // A hugepage file of the dead prefix (empty: it holds no page).
        let huge = hugetlbfs_mounts().first().map(|m| m.join(format!("{dead}map_0")));
        if let Some(h) = &huge {
            std::fs::File::create(h).expect("create a hugepage file");
        }
        // Still open by a live process (this one), as an attached secondary's would be.
        let open = std::fs::File::open(base.join(&held).join("config")).expect("open");
        let removed = remove_dead_zcnet_prefixes();
        assert!(removed.contains(&dead), "{removed:?}");
        assert!(!base.join(&dead).exists());
        assert!(huge.is_none_or(|h| !h.exists()), "the dead prefix's hugepage file is still there");
        assert!(base.join(&held).join("config").exists(), "a directory with a file open was removed");
        assert!(base.join(&live).join("config").exists(), "a live process's directory was touched");
        drop(open);
        let _ = std::fs::remove_dir_all(base.join(&live));
        let _ = std::fs::remove_dir_all(base.join(&held));
    }
}
