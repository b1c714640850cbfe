//! Checksum offload glue between smoltcp and the NIC.
//!
//! On receive, zcnet trusts the NIC's per-packet verdict (rx offload flags)
//! and verifies in software only what the NIC did not check. On transmit,
//! where the port offers it, smoltcp leaves IPv4/TCP/UDP checksums to the
//! NIC: this module fills the pseudo-header sum DPDK asks for (RFC 768,
//! RFC 793 §3.1; DPDK's `rte_ipv4_phdr_cksum`) and sets the mbuf's flags.
//! Views are smoltcp's `wire` types, validated once, never panicking.

use crate::packet::{ChecksumStatus, Packet};
use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

const ETH_HDR: usize = 14;

/// What the receive check says about a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxVerdict {
    /// Checksums good (or not checkable here): pass it on.
    Pass,
    /// A checksum is wrong.
    BadChecksum,
    /// IPv4 or TCP/UDP headers too short or lying about their lengths.
    Malformed,
}

/// Checks a received frame's IPv4 and TCP/UDP checksums, using the NIC's
/// verdict where it gave one and parsing only what it did not check.
/// Frames that are not IPv4 are left to smoltcp.
pub(crate) fn rx_verdict(packet: &Packet) -> RxVerdict {
    let (ip_status, l4_status) = (packet.rx_ip_checksum(), packet.rx_l4_checksum());
    if ip_status == ChecksumStatus::Good && l4_status == ChecksumStatus::Good {
        return RxVerdict::Pass;
    }
    let Ok(eth) = EthernetFrame::new_checked(packet.data()) else { return RxVerdict::Malformed };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return RxVerdict::Pass;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { return RxVerdict::Malformed };
    if ip_status == ChecksumStatus::Bad || (ip_status != ChecksumStatus::Good && !ip.verify_checksum()) {
        return RxVerdict::BadChecksum;
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return RxVerdict::Pass;
    }
    let (src, dst) = (IpAddress::Ipv4(ip.src_addr()), IpAddress::Ipv4(ip.dst_addr()));
    let l4_ok = match ip.next_header() {
        IpProtocol::Tcp => match TcpPacket::new_checked(ip.payload()) {
            Err(_) => return RxVerdict::Malformed,
            Ok(t) => l4_status == ChecksumStatus::Good || t.verify_checksum(&src, &dst),
        },
        // A zero UDP checksum means "none" (RFC 768).
        IpProtocol::Udp => match UdpPacket::new_checked(ip.payload()) {
            Err(_) => return RxVerdict::Malformed,
            Ok(u) => l4_status == ChecksumStatus::Good || u.checksum() == 0 || u.verify_checksum(&src, &dst),
        },
        _ => true,
    };
    if l4_status == ChecksumStatus::Bad || !l4_ok {
        RxVerdict::BadChecksum
    } else {
        RxVerdict::Pass
    }
}

/// Which checksums the NIC fills on transmit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TxOffload {
    pub(crate) ipv4: bool,
    pub(crate) l4: bool,
}

/// Prepares a frame smoltcp wrote (with zeroed checksums for what the NIC
/// fills) for checksum offload: the pseudo-header sum goes into the TCP/UDP
/// checksum field and the mbuf gets the offload flags and header lengths.
pub(crate) fn prepare_tx_offload(packet: &mut Packet, offload: TxOffload) {
    let data = packet.data_mut();
    if data.len() < ETH_HDR + 20 || data[12..14] != [0x08, 0x00] {
        return;
    }
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut data[ETH_HDR..]) else { return };
    let l3_len = ip.header_len() as u16;
    let mut flags = dpdk_sys::RTE_MBUF_F_TX_IPV4;
    if offload.ipv4 {
        flags |= dpdk_sys::RTE_MBUF_F_TX_IP_CKSUM;
    } else {
        ip.fill_checksum();
    }
    let fragment = ip.more_frags() || ip.frag_offset() != 0;
    let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
    let l4_len = ip.total_len().saturating_sub(l3_len) as u32;
    // The one's-complement sum of the pseudo-header, not inverted: the NIC
    // adds the segment and inverts.
    let phdr = pseudo_header_sum(src.octets(), dst.octets(), proto.into(), l4_len as u16).to_be_bytes();
    if offload.l4 && !fragment {
        let payload = ip.payload_mut();
        match proto {
            IpProtocol::Tcp if payload.len() >= 20 => {
                payload[16..18].copy_from_slice(&phdr);
                flags |= dpdk_sys::RTE_MBUF_F_TX_TCP_CKSUM;
            }
            IpProtocol::Udp if payload.len() >= 8 => {
                payload[6..8].copy_from_slice(&phdr);
                flags |= dpdk_sys::RTE_MBUF_F_TX_UDP_CKSUM;
            }
            _ => {}
        }
    }
    packet.set_tx_offload(flags, ETH_HDR as u8, l3_len);
}

/// The folded one's-complement sum of the IPv4 pseudo-header (RFC 793
/// §3.1, RFC 768): source, destination, protocol and L4 length.
fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], proto: u8, l4_len: u16) -> u16 {
    let words = [
        u16::from_be_bytes([src[0], src[1]]),
        u16::from_be_bytes([src[2], src[3]]),
        u16::from_be_bytes([dst[0], dst[1]]),
        u16::from_be_bytes([dst[2], dst[3]]),
        proto as u16,
        l4_len,
    ];
    let mut sum: u32 = words.iter().map(|&w| w as u32).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::pseudo_header_sum;

    #[test]
    fn pseudo_header_sum_folds_carries() {
        // 0xc612 + 0x0001 + 0xc612 + 0x0002 + 6 + 20 = 0x18c41, folded: 0x8c42
        assert_eq!(pseudo_header_sum([198, 18, 0, 1], [198, 18, 0, 2], 6, 20), 0x8c42);
    }
}
