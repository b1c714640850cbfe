//! Which core owns a flow, and handing a frame to it.
//!
//! A flow (a TCP connection, a UDP 4-tuple) belongs to exactly one core, and
//! every core computes that core from the frame alone, by one rule:
//!
//! 1. The cores that share the frame's destination address form its
//!    **group** (all cores, unless `net.core_ips` gives cores addresses of
//!    their own); the owner is one of them.
//! 2. **With RSS** (the group's queues are the port's RSS queues): the core
//!    whose queue the redirection table names for the frame's hash — the
//!    NIC's hash when the mbuf carries one, else the Toeplitz hash computed
//!    here with the port's key. That is the queue the frame arrived on, so
//!    nothing is steered; active opens choose a local port whose replies
//!    hash back to their own queue.
//! 3. **Without RSS**: a flow to a local port in the ephemeral range
//!    (49152-65535) belongs to that port's partition — port `p` to the
//!    group's core `(p - 49152) mod n` — which is where active opens choose
//!    their ports; any other flow (a passive one, to a listening port)
//!    belongs to the core a hash of its 4-tuple names.
//!
//! A frame that arrives on a core that does not own it is handed over — the
//! very `Packet`, no copy — through a bounded lock-free queue per ordered
//! pair of cores (crossbeam's `ArrayQueue`), and enters the owner's ingress
//! path as if received there. A full queue drops the frame (counted). Only
//! TCP and UDP frames to this host are steered; ARP, ICMP and fragments are
//! handled where they arrive (ARP is also copied to every core of the
//! group, see `NetCore`).

use super::frame::FourTuple;
use super::ports::EPHEMERAL_FIRST;
use crate::packet::Packet;
use crate::runtime::Unparker;
use crate::toeplitz::rss_ipv4_l4;
pub use crate::toeplitz::RssRule;
use crossbeam_queue::ArrayQueue;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The cores that share one address.
#[derive(Debug)]
struct Group {
    ip: Ipv4Addr,
    cores: Vec<usize>,
    rss: Option<RssRule>,
}

/// The flow ownership of one `zcnet::run`, and the queues between its cores.
pub(crate) struct Steering {
    cores: usize,
    groups: Vec<Group>,
    /// `queues[src * cores + dst]`: frames from core `src` for core `dst`.
    queues: Box<[ArrayQueue<Packet>]>,
    unparkers: Box<[OnceLock<Unparker>]>,
    /// Per TCP port, the set of cores listening on it (bit `i`: core `i`).
    listening: Box<[AtomicU64]>,
    /// The key of the software flow hash (random per run).
    seed: u64,
}

impl std::fmt::Debug for Steering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steering").field("cores", &self.cores).field("groups", &self.groups).finish()
    }
}

impl Steering {
    /// Ownership for cores with addresses `ips` (core `i` has `ips[i]`),
    /// RSS as `rss` gives it per address, and room for `queue` frames in
    /// flight per ordered pair of cores.
    pub(crate) fn new(
        ips: &[Ipv4Addr],
        rss: impl Fn(Ipv4Addr, &[usize]) -> Option<RssRule>,
        queue: usize,
        seed: u64,
    ) -> Arc<Self> {
        let cores = ips.len();
        let mut groups: Vec<Group> = Vec::new();
        for (core, &ip) in ips.iter().enumerate() {
            match groups.iter_mut().find(|g| g.ip == ip) {
                Some(g) => g.cores.push(core),
                None => groups.push(Group { ip, cores: vec![core], rss: None }),
            }
        }
        for g in &mut groups {
            g.rss = rss(g.ip, &g.cores);
        }
        Arc::new(Steering {
            cores,
            groups,
            queues: (0..cores * cores).map(|_| ArrayQueue::new(queue)).collect(),
            unparkers: (0..cores).map(|_| OnceLock::new()).collect(),
            listening: (0..=u16::MAX as usize).map(|_| AtomicU64::new(0)).collect(),
            seed: seed | 1,
        })
    }

    fn group(&self, ip: Ipv4Addr) -> Option<&Group> {
        self.groups.iter().find(|g| g.ip == ip)
    }

