//! The zero-copy datagram path: UDP packets for a bound socket are taken
//! off the rx burst before smoltcp sees them, validated once with
//! smoltcp's `wire` views, and handed to the application as [`Datagram`]s —
//! the very mbuf the NIC filled. Replies and new datagrams are built in
//! place in an mbuf's headroom and queued for `tx_burst` as they are.
//!
//! The frame was classified once by the ingress path (`frame`), which also
//! verified its checksums; the fast path only adds its own refusals. What
//! it refuses (IP options, fragments, bad checksums, truncated or lying
//! headers) is dropped and counted, never mis-parsed.

use super::checksum::{prepare_tx_offload, TxOffload};
use super::frame::{Ipv4Info, UdpInfo};
use crate::packet::Packet;
use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Packet, UdpPacket};
use std::net::SocketAddr;
use std::net::SocketAddrV4;

/// Ethernet + IPv4 (no options) + UDP header bytes.
pub const HEADERS_LEN: usize = 14 + 20 + 8;
use super::frame::ETH_LEN as ETH;
const IP: usize = 20;

/// Why the fast path dropped a UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Headers truncated or lengths that do not add up.
    Malformed,
    /// A fragment (zcnet does not reassemble on the fast path).
    Fragment,
    /// The IPv4 header carries options.
    IpOptions,
}

/// Counters of the datagram fast path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramStats {
    /// Datagrams delivered to sockets.
    pub delivered: u64,
    /// Dropped: truncated headers or lengths that lie.
    pub malformed: u64,
    /// Dropped: bad IPv4 or UDP checksum.
    pub bad_checksum: u64,
    /// Dropped: IPv4 fragments.
    pub fragments: u64,
    /// Dropped: IPv4 options.
    pub ip_options: u64,
    /// Dropped: the socket's queue was full.
    pub queue_full: u64,
    /// Dropped: the core's socket queues together held their share of the
    /// pool and this socket its fair part
    /// ([`NetStats::queued_mbufs_share`](super::NetStats::queued_mbufs_share)).
    pub core_share_full: u64,
    /// Datagrams sent from `Packet`s (no copy).
    pub sent: u64,
    /// Datagrams the application sent that were dropped because the
    /// transmit queue (or smoltcp's send queue) was full.
    pub tx_dropped: u64,
}

impl DatagramStats {
    pub(crate) fn count(&mut self, r: Refused) {
        match r {
            Refused::Malformed => self.malformed += 1,
            Refused::Fragment => self.fragments += 1,
            Refused::IpOptions => self.ip_options += 1,
        }
    }
}

/// A received UDP datagram: the owned mbuf it arrived in, with its payload
/// and addresses. Dropping it frees the mbuf; [`UdpSocket::reply`] sends
/// it back in the same mbuf. Ownership is a value that moves, so no
/// cancellation can free a datagram the NIC is still sending.
///
/// A zero-copy echo: the payload is read and rewritten where the NIC put
/// it, and the reply leaves in the same mbuf.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::net::UdpSocket;
/// let socket = UdpSocket::bind("0.0.0.0:7".parse().unwrap())?;
/// loop {
///     let mut datagram = socket.recv_packet().await?;
///     println!("{} bytes from {}", datagram.payload().len(), datagram.source());
///     datagram.payload_mut().reverse();
///     socket.reply(datagram)?;
/// }
/// # }
/// ```
///
/// [`UdpSocket::reply`]: super::UdpSocket::reply
pub struct Datagram {
    packet: Packet,
    len: u16,
    source: SocketAddrV4,
    destination: SocketAddrV4,
}

impl std::fmt::Debug for Datagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagram")
            .field("source", &self.source)
            .field("destination", &self.destination)
            .field("len", &self.len)
            .finish()
    }
}

impl Datagram {
    /// The payload, in place in the mbuf.
    pub fn payload(&self) -> &[u8] {
        &self.packet.data()[HEADERS_LEN..HEADERS_LEN + self.len as usize]
    }

