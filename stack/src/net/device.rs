//! smoltcp's `phy::Device` over one (port, queue pair) of a core.
//!
//! Receive lends: the `RxToken` owns the received [`Packet`] and hands
//! smoltcp a borrow of the mbuf's bytes — no copy. Transmit writes in place:
//! the `TxToken` takes a fresh mbuf from the core's pool and lets smoltcp
//! serialise the frame straight into it. Frames are batched and sent with
//! `tx_burst`: once a turn when the batch holds half a receive burst, then
//! whenever it is full, and at the end of the turn's egress pass (see
//! [`EarlyFlush`]); what the queue refuses stays queued for the next turn.
//!
//! Both directions prefetch, because on a two-core wire (or after a NIC's
//! DMA) every mbuf arrives cold: a received burst's headers, and each
//! frame's first lines three frames ahead of the router; and, while the
//! current frame is built, the mbuf the next transmit would allocate if
//! nothing is freed into the pool's per-lcore cache in between.

use super::checksum::{prepare_tx_offload, TxOffload};
use crate::mempool::Mempool;
use crate::packet::{Packet, PacketBatch};
use crate::port::{RxQueue, TxQueue};
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::sync::Arc;

/// How many frames ahead of the one being routed the receive path
/// prefetches (DPDK's forwarding examples use 3).
const RX_PREFETCH_AHEAD: usize = 3;

/// How many cache lines of each frame the receive path prefetches: the
/// Ethernet, IPv4 and TCP headers with options and a small payload (the
/// checksum check reads all of them; longer payloads stream in on their own).
const RX_PREFETCH_LINES: usize = 4;

/// Counters of one core's device, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Frames received from the queue.
    pub rx_packets: u64,
    /// Frames handed to the queue.
    pub tx_packets: u64,
    /// Frames not sent because the pool had no free mbuf.
    pub drop_no_mbuf: u64,
    /// Frames dropped because the tx queue stayed full.
    pub drop_tx_full: u64,
    /// Received frames with a bad IPv4, TCP, UDP or ICMP checksum (flagged by
    /// the NIC or found in software). A kernel peer on a veth with its tx
    /// checksum offload on sends TCP segments whose checksums are partial
    /// (the pseudo-header sum only): they are counted here.
    pub drop_bad_checksum: u64,
    /// Received frames longer than the interface MTU.
    pub drop_oversized: u64,
    /// Received frames whose Ethernet, IPv4, TCP or UDP headers are
    /// truncated or lie about their lengths.
    pub drop_malformed: u64,
    /// Receive bursts that asked the driver for fewer frames (or none)
    /// because the pool had fewer free mbufs than the burst: the frames
    /// waited in the driver's queue. Only on drivers that lose frames when
    /// they cannot replace an mbuf (net_tap; see [`crate::RxQueue::rx_burst`]).
    pub rx_limited_no_mbuf: u64,
}

/// The device of one core: its rx and tx queue of one port, and its pool.
pub struct DpdkDevice {
    rxq: RxQueue,
    tx: TxSide,
    rx: PacketBatch,
    mtu: usize,
    burst: usize,
    rx_stats: DeviceStats,
}

struct TxSide {
    txq: TxQueue,
    pool: Arc<Mempool>,
    batch: PacketBatch,
    offload: TxOffload,
    stats: DeviceStats,
    tcp: TcpTx,
    early: EarlyFlush,
}

/// When a turn hands its first frames to the queue: as soon as the batch
/// holds half a receive burst, not at the end of the turn's egress pass.
/// (A turn runs from one [`DpdkDevice::flush`], the end of egress, to the
/// next; frames queued by tasks or by smoltcp's replies during ingress
/// count towards it too.)
///
/// A core that answers a whole burst before sending any of it leaves its
/// peer idle meanwhile, and the peer does the same in turn: with as many
/// requests in flight as a burst holds, two cores (or a core and a NIC's
/// clients) work one after the other instead of at once. Sending the first
/// half early lets the peer start on it while this core builds the rest.
/// Measured on the in-memory wire (rr, 64 B, alternating 3 times): 1.82x at
/// 32 connections, hyper 1.46x; 1, 256 (hyper), 4096 and 8192 connections,
/// crr and stream within 4% either way. The cost is one more `tx_burst` in
/// a turn of more than half a burst of frames.
#[derive(Debug, Clone, Copy)]
struct EarlyFlush {
    /// Frames in the batch that trigger the pass's early flush.
    at: usize,
    /// This pass has flushed early already.
    done: bool,
}