    /// The core that owns the flow of a frame to `t.local_*` from
    /// `t.remote_*` (`nic_hash`: the RSS hash the NIC put in the mbuf), or
    /// `None` if no core has the destination address.
    #[inline]
    pub(crate) fn owner(&self, t: &FourTuple, nic_hash: Option<u32>) -> Option<usize> {
        let g = self.group(t.local_ip)?;
        if g.cores.len() == 1 {
            return Some(g.cores[0]);
        }
        if let Some(rss) = &g.rss {
            // The NIC hashes the frame as it arrives: remote to local.
            let h =
                nic_hash.unwrap_or_else(|| rss_ipv4_l4(&rss.key, t.remote_ip, t.remote_port, t.local_ip, t.local_port));
            return Some(rss.core_for(h));
        }
        Some(g.cores[self.partition(g, t)])
    }

    /// The position in its group of the owner of `t` without RSS.
    fn partition(&self, g: &Group, t: &FourTuple) -> usize {
        let n = g.cores.len();
        if t.local_port >= EPHEMERAL_FIRST {
            return (t.local_port - EPHEMERAL_FIRST) as usize % n;
        }
        // Multiply-shift over the tuple, keyed per run: cheap, and not
        // steerable onto one core by choosing tuples without the key.
        let x = (u64::from(u32::from(t.remote_ip)) << 32 | u64::from(t.remote_port) << 16 | u64::from(t.local_port))
            ^ u64::from(u32::from(t.local_ip)).rotate_left(17);
        let h = (x ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((h >> 32) as usize * n) >> 32
    }

    /// True if an active open from core `me` may use local port `t.local_port`
    /// for `t`: the replies will come back to `me` by the rule above.
    pub(crate) fn port_is_mine(&self, me: usize, t: &FourTuple) -> bool {
        self.owner(t, None).is_none_or(|o| o == me)
    }

    /// True if ephemeral port `port` of address `ip` is in core `me`'s
    /// partition (the rule without RSS; with RSS any port qualifies, since
    /// which core a datagram reaches then depends on its sender too).
    pub(crate) fn ephemeral_is_mine(&self, me: usize, ip: Ipv4Addr, port: u16) -> bool {
        match self.group(ip) {
            Some(g) if g.rss.is_none() && port >= EPHEMERAL_FIRST => {
                g.cores[(port - EPHEMERAL_FIRST) as usize % g.cores.len()] == me
            }
            _ => true,
        }
    }

    /// Hands `packet` from core `from` to core `to`; gives it back if that
    /// queue is full.
    pub(crate) fn push(&self, from: usize, to: usize, packet: Packet) -> Result<(), Packet> {
        self.queues[from * self.cores + to].push(packet)
    }

    /// A frame core `from` handed to core `me`, if any.
    #[inline]
    pub(crate) fn pop(&self, from: usize, me: usize) -> Option<Packet> {
        self.queues[from * self.cores + me].pop()
    }

    /// Frees every frame still queued between any two cores (once every
    /// core has stopped); returns how many.
    pub(crate) fn drain(&self) -> usize {
        self.queues.iter().map(|q| std::iter::from_fn(|| q.pop()).count()).sum()
    }

    /// True if some core handed `me` frames it has not taken yet.
    pub(crate) fn has_input(&self, me: usize) -> bool {
        (0..self.cores).any(|src| !self.queues[src * self.cores + me].is_empty())
    }

    /// How many cores this run has.
    pub(crate) fn cores(&self) -> usize {
        self.cores
    }

    /// The cores that share core `me`'s address (its group), `me` included.
    pub(crate) fn group_of(&self, ip: Ipv4Addr) -> &[usize] {
        self.group(ip).map_or(&[], |g| &g.cores[..])
    }

    /// Registers how to wake core `core` when frames are handed to it.
    pub(crate) fn set_unparker(&self, core: usize, unparker: Unparker) {
        let _ = self.unparkers[core].set(unparker);
    }

    /// Wakes core `core` if it sleeps (after frames were handed to it).
    pub(crate) fn unpark(&self, core: usize) {
        if let Some(u) = self.unparkers[core].get() {
            u.unpark();
        }
    }

    /// Notes that core `core` listens (or stopped listening) on TCP `port`.
    pub(crate) fn set_listening(&self, port: u16, core: usize, on: bool) {
        let bit = 1u64 << (core % 64);
        if on {
            self.listening[port as usize].fetch_or(bit, Ordering::AcqRel);
        } else {
            self.listening[port as usize].fetch_and(!bit, Ordering::AcqRel);
        }
    }

    /// True if any core listens on TCP `port`.
    pub(crate) fn listened_anywhere(&self, port: u16) -> bool {
        self.listening[port as usize].load(Ordering::Acquire) != 0
    }
}

impl super::stack::Inner {
    /// The owner of the head frame's flow if it is another core than this
    /// one: TCP and UDP (not fragments) to one of the run's addresses.
    #[inline]
    pub(crate) fn foreign_owner(&self, frame: &super::frame::Frame, packet: &Packet) -> Option<usize> {
        use super::frame::{Frame, L4};
        let Frame::Ipv4 { ip, l4 } = frame else { return None };
        if ip.fragment {
            return None;
        }
        let (src_port, dst_port) = match l4 {
            L4::Tcp(t) => (t.src_port, t.dst_port),
            L4::Udp(u) => (u.src_port, u.dst_port),
            _ => return None,
        };
        let t = FourTuple::inbound(ip, src_port, dst_port);
        let owner = self.steering.as_ref()?.owner(&t, packet.rss_hash())?;
        (owner != self.me).then_some(owner)
    }

