//! The clock smoltcp and the connection table run on: microseconds since
//! the process's first use, shared by every core.

use std::sync::OnceLock;

/// Now, on smoltcp's clock.
pub(crate) fn smol_now() -> smoltcp::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    smoltcp::time::Instant::from_micros(base.elapsed().as_micros() as i64)
}