impl EarlyFlush {
    fn new(burst: usize) -> Self {
        EarlyFlush { at: (burst / 2).max(1), done: false }
    }

    /// True if a batch of `len` frames with `spare` room left should go to
    /// the queue before the next frame joins it.
    fn due(&mut self, len: usize, spare: usize) -> bool {
        if spare == 0 {
            return true;
        }
        if !self.done && len >= self.at {
            self.done = true;
            return true;
        }
        false
    }

    /// The turn's egress pass ended (its last flush); the next turn may
    /// flush early again.
    fn pass_ended(&mut self) {
        self.done = false;
    }
}

/// What the TCP segments smoltcp wrote since the last
/// [`DpdkDevice::take_tcp_tx`] carried: the connection table polls one
/// connection at a time and reads this after each poll, so it learns the
/// connection's SND.NXT and the last ACK it sent (which smoltcp keeps
/// private) from the segments themselves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TcpTx {
    /// Segments written.
    pub(crate) segments: u32,
    /// The highest sequence number after a segment's data, SYN or FIN.
    pub(crate) snd_nxt: Option<u32>,
    /// The ACK number of the last segment with ACK set, and its window field.
    pub(crate) ack: Option<(u32, u16)>,
}

impl TcpTx {
    /// Notes a frame smoltcp wrote, if it is a TCP segment.
    fn note(&mut self, frame: &[u8]) {
        use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, TcpPacket};
        let Ok(eth) = EthernetFrame::new_checked(frame) else { return };
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { return };
        if ip.next_header() != IpProtocol::Tcp {
            return;
        }
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else { return };
        let seq = tcp.seq_number().0 as u32;
        let end = seq.wrapping_add(tcp.payload().len() as u32 + tcp.syn() as u32 + tcp.fin() as u32);
        self.snd_nxt = Some(match self.snd_nxt {
            Some(n) if (end.wrapping_sub(n) as i32) < 0 => n,
            _ => end,
        });
        if tcp.ack() {
            self.ack = Some((tcp.ack_number().0 as u32, tcp.window_len()));
        }
        self.segments += 1;
    }
}

impl TxSide {
    /// Sends the batch; packets the queue refuses stay for the next turn.
    fn flush(&mut self) -> usize {
        let sent = self.txq.tx_burst(&mut self.batch);
        self.stats.tx_packets += sent as u64;
        sent
    }

    /// True if another frame fits (flushing once if the batch is full, or
    /// early in the pass: see [`EarlyFlush`]).
    fn has_room(&mut self) -> bool {
        if self.early.due(self.batch.len(), self.batch.spare()) {
            self.flush();
        }
        self.batch.spare() > 0
    }
}

impl DpdkDevice {
    /// A device over `rxq`/`txq`, allocating transmit mbufs from `pool`.
    pub fn new(rxq: RxQueue, txq: TxQueue, pool: Arc<Mempool>, burst: usize) -> Self {
        let mtu = rxq.port().mtu() as usize;
        let o = rxq.port().offloads();
        let offload = TxOffload { ipv4: o.tx_ipv4_checksum, l4: o.tx_l4_checksum };
        DpdkDevice {
            rxq,
            tx: TxSide {
                txq,
                pool,
                batch: PacketBatch::new(),
                offload,
                stats: DeviceStats::default(),
                tcp: TcpTx::default(),
                early: EarlyFlush::new(burst),
            },
            rx: PacketBatch::new(),
            mtu,
            burst,
            rx_stats: DeviceStats::default(),
        }
    }

    /// Receives a burst from the queue into the device's rx batch; returns
    /// how many frames arrived.
    pub fn rx_burst(&mut self) -> usize {
        let n = self.rxq.rx_burst(&mut self.rx, self.burst);
        self.rx_stats.rx_packets += n as u64;
        // The frames were written by another core or the NIC: start
        // fetching every header now, and the first frames' bytes (see
        // `prefetch_rx`), so that routing them waits on fewer misses.
        for p in self.rx.as_slice() {
            p.prefetch_header();
        }
        for p in self.rx.as_slice().iter().take(RX_PREFETCH_AHEAD) {
            p.prefetch_lines(RX_PREFETCH_LINES);
        }
        n
    }

    /// Hints the CPU to fetch the bytes of the frame `RX_PREFETCH_AHEAD`
    /// places behind the head of the receive batch: called once per frame
    /// routed, it keeps that many frames in flight ahead of the router.
    #[inline]
    pub(crate) fn prefetch_rx(&self) {
        if let Some(p) = self.rx.as_slice().get(RX_PREFETCH_AHEAD) {
            p.prefetch_lines(RX_PREFETCH_LINES);
        }
    }