    /// Hands the head frame to core `owner` (dropped and counted if its
    /// queue is full).
    pub(crate) fn hand_over(&mut self, owner: usize) {
        let (Some(steering), Some(packet)) = (self.steering.clone(), self.device.take_rx()) else { return };
        match steering.push(self.me, owner, packet) {
            Ok(()) => {
                self.stats.steering.steered_out += 1;
                self.handed_to |= 1 << (owner % 64);
            }
            Err(_dropped) => self.stats.steering.steer_drops += 1,
        }
    }

    /// Wakes the cores frames were handed to in this step.
    pub(crate) fn wake_handed_to(&mut self) {
        let (mask, Some(steering)) = (std::mem::take(&mut self.handed_to), self.steering.as_ref()) else { return };
        for core in (0..steering.cores()).filter(|c| mask & (1 << (c % 64)) != 0) {
            steering.unpark(core);
        }
    }

    /// Takes the frames other cores handed this one and routes them as if
    /// they had arrived here (a burst's worth per source core per step, so
    /// other cores cannot keep this one from its own queue); returns how many.
    pub(crate) fn take_steered(&mut self) -> usize {
        let Some(steering) = self.steering.clone() else { return 0 };
        let (mut taken, me) = (0, self.me);
        self.steered_pass = true;
        for src in (0..steering.cores()).filter(|&c| c != me) {
            for _ in 0..crate::MAX_BURST {
                if self.device.rx_room() == 0 {
                    self.process_rx();
                }
                let Some(p) = steering.pop(src, self.me) else { break };
                // The batch has room: just made sure.
                let _ = self.device.inject_rx(p);
                taken += 1;
            }
        }
        if taken > 0 {
            self.process_rx();
        }
        self.steered_pass = false;
        self.stats.steering.steered_in += taken as u64;
        taken
    }

