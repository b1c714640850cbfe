//! The Toeplitz hash of receive-side scaling (Microsoft's RSS
//! specification, which NICs and DPDK's `rte_softrss` implement): how a NIC
//! with RSS picks a flow's receive queue, computed in software so that a
//! core can choose a local port whose replies the NIC will deliver back to
//! it, and so that the in-memory wire can spread flows exactly as such a NIC
//! would.

use std::net::Ipv4Addr;

/// The default key of Microsoft's RSS specification, which Intel's drivers
/// (and DPDK's testpmd) use: 40 bytes.
pub const DEFAULT_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// The Toeplitz hash of `input` under `key`: for every set bit of the input
/// (most significant first), the 32 key bits starting at that bit's position
/// are XORed into the result. Key bits past the key's end count as zero (a
/// 40-byte key covers 64 input bits more than the 12 bytes of an IPv4 4-tuple).
#[inline]
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let mut result = 0;
    for (at, &byte) in input.iter().enumerate() {
        if byte == 0 {
            continue;
        }
        // The 64 key bits from this byte's first bit on: the 32-bit window
        // of each of its 8 bits is a shift away.
        let window = (0..8).fold(0u64, |w, j| (w << 8) | u64::from(key.get(at + j).copied().unwrap_or(0)));
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= (window << bit >> 32) as u32;
            }
        }
    }
    result
}

/// The RSS hash a NIC computes for an IPv4 TCP or UDP packet from `src` to
/// `dst`: the Toeplitz hash of source address, destination address, source
/// port and destination port, in network byte order.
pub fn rss_ipv4_l4(key: &[u8], src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16) -> u32 {
    let mut input = [0u8; 12];
    input[0..4].copy_from_slice(&src.octets());
    input[4..8].copy_from_slice(&dst.octets());
    input[8..10].copy_from_slice(&src_port.to_be_bytes());
    input[10..12].copy_from_slice(&dst_port.to_be_bytes());
    toeplitz(key, &input)
}

/// How a device with RSS spreads flows over its receive queues: the hash
/// key and the redirection table (RETA), whose entries name queues — which
/// are cores, since core `i` owns queue pair `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssRule {
    /// The Toeplitz key.
    pub key: Vec<u8>,
    /// Entry `hash % len` names the receiving queue (never empty).
    pub reta: Vec<u16>,
}

impl RssRule {
    /// The queue (core) the redirection table names for `hash`.
    #[inline]
    pub fn core_for(&self, hash: u32) -> usize {
        self.reta[hash as usize % self.reta.len()] as usize
    }

    /// The hash and queue of an IPv4 TCP/UDP frame from `src` to `dst`.
    #[inline]
    pub fn route(&self, src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16) -> (u32, usize) {
        let h = rss_ipv4_l4(&self.key, src, src_port, dst, dst_port);
        (h, self.core_for(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (destination, port, source, port, hash with ports).
    type Vector = ([u8; 4], u16, [u8; 4], u16, u32);

    /// The verification suite of Microsoft's RSS specification (IPv4 with
    /// TCP ports).
    const VECTORS: [Vector; 5] = [
        ([161, 142, 100, 80], 1766, [66, 9, 149, 187], 2794, 0x51cc_c178),
        ([65, 69, 140, 83], 4739, [199, 92, 111, 2], 14230, 0xc626_b0ea),
        ([12, 22, 207, 184], 38024, [24, 19, 198, 95], 12898, 0x5c2b_394a),
        ([209, 142, 163, 6], 2217, [38, 27, 205, 30], 48228, 0xafc7_327f),
        ([202, 188, 127, 2], 1303, [153, 39, 163, 191], 44251, 0x10e8_28a2),
    ];

    #[test]
    fn the_rss_specification_vectors_hash_as_published() {
        for (dst, dport, src, sport, want) in VECTORS {
            let h = rss_ipv4_l4(&DEFAULT_RSS_KEY, Ipv4Addr::from(src), sport, Ipv4Addr::from(dst), dport);
            assert_eq!(h, want, "{src:?}:{sport} -> {dst:?}:{dport}");
        }
    }

    #[test]
    fn the_hash_equals_dpdks_rte_softrss_for_a_table_of_tuples() {
        // rte_softrss is static inline in rte_thash.h; the shim exposes it.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let keys = [DEFAULT_RSS_KEY, std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5)];
        for key in keys {
            for _ in 0..1000 {
                let (a, b, r) = (next() as u32, (next() >> 32) as u32, next());
                let (sp, dp) = (r as u16, (r >> 16) as u16);
                let ours = rss_ipv4_l4(&key, Ipv4Addr::from(a), sp, Ipv4Addr::from(b), dp);
                // SAFETY: a 40-byte key, as rte_softrss reads for a 12-byte tuple.
                let dpdk = unsafe { dpdk_sys::zc_softrss_ipv4_l4(a, b, sp, dp, key.as_ptr()) };
                assert_eq!(ours, dpdk, "{a:#x}:{sp} -> {b:#x}:{dp}");
            }
        }
    }

    #[test]
    fn a_route_is_the_redirection_entry_of_the_hash() {
        let rule = RssRule { key: DEFAULT_RSS_KEY.to_vec(), reta: (0..128).map(|i| i % 3).collect() };
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 3), Ipv4Addr::new(198, 18, 0, 2));
        let (h, core) = rule.route(src, 50_000, dst, 7);
        assert_eq!(h, rss_ipv4_l4(&DEFAULT_RSS_KEY, src, 50_000, dst, 7));
        assert_eq!(core, (h % 128 % 3) as usize);
    }

    #[test]
    fn a_short_key_counts_its_missing_bits_as_zero() {
        assert_eq!(toeplitz(&[0xff; 4], &[0x80]), 0xffff_ffff);
        assert_eq!(toeplitz(&[0xff; 4], &[0x40]), 0xffff_fffe);
        assert_eq!(toeplitz(&[], &[0xff; 12]), 0);
    }
}