    /// Puts a frame into the receive batch as if the queue had delivered it
    /// (frames another core handed this one, and the fuzzing harness's);
    /// hands it back when the batch is full. Not counted in `rx_packets`:
    /// the core that took it off the NIC counted it.
    pub(crate) fn inject_rx(&mut self, packet: Packet) -> Result<(), Packet> {
        self.rx.push(packet)
    }

    /// Room left in the receive batch.
    pub(crate) fn rx_room(&self) -> usize {
        self.rx.spare()
    }

    /// The next received frame, writable (to rewrite it before routing).
    pub(crate) fn peek_rx_mut(&mut self) -> Option<&mut Packet> {
        self.rx.as_mut_slice().first_mut()
    }

    /// The received frame `ahead` places behind the head, not yet consumed.
    pub(crate) fn peek_rx_ahead(&self, ahead: usize) -> Option<&Packet> {
        self.rx.as_slice().get(ahead)
    }

    /// The next received frame, not yet consumed.
    pub(crate) fn peek_rx(&self) -> Option<&Packet> {
        self.rx.as_slice().first()
    }

    /// Drops the next received frame (the stack refused it before
    /// smoltcp), counting it with `count`.
    pub(crate) fn drop_rx(&mut self, count: impl FnOnce(&mut DeviceStats)) {
        count(&mut self.rx_stats);
        drop(self.rx.pop());
    }

    /// Takes the next received frame out of the device, bypassing smoltcp
    /// (for the datagram and raw-frame fast paths).
    pub fn take_rx(&mut self) -> Option<Packet> {
        self.rx.pop()
    }

    /// Sends queued frames: the end of an egress pass. Returns how many the
    /// queue took.
    pub fn flush(&mut self) -> usize {
        self.tx.early.pass_ended();
        self.tx.flush()
    }

    /// True if another frame fits in the transmit batch (flushing it to the
    /// queue first if it is full).
    pub(crate) fn has_room(&mut self) -> bool {
        self.tx.has_room()
    }

    /// Counts a frame the stack could not build for want of an mbuf.
    pub(crate) fn count_no_mbuf(&mut self) {
        self.tx.stats.drop_no_mbuf += 1;
    }

    /// What the TCP segments written since the last call carried.
    pub(crate) fn take_tcp_tx(&mut self) -> TcpTx {
        std::mem::take(&mut self.tx.tcp)
    }

    /// Frames waiting for the tx queue.
    pub fn tx_pending(&self) -> usize {
        self.tx.batch.len()
    }

    /// Queues a frame the application built for the next flush; hands it
    /// back if the batch stays full, or if the device cannot send it as it
    /// is and no copy can be made (a chain longer than one mbuf, or a packet
    /// of another pool on a FAST_FREE queue with this pool empty: see
    /// [`TxQueue::make_sendable`]).
    pub fn queue_tx(&mut self, packet: Packet) -> Result<(), Packet> {
        let packet = self.tx.txq.make_sendable(packet)?;
        if !self.tx.has_room() {
            self.tx.stats.drop_tx_full += 1;
            return Err(packet);
        }
        self.tx.batch.push(packet)
    }

    /// The core's pool.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.tx.pool
    }

    /// Frees what is queued in either direction (at shutdown) and drains
    /// the rx queue, so every mbuf returns to its pool.
    pub fn drain(&mut self) {
        self.flush();
        self.tx.batch.clear();
        self.rx.clear();
        self.rxq.drain();
    }

    /// Counters so far.
    pub fn stats(&self) -> DeviceStats {
        let (r, t) = (&self.rx_stats, &self.tx.stats);
        DeviceStats {
            rx_packets: r.rx_packets,
            tx_packets: t.tx_packets,
            drop_no_mbuf: t.drop_no_mbuf,
            drop_tx_full: t.drop_tx_full,
            drop_bad_checksum: r.drop_bad_checksum,
            drop_oversized: r.drop_oversized,
            drop_malformed: r.drop_malformed,
            rx_limited_no_mbuf: self.rxq.limited_by_pool(),
        }
    }

    /// The interface MTU.
    pub(crate) fn mtu(&self) -> usize {
        self.mtu
    }

    /// The checksums the NIC fills on transmit.
    pub(crate) fn tx_offload(&self) -> TxOffload {
        self.tx.offload
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.rxq.port().mac()
    }
}

