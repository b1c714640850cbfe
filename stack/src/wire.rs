//! The in-memory wire: a port made of rte_rings (DPDK's net_ring PMD) whose
//! queues exchange real Ethernet frames inside one process, for tests and
//! benchmarks without a NIC.
//!
//! Ring `i` is what queue `i` receives. Where a queue's frames go is the
//! wire's *spread* mode (`ports[].wire_spread`):
//!
//! - `pairs` (the default): queue `i` sends into ring `i ^ 1`, so core 0
//!   talks to core 1, 2 to 3, and nothing ever arrives on a core that did not
//!   expect it.
//! - `toeplitz`: the queues form two sides (`ports[].wire_sides`); a frame
//!   sent by one side arrives on the queue of the other side that a NIC with
//!   RSS would pick: the redirection-table entry of the Toeplitz hash of its
//!   IPv4 TCP/UDP 4-tuple under `ports[].wire_rss_key` (the receiving side's
//!   RETA has 128 entries naming its queues in turn), with that hash put in
//!   the mbuf as a NIC does. Other frames (ARP, ICMP, fragments) go to the
//!   side's first queue, as to a NIC's default queue. The port reports the
//!   key and RETA to the stack, as a NIC's would be read back.
//! - `round_robin`: as `toeplitz`, but each frame goes to the next queue of
//!   the other side in turn, whatever its flow: a device without RSS whose
//!   frames land anywhere, which the stack's software steering must fix.
//!
//! With a spread mode, each core has one transmit queue per queue of the
//! other side (ethdev queue `base + j` sends into the ring of the other
//! side's `j`-th queue), and the rings take several producers. The wire
//! picks the transmit queue per frame in [`Fanout`]; this tests the stack's
//! RSS code paths in software. A NIC's own RSS is not tested on machines
//! without one.

use crate::config::{PortConfig, WireSpread};
use crate::error::{Error, Result};
use crate::packet::Packet;
use crate::toeplitz::{RssRule, DEFAULT_RSS_KEY};
use std::ffi::CString;
use std::net::Ipv4Addr;
use std::ptr::NonNull;

/// Entries of each side's redirection table (a common NIC size).
const RETA_SIZE: usize = 128;
/// The most transmit rings the net_ring PMD takes (RTE_PMD_RING_MAX_TX_RINGS).
const MAX_TX_RINGS: usize = 16;

/// The MAC address of wire port `port_id` when the configuration names
/// none: locally administered and unicast (`02:…`), the port id in the last
/// two bytes. net_ring itself has no address (it reports all zeros) and
/// takes none, so the stack keeps this one for it.
pub(crate) fn default_mac(port_id: u16) -> [u8; 6] {
    let [hi, lo] = port_id.to_be_bytes();
    [0x02, 0x7a, 0x63, 0x00, hi, lo]
}

/// The rte_rings of an in-memory wire and how its queues are cabled.
#[derive(Default)]
pub(crate) struct Rings {
    /// Ring `i`: what queue `i` receives.
    rings: Vec<NonNull<dpdk_sys::rte_ring>>,
    layout: Option<Layout>,
}

/// How a spreading wire is cabled (none for `pairs`).
#[derive(Debug, Clone)]
struct Layout {
    spread: WireSpread,
    key: Vec<u8>,
    /// The two sides' queues.
    sides: [Vec<u16>; 2],
    /// Per queue: the ethdev transmit queue that sends to the other side's
    /// first queue (the others follow).
    tx_base: Vec<u16>,
}

impl Layout {
    fn side_of(&self, queue: u16) -> usize {
        usize::from(!self.sides[0].contains(&queue))
    }
}

// SAFETY: the rings are only freed in Drop, after the port that uses them
// is closed; the pointers are not dereferenced by Rust code.
unsafe impl Send for Rings {}
// SAFETY: as above; shared access never touches the rings.
unsafe impl Sync for Rings {}

