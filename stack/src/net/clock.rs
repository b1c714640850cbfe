//! The clock smoltcp and the connection table run on: microseconds since
//! the process's first use, shared by every core.
//!
//! TCP timestamps (RFC 7323) tick in milliseconds, and smoltcp asks for one
//! on every segment it writes; reading the clock for each (a `clock_gettime`
//! of about 35 ns here) would cost more than the option itself. So each
//! reading of [`smol_now`] is remembered per thread, and [`tsval`] uses the
//! last one: the stack reads the clock at the start of every ingress and
//! egress step, before smoltcp writes anything, so the value is at most one
//! step old — microseconds, against a millisecond tick.

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    /// The last reading of `smol_now` on this thread, in µs (-1: none yet).
    static LAST_US: Cell<i64> = const { Cell::new(-1) };
}

/// Now, on smoltcp's clock.
pub(crate) fn smol_now() -> smoltcp::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    let us = base.elapsed().as_micros() as i64;
    LAST_US.with(|l| l.set(us));
    smoltcp::time::Instant::from_micros(us)
}

/// The period of the TCP timestamp clock (RFC 7323 §5.4 asks for 1 ms to
/// 1 s), in µs.
pub(crate) const TSVAL_TICK_US: i64 = 1000;

/// zcnet's TCP timestamp value (RFC 7323): milliseconds on the stack's
/// clock, as of this thread's last [`smol_now`] (read now if there was
/// none). Monotonic, so a new connection's timestamps are later than any
/// older connection's on the same tuple (a tuple belongs to one core).
pub(crate) fn tsval() -> u32 {
    let last = LAST_US.with(Cell::get);
    let us = if last < 0 { smol_now().total_micros() } else { last };
    (us / TSVAL_TICK_US) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsval_follows_the_last_reading_of_the_clock() {
        let before = smol_now().total_micros();
        let ts = tsval() as i64;
        assert_eq!(ts, before / TSVAL_TICK_US, "tsval is the last reading's millisecond");
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert_eq!(tsval() as i64, ts, "no new reading: the same value");
        let after = smol_now().total_micros();
        assert!(tsval() as i64 >= ts + 2, "a new reading moves it: {} -> {}", ts, after / TSVAL_TICK_US);
    }

    #[test]
    fn tsval_on_a_thread_that_never_read_the_clock_reads_it() {
        let main = smol_now().total_micros() / TSVAL_TICK_US;
        let other = std::thread::spawn(tsval).join().unwrap() as i64;
        assert!(other >= main, "{other} < {main}");
    }
}
