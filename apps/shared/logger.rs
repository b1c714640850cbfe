//! The samples' logger: what zcnet and smoltcp say through the `log`
//! facade goes to stderr as `zcnet: LEVEL: message` (`smoltcp: ...` for
//! smoltcp's). The level is `--log-level` if given (which sets EAL's too,
//! see `zcnet::LogLevel`), else `RUST_LOG`, else `info`.
//!
//! `RUST_LOG` takes a level (`debug`) and/or `TARGET=LEVEL` items
//! separated by commas (`warn,zcnet_stack=debug`); the longest matching
//! target wins.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Logger {
    /// The level for targets no directive names.
    default: LevelFilter,
    /// (target prefix, level), longest first.
    targets: Vec<(String, LevelFilter)>,
}

impl Logger {
    fn level_for(&self, target: &str) -> LevelFilter {
        self.targets.iter().find(|(t, _)| target.starts_with(t.as_str())).map_or(self.default, |(_, l)| *l)
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level_for(m.target())
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let root = r.target().split("::").next().unwrap_or("");
        let who = if root.starts_with("zcnet") { "zcnet" } else { root };
        let level = r.level().as_str().to_ascii_lowercase();
        let _ = writeln!(std::io::stderr().lock(), "{who}: {level}: {}", r.args());
    }

    fn flush(&self) {}
}

fn parse_level(s: &str) -> Result<LevelFilter, String> {
    s.trim().parse().map_err(|_| format!("unknown level {s:?} (off, error, warn, info, debug, trace)"))
}

/// Parses `RUST_LOG`'s syntax into (default, targets).
fn parse_directives(spec: &str) -> Result<(LevelFilter, Vec<(String, LevelFilter)>), String> {
    let mut default = LevelFilter::Info;
    let mut targets = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('=') {
            Some((target, level)) => targets.push((target.trim().to_string(), parse_level(level)?)),
            None => default = parse_level(item)?,
        }
    }
    targets.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    Ok((default, targets))
}

/// Installs the logger for `--log-level` (`flag`) or `RUST_LOG`. Errors
/// name what was wrong; the program reports them as usage errors.
pub fn init(flag: Option<&str>) -> Result<(), String> {
    let (default, targets) = match flag.map(zcnet::LogLevel::parse) {
        Some(Ok(zcnet::LogLevel { filter: Some(f), .. })) => (f, Vec::new()),
        Some(Err(e)) => return Err(format!("--log-level: {e}")),
        // A per-component EAL setting, or no flag: RUST_LOG decides.
        Some(Ok(_)) | None => match std::env::var("RUST_LOG") {
            Ok(spec) => parse_directives(&spec).map_err(|e| format!("RUST_LOG: {e}"))?,
            Err(_) => (LevelFilter::Info, Vec::new()),
        },
    };
    let max = targets.iter().map(|(_, l)| *l).chain([default]).max().unwrap_or(default);
    // Installed once for the life of the program.
    log::set_logger(Box::leak(Box::new(Logger { default, targets }))).map_err(|e| e.to_string())?;
    log::set_max_level(max);
    Ok(())
}
