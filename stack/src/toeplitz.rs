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
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |i: usize| key.get(i / 8).map_or(0, |b| (b >> (7 - i % 8)) as u32 & 1);
    let mut window = (0..32).fold(0u32, |w, i| (w << 1) | key_bit(i));
    let mut result = 0;
    for (byte_at, byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= window;
            }
            window = (window << 1) | key_bit(32 + byte_at * 8 + bit);
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
    fn a_short_key_counts_its_missing_bits_as_zero() {
        assert_eq!(toeplitz(&[0xff; 4], &[0x80]), 0xffff_ffff);
        assert_eq!(toeplitz(&[0xff; 4], &[0x40]), 0xffff_fffe);
        assert_eq!(toeplitz(&[], &[0xff; 12]), 0);
    }
}