    /// Gives every other core of this address a copy of the head ARP frame
    /// (their smoltcp interfaces keep their own neighbor caches). Only the
    /// group's first core answers requests: the others get requests turned
    /// into replies, which teach a cache without drawing an answer; so does
    /// this core's own copy if it is not the first.
    pub(crate) fn share_arp(&mut self) {
        let Some(steering) = self.steering.clone() else { return };
        let group: Vec<usize> = steering.group_of(self.ip).to_vec();
        let first = group.first().copied();
        let Some(frame) = self.device.peek_rx().map(|p| p.data().to_vec()) else { return };
        const OP: std::ops::Range<usize> = 20..22;
        let is_request = frame.get(OP) == Some(&[0, 1][..]);
        if !self.steered_pass {
            for &core in group.iter().filter(|&&c| c != self.me) {
                let Some(mut copy) = self.device.pool().try_alloc() else { break };
                let Ok(bytes) = copy.append(frame.len()) else { break };
                bytes.copy_from_slice(&frame);
                if is_request && Some(core) != first {
                    bytes[OP].copy_from_slice(&[0, 2]);
                }
                match steering.push(self.me, core, copy) {
                    Ok(()) => {
                        self.stats.steering.arp_copies += 1;
                        self.handed_to |= 1 << (core % 64);
                    }
                    Err(_dropped) => self.stats.steering.steer_drops += 1,
                }
            }
        }
        if is_request && first != Some(self.me) {
            if let Some(head) = self.device.peek_rx_mut() {
                if let Some(op) = head.data_mut().get_mut(OP) {
                    op.copy_from_slice(&[0, 2]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toeplitz::DEFAULT_RSS_KEY;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

    fn tuple(local_port: u16, remote_port: u16) -> FourTuple {
        FourTuple { local_ip: A, local_port, remote_ip: Ipv4Addr::new(198, 18, 0, 1), remote_port }
    }

    #[test]
    fn ephemeral_ports_belong_to_their_partition_and_passive_flows_spread() {
        let s = Steering::new(&[A, A, A], |_, _| None, 1024, 7);
        for p in EPHEMERAL_FIRST..EPHEMERAL_FIRST + 30 {
            assert_eq!(s.owner(&tuple(p, 80), None), Some((p - EPHEMERAL_FIRST) as usize % 3));
        }
        let mut seen = [0usize; 3];
        for rp in 1000..4000 {
            seen[s.owner(&tuple(80, rp), None).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "passive flows spread over the cores: {seen:?}");
        // The same frame gets the same owner every time, on every core.
        assert_eq!(s.owner(&tuple(80, 1234), None), s.owner(&tuple(80, 1234), None));
    }

    #[test]
    fn groups_are_cores_that_share_an_address() {
        let s = Steering::new(&[A, A, B, B], |_, _| None, 1024, 7);
        assert_eq!(s.group_of(A), &[0, 1]);
        assert_eq!(s.group_of(B), &[2, 3]);
        let to_b = FourTuple { local_ip: B, ..tuple(EPHEMERAL_FIRST + 1, 80) };
        assert_eq!(s.owner(&to_b, None), Some(3));
        let elsewhere = FourTuple { local_ip: Ipv4Addr::new(10, 0, 0, 1), ..tuple(80, 80) };
        assert_eq!(s.owner(&elsewhere, None), None);
    }

    #[test]
    fn with_rss_the_redirection_table_names_the_owner_and_ports_are_chosen_by_it() {
        let reta: Vec<u16> = (0..128).map(|i| i % 2).collect();
        let s = Steering::new(
            &[A, A],
            |_, cores| Some(RssRule { key: DEFAULT_RSS_KEY.to_vec(), reta: reta.clone() }).filter(|_| cores.len() == 2),
            1024,
            7,
        );
        let t = tuple(50_000, 80);
        let h = rss_ipv4_l4(&DEFAULT_RSS_KEY, t.remote_ip, t.remote_port, t.local_ip, t.local_port);
        assert_eq!(s.owner(&t, None), Some(reta[h as usize % 128] as usize));
        assert_eq!(s.owner(&t, Some(1)), Some(1), "the NIC's hash is used when the mbuf carries one");
        let mine = (EPHEMERAL_FIRST..EPHEMERAL_FIRST + 100).filter(|&p| s.port_is_mine(0, &tuple(p, 80))).count();
        assert!((25..=75).contains(&mine), "about half the ports hash back to core 0: {mine}");
    }

    #[test]
    fn a_full_steering_queue_hands_the_frame_back_and_leaks_nothing() {
        use crate::config::{EalConfig, Hugepages, MempoolConfig};
        let config = EalConfig { lcores: "0".into(), hugepages: Hugepages::Auto, memory_mb: 256, ..Default::default() };
        let _eal = crate::Eal::init(&config).expect("EAL init");
        let pool = crate::Mempool::new("steer", &MempoolConfig { mbufs: 255, cache: 0, ..Default::default() }, 0)
            .expect("pool");
        let s = Steering::new(&[A, A], |_, _| None, 8, 7);
        for _ in 0..8 {
            assert!(s.push(0, 1, pool.alloc().expect("alloc")).is_ok());
        }
        let refused = s.push(0, 1, pool.alloc().expect("alloc")).expect_err("the ninth frame finds the queue full");
        assert_eq!(pool.in_use(), 9, "the refused frame is handed back, not freed or lost");
        drop(refused);
        assert!(s.has_input(1) && !s.has_input(0));
        assert_eq!(std::iter::from_fn(|| s.pop(0, 1)).count(), 8);
        assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
        // Frames still queued when the steering goes are freed with it.
        s.push(1, 0, pool.alloc().expect("alloc")).expect("room");
        drop(s);
        assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
    }

    #[test]
    fn listeners_are_registered_per_port_and_core() {
        let s = Steering::new(&[A, A], |_, _| None, 1024, 7);
        assert!(!s.listened_anywhere(80));
        s.set_listening(80, 1, true);
        assert!(s.listened_anywhere(80));
        s.set_listening(80, 1, false);
        assert!(!s.listened_anywhere(80));
    }
}
