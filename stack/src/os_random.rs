//! 64 random bits from the operating system, for the keys a peer must not
//! guess: the tuple tables' hash seeds, the steering hash, smoltcp's
//! initial sequence numbers.

use std::hash::BuildHasher;

/// 64 bits keyed by the OS's randomness: a fresh std `RandomState` (its
/// SipHash keys come from the OS, `getrandom`, once per thread, then step
/// per state) hashing a constant. No file to open, nothing to fail.
pub(crate) fn os_random_u64() -> u64 {
    std::hash::RandomState::new().hash_one(0x7a63_6e65_745f_7475u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_call_gives_other_bits() {
        // Equal by chance once in 2^64.
        assert_ne!(super::os_random_u64(), super::os_random_u64());
    }
}