    /// The payload, writable in place (for a reply).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len as usize;
        &mut self.packet.data_mut()[HEADERS_LEN..HEADERS_LEN + len]
    }

    /// Changes the payload length in place (the mbuf's tailroom bounds it).
    pub fn set_payload_len(&mut self, len: usize) -> Result<(), crate::PacketError> {
        self.packet.resize(HEADERS_LEN + len)?;
        self.len = len as u16;
        Ok(())
    }

    /// Who sent it.
    pub fn source(&self) -> SocketAddr {
        SocketAddr::V4(self.source)
    }

    /// Where it was sent (this host's address and the socket's port).
    pub fn destination(&self) -> SocketAddr {
        SocketAddr::V4(self.destination)
    }

    /// The whole frame's packet (headers included).
    pub fn packet(&self) -> &Packet {
        &self.packet
    }

    /// Gives up the datagram view and returns the packet (the whole frame).
    pub fn into_packet(self) -> Packet {
        self.packet
    }

    /// The sender's MAC address (for replies without a neighbor lookup).
    pub(crate) fn source_mac(&self) -> [u8; 6] {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&self.packet.data()[6..12]);
        mac
    }
}

impl Datagram {
    /// The fast path's checks on a UDP frame the ingress path classified
    /// (`ip`, `udp`: lengths valid, checksums verified): no IP options, no
    /// fragment. Ethernet padding after the datagram is cut off. RFC 791
    /// (IPv4 header), RFC 768 (UDP). A refused frame is freed.
    pub(crate) fn from_frame(mut packet: Packet, ip: &Ipv4Info, udp: &UdpInfo) -> Result<Datagram, Refused> {
        if ip.header_len != IP {
            return Err(Refused::IpOptions);
        }
        if ip.fragment {
            return Err(Refused::Fragment);
        }
        let len = udp.len.checked_sub(8).ok_or(Refused::Malformed)?;
        let extra = packet.len().checked_sub(HEADERS_LEN + len as usize).ok_or(Refused::Malformed)?;
        if extra > 0 && packet.trim(extra).is_err() {
            return Err(Refused::Malformed);
        }
        let source = SocketAddrV4::new(ip.src, udp.src_port);
        let destination = SocketAddrV4::new(ip.dst, udp.dst_port);
        Ok(Datagram { packet, len, source, destination })
    }
}

/// The addresses and identification of an outgoing datagram's headers.
#[derive(Clone, Copy)]
pub(crate) struct Headers {
    pub(crate) src_mac: [u8; 6],
    pub(crate) dst_mac: [u8; 6],
    pub(crate) from: SocketAddrV4,
    pub(crate) to: SocketAddrV4,
    pub(crate) ident: u16,
}

/// Writes Ethernet/IPv4/UDP headers for a datagram of `payload_len` bytes
/// into the first `HEADERS_LEN` bytes of `packet` and fills the checksums
/// (or prepares offload). RFC 791, RFC 768.
pub(crate) fn write_headers(packet: &mut Packet, h: &Headers, payload_len: usize, offload: TxOffload) {
    let Headers { src_mac, dst_mac, from, to, ident } = *h;
    let data = &mut packet.data_mut()[..HEADERS_LEN + payload_len];
    data[0..6].copy_from_slice(&dst_mac);
    data[6..12].copy_from_slice(&src_mac);
    data[12..14].copy_from_slice(&[0x08, 0x00]);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut data[ETH..]);
        ip.set_version(4);
        ip.set_header_len(IP as u8);
        ip.set_dscp(0);
        ip.set_ecn(0);
        ip.set_total_len((IP + 8 + payload_len) as u16);
        ip.set_ident(ident);
        ip.clear_flags();
        ip.set_dont_frag(true);
        ip.set_frag_offset(0);
        ip.set_hop_limit(64);
        ip.set_next_header(IpProtocol::Udp);
        ip.set_src_addr(*from.ip());
        ip.set_dst_addr(*to.ip());
        ip.set_checksum(0);
        let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
        udp.set_src_port(from.port());
        udp.set_dst_port(to.port());
        udp.set_len((8 + payload_len) as u16);
        udp.set_checksum(0);
        if !offload.l4 {
            udp.fill_checksum(&IpAddress::Ipv4(*from.ip()), &IpAddress::Ipv4(*to.ip()));
        }
        if !offload.ipv4 {
            ip.fill_checksum();
        }
    }
    if offload.ipv4 || offload.l4 {
        prepare_tx_offload(packet, offload);
    }
}

impl Datagram {
    /// Turns the datagram around in place: back to its sender, from the
    /// address it was sent to, with the payload as it is now.
    pub(crate) fn turn_around(mut self, our_mac: [u8; 6], ident: u16, offload: TxOffload) -> Packet {
        let h =
            Headers { src_mac: our_mac, dst_mac: self.source_mac(), from: self.destination, to: self.source, ident };
        let len = self.len as usize;
        write_headers(&mut self.packet, &h, len, offload);
        self.packet
    }
}