/// Lends a received frame's bytes to smoltcp.
pub struct RxToken {
    packet: Packet,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.packet.data())
        // `self.packet` drops here: the mbuf goes back to its pool.
    }
}

/// Lets smoltcp write a frame in place into a fresh mbuf.
pub struct TxToken<'a> {
    tx: &'a mut TxSide,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let alloc = |pool: &Mempool| pool.try_alloc().and_then(|mut p| p.append(len).is_ok().then_some(p));
        let mut packet = alloc(&self.tx.pool);
        if packet.is_none() && !self.tx.batch.is_empty() {
            // The pool is dry but frames wait in the batch: hand them to the
            // device first (it frees what it has sent), then try once more.
            self.tx.flush();
            packet = alloc(&self.tx.pool);
        }
        // Start fetching the mbuf the next frame will take while this one
        // is built.
        self.tx.pool.prefetch_next();
        match packet {
            Some(mut p) => {
                let r = f(p.data_mut());
                self.tx.tcp.note(p.data());
                if self.tx.offload.ipv4 || self.tx.offload.l4 {
                    prepare_tx_offload(&mut p, self.tx.offload);
                }
                if self.tx.has_room() {
                    // has_room guarantees the push succeeds.
                    let _ = self.tx.batch.push(p);
                } else {
                    self.tx.stats.drop_tx_full += 1;
                }
                r
            }
            None => {
                // smoltcp must be given a buffer; the frame is dropped and
                // counted (TCP retransmits it, the pool refills as the NIC sends).
                self.tx.stats.drop_no_mbuf += 1;
                SCRATCH.with(|s| {
                    let mut s = s.borrow_mut();
                    s.resize(len, 0);
                    let r = f(&mut s[..len]);
                    // smoltcp counts it as sent (it will retransmit it).
                    self.tx.tcp.note(&s[..len]);
                    r
                })
            }
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl phy::Device for DpdkDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        // Only the head frame: the stack's ingress path has classified and
        // checked exactly this one before handing it on.
        let packet = self.rx.pop()?;
        Some((RxToken { packet }, TxToken { tx: &mut self.tx }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        if !self.tx.has_room() {
            return None;
        }
        Some(TxToken { tx: &mut self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu + 14;
        caps.max_burst_size = Some(self.burst);
        // Checksums: the ingress path verified (or the NIC vouched for)
        // every IPv4, TCP, UDP and ICMP checksum before smoltcp sees the
        // frame, and counted what it dropped; smoltcp computes them on
        // transmit unless the NIC fills them.
        let tx = |nic_fills: bool| if nic_fills { Checksum::None } else { Checksum::Tx };
        caps.checksum.ipv4 = tx(self.tx.offload.ipv4);
        caps.checksum.tcp = tx(self.tx.offload.l4);
        caps.checksum.udp = tx(self.tx.offload.l4);
        caps.checksum.icmpv4 = Checksum::Tx;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::EarlyFlush;

    /// Frames pushed one at a time into a batch of `capacity`, flushed
    /// (emptied) whenever `due` says so: the batch lengths at each flush.
    fn flushes(early: &mut EarlyFlush, capacity: usize, frames: usize) -> Vec<usize> {
        let (mut len, mut at) = (0, Vec::new());
        for _ in 0..frames {
            if early.due(len, capacity - len) {
                at.push(len);
                len = 0;
            }
            len += 1;
        }
        at
    }

    #[test]
    fn a_pass_flushes_once_at_half_a_burst_then_only_when_the_batch_is_full() {
        let mut early = EarlyFlush::new(32);
        assert_eq!(flushes(&mut early, 64, 15), Vec::<usize>::new());
        let mut early = EarlyFlush::new(32);
        assert_eq!(flushes(&mut early, 64, 17), vec![16]);
        let mut early = EarlyFlush::new(32);
        assert_eq!(flushes(&mut early, 64, 16 + 64 + 64 + 1), vec![16, 64, 64]);
    }

    #[test]
    fn the_early_flush_comes_again_only_after_the_pass_ended() {
        let mut early = EarlyFlush::new(32);
        assert_eq!(flushes(&mut early, 64, 20), vec![16]);
        assert_eq!(flushes(&mut early, 64, 20), Vec::<usize>::new(), "same pass: no second early flush");
        early.pass_ended();
        assert_eq!(flushes(&mut early, 64, 20), vec![16]);
    }

    #[test]
    fn a_burst_of_one_flushes_its_first_frame_early() {
        let mut early = EarlyFlush::new(1);
        assert_eq!(flushes(&mut early, 64, 3), vec![1]);
    }
}
