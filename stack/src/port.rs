//! Ethernet ports and their queues. A [`Port`] is configured once (queue
//! pairs, descriptors, offloads the device reports, MTU, MAC) and started;
//! each worker core then claims its own [`RxQueue`] and [`TxQueue`], which are
//! `!Send` and exclusive, so two cores can never use one queue.
//!
//! DPDK does not synchronise control calls with bursts, so those that change
//! the device's state ([`Port::stop`], [`Port::start`], [`Port::set_link`],
//! [`Port::set_promiscuous`]) take `&mut Port`: reachable through
//! `Arc::get_mut` only when no queue (each holds an `Arc<Port>`) is claimed.
//!
//! ```compile_fail
//! fn stop(port: &std::sync::Arc<zcnet_stack::Port>) {
//!     port.stop(); // a queue may be inside a burst on another core
//! }
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>() {}
//! assert_send::<zcnet_stack::RxQueue>();
//! ```
//! ```compile_fail
//! fn assert_send<T: Send>() {}
//! assert_send::<zcnet_stack::TxQueue>();
//! ```

use crate::config::{parse_mac, PortConfig};
use crate::error::{Error, Result};
use crate::mempool::Mempool;
use crate::packet::{Packet, PacketBatch};
use crate::toeplitz::RssRule;
use crate::wire::{Fanout, Rings};
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
const RX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
const RX_OFFLOAD_TCP_CKSUM: u64 = 1 << 3;
const TX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
const TX_OFFLOAD_UDP_CKSUM: u64 = 1 << 2;
const TX_OFFLOAD_TCP_CKSUM: u64 = 1 << 3;
const TX_OFFLOAD_MBUF_FAST_FREE: u64 = 1 << 16;
const RX_OFFLOAD_RSS_HASH: u64 = 1 << 19;
/// RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP.
const RSS_HASH_TYPES: u64 = 1 << 2 | RSS_NONFRAG_IPV4_TCP | 1 << 5;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
/// The most destinations a spreading wire gives one core.
const MAX_FANOUT: usize = 16;
/// Most bursts `RxQueue::drain` reads: enough for any ring (64 x 1024
/// packets), and an end for devices that generate packets forever.
const DRAIN_BURSTS: usize = 1024;

/// The checksum offloads a started port actually uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    /// The NIC verifies IPv4 header checksums on receive.
    pub rx_ipv4_checksum: bool,
    /// The NIC verifies TCP and UDP checksums on receive.
    pub rx_l4_checksum: bool,
    /// The NIC fills IPv4 header checksums on transmit.
    pub tx_ipv4_checksum: bool,
    /// The NIC fills TCP and UDP checksums on transmit.
    pub tx_l4_checksum: bool,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
}

/// Basic port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because rx queues were full.
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// rx mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// A configured, started Ethernet port.
pub struct Port {
    id: u16,
    name: String,
    mac: [u8; 6],
    mtu: u16,
    queues: u16,
    offloads: Offloads,
    rx_claimed: Box<[AtomicBool]>,
    tx_claimed: Box<[AtomicBool]>,
    /// The tx queues run with `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE`.
    fast_free: bool,
    // Queue `i` receives into `pools[i]` (and a tx queue copies what it
    // cannot send as it is into it): keep them alive while the port is.
    pools: Vec<Arc<Mempool>>,
    /// The RSS configuration read back from the device, if it has RSS.
    rss: Option<RssRule>,
    // An in-memory wire's rings; dropped (freed) after the port is closed.
    wire: Rings,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port").field("id", &self.id).field("name", &self.name).field("queues", &self.queues).finish()
    }
}

fn check(call: &'static str, ret: i32) -> Result<()> {
    if ret < 0 {
        Err(Error::dpdk(call, ret))
    } else {
        Ok(())
    }
}

/// Spreads the redirection table of port `id` over its `queues` queues and
/// reads it and the hash key back: the RSS rule every core computes owners
/// with. `None` if the device refuses any of it (then the stack steers).
fn read_rss(id: u16, info: &dpdk_sys::rte_eth_dev_info, queues: u16) -> Option<RssRule> {
    let size = info.reta_size as usize;
    let group = dpdk_sys::RTE_ETH_RETA_GROUP_SIZE as usize;
    let mut table = vec![dpdk_sys::rte_eth_rss_reta_entry64 { mask: u64::MAX, reta: [0; 64] }; size.div_ceil(group)];
    for e in 0..size {
        table[e / group].reta[e % group] = (e % queues as usize) as u16;
    }
    // SAFETY: `table` has room for `size` entries in 64-entry groups.
    if unsafe { dpdk_sys::rte_eth_dev_rss_reta_update(id, table.as_mut_ptr(), size as u16) } < 0 {
        return None;
    }
    table.iter_mut().for_each(|g| g.reta = [0; 64]);
    // SAFETY: as above.
    if unsafe { dpdk_sys::rte_eth_dev_rss_reta_query(id, table.as_mut_ptr(), size as u16) } < 0 {
        return None;
    }
    let reta: Vec<u16> = (0..size).map(|e| table[e / group].reta[e % group]).collect();
    let mut key = vec![0u8; if info.hash_key_size > 0 { info.hash_key_size as usize } else { 40 }];
    // SAFETY: zeroed rss_conf is valid; the key buffer has rss_key_len bytes.
    let mut conf: dpdk_sys::rte_eth_rss_conf = unsafe { std::mem::zeroed() };
    conf.rss_key = key.as_mut_ptr();
    conf.rss_key_len = key.len() as u8;
    // SAFETY: valid port id and out-pointer, key buffer as above.
    if unsafe { dpdk_sys::rte_eth_dev_rss_hash_conf_get(id, &mut conf) } < 0 {
        return None;
    }
    (!reta.is_empty() && reta.iter().all(|&q| q < queues)).then_some(RssRule { key, reta })
}

