//! TCP segments zcnet sends on its own, without a smoltcp socket: the
//! challenge ACKs of RFC 5961 and the ACKs of connections in TIME-WAIT.
//! Each is a bare ACK (no payload) built in place in a fresh mbuf of the
//! core's pool with smoltcp's `wire` representations, checksums filled or
//! left to the NIC as for every other frame, and queued for the next burst.

use super::checksum::prepare_tx_offload;
use super::clock::tsval;
use super::frame::{FourTuple, ETH_LEN};
use super::stack::Inner;
use smoltcp::phy::{Checksum, ChecksumCapabilities};
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, TcpTimestampRepr,
};

/// A bare ACK: `<SEQ=seq><ACK=ack><CTL=ACK>`, to the peer of `tuple`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BareAck {
    pub(crate) tuple: FourTuple,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    /// The window field (as the connection last advertised it).
    pub(crate) window: u16,
    /// The peer's TSval to echo, if the connection uses timestamps.
    pub(crate) tsecr: Option<u32>,
    /// Where the frame goes: the MAC the segment it answers came from.
    pub(crate) dst_mac: [u8; 6],
}

impl Inner {
    /// Builds `a` in a fresh mbuf and queues it; false (counted as
    /// `drop_no_mbuf` or `drop_tx_full`) if there is no mbuf or no room.
    pub(crate) fn send_bare_ack(&mut self, a: &BareAck) -> bool {
        let tcp = TcpRepr {
            src_port: a.tuple.local_port,
            dst_port: a.tuple.remote_port,
            control: TcpControl::None,
            seq_number: TcpSeqNumber(a.seq as i32),
            ack_number: Some(TcpSeqNumber(a.ack as i32)),
            window_len: a.window,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: a.tsecr.map(|tsecr| TcpTimestampRepr::new(tsval(), tsecr)),
            payload: &[],
        };
        let ip = Ipv4Repr {
            src_addr: a.tuple.local_ip,
            dst_addr: a.tuple.remote_ip,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: EthernetAddress(self.device.mac()),
            dst_addr: EthernetAddress(a.dst_mac),
            ethertype: EthernetProtocol::Ipv4,
        };
        let len = ETH_LEN + ip.buffer_len() + tcp.buffer_len();
        let Some(mut packet) = self.device.pool().try_alloc() else {
            self.device.count_no_mbuf();
            return false;
        };
        let offload = self.device.tx_offload();
        let mut caps = ChecksumCapabilities::default();
        if offload.ipv4 {
            caps.ipv4 = Checksum::None;
        }
        if offload.l4 {
            caps.tcp = Checksum::None;
        }
        {
            let Ok(buf) = packet.append(len) else { return false };
            let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.emit(&mut frame);
            let mut ipv4 = Ipv4Packet::new_unchecked(frame.payload_mut());
            ip.emit(&mut ipv4, &caps);
            let mut segment = TcpPacket::new_unchecked(ipv4.payload_mut());
            let (src, dst) = (IpAddress::Ipv4(a.tuple.local_ip), IpAddress::Ipv4(a.tuple.remote_ip));
            tcp.emit(&mut segment, &src, &dst, &caps);
        }
        if offload.ipv4 || offload.l4 {
            prepare_tx_offload(&mut packet, offload);
        }
        self.device.queue_tx(packet).is_ok()
    }
}
