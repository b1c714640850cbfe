//! Cache hints: the one place zcnet's Rust code issues prefetch
//! instructions (the other is the C shim's `zc_pktmbuf_prefetch_next`,
//! which has to read the mempool's per-lcore cache to find its address).
//!
//! A prefetch never dereferences its address and never faults, whatever
//! the address (dangling, null, unmapped): the worst a wrong one does is
//! waste a cache fill. So the callers may pass addresses they could not
//! safely read, such as the remembered address of a socket that has since
//! been dropped.

/// The size of a cache line on the targets zcnet builds for.
pub(crate) const LINE: usize = 64;

/// Hints the CPU to bring the `lines` cache lines from `addr` on into
/// every level of its cache.
#[inline(always)]
pub(crate) fn prefetch(addr: *const u8, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for i in 0..lines {
        // SAFETY: PREFETCHT0 is a hint that never dereferences or faults
        // (see the module docs); SSE is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch(addr.wrapping_add(i * LINE) as *const i8, std::arch::x86_64::_MM_HINT_T0)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (addr, lines);
}
