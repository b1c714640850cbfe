//! How the sample programs end on a user error: one `error:` line on
//! stderr and exit code 2 (what clap uses for usage errors). The library
//! returns typed errors and never exits the process; deciding to is the
//! program's business.

#[path = "logger.rs"]
mod logger;

use zcnet::cli::CommonArgs;
use zcnet::config::Config;

/// Prints `error: {msg}` to stderr and exits with code 2.
pub fn exit_usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// The configuration the flags describe, or exit 2 naming the bad field;
/// installs the logger the flags (or `RUST_LOG`) ask for.
pub fn config_or_exit(args: &CommonArgs) -> Config {
    let config = args.config().unwrap_or_else(|e| exit_usage(&format!("bad configuration: {e}")));
    logger::init(args.log_level.as_deref()).unwrap_or_else(|e| exit_usage(&e));
    config
}
