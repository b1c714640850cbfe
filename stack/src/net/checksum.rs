//! Checksum offload glue between smoltcp and the NIC.
//!
//! On receive, zcnet trusts the NIC's per-packet verdict (rx offload flags)
//! and verifies in software only what the NIC did not check — before the
//! frame goes anywhere, so every bad checksum is counted (smoltcp is told not
//! to verify again). On transmit,
//! where the port offers it, smoltcp leaves IPv4/TCP/UDP checksums to the
//! NIC: this module fills the pseudo-header sum DPDK asks for (RFC 768,
//! RFC 793 §3.1; DPDK's `rte_ipv4_phdr_cksum`) and sets the mbuf's flags.
//! Views are smoltcp's `wire` types, validated once, never panicking.

use super::frame::{Frame, ETH_LEN, L4};
use crate::packet::{ChecksumStatus, Packet};
use smoltcp::wire::{Icmpv4Packet, IpAddress, IpProtocol, Ipv4Packet, TcpPacket, UdpPacket};

/// Verifies a received frame's IPv4 header checksum and, for a whole TCP,
/// UDP or ICMP packet, its L4 checksum — using the NIC's verdict where it
/// gave one and computing only what it did not check. `frame` is the frame's
/// classification, whose lengths were validated, so nothing is parsed again.
/// Frames that are not IPv4 are left to smoltcp. Every frame this refuses is
/// dropped and counted by the caller; smoltcp checks nothing again, so no
/// checksum drop goes uncounted.
pub(crate) fn verify(packet: &Packet, frame: &Frame) -> bool {
    let Frame::Ipv4 { ip, l4 } = frame else { return true };
    let (ip_status, l4_status) = (packet.rx_ip_checksum(), packet.rx_l4_checksum());
    if ip_status == ChecksumStatus::Bad {
        return false;
    }
    let data = &packet.data()[ETH_LEN..];
    if ip_status != ChecksumStatus::Good && !Ipv4Packet::new_unchecked(data).verify_checksum() {
        return false;
    }
    if ip.fragment {
        return true;
    }
    // Classification checked header_len + payload_len against the buffer.
    let payload = &data[ip.header_len..ip.header_len + ip.payload_len];
    if ip.protocol == IpProtocol::Icmp {
        // No NIC checks ICMP (RFC 792: the sum over the whole message).
        return Icmpv4Packet::new_unchecked(payload).verify_checksum();
    }
    if !matches!(l4, L4::Tcp(_) | L4::Udp(_)) {
        return true;
    }
    match l4_status {
        ChecksumStatus::Good => return true,
        ChecksumStatus::Bad => return false,
        _ => {}
    }
    let (src, dst) = (IpAddress::Ipv4(ip.src), IpAddress::Ipv4(ip.dst));
    match l4 {
        L4::Tcp(_) => TcpPacket::new_unchecked(payload).verify_checksum(&src, &dst),
        // A zero UDP checksum means "none" (RFC 768).
        _ => {
            let udp = UdpPacket::new_unchecked(payload);
            udp.checksum() == 0 || udp.verify_checksum(&src, &dst)
        }
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
    if data.len() < ETH_LEN + 20 || data[12..14] != [0x08, 0x00] {
        return;
    }
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut data[ETH_LEN..]) else { return };
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
    packet.set_tx_offload(flags, ETH_LEN as u8, l3_len);
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
