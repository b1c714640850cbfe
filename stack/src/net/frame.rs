//! One look at a received frame. Its Ethernet, IPv4 and TCP/UDP headers are
//! parsed once, with smoltcp's checked `wire` views, into a [`Frame`]; the
//! ingress path routes on that view (raw sockets, the datagram fast path,
//! the connection table, smoltcp) and hands it on instead of parsing again.
//! Lengths are checked before any field is read: a frame whose headers are
//! truncated or lie about their lengths classifies as malformed, never
//! panics. Checksums are verified separately (`checksum::verify`), because
//! whether they need verifying depends on what the NIC already checked.

use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpOption, TcpPacket, UdpPacket};
use std::net::Ipv4Addr;

/// Bytes of an Ethernet header.
pub(crate) const ETH_LEN: usize = 14;

/// A TCP or UDP flow as this host sees it: local and remote address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FourTuple {
    pub(crate) local_ip: Ipv4Addr,
    pub(crate) local_port: u16,
    pub(crate) remote_ip: Ipv4Addr,
    pub(crate) remote_port: u16,
}

impl FourTuple {
    /// The flow of a received segment, from this host's side: its
    /// destination is local, its source remote.
    #[inline]
    pub(crate) fn inbound(ip: &Ipv4Info, src_port: u16, dst_port: u16) -> FourTuple {
        FourTuple { local_ip: ip.dst, local_port: dst_port, remote_ip: ip.src, remote_port: src_port }
    }
}

impl std::hash::Hash for FourTuple {
    /// Two words, not six fields (a derived `Hash` feeds each address as a
    /// length-prefixed byte slice): the tables hash a tuple per segment.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.local_ip.to_bits()) << 32 | u64::from(self.remote_ip.to_bits()));
        state.write_u32(u32::from(self.local_port) << 16 | u32::from(self.remote_port));
    }
}

/// A map keyed by 4-tuples, hashed with [`TupleHasher`].
pub(crate) type TupleMap<V> = std::collections::HashMap<FourTuple, V, TupleHasher>;

/// The tuple tables' hasher: foldhash (one folded multiply per lookup)
/// keyed from the operating system's randomness — a peer chooses the
/// tuples it sends, so it must not be able to predict where they land.
/// foldhash's own default seeds come from addresses and the clock; these
/// come through std's `RandomState`, whose SipHash keys are drawn from the
/// OS: one shared seed per process, one more per table. (foldhash calls
/// itself minimally DoS-resistant: an attacker who could read the
/// process's state could still build colliding tuples; the tables stay
/// bounded either way — backlog, `net.tcp.time_wait_max`.)
#[derive(Clone, Debug)]
pub(crate) struct TupleHasher(foldhash::fast::SeedableRandomState);

impl Default for TupleHasher {
    fn default() -> Self {
        use crate::os_random::os_random_u64;
        static SHARED: std::sync::OnceLock<foldhash::SharedSeed> = std::sync::OnceLock::new();
        let shared = SHARED.get_or_init(|| foldhash::SharedSeed::from_u64(os_random_u64()));
        TupleHasher(foldhash::fast::SeedableRandomState::with_seed(os_random_u64(), shared))
    }
}

impl std::hash::BuildHasher for TupleHasher {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// The IPv4 header (RFC 791) of a frame whose lengths hold together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ipv4Info {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    /// Header length in bytes (20 without options).
    pub(crate) header_len: usize,
    /// Bytes after the IPv4 header, as its total length says.
    pub(crate) payload_len: usize,
    /// More fragments follow, or this is not the first one.
    pub(crate) fragment: bool,
    /// The fragment offset is 0: an L4 header is present.
    pub(crate) first_fragment: bool,
    pub(crate) protocol: IpProtocol,
}

/// The TCP header (RFC 9293 §3.1) fields the ingress path decides on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpInfo {
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) seq: u32,
    pub(crate) syn: bool,
    pub(crate) ack_flag: bool,
    pub(crate) rst: bool,
    pub(crate) fin: bool,
    /// The timestamp option's TSval (RFC 7323), read only on SYN, FIN and
    /// RST segments (the ones the stack answers itself).
    pub(crate) tsval: Option<u32>,
}

/// The TSval of a TCP header's timestamp option, if it has one.
pub(crate) fn tcp_tsval(tcp: &TcpPacket<&[u8]>) -> Option<u32> {
    let mut options = tcp.options();
    while !options.is_empty() {
        let (rest, option) = TcpOption::parse(options).ok()?;
        match option {
            TcpOption::TimeStamp { tsval, .. } => return Some(tsval),
            TcpOption::EndOfList => return None,
            _ => options = rest,
        }
    }
    None
}