/// The port id of a device by name (`"net_null0"`, a PCI address).
pub fn port_id_by_name(name: &str) -> Result<u16> {
    let c = CString::new(name).map_err(|_| Error::NoSuchPort(name.into()))?;
    let mut id = 0u16;
    // SAFETY: valid C string and out-pointer.
    let ret = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if ret != 0 {
        return Err(Error::NoSuchPort(name.into()));
    }
    Ok(id)
}

impl Port {
    /// Configures and starts the port named in `config` with one rx/tx queue
    /// pair per pool in `pools` (queue `i` takes its mbufs from `pools[i]`).
    /// Only offloads the device reports are requested. Fails with
    /// [`Error::PortCapability`] if the device offers fewer queues.
    pub fn open(config: &PortConfig, pools: &[Arc<Mempool>]) -> Result<Arc<Port>> {
        let name = config.name.clone();
        let queues = pools.len() as u16;
        if queues == 0 {
            return Err(Error::PortCapability { port: name, what: "no mempool given for its queues".into() });
        }
        let (rings, id) =
            if config.wire { Rings::create(config, queues)? } else { (Rings::default(), port_id_by_name(&name)?) };
        // A spreading wire has a transmit queue per (core, receiving queue).
        let tx_queues = rings.tx_queues(queues);
        // SAFETY: rte_eth_dev_info is a plain C struct; zeroed is a valid
        // initial value and the call fills it.
        let mut info: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: valid port id and out-pointer.
        check("rte_eth_dev_info_get", unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) })?;
        if info.max_rx_queues < queues || info.max_tx_queues < tx_queues {
            return Err(Error::PortCapability {
                port: name,
                what: format!(
                    "offers {} rx / {} tx queues, {} were asked for (one pair per worker lcore): use at most {} worker lcores in eal.lcores",
                    info.max_rx_queues,
                    info.max_tx_queues,
                    queues,
                    info.max_rx_queues.min(info.max_tx_queues)
                ),
            });
        }

        let want_ck = config.checksum_offload;
        let rx_l4 = RX_OFFLOAD_UDP_CKSUM | RX_OFFLOAD_TCP_CKSUM;
        let tx_l4 = TX_OFFLOAD_UDP_CKSUM | TX_OFFLOAD_TCP_CKSUM;
        let offloads = Offloads {
            rx_ipv4_checksum: want_ck && info.rx_offload_capa & RX_OFFLOAD_IPV4_CKSUM != 0,
            rx_l4_checksum: want_ck && info.rx_offload_capa & rx_l4 == rx_l4,
            tx_ipv4_checksum: want_ck && info.tx_offload_capa & TX_OFFLOAD_IPV4_CKSUM != 0,
            tx_l4_checksum: want_ck && info.tx_offload_capa & tx_l4 == tx_l4,
        };
        // SAFETY: zeroed rte_eth_conf is DPDK's documented default.
        let mut conf: dpdk_sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        if offloads.rx_ipv4_checksum {
            conf.rxmode.offloads |= RX_OFFLOAD_IPV4_CKSUM;
        }
        if offloads.rx_l4_checksum {
            conf.rxmode.offloads |= rx_l4;
        }
        if offloads.tx_ipv4_checksum {
            conf.txmode.offloads |= TX_OFFLOAD_IPV4_CKSUM;
        }
        if offloads.tx_l4_checksum {
            conf.txmode.offloads |= tx_l4;
        }
        // The driver may then put sent mbufs straight back into one pool:
        // TxQueue makes sure every mbuf it hands over is of its own pool with
        // refcnt 1 (see `TxQueue::make_sendable`).
        let fast_free = info.tx_offload_capa & TX_OFFLOAD_MBUF_FAST_FREE != 0;
        if fast_free {
            conf.txmode.offloads |= TX_OFFLOAD_MBUF_FAST_FREE;
        }
        // RSS only where the device has a redirection table to read back
        // and hashes IPv4 TCP by its 4-tuple; elsewhere (net_tap, whose
        // kernel side picks the queue; net_ring) flows land where they land
        // and the stack steers them in software.
        let rss_hf = info.flow_type_rss_offloads & RSS_HASH_TYPES;
        let want_rss = !config.wire && queues > 1 && info.reta_size > 0 && rss_hf & RSS_NONFRAG_IPV4_TCP != 0;
        if want_rss {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            // No key given: the device keeps its own, which is read back.
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            if info.rx_offload_capa & RX_OFFLOAD_RSS_HASH != 0 {
                conf.rxmode.offloads |= RX_OFFLOAD_RSS_HASH;
            }
        }
        // SAFETY: valid port id; conf outlives the call.
        check("rte_eth_dev_configure", unsafe { dpdk_sys::rte_eth_dev_configure(id, queues, tx_queues, &conf) })?;

        let (mut rx_desc, mut tx_desc) = (config.rx_desc, config.tx_desc);
        // SAFETY: valid port id and out-pointers.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc)
        })?;
        // SAFETY: valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { -1 } else { socket }; // -1 is SOCKET_ID_ANY
        for (q, pool) in pools.iter().enumerate() {
            let mut rxconf = info.default_rxconf;
            rxconf.offloads = conf.rxmode.offloads;
            // SAFETY: the port is configured with `queues` rx queues; the
            // pool outlives the port (held in `pools`).
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(id, q as u16, rx_desc, socket as u32, &rxconf, pool.as_ptr())
            })?;
        }
        for q in 0..tx_queues {
            let mut txconf = info.default_txconf;
            txconf.offloads = conf.txmode.offloads;
            // SAFETY: the port is configured with `tx_queues` tx queues.
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket as u32, &txconf)
            })?;
        }

        // MTU: some virtual devices cannot change it; that is only an error
        // if the configuration asks for a non-default value.
        // SAFETY: valid port id.
        let ret = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, config.mtu) };
        let mut mtu = config.mtu;
        // An in-memory wire carries any frame that fits an mbuf: its MTU is
        // whatever the configuration says.
        if ret < 0 && !config.wire {
            if config.mtu != 1500 {
                return Err(Error::PortCapability { port: name, what: format!("cannot set MTU {}", config.mtu) });
            }
            let mut cur = 0u16;
            // SAFETY: valid port id and out-pointer.
            if unsafe { dpdk_sys::rte_eth_dev_get_mtu(id, &mut cur) } == 0 {
                mtu = cur;
            }
        }
        // A frame must fit one mbuf: zcnet requests no rx scatter, so rx
        // hands over single segments (which PacketBatch and TxQueue rely on);
        // some drivers would scatter by themselves for a larger MTU.
        let headroom = dpdk_sys::RTE_PKTMBUF_HEADROOM as usize;
        if let Some(pool) = pools.iter().find(|p| mtu as usize + 14 > p.data_room().saturating_sub(headroom)) {
            return Err(Error::PortCapability {
                port: name,
                what: format!(
                    "MTU {mtu} does not fit one mbuf of pool {} ({} bytes of data room, {headroom} of them headroom): raise the data room or lower the MTU",
                    pool.name(),
                    pool.data_room()
                ),
            });
        }
        let configured_mac = match &config.mac {
            Some(mac) => Some(parse_mac(mac).map_err(|what| Error::PortCapability { port: name.clone(), what })?),
            None => None,
        };
        // net_ring keeps no address of its own (it reports 00:00:00:00:00:00,
        // which is no host's address: the datagram path would never learn a
        // neighbor from it and every `send_packet` would fall back to
        // smoltcp's copy) and cannot be given one; the wire's frames only
        // need the stack to agree with itself, so zcnet names the address.
        let wire_mac = config.wire.then(|| configured_mac.unwrap_or(crate::wire::default_mac(id)));
        if let (Some(mac), None) = (configured_mac, wire_mac) {
            let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac };
            // SAFETY: valid port id and address.
            check("rte_eth_dev_default_mac_addr_set", unsafe {
                dpdk_sys::rte_eth_dev_default_mac_addr_set(id, &mut addr)
            })?;
        }
        // SAFETY: valid, configured port.
        check("rte_eth_dev_start", unsafe { dpdk_sys::rte_eth_dev_start(id) })?;
        let rss = if want_rss { read_rss(id, &info, queues) } else { None };
        if config.promiscuous {
            // Not every vdev supports it (net_null does not care); ignore -ENOTSUP.
            // SAFETY: valid started port.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        }
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        check("rte_eth_macaddr_get", unsafe { dpdk_sys::rte_eth_macaddr_get(id, &mut addr) })?;
        let claimed = |n| (0..n).map(|_| AtomicBool::new(false)).collect::<Vec<_>>().into_boxed_slice();
        Ok(Arc::new(Port {
            id,
            name,
            mac: wire_mac.unwrap_or(addr.addr_bytes),
            mtu,
            queues,
            offloads,
            rx_claimed: claimed(queues),
            tx_claimed: claimed(queues),
            fast_free,
            pools: pools.to_vec(),
            rss,
            wire: rings,
        }))
    }

    /// DPDK's port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Number of rx/tx queue pairs.
    pub fn queue_pairs(&self) -> u16 {
        self.queues
    }

    /// How the port spreads the flows of a group of `cores` (queue `i` is
    /// core `i`'s) over their queues, if it does so by RSS: a NIC whose
    /// redirection table spans every queue (read back at start), or a side
    /// of an in-memory wire in `toeplitz` mode. `None`: frames land on any
    /// queue and the stack steers them.
    pub fn rss_rule(&self, cores: &[usize]) -> Option<RssRule> {
        if let Some(rule) = self.wire.rss_rule(cores) {
            return Some(rule);
        }
        let all = cores.len() == self.queues as usize && (0..self.queues as usize).all(|q| cores.contains(&q));
        self.rss.clone().filter(|_| all)
    }

    /// True if this is an in-memory wire cabled in pairs (queue `i` to
    /// `i ^ 1`): each core's frames reach exactly its peer.
    pub(crate) fn is_paired_wire(&self) -> bool {
        self.wire.is_paired()
    }

    /// The checksum offloads in use.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Turns promiscuous mode on or off. Needs every queue released (see
    /// the module docs).
    pub fn set_promiscuous(&mut self, on: bool) -> Result<()> {
        // SAFETY: valid port id; no queue exists (`&mut self`).
        let ret = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.id)
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.id)
            }
        };
        check("rte_eth_promiscuous_enable/disable", ret)
    }

    /// The link state, without waiting.
    pub fn link(&self) -> LinkStatus {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer.
        unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut link) };
        LinkStatus { up: link.link_status() != 0, speed_mbps: link.link_speed }
    }

    /// Basic counters.
    pub fn stats(&self) -> Result<PortStats> {
        // SAFETY: zeroed stats is valid; the call fills it.
        let mut s: dpdk_sys::rte_eth_stats = unsafe { std::mem::zeroed() };
        // SAFETY: valid port id and out-pointer.
        check("rte_eth_stats_get", unsafe { dpdk_sys::rte_eth_stats_get(self.id, &mut s) })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Extended counters, by name, as the driver reports them.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        // SAFETY: a null array with size 0 asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        check("rte_eth_xstats_get_names", n)?;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n as usize];
        let mut values = vec![dpdk_sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: both arrays have room for n entries.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32) };
        check("rte_eth_xstats_get_names", got)?;
        // SAFETY: as above.
        let got2 = unsafe { dpdk_sys::rte_eth_xstats_get(self.id, values.as_mut_ptr(), n as u32) };
        check("rte_eth_xstats_get", got2)?;
        let count = (got.min(got2)) as usize;
        Ok(values[..count]
            .iter()
            .map(|v| {
                let name = names.get(v.id as usize).map(|n| {
                    // SAFETY: DPDK NUL-terminates names within the 64-byte array.
                    unsafe { CStr::from_ptr(n.name.as_ptr()) }.to_string_lossy().into_owned()
                });
                (name.unwrap_or_default(), v.value)
            })
            .collect())
    }

    /// Resets the basic counters.
    pub fn reset_stats(&self) -> Result<()> {
        // SAFETY: valid port id.
        check("rte_eth_stats_reset", unsafe { dpdk_sys::rte_eth_stats_reset(self.id) })
    }

    /// Stops the port: the NIC stops receiving and sending, and returns the
    /// mbufs it holds to their pools; [`Port::start`] resumes. Needs every
    /// queue released, so no burst runs meanwhile:
    ///
    /// ```no_run
    /// # fn example(mut port: std::sync::Arc<zcnet_stack::Port>) -> zcnet_stack::Result<()> {
    /// if let Some(port) = std::sync::Arc::get_mut(&mut port) {
    ///     port.stop()?;
    ///     port.start()?;
    /// } // else: a queue is still claimed somewhere
    /// # Ok(()) }
    /// ```
    pub fn stop(&mut self) -> Result<()> {
        // SAFETY: valid port id; `&mut self` means no queue exists, so no
        // burst runs while the device stops.
        check("rte_eth_dev_stop", unsafe { dpdk_sys::rte_eth_dev_stop(self.id) })
    }

    /// Starts the port again after [`Port::stop`].
    pub fn start(&mut self) -> Result<()> {
        // SAFETY: valid, configured port; no queue exists (`&mut self`).
        check("rte_eth_dev_start", unsafe { dpdk_sys::rte_eth_dev_start(self.id) })
    }

    /// Brings the link down or up (where the driver supports it). Needs
    /// every queue released (see the module docs).
    pub fn set_link(&mut self, up: bool) -> Result<()> {
        // SAFETY: valid port id; no queue exists (`&mut self`).
        let ret = unsafe {
            if up {
                dpdk_sys::rte_eth_dev_set_link_up(self.id)
            } else {
                dpdk_sys::rte_eth_dev_set_link_down(self.id)
            }
        };
        check("rte_eth_dev_set_link_up/down", ret)
    }

    fn claim(self: &Arc<Self>, queue: u16, kind: &'static str, claimed: &[AtomicBool]) -> Result<()> {
        let slot = claimed.get(queue as usize).ok_or_else(|| Error::Queue {
            port: self.name.clone(),
            kind,
            queue,
            why: "does not exist",
        })?;
        if slot.swap(true, Ordering::AcqRel) {
            return Err(Error::Queue { port: self.name.clone(), kind, queue, why: "is already in use" });
        }
        Ok(())
    }

    /// Claims rx queue `queue` for the calling core.
    pub fn rx_queue(self: &Arc<Self>, queue: u16) -> Result<RxQueue> {
        self.claim(queue, "rx", &self.rx_claimed)?;
        let refill_from = DRIVERS_LOSING_RX_WITHOUT_MBUFS
            .contains(&self.driver_name().as_str())
            .then(|| self.pools[queue as usize].clone());
        Ok(RxQueue {
            port: self.clone(),
            port_id: self.id,
            queue,
            refill_from,
            limited_by_pool: 0,
            _not_send: PhantomData,
        })
    }

    /// Frees what waits in every receive queue no core has claimed — after
    /// the cores are done: loopback devices and in-memory wires keep frames
    /// in their rings across a stop. Returns how many packets it freed.
    pub fn drain_rx(self: &Arc<Self>) -> usize {
        (0..self.queues).filter_map(|q| self.rx_queue(q).ok()).map(|mut rxq| rxq.drain()).sum()
    }

    /// Gives every transmit queue no core has claimed an empty burst — after
    /// the cores are done: some drivers take back the mbufs they have sent
    /// only when they next transmit (net_af_xdp, from its completion ring),
    /// and they belong to the pools too.
    pub fn flush_tx(self: &Arc<Self>) {
        (0..self.queues).filter_map(|q| self.tx_queue(q).ok()).for_each(|mut txq| txq.flush());
    }

    /// The name of the device's driver (`net_tap`, `net_af_xdp`, ...).
    pub fn driver_name(&self) -> String {
        // SAFETY: rte_eth_dev_info is a plain C struct; zeroed is a valid
        // initial value and the call fills it.
        let mut info: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: valid port id and out-pointer.
        if unsafe { dpdk_sys::rte_eth_dev_info_get(self.id, &mut info) } != 0 || info.driver_name.is_null() {
            return String::new();
        }
        // SAFETY: a NUL-terminated string of the driver, static in DPDK.
        unsafe { std::ffi::CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
    }

    /// Claims tx queue `queue` for the calling core.
    pub fn tx_queue(self: &Arc<Self>, queue: u16) -> Result<TxQueue> {
        self.claim(queue, "tx", &self.tx_claimed)?;
        let pool = self.pools[queue as usize].clone();
        let fast_free_pool = self.fast_free.then(|| pool.as_ptr());
        Ok(TxQueue {
            port: self.clone(),
            port_id: self.id,
            queue,
            fanout: self.wire.fanout(queue),
            refused: 0,
            unsendable: 0,
            pool,
            fast_free_pool,
            _not_send: PhantomData,
        })
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // Queues hold an Arc<Port>, so none is in use here. Stopping returns
        // the mbufs the driver holds to their pools.
        // SAFETY: valid port id; nothing else uses the port any more.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// Drivers whose receive burst loses what is still queued when it cannot
/// replace an mbuf. DPDK 22.11's net_tap reads a frame into the ring's
/// mbuf, then allocates that mbuf's replacement; when the allocation fails
/// it drops the frame and ends the burst, and a burst that returns fewer
/// frames than asked marks the queue's rx signal as seen, so the rest of
/// the kernel's queue is not read until another frame arrives and raises a
/// new one: seconds later, or never if the peer waits for an answer. Their
/// queues ask for no more frames than the pool can replace
/// ([`RxQueue::rx_burst`]).
const DRIVERS_LOSING_RX_WITHOUT_MBUFS: &[&str] = &["net_tap"];

/// A receive queue, owned by one core.
pub struct RxQueue {
    port: Arc<Port>,
    port_id: u16,
    queue: u16,
    /// The pool the driver replaces received mbufs from, if it is one of
    /// [`DRIVERS_LOSING_RX_WITHOUT_MBUFS`].
    refill_from: Option<Arc<Mempool>>,
    /// Bursts that asked for fewer frames for want of free mbufs.
    limited_by_pool: u64,
    _not_send: PhantomData<*const ()>,
}

impl RxQueue {
    /// Receives up to `max` packets, appending them to `batch` (limited by
    /// its spare room). Returns how many arrived.
    ///
    /// On a driver that would lose frames when it cannot replace an mbuf
    /// (net_tap, see `DRIVERS_LOSING_RX_WITHOUT_MBUFS` in this file's
    /// source), it asks for no more than the pool has free for this lcore,
    /// and with none free it receives nothing: the frames wait in the
    /// driver's queue until packets are freed (back-pressure), and each
    /// such burst is counted ([`RxQueue::limited_by_pool`]).
    #[inline]
    pub fn rx_burst(&mut self, batch: &mut PacketBatch, max: usize) -> usize {
        let (ptr, mut room) = batch.spare_raw(max);
        if let Some(pool) = &self.refill_from {
            let free = pool.available_here();
            if free < room {
                self.limited_by_pool += 1;
                room = free;
            }
        }
        if room == 0 {
            return 0;
        }
        // SAFETY: `ptr` has room for `room` mbuf pointers; the driver writes
        // that many at most, each an mbuf it hands over to us, a single
        // segment (no scatter is requested and the MTU fits one mbuf: see
        // `Port::open`).
        unsafe {
            let n = dpdk_sys::zc_eth_rx_burst(self.port_id, self.queue, ptr, room as u16) as usize;
            batch.filled(n);
            n
        }
    }

    /// Receives and frees what is waiting in the queue (at most
    /// `DRAIN_BURSTS` bursts); returns how many packets that was. Loopback
    /// devices such as net_ring keep packets in their rings across a stop,
    /// so a clean shutdown drains them.
    pub fn drain(&mut self) -> usize {
        let mut batch = PacketBatch::new();
        let mut total = 0;
        // Bounded: a source device (net_null) never runs dry.
        for _ in 0..DRAIN_BURSTS {
            let n = self.rx_burst(&mut batch, crate::MAX_BURST);
            batch.clear();
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    }

    /// Receive bursts that asked for fewer frames than they had room for
    /// (or none) because the pool had fewer free mbufs: only on drivers
    /// that would otherwise lose frames (see [`RxQueue::rx_burst`]).
    pub fn limited_by_pool(&self) -> u64 {
        self.limited_by_pool
    }

    /// The port this queue belongs to.
    pub fn port(&self) -> &Arc<Port> {
        &self.port
    }

    /// The queue index.
    pub fn index(&self) -> u16 {
        self.queue
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.port.rx_claimed[self.queue as usize].store(false, Ordering::Release);
    }
}

/// A transmit queue, owned by one core.
///
/// Every mbuf it hands to the driver is one the device can take as it is:
/// a single segment (zcnet does not request `RTE_ETH_TX_OFFLOAD_MULTI_SEGS`,
/// so a driver may read only the first), and, on a queue that runs with
/// `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE` (the driver then puts sent mbufs
/// straight back into one pool), an mbuf of this queue's pool with refcnt 1.
/// Any other packet — a chain, or on such a queue a packet from another
/// core's pool — is first copied into one mbuf of this queue's pool (and the
/// original freed to its own); see [`TxQueue::make_sendable`].
///
/// The cost: on a FAST_FREE queue each packet's pool and refcnt are read
/// (its first cache line, which the driver reads anyway); elsewhere packets
/// are only looked at when their batch may hold a chain (see [`PacketBatch`]),
/// so forwarding what rx delivered costs nothing.
pub struct TxQueue {
    port: Arc<Port>,
    port_id: u16,
    queue: u16,
    refused: u64,
    unsendable: u64,
    /// The pool of this queue's core: where unsendable packets are copied.
    pool: Arc<Mempool>,
    /// With FAST_FREE, the only pool whose mbufs the driver may be given.
    fast_free_pool: Option<*mut dpdk_sys::rte_mempool>,
    /// On a spreading in-memory wire: which transmit queue each frame takes.
    fanout: Option<Fanout>,
    _not_send: PhantomData<*const ()>,
}

impl TxQueue {
    /// Hands the batch's packets to the driver, from the front. Packets the
    /// queue refused (it was full) stay in `batch` for the caller to retry or
    /// drop; nothing is leaked. A packet the device cannot take as it is is
    /// copied first (see the type's docs); one that cannot be copied is
    /// dropped and counted in [`TxQueue::unsendable`]. Returns how many were
    /// sent.
    #[inline]
    pub fn tx_burst(&mut self, batch: &mut PacketBatch) -> usize {
        if self.fanout.is_some() {
            return self.tx_burst_fanout(batch);
        }
        // Checked one by one only when a packet may be unfit: rx fills
        // batches with single segments (see PacketBatch).
        if self.fast_free_pool.is_some() || batch.may_hold_chains() {
            return self.tx_burst_checked(batch);
        }
        let (ptr, n) = batch.pending_raw();
        if n == 0 {
            return 0;
        }
        // SAFETY: `ptr` points at `n` owned single-segment mbufs and this
        // queue does not run with FAST_FREE; the driver takes ownership of
        // the first `sent`, and `consumed` removes exactly those.
        unsafe {
            let sent = dpdk_sys::zc_eth_tx_burst(self.port_id, self.queue, ptr, n as u16) as usize;
            batch.consumed(sent);
            sent
        }
    }

    /// `tx_burst` for a batch whose packets must be looked at one by one.
    #[inline(never)]
    fn tx_burst_checked(&mut self, batch: &mut PacketBatch) -> usize {
        let mut sent = 0;
        loop {
            let (ptr, n) = batch.pending_raw();
            if n == 0 {
                return sent;
            }
            let pkts = batch.as_slice();
            let fit = match self.fast_free_pool {
                None => pkts.iter().take_while(|p| p.segment_count() == 1).count(),
                Some(pool) => pkts
                    .iter()
                    .take_while(|p| p.segment_count() == 1 && p.refcnt() == 1 && p.pool_ptr() == pool)
                    .count(),
            };
            if fit > 0 {
                // SAFETY: `ptr` points at `n >= fit` owned mbufs, the first
                // `fit` of which the device can take; the driver takes
                // ownership of the first `took`, and `consumed` removes
                // exactly those.
                let took = unsafe {
                    let took = dpdk_sys::zc_eth_tx_burst(self.port_id, self.queue, ptr, fit as u16) as usize;
                    batch.consumed(took);
                    took
                };
                sent += took;
                if took < fit || fit == n {
                    return sent;
                }
            }
            // The head cannot be sent as it is.
            let head = &mut batch.as_mut_slice()[0];
            match self.copy_of(head) {
                Some(copy) => drop(std::mem::replace(head, copy)),
                None => {
                    self.unsendable += 1;
                    drop(batch.pop());
                }
            }
        }
    }

    /// `tx_burst` on a spreading in-memory wire: each frame goes to the
    /// transmit queue its [`Fanout`] picks. The batch is reordered by
    /// destination (stably: a flow's frames, which share one, keep their
    /// order) and sent in one burst per destination; what a full ring
    /// refuses stays in `batch`.
    #[inline(never)]
    fn tx_burst_fanout(&mut self, batch: &mut PacketBatch) -> usize {
        if batch.may_hold_chains() {
            self.keep_only_sendable(batch);
        }
        let Some(fanout) = self.fanout.as_mut() else { return 0 };
        let mut count = [0usize; MAX_FANOUT];
        let mut pos = [0u8; crate::MAX_BURST];
        {
            let pkts = batch.packets_mut();
            let mut dest = [0u8; crate::MAX_BURST];
            for (i, p) in pkts.iter_mut().enumerate() {
                let d = fanout.pick(p);
                dest[i] = d as u8;
                count[d] += 1;
            }
            // A stable counting sort, in place: packet i moves to pos[i].
            let mut next = [0usize; MAX_FANOUT];
            let mut at = 0;
            for (n, c) in next.iter_mut().zip(count) {
                *n = at;
                at += c;
            }
            for (i, &d) in dest[..pkts.len()].iter().enumerate() {
                pos[i] = next[d as usize] as u8;
                next[d as usize] += 1;
            }
            for i in 0..pkts.len() {
                while pos[i] as usize != i {
                    let j = pos[i] as usize;
                    pkts.swap(i, j);
                    pos.swap(i, j);
                }
            }
        }
        let mut sent = 0;
        for (&queue, &n) in fanout.queues.iter().zip(&count).filter(|(_, &n)| n > 0) {
            let (ptr, _) = batch.pending_raw();
            // SAFETY: the batch's first `n` packets are owned single-segment
            // mbufs (checked above when it may hold chains) bound for this
            // queue; a ring queue has no FAST_FREE. The driver takes the
            // first `took`, and `consumed` removes exactly those.
            let took = unsafe {
                let took = dpdk_sys::zc_eth_tx_burst(self.port_id, queue, ptr, n as u16) as usize;
                batch.consumed(took);
                took
            };
            sent += took;
            if took < n {
                break;
            }
        }
        sent
    }

    /// Replaces each chained packet of `batch` by a one-mbuf copy (dropping
    /// and counting it in [`TxQueue::unsendable`] if none can be made).
    fn keep_only_sendable(&mut self, batch: &mut PacketBatch) {
        let mut kept = PacketBatch::new();
        while let Some(p) = batch.pop() {
            match self.make_sendable(p) {
                // Room: `kept` gets at most what `batch` held.
                Ok(p) => drop(kept.push(p)),
                Err(_) => self.unsendable += 1,
            }
        }
        *batch = kept;
    }

    /// An empty burst: the driver takes nothing, but may reclaim what it has
    /// finished sending (net_af_xdp frees its completed mbufs only when it
    /// is next asked to transmit).
    pub fn flush(&mut self) {
        let mut none = [std::ptr::null_mut::<dpdk_sys::rte_mbuf>()];
        // SAFETY: a burst of 0 packets: the driver reads no pointer from the
        // array and takes nothing.
        unsafe { dpdk_sys::zc_eth_tx_burst(self.port_id, self.queue, none.as_mut_ptr(), 0) };
    }

    /// Whether the device can take `packet` as it is.
    #[inline(always)]
    fn can_send(&self, packet: &Packet) -> bool {
        packet.segment_count() == 1
            && self.fast_free_pool.is_none_or(|pool| packet.refcnt() == 1 && packet.pool_ptr() == pool)
    }

    /// One mbuf of this queue's pool holding `packet`'s bytes and transmit
    /// offload requests, if the pool has one free and the bytes fit in it.
    fn copy_of(&self, packet: &Packet) -> Option<Packet> {
        let mut copy = self.pool.try_alloc()?;
        let mut at = copy.append(packet.len()).ok()?;
        for segment in packet.segments() {
            at[..segment.len()].copy_from_slice(segment);
            at = &mut at[segment.len()..];
        }
        copy.copy_tx_offload_from(packet);
        Some(copy)
    }

    /// `packet` as this queue can send it: itself, or a copy in one mbuf of
    /// the queue's pool (see the type's docs; `tx_burst` does this by
    /// itself). Hands the packet back if it needs a copy and none can be
    /// made: longer than one mbuf, or no mbuf free in the pool.
    pub fn make_sendable(&mut self, packet: Packet) -> Result<Packet, Packet> {
        if self.can_send(&packet) {
            return Ok(packet);
        }
        self.copy_of(&packet).ok_or(packet)
    }

    /// Sends what the queue takes and frees the rest, counting them in
    /// [`TxQueue::refused`] — the testpmd policy for forwarding.
    #[inline]
    pub fn tx_burst_or_drop(&mut self, batch: &mut PacketBatch) -> usize {
        let sent = self.tx_burst(batch);
        if !batch.is_empty() {
            self.refused += batch.len() as u64;
            batch.clear();
        }
        sent
    }

    /// Packets dropped by [`TxQueue::tx_burst_or_drop`] because the queue was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Packets dropped by [`TxQueue::tx_burst`] because the device could not
    /// take them as they were and no copy could be made.
    pub fn unsendable(&self) -> u64 {
        self.unsendable
    }

    /// The port this queue belongs to.
    pub fn port(&self) -> &Arc<Port> {
        &self.port
    }

    /// The queue index.
    pub fn index(&self) -> u16 {
        self.queue
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.port.tx_claimed[self.queue as usize].store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EalConfig, Hugepages, MempoolConfig};
    use crate::Eal;

    #[test]
    fn a_fast_free_queue_is_only_given_mbufs_of_its_own_pool() {
        // No virtual device offers MBUF_FAST_FREE, so this puts a net_ring
        // queue in that mode to check the rule (the only test here that
        // starts EAL: one per process).
        let config = EalConfig {
            vdevs: vec!["net_ring0".into()],
            lcores: "0".into(),
            hugepages: Hugepages::Auto,
            memory_mb: 256,
            ..Default::default()
        };
        let _eal = Eal::init(&config).expect("EAL init");
        let pool_config = MempoolConfig { mbufs: 255, cache: 0, ..Default::default() };
        let own = Arc::new(Mempool::new("own", &pool_config, 0).expect("pool"));
        let other = Arc::new(Mempool::new("other", &pool_config, 0).expect("pool"));
        let port_config = PortConfig { name: "net_ring0".into(), ..Default::default() };
        let port = Port::open(&port_config, std::slice::from_ref(&own)).expect("port");
        let (mut rx, mut tx) = (port.rx_queue(0).expect("rx queue"), port.tx_queue(0).expect("tx queue"));
        tx.fast_free_pool = Some(own.as_ptr());
        let with = |pool: &Mempool, bytes: &[u8]| {
            let mut p = pool.alloc().expect("alloc");
            p.append(bytes.len()).expect("append").copy_from_slice(bytes);
            p
        };
        let mine = with(&own, b"mine");
        let mine_at = mine.mbuf_ptr();
        let mut batch = PacketBatch::new();
        for p in [mine, with(&other, b"foreign")] {
            batch.push(p).expect("room");
        }
        assert_eq!(tx.tx_burst(&mut batch), 2);
        assert!(other.is_full(), "a mbuf of another pool was handed to a FAST_FREE queue");
        let mut got = PacketBatch::new();
        assert_eq!(rx.rx_burst(&mut got, 8), 2);
        let (first, second) = (&got.as_slice()[0], &got.as_slice()[1]);
        assert_eq!((first.mbuf_ptr(), first.data()), (mine_at, &b"mine"[..]), "its own mbuf left as it is");
        assert_eq!((second.pool_ptr(), second.data()), (own.as_ptr(), &b"foreign"[..]), "the foreign one as a copy");
        drop((got, rx, tx, port));
        assert!(own.is_full(), "{} mbuf(s) leaked", own.in_use());
    }

    #[test]
    fn offload_bits_match_dpdk_headers() {
        // The RTE_ETH_*_OFFLOAD_* macros are RTE_BIT64(n); bindgen cannot
        // expand them, so check the few used here by their documented bit.
        assert_eq!(TX_OFFLOAD_MBUF_FAST_FREE, 1 << 16);
        assert_eq!(dpdk_sys::RTE_MBUF_F_TX_TCP_CKSUM, 1 << 52);
    }
}