impl Rings {
    /// Makes the rings of a wire with `queues` queue pairs, as `config` says,
    /// and the ethdev over them; returns them with its port id.
    pub(crate) fn create(config: &PortConfig, queues: u16) -> Result<(Rings, u16)> {
        let name = &config.name;
        if !dpdk_sys::HAS_RING_WIRE {
            return Err(Error::PortCapability {
                port: name.clone(),
                what: "this build has no in-memory wire (the net_ring PMD could not be linked)".into(),
            });
        }
        let layout = layout(config, queues)?;
        let mut rings = Rings { rings: Vec::new(), layout };
        for q in 0..queues {
            let cname = CString::new(format!("{name}-q{q}")).map_err(|_| Error::NoSuchPort(name.clone()))?;
            // One consumer (this queue's core); one producer (the peer core)
            // unless frames are spread over the rings of a side.
            let producers = if rings.layout.is_some() { 0 } else { dpdk_sys::RING_F_SP_ENQ };
            let flags = producers | dpdk_sys::RING_F_SC_DEQ;
            // SAFETY: valid name; DPDK copies it.
            let r = unsafe { dpdk_sys::rte_ring_create(cname.as_ptr(), config.rx_desc as u32, -1, flags) };
            rings.rings.push(NonNull::new(r).ok_or_else(|| Error::dpdk("rte_ring_create", 0))?);
        }
        let id = rings.port_id(name)?;
        Ok((rings, id))
    }

    /// True for a wire in `pairs` mode.
    pub(crate) fn is_paired(&self) -> bool {
        !self.rings.is_empty() && self.layout.is_none()
    }

    /// Transmit queues the ethdev needs for `queues` queue pairs.
    pub(crate) fn tx_queues(&self, queues: u16) -> u16 {
        self.tx_rings().len().max(queues as usize) as u16
    }

    /// The ring each ethdev transmit queue sends into.
    fn tx_rings(&self) -> Vec<*mut dpdk_sys::rte_ring> {
        let rx: Vec<_> = self.rings.iter().map(|r| r.as_ptr()).collect();
        let n = rx.len();
        match &self.layout {
            None => (0..n).map(|i| if i ^ 1 < n { rx[i ^ 1] } else { rx[i] }).collect(),
            Some(l) => (0..n as u16).flat_map(|q| l.sides[1 - l.side_of(q)].iter().map(|&o| rx[o as usize])).collect(),
        }
    }

    fn port_id(&self, name: &str) -> Result<u16> {
        let rx: Vec<*mut dpdk_sys::rte_ring> = self.rings.iter().map(|r| r.as_ptr()).collect();
        let tx = self.tx_rings();
        let cname = CString::new(name).map_err(|_| Error::NoSuchPort(name.into()))?;
        // SAFETY: the arrays hold rx.len() and tx.len() valid rings, alive
        // until Rings drops (after the port is closed).
        let ret = unsafe {
            dpdk_sys::eth_from_rings(cname.as_ptr(), rx.as_ptr(), rx.len() as u32, tx.as_ptr(), tx.len() as u32, 0)
        };
        if ret < 0 {
            return Err(Error::dpdk("rte_eth_from_rings", ret));
        }
        Ok(ret as u16)
    }

    /// How queue `queue`'s core picks a transmit queue per frame (`None`:
    /// its own, as on any port).
    pub(crate) fn fanout(&self, queue: u16) -> Option<Fanout> {
        let l = self.layout.as_ref()?;
        let other = &l.sides[1 - l.side_of(queue)];
        let base = l.tx_base[queue as usize];
        Some(Fanout {
            queues: (0..other.len() as u16).map(|j| base + j).collect(),
            rule: match l.spread {
                WireSpread::Toeplitz => Some(RssRule { key: l.key.clone(), reta: reta(other.len()) }),
                _ => None,
            },
            next: 0,
        })
    }