/// The UDP header (RFC 768).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UdpInfo {
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    /// The UDP length field (header included), checked against IPv4's.
    pub(crate) len: u16,
}

/// What an IPv4 packet carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum L4 {
    Tcp(TcpInfo),
    Udp(UdpInfo),
    /// A TCP or UDP header that is truncated or lies about its length; the
    /// destination port if at least that much is there (the datagram path
    /// counts bad frames to its bound ports itself).
    Bad {
        protocol: IpProtocol,
        dst_port: Option<u16>,
    },
    /// Anything else: ICMP, other protocols, and fragments after the first
    /// (which carry no L4 header).
    Other,
}

/// A received frame, classified.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Frame {
    /// Shorter than an Ethernet header.
    Runt,
    /// ARP (for smoltcp, and for the datagram path's neighbor table).
    Arp,
    /// IPv4 whose header holds together.
    Ipv4 { ip: Ipv4Info, l4: L4 },
    /// IPv4 whose header is truncated or lies about its lengths.
    BadIpv4,
    /// Any other EtherType (a raw socket may claim it).
    Other(u16),
}

impl Frame {
    /// Classifies `frame` (the bytes of one received mbuf).
    pub(crate) fn classify(frame: &[u8]) -> Frame {
        let Ok(eth) = EthernetFrame::new_checked(frame) else { return Frame::Runt };
        match eth.ethertype() {
            EthernetProtocol::Arp => Frame::Arp,
            EthernetProtocol::Ipv4 => match Ipv4Packet::new_checked(eth.payload()) {
                Ok(ip) => classify_ipv4(&ip),
                Err(_) => Frame::BadIpv4,
            },
            other => Frame::Other(u16::from(other)),
        }
    }

    /// The EtherType, for raw-socket claims (`None` for a runt).
    pub(crate) fn ethertype(&self) -> Option<u16> {
        match self {
            Frame::Runt => None,
            Frame::Arp => Some(0x0806),
            Frame::Ipv4 { .. } | Frame::BadIpv4 => Some(0x0800),
            Frame::Other(t) => Some(*t),
        }
    }
}

