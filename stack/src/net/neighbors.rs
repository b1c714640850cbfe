//! The datagram path's neighbor table: the MAC address to send an IPv4
//! datagram to, for datagrams built in place that skip smoltcp (whose own
//! neighbor cache is private to it).
//!
//! It learns what ARP would accept, and no more: from ARP packets aimed at
//! this host with a unicast, on-link sender (the rules smoltcp's ARP code
//! applies, RFC 826); and from datagrams only when the sender is on-link,
//! is not the gateway, and is either unknown or already known with that
//! very MAC. So a spoofed datagram can neither plant a gateway address nor
//! re-point a known neighbor; only ARP changes a known entry. When full, the
//! entry learned longest ago is evicted, one at a time.

use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetFrame};
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

/// Neighbors remembered for the datagram send path.
pub(crate) const NEIGHBORS_MAX: usize = 1024;

/// IPv4 neighbors and their MAC addresses.
pub(crate) struct Neighbors {
    entries: HashMap<Ipv4Addr, [u8; 6]>,
    /// Addresses in the order they were learned (eviction order).
    order: VecDeque<Ipv4Addr>,
    ip: Ipv4Addr,
    mask: u32,
    gateway: Option<Ipv4Addr>,
    capacity: usize,
}

fn unicast_mac(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 0 && mac != &[0; 6]
}

impl Neighbors {
    /// An empty table for a host at `ip`/`prefix` behind `gateway`.
    pub(crate) fn new(ip: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Neighbors {
        Neighbors::with_capacity(ip, prefix, gateway, NEIGHBORS_MAX)
    }

    fn with_capacity(ip: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>, capacity: usize) -> Neighbors {
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) };
        Neighbors { entries: HashMap::with_capacity(capacity), order: VecDeque::new(), ip, mask, gateway, capacity }
    }

    /// True if `addr` is on this host's link (same subnet), and a host address.
    pub(crate) fn on_link(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        a & self.mask == u32::from(self.ip) & self.mask
            && addr != self.ip
            && !addr.is_broadcast()
            && !addr.is_multicast()
            && !addr.is_unspecified()
            && a | self.mask != u32::MAX // not the subnet's broadcast address
    }

    /// The MAC to send to `to` through: the host itself if on-link, else the gateway.
    pub(crate) fn next_hop(&self, to: Ipv4Addr) -> Option<[u8; 6]> {
        let hop = if self.on_link(to) { to } else { self.gateway? };
        self.entries.get(&hop).copied()
    }

    /// Learns from a received ARP frame (request or reply) aimed at this host.
    pub(crate) fn learn_from_arp(&mut self, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else { return };
        let Ok(arp) = ArpPacket::new_checked(eth.payload()) else { return };
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) = ArpRepr::parse(&arp)
        else {
            return;
        };
        if target_protocol_addr != self.ip || matches!(operation, ArpOperation::Unknown(_)) {
            return;
        }
        let mac = source_hardware_addr.0;
        if unicast_mac(&mac) && self.on_link(source_protocol_addr) {
            self.insert(source_protocol_addr, mac);
        }
    }

    /// Learns from a datagram's source: an on-link host that is not the
    /// gateway, new or with the MAC already known for it.
    pub(crate) fn learn_from_datagram(&mut self, src: Ipv4Addr, mac: [u8; 6]) {
        if Some(src) == self.gateway || !self.on_link(src) || !unicast_mac(&mac) {
            return;
        }
        match self.entries.get(&src) {
            Some(known) if *known != mac => {} // only ARP re-points a neighbor
            Some(_) => {}
            None => self.insert(src, mac),
        }
    }

    fn insert(&mut self, ip: Ipv4Addr, mac: [u8; 6]) {
        if self.entries.insert(ip, mac).is_none() {
            if self.entries.len() > self.capacity {
                // Evict the oldest entry other than this one.
                while let Some(old) = self.order.pop_front() {
                    if old != ip && self.entries.remove(&old).is_some() {
                        break;
                    }
                }
            }
            self.order.push_back(ip);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn table() -> Neighbors {
        Neighbors::with_capacity(Ipv4Addr::new(198, 18, 0, 2), 24, Some(GW), 4)
    }

    fn arp(op: u16, sender_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&sender_mac);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&sender_mac);
        f.extend_from_slice(&sender.octets());
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&target.octets());
        f
    }

    #[test]
    fn a_spoofed_datagram_cannot_plant_or_repoint_the_gateway() {
        let mut n = table();
        // A datagram "from the gateway" with an attacker's MAC is ignored.
        n.learn_from_datagram(GW, [2, 0, 0, 0, 0, 0x66]);
        assert_eq!(n.next_hop(Ipv4Addr::new(8, 8, 8, 8)), None);
        // ARP from the gateway is what teaches it.
        n.learn_from_arp(&arp(2, GW_MAC, GW, Ipv4Addr::new(198, 18, 0, 2)));
        assert_eq!(n.next_hop(Ipv4Addr::new(8, 8, 8, 8)), Some(GW_MAC));
        n.learn_from_datagram(GW, [2, 0, 0, 0, 0, 0x66]);
        assert_eq!(n.next_hop(Ipv4Addr::new(8, 8, 8, 8)), Some(GW_MAC));
    }

    #[test]
    fn a_datagram_never_repoints_a_known_neighbor_but_arp_does() {
        let mut n = table();
        let host = Ipv4Addr::new(198, 18, 0, 9);
        n.learn_from_datagram(host, [2, 0, 0, 0, 0, 9]);
        n.learn_from_datagram(host, [2, 0, 0, 0, 0, 0x66]);
        assert_eq!(n.next_hop(host), Some([2, 0, 0, 0, 0, 9]));
        n.learn_from_arp(&arp(1, [2, 0, 0, 0, 0, 0x10], host, Ipv4Addr::new(198, 18, 0, 2)));
        assert_eq!(n.next_hop(host), Some([2, 0, 0, 0, 0, 0x10]));
    }

    #[test]
    fn off_link_broadcast_and_foreign_arp_are_not_learned() {
        let mut n = table();
        n.learn_from_datagram(Ipv4Addr::new(10, 0, 0, 1), [2, 0, 0, 0, 0, 1]);
        n.learn_from_datagram(Ipv4Addr::new(198, 18, 0, 255), [2, 0, 0, 0, 0, 1]);
        n.learn_from_datagram(Ipv4Addr::new(198, 18, 0, 7), [0xff; 6]);
        // ARP aimed at another host, and ARP from off-link.
        n.learn_from_arp(&arp(2, [2, 0, 0, 0, 0, 3], Ipv4Addr::new(198, 18, 0, 3), Ipv4Addr::new(198, 18, 0, 4)));
        n.learn_from_arp(&arp(2, [2, 0, 0, 0, 0, 3], Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(198, 18, 0, 2)));
        assert_eq!(n.len(), 0);
    }

    #[test]
    fn a_full_table_evicts_the_oldest_entry_not_everything() {
        let mut n = table();
        for i in 10..15u8 {
            n.learn_from_datagram(Ipv4Addr::new(198, 18, 0, i), [2, 0, 0, 0, 0, i]);
        }
        assert_eq!(n.len(), 4);
        assert_eq!(n.next_hop(Ipv4Addr::new(198, 18, 0, 10)), None);
        for i in 11..15u8 {
            assert_eq!(n.next_hop(Ipv4Addr::new(198, 18, 0, i)), Some([2, 0, 0, 0, 0, i]));
        }
    }
}
