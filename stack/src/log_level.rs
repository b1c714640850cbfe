//! One log level for zcnet and EAL. zcnet (and smoltcp) log through the
//! `log` facade; DPDK logs through EAL's own logger. `--log-level` /
//! `eal.log_level` takes either family's names and maps them onto both:
//!
//! | given                          | `log` filter | EAL level  |
//! |--------------------------------|--------------|------------|
//! | `off`                          | off          | emergency  |
//! | `emergency`, `alert`, `critical`, `error` (`err`) | error | same |
//! | `warn`, `warning`              | warn         | warning    |
//! | `notice`                       | info         | notice     |
//! | `info`                         | info         | info       |
//! | `debug`                        | debug        | debug      |
//! | `trace`                        | trace        | debug      |
//!
//! A number 1–8 is EAL's own scale (1 emergency … 8 debug). A value with
//! `:` or `,` (`pmd.net.tap:debug`, EAL's per-component syntax) goes to
//! EAL unchanged and leaves the `log` filter alone.

/// What a `--log-level` value means for each logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel {
    /// The `log` filter (None: a per-component EAL setting, which leaves it alone).
    pub filter: Option<log::LevelFilter>,
    /// EAL's `--log-level` argument.
    pub eal: String,
}

const EAL_NAMES: [&str; 8] = ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"];

impl LogLevel {
    /// Parses a level name (see the module docs). The error lists the names.
    pub fn parse(value: &str) -> Result<LogLevel, String> {
        use log::LevelFilter as F;
        let v = value.trim().to_ascii_lowercase();
        if v.contains(':') || v.contains(',') {
            return Ok(LogLevel { filter: None, eal: value.trim().to_string() });
        }
        let (filter, eal) = match v.as_str() {
            "off" => (F::Off, "emergency"),
            "emergency" | "emerg" => (F::Error, "emergency"),
            "alert" => (F::Error, "alert"),
            "critical" | "crit" => (F::Error, "critical"),
            "error" | "err" => (F::Error, "error"),
            "warn" | "warning" => (F::Warn, "warning"),
            "notice" => (F::Info, "notice"),
            "info" => (F::Info, "info"),
            "debug" => (F::Debug, "debug"),
            "trace" => (F::Trace, "debug"),
            n => match n.parse::<usize>() {
                Ok(i @ 1..=8) => {
                    let filter = [F::Error, F::Error, F::Error, F::Error, F::Warn, F::Info, F::Info, F::Debug][i - 1];
                    (filter, EAL_NAMES[i - 1])
                }
                _ => {
                    return Err(format!(
                        "unknown level {value:?}: one of off, error, warn, info, debug, trace (or EAL's emergency, alert, critical, warning, notice, 1-8, or COMPONENT:LEVEL)"
                    ))
                }
            },
        };
        Ok(LogLevel { filter: Some(filter), eal: eal.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::LevelFilter as F;

    fn both(v: &str) -> (Option<F>, String) {
        let l = LogLevel::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        (l.filter, l.eal)
    }

    #[test]
    fn log_names_map_to_eal_levels() {
        assert_eq!(both("warn"), (Some(F::Warn), "warning".into()));
        assert_eq!(both("trace"), (Some(F::Trace), "debug".into()));
        assert_eq!(both("off"), (Some(F::Off), "emergency".into()));
        assert_eq!(both("INFO"), (Some(F::Info), "info".into()));
    }

    #[test]
    fn eal_names_and_numbers_map_to_log_filters() {
        assert_eq!(both("notice"), (Some(F::Info), "notice".into()));
        assert_eq!(both("critical"), (Some(F::Error), "critical".into()));
        assert_eq!(both("5"), (Some(F::Warn), "warning".into()));
        assert_eq!(both("8"), (Some(F::Debug), "debug".into()));
    }

    #[test]
    fn component_settings_go_to_eal_alone() {
        assert_eq!(both("pmd.net.tap:debug"), (None, "pmd.net.tap:debug".into()));
    }

    #[test]
    fn unknown_names_and_numbers_are_refused() {
        for bad in ["loud", "0", "9", ""] {
            assert!(LogLevel::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