    /// The RSS the wire gives a group of cores: the receiving side's key
    /// and RETA (entries naming cores) if `cores` is exactly a side of a
    /// `toeplitz` wire.
    pub(crate) fn rss_rule(&self, cores: &[usize]) -> Option<RssRule> {
        let l = self.layout.as_ref().filter(|l| l.spread == WireSpread::Toeplitz)?;
        let side =
            l.sides.iter().find(|s| s.len() == cores.len() && s.iter().all(|&q| cores.contains(&(q as usize))))?;
        Some(RssRule { key: l.key.clone(), reta: reta(side.len()).iter().map(|&j| side[j as usize]).collect() })
    }
}

/// A redirection table over `n` queues: entry `e` names queue `e % n`.
fn reta(n: usize) -> Vec<u16> {
    (0..RETA_SIZE).map(|e| (e % n) as u16).collect()
}

/// The layout `config` asks for, checked.
fn layout(config: &PortConfig, queues: u16) -> Result<Option<Layout>> {
    if config.wire_spread == WireSpread::Pairs {
        return Ok(None);
    }
    let bad = |what: String| Error::PortCapability { port: config.name.clone(), what };
    let [a, b] = match &config.wire_sides[..] {
        [a, b] if !a.is_empty() && !b.is_empty() => [a.clone(), b.clone()],
        _ => return Err(bad("wire_spread needs wire_sides: two non-empty lists of queues".into())),
    };
    let mut all: Vec<u16> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    if all != (0..queues).collect::<Vec<_>>() {
        return Err(bad(format!(
            "wire_sides {a:?} and {b:?} must name each of the {queues} queues (one per worker lcore) exactly once"
        )));
    }
    if 2 * a.len() * b.len() > MAX_TX_RINGS {
        return Err(bad(format!(
            "sides of {} and {} queues need {} transmit rings; the ring PMD takes {MAX_TX_RINGS}",
            a.len(),
            b.len(),
            2 * a.len() * b.len()
        )));
    }
    let key = match &config.wire_rss_key {
        Some(hex) => parse_key(hex).map_err(bad)?,
        None => DEFAULT_RSS_KEY.to_vec(),
    };
    let sides = [a, b];
    let mut tx_base = Vec::with_capacity(queues as usize);
    let mut next = 0u16;
    for q in 0..queues {
        tx_base.push(next);
        next += sides[1 - usize::from(!sides[0].contains(&q))].len() as u16;
    }
    Ok(Some(Layout { spread: config.wire_spread, key, sides, tx_base }))
}

/// A Toeplitz key written as hex bytes (`"6d:5a:..."` or `"6d5a..."`), 40 of them.
pub(crate) fn parse_key(hex: &str) -> std::result::Result<Vec<u8>, String> {
    let digits: String = hex.chars().filter(|c| !matches!(c, ':' | ' ' | '-')).collect();
    if digits.len() != 80 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("{hex:?} is not a 40-byte key in hex"));
    }
    Ok((0..40).map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).unwrap_or(0)).collect())
}

impl Drop for Rings {
    fn drop(&mut self) {
        for r in self.rings.drain(..) {
            // SAFETY: created by rte_ring_create; the port using it is closed
            // (Port::drop runs before its fields drop).
            unsafe { dpdk_sys::rte_ring_free(r.as_ptr()) };
        }
    }
}

/// How one core of a spreading wire picks the transmit queue of each frame.
#[derive(Debug)]
pub(crate) struct Fanout {
    /// Ethdev transmit queue `queues[j]` sends to the other side's `j`-th queue.
    pub(crate) queues: Vec<u16>,
    /// `toeplitz`: the receiving side's rule (entries are positions in
    /// `queues`); `None`: round robin.
    rule: Option<RssRule>,
    next: usize,
}

