//! The clock smoltcp and the connection table run on: microseconds since
//! the process's first use, shared by every core.

use std::sync::OnceLock;

/// Now, on smoltcp's clock.
pub(crate) fn smol_now() -> smoltcp::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    smoltcp::time::Instant::from_micros(base.elapsed().as_micros() as i64)
}

/// The period of the TCP timestamp clock (RFC 7323 §5.4 asks for 1 ms to
/// 1 s), in µs.
pub(crate) const TSVAL_TICK_US: i64 = 1000;

/// zcnet's TCP timestamp value (RFC 7323): milliseconds on the stack's
/// clock. Monotonic, so a new connection's timestamps are later than any
/// older connection's on the same tuple.
pub(crate) fn tsval() -> u32 {
    (smol_now().total_micros() / TSVAL_TICK_US) as u32
}
