//! Ephemeral ports for active opens and for UDP sockets bound to port 0
//! (RFC 6335's dynamic range, 49152-65535), handed out in turn from a
//! per-core starting point so that a port is not reused right after it was
//! freed.

use std::io;

/// First port of the dynamic range (RFC 6335 §6).
pub(crate) const EPHEMERAL_FIRST: u16 = 49152;

/// The ephemeral ports of one core.
#[derive(Debug)]
pub(crate) struct EphemeralPorts {
    next: u16,
}

impl EphemeralPorts {
    /// Ports from a starting point picked from `seed`.
    pub(crate) fn new(seed: u64) -> EphemeralPorts {
        let span = (u16::MAX - EPHEMERAL_FIRST) as u64 + 1;
        EphemeralPorts { next: EPHEMERAL_FIRST + (seed % span) as u16 }
    }

    /// The next port (in turn, wrapping) for which `taken` is false.
    pub(crate) fn pick(&mut self, mut taken: impl FnMut(u16) -> bool) -> io::Result<u16> {
        for _ in EPHEMERAL_FIRST..=u16::MAX {
            let p = self.next;
            self.next = if p == u16::MAX { EPHEMERAL_FIRST } else { p + 1 };
            if !taken(p) {
                return Ok(p);
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrNotAvailable, "no free ephemeral port"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_in_turn_and_skip_taken_ones() {
        let mut p = EphemeralPorts::new(0);
        assert_eq!(p.pick(|_| false).unwrap(), EPHEMERAL_FIRST);
        assert_eq!(p.pick(|x| x == EPHEMERAL_FIRST + 1).unwrap(), EPHEMERAL_FIRST + 2);
        let mut q = EphemeralPorts::new(u64::from(u16::MAX - EPHEMERAL_FIRST));
        assert_eq!(q.pick(|_| false).unwrap(), u16::MAX);
        assert_eq!(q.pick(|_| false).unwrap(), EPHEMERAL_FIRST);
    }

    #[test]
    fn a_full_range_is_an_error_not_a_hang() {
        let e = EphemeralPorts::new(7).pick(|_| true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
    }
}