fn classify_ipv4(ip: &Ipv4Packet<&[u8]>) -> Frame {
    let header_len = ip.header_len() as usize;
    // new_checked guarantees header_len <= total_len <= buffer length.
    let payload = ip.payload();
    let info = Ipv4Info {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        header_len,
        payload_len: payload.len(),
        fragment: ip.more_frags() || ip.frag_offset() != 0,
        first_fragment: ip.frag_offset() == 0,
        protocol: ip.next_header(),
    };
    let port_at = |offset: usize| payload.get(offset..offset + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let l4 = match info.protocol {
        _ if !info.first_fragment => L4::Other,
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Ok(tcp) => L4::Tcp(TcpInfo {
                src_port: tcp.src_port(),
                dst_port: tcp.dst_port(),
                seq: tcp.seq_number().0 as u32,
                syn: tcp.syn(),
                ack_flag: tcp.ack(),
                rst: tcp.rst(),
                fin: tcp.fin(),
                tsval: if tcp.syn() || tcp.fin() || tcp.rst() { tcp_tsval(&tcp) } else { None },
            }),
            Err(_) => L4::Bad { protocol: IpProtocol::Tcp, dst_port: port_at(2) },
        },
        // A first fragment's UDP length is the whole datagram's, longer
        // than the fragment: only the 8-byte header must be there.
        IpProtocol::Udp if info.fragment => match (port_at(0), port_at(2), port_at(4)) {
            (Some(src_port), Some(dst_port), Some(len)) if payload.len() >= 8 => {
                L4::Udp(UdpInfo { src_port, dst_port, len })
            }
            _ => L4::Bad { protocol: IpProtocol::Udp, dst_port: port_at(2) },
        },
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            // The UDP length must be what IPv4 says it carries.
            Ok(udp) if udp.len() as usize == payload.len() => {
                L4::Udp(UdpInfo { src_port: udp.src_port(), dst_port: udp.dst_port(), len: udp.len() })
            }
            _ => L4::Bad { protocol: IpProtocol::Udp, dst_port: port_at(2) },
        },
        _ => L4::Other,
    };
    Frame::Ipv4 { ip: info, l4 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tuple_map_tells_tuples_apart_by_every_field() {
        let base = FourTuple {
            local_ip: Ipv4Addr::new(198, 18, 0, 2),
            local_port: 80,
            remote_ip: Ipv4Addr::new(198, 18, 0, 3),
            remote_port: 40000,
        };
        let swapped_ips = FourTuple { local_ip: base.remote_ip, remote_ip: base.local_ip, ..base };
        let swapped_ports = FourTuple { local_port: base.remote_port, remote_port: base.local_port, ..base };
        let mut map = TupleMap::default();
        map.insert(base, 0);
        map.insert(swapped_ips, 1);
        map.insert(swapped_ports, 2);
        for p in 0..1000u16 {
            map.insert(FourTuple { remote_port: 50000 + p, ..base }, 3 + p as usize);
        }
        assert_eq!(map.len(), 1003);
        assert_eq!(map.get(&base), Some(&0));
        assert_eq!(map.get(&swapped_ips), Some(&1));
        assert_eq!(map.get(&swapped_ports), Some(&2));
        assert_eq!(map.get(&FourTuple { remote_port: 50999, ..base }), Some(&1002));
        assert_eq!(map.get(&FourTuple { remote_port: 40001, ..base }), None);
    }

    #[test]
    fn two_tables_hash_the_same_tuple_differently() {
        use std::hash::BuildHasher;
        let t = FourTuple {
            local_ip: Ipv4Addr::new(198, 18, 0, 2),
            local_port: 80,
            remote_ip: Ipv4Addr::new(198, 18, 0, 3),
            remote_port: 40000,
        };
        let (a, b) = (TupleHasher::default(), TupleHasher::default());
        assert_eq!(a.hash_one(t), a.hash_one(t), "one table: one place per tuple");
        // Equal by chance once in 2^64.
        assert_ne!(a.hash_one(t), b.hash_one(t), "each table has its own key");
    }

    /// Ethernet + IPv4 (20 bytes) + `l4` for protocol `proto`, with
    /// consistent lengths (checksums left zero: classification does not
    /// verify them).
    fn ipv4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; ETH_LEN];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        f.extend_from_slice(l4);
        f
    }

    fn tcp_header(flags: u8) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&7u32.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    #[test]
    fn a_tcp_syn_is_classified_with_its_ports_and_flags() {
        let f = ipv4_frame(6, &tcp_header(0x02));
        let Frame::Ipv4 { ip, l4: L4::Tcp(t) } = Frame::classify(&f) else { panic!("not TCP") };
        assert_eq!(ip.dst, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!((t.src_port, t.dst_port, t.seq), (40000, 80, 7));
        assert!(t.syn && !t.ack_flag && !t.rst && !t.fin);
        assert_eq!(t.tsval, None);
    }

    #[test]
    fn a_fins_timestamp_is_read() {
        let mut t = tcp_header(0x11);
        t[12] = 8 << 4; // 32-byte header: NOP, NOP, timestamp
        t.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 42, 0, 0, 0, 9]);
        let f = ipv4_frame(6, &t);
        let Frame::Ipv4 { l4: L4::Tcp(t), .. } = Frame::classify(&f) else { panic!("not TCP") };
        assert!(t.fin && t.ack_flag);
        assert_eq!(t.tsval, Some(42));
    }

    #[test]
    fn truncated_headers_classify_as_bad_and_never_panic() {
        let f = ipv4_frame(6, &tcp_header(0x10)[..12]);
        assert!(matches!(Frame::classify(&f), Frame::Ipv4 { l4: L4::Bad { dst_port: Some(80), .. }, .. }));
        let mut f = ipv4_frame(17, &[0, 1, 0, 7, 0, 9, 0, 0]);
        // UDP length 9 on an 8-byte UDP packet: a lie.
        assert!(matches!(Frame::classify(&f), Frame::Ipv4 { l4: L4::Bad { dst_port: Some(7), .. }, .. }));
        f.truncate(ETH_LEN + 10);
        assert!(matches!(Frame::classify(&f), Frame::BadIpv4));
        assert!(matches!(Frame::classify(&f[..10]), Frame::Runt));
        // Every prefix of a valid frame classifies without panicking.
        let whole = ipv4_frame(6, &tcp_header(0x18));
        for n in 0..whole.len() {
            let _ = Frame::classify(&whole[..n]);
        }
    }

    #[test]
    fn later_fragments_carry_no_l4_header() {
        let mut f = ipv4_frame(17, &[0xaa; 16]);
        f[ETH_LEN + 6] = 0x00;
        f[ETH_LEN + 7] = 0x10; // offset 16 * 8 bytes
        let Frame::Ipv4 { ip, l4 } = Frame::classify(&f) else { panic!("not IPv4") };
        assert!(ip.fragment && !ip.first_fragment);
        assert!(matches!(l4, L4::Other));
    }
}