impl Fanout {
    /// The position in `queues` of the queue `packet` goes to (a
    /// `toeplitz` wire also puts the hash in the mbuf, as a NIC does).
    #[inline]
    pub(crate) fn pick(&mut self, packet: &mut Packet) -> usize {
        let Some(rule) = &self.rule else {
            self.next = (self.next + 1) % self.queues.len();
            return self.next;
        };
        let Some((src, sport, dst, dport)) = ipv4_l4_tuple(packet.data()) else { return 0 };
        let (hash, j) = rule.route(src, sport, dst, dport);
        packet.set_rss_hash(hash);
        j
    }
}

/// Addresses and ports of an unfragmented IPv4 TCP or UDP frame.
#[inline]
fn ipv4_l4_tuple(f: &[u8]) -> Option<(Ipv4Addr, u16, Ipv4Addr, u16)> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[14] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let fragment = u16::from_be_bytes([f[20], f[21]]) & 0x3fff != 0;
    if !matches!(f[23], 6 | 17) || fragment || f.len() < 14 + ihl + 4 {
        return None;
    }
    let ip = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
    let port = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
    let l4 = 14 + ihl;
    Some((ip(26), port(l4), ip(30), port(l4 + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(spread: WireSpread, sides: &[&[u16]]) -> PortConfig {
        PortConfig {
            name: "wire0".into(),
            wire: true,
            wire_spread: spread,
            wire_sides: sides.iter().map(|s| s.to_vec()).collect(),
            ..PortConfig::default()
        }
    }

    #[test]
    fn each_core_sends_to_every_queue_of_the_other_side() {
        let l = layout(&config(WireSpread::Toeplitz, &[&[0, 1], &[2, 3]]), 4).unwrap().unwrap();
        // Cores 0 and 1 each have two transmit queues (to 2 and 3), as do 2 and 3.
        assert_eq!(l.tx_base, [0, 2, 4, 6]);
        let rings = Rings { rings: Vec::new(), layout: Some(l) };
        let rule = rings.rss_rule(&[3, 2]).expect("a side of a toeplitz wire has RSS");
        assert_eq!(&rule.reta[..4], &[2, 3, 2, 3]);
        assert_eq!(rings.rss_rule(&[0, 2]), None, "not a side");
        assert_eq!(rings.fanout(1).unwrap().queues, [2, 3]);
    }

    #[test]
    fn bad_sides_are_refused_with_the_reason() {
        let e =
            |sides: &[&[u16]], queues| layout(&config(WireSpread::RoundRobin, sides), queues).unwrap_err().to_string();
        assert!(e(&[&[0, 1]], 2).contains("two non-empty lists"), "{}", e(&[&[0, 1]], 2));
        assert!(e(&[&[0], &[0]], 2).contains("exactly once"));
        assert!(e(&[&[0, 1, 2], &[3, 4, 5]], 6).contains("transmit rings"));
        assert!(layout(&config(WireSpread::Pairs, &[]), 2).unwrap().is_none());
    }

    #[test]
    fn a_key_is_forty_hex_bytes() {
        let hex: Vec<String> = DEFAULT_RSS_KEY.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_key(&hex.join(":")).unwrap(), DEFAULT_RSS_KEY);
        assert!(parse_key("6d5a").is_err());
    }

    #[test]
    fn only_unfragmented_ipv4_tcp_and_udp_have_a_tuple() {
        let mut f = [0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = 6;
        f[26..30].copy_from_slice(&[198, 18, 0, 3]);
        f[30..34].copy_from_slice(&[198, 18, 0, 2]);
        f[34..38].copy_from_slice(&[0xc3, 0x50, 0, 7]);
        let t = (Ipv4Addr::new(198, 18, 0, 3), 50_000, Ipv4Addr::new(198, 18, 0, 2), 7);
        assert_eq!(ipv4_l4_tuple(&f), Some(t));
        f[20] = 0x20; // more fragments
        assert_eq!(ipv4_l4_tuple(&f), None);
        f[20] = 0;
        f[23] = 1; // ICMP
        assert_eq!(ipv4_l4_tuple(&f), None);
    }
}
