//! [`Packet`]: the owner of one mbuf (chain), and [`PacketBatch`], a
//! fixed-capacity array of packets for burst I/O.
//!
//! Ownership is the whole safety story: an mbuf belongs to exactly one
//! `Packet`; dropping the packet frees it to its pool; handing it to a tx
//! queue moves it to the driver. There is no `Clone` and no refcount
//! sharing, so safe code cannot free an mbuf twice, or read or write one
//! after it was freed. It can leak one, as it can leak any Rust value
//! (`mem::forget`, [`Packet::into_raw`], a reference cycle): that is safe —
//! the mbuf stays allocated, its pool is then never freed (see `Mempool`)
//! and EAL cleanup is skipped — but the mbuf is lost to the pool.
//!
//! `Packet` is `Send` (and `Sync`): a handle can cross cores with no copy.
//! That is sound because the packet owns its mbuf exclusively (refcnt 1,
//! never shared) and freeing it returns it through the pool's thread-safe
//! multi-producer ring (the per-lcore cache is chosen by the freeing thread's
//! lcore id). The per-core objects — queues, sockets, the executor — are not.
//!
//! ```
//! fn assert_send<T: Send>() {}
//! assert_send::<zcnet_stack::Packet>();
//! ```

use crate::error::PacketError;
use crate::prefetch::{prefetch, LINE};
use dpdk_sys::rte_mbuf;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;

/// The most packets one burst (and one [`PacketBatch`]) can hold.
pub const MAX_BURST: usize = 64;

// ol_flags bits (rte_mbuf_core.h); a test checks them against the C headers.
pub(crate) const RX_RSS_HASH: u64 = 1 << 1;
pub(crate) const RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
pub(crate) const RX_IP_CKSUM_BAD: u64 = 1 << 4;
pub(crate) const RX_IP_CKSUM_GOOD: u64 = 1 << 7;
pub(crate) const RX_L4_CKSUM_MASK: u64 = (1 << 3) | (1 << 8);
pub(crate) const RX_L4_CKSUM_BAD: u64 = 1 << 3;
pub(crate) const RX_L4_CKSUM_GOOD: u64 = 1 << 8;

/// What the NIC said about a received packet's checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// Not checked by hardware (software must check it).
    Unknown,
    /// Verified good by hardware.
    Good,
    /// Verified bad by hardware.
    Bad,
    /// The header has no checksum or the value was not checked (e.g. fragments).
    None,
}

impl ChecksumStatus {
    fn from_bits(flags: u64, mask: u64, good: u64, bad: u64) -> Self {
        match flags & mask {
            0 => ChecksumStatus::Unknown,
            f if f == good => ChecksumStatus::Good,
            f if f == bad => ChecksumStatus::Bad,
            _ => ChecksumStatus::None,
        }
    }
}

/// An owned packet buffer: one `rte_mbuf`, or a chain of them.
///
/// [`data`](Packet::data) is the first segment's bytes; for chained mbufs use
/// [`segments`](Packet::segments). Every size-changing operation checks its
/// bounds and returns an error instead of corrupting memory.
#[repr(transparent)]
pub struct Packet {
    mbuf: NonNull<rte_mbuf>,
}

// SAFETY: see the module documentation: exclusive ownership plus a
// thread-safe free path.
unsafe impl Send for Packet {}
// SAFETY: `&Packet` only reads the mbuf; mutation needs `&mut Packet`.
unsafe impl Sync for Packet {}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len())
            .field("segments", &self.segment_count())
            .field("headroom", &self.headroom())
            .finish()
    }
}

impl Packet {
    /// Takes ownership of an mbuf.
    ///
    /// # Safety
    /// `mbuf` must be a valid mbuf (chain) from a live pool that nothing else
    /// owns or references (refcnt 1), and it must stay valid until the packet
    /// frees it.
    #[inline]
    pub unsafe fn from_raw(mbuf: NonNull<rte_mbuf>) -> Packet {
        Packet { mbuf }
    }

    /// Gives up ownership and returns the mbuf; the caller must free it (or
    /// pass it to DPDK) — otherwise it leaks, which is safe but wasteful.
    #[inline]
    pub fn into_raw(self) -> NonNull<rte_mbuf> {
        ManuallyDrop::new(self).mbuf
    }

    /// The address of the mbuf header: stable for the packet's life, so tests
    /// can prove a packet was sent in the very mbuf it arrived in.
    #[inline]
    pub fn mbuf_ptr(&self) -> *const rte_mbuf {
        self.mbuf.as_ptr()
    }

    #[inline]
    fn m(&self) -> &rte_mbuf {
        // SAFETY: the packet owns a valid mbuf for its whole life.
        unsafe { self.mbuf.as_ref() }
    }

    /// The address range of the first segment's whole data room (headroom,
    /// data and tailroom), for checking where bytes live: the payload of a
    /// zero-copy receive lies inside it.
    pub fn buffer_range(&self) -> std::ops::Range<usize> {
        let m = self.m();
        let start = m.buf_addr as usize;
        start..start + m.buf_len as usize
    }

    /// Total length of the packet over all segments.
    #[inline]
    pub fn len(&self) -> usize {
        self.m().pkt_len as usize
    }

    /// True if the packet holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first segment's bytes (the whole packet unless it is chained).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // data room (an mbuf invariant DPDK and this type maintain), and the
        // bytes are owned by this packet for the borrow's duration.
        unsafe { std::slice::from_raw_parts((m.buf_addr as *const u8).add(m.data_off as usize), m.data_len as usize) }
    }

    /// Hints the CPU to bring the first bytes of the data into cache, ahead
    /// of use (what DPDK's forwarding loops do with `rte_prefetch0`). A hint
    /// only: it never faults and changes nothing.
    #[inline(always)]
    pub fn prefetch(&self) {
        self.prefetch_lines(1);
    }

    /// Like [`Packet::prefetch`], for the first `lines` cache lines of the
    /// data, or fewer if the data is shorter: the headers and a small
    /// payload, which a receive path reads once to check the checksum.
    #[inline(always)]
    pub fn prefetch_lines(&self, lines: usize) {
        let m = self.m();
        let start = (m.buf_addr as *const u8).wrapping_add(m.data_off as usize);
        prefetch(start, lines.min((m.data_len as usize).div_ceil(LINE)));
    }

    /// Hints the CPU to bring the mbuf's header (its first cache line:
    /// addresses and lengths) into cache. Unlike [`Packet::prefetch`] it
    /// reads nothing itself, so it does not wait for the header it fetches.
    #[inline(always)]
    pub fn prefetch_header(&self) {
        prefetch(self.mbuf.as_ptr() as *const u8, 1);
    }

    /// The first segment's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m();
        let (addr, off, len) = (m.buf_addr as *mut u8, m.data_off as usize, m.data_len as usize);
        // SAFETY: as in `data`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(addr.add(off), len) }
    }

    /// Bytes free before the data in the first segment.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.m().data_off as usize
    }

    /// Bytes free after the data in the last segment.
    pub fn tailroom(&self) -> usize {
        // SAFETY: the mbuf chain is valid.
        unsafe { dpdk_sys::zc_pktmbuf_tailroom(self.last_segment()) as usize }
    }

    fn last_segment(&self) -> *mut rte_mbuf {
        let mut m = self.mbuf.as_ptr();
        // SAFETY: `next` pointers of a valid chain are valid or null.
        unsafe {
            while !(*m).next.is_null() {
                m = (*m).next;
            }
        }
        m
    }

    /// Grows the packet at the front by `n` bytes (into the headroom) and
    /// returns the new bytes, for writing a header.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], PacketError> {
        let available = self.headroom();
        if n > available {
            return Err(PacketError::NoHeadroom { asked: n, available });
        }
        // SAFETY: n <= headroom < 65536, so DPDK's prepend succeeds and
        // returns a pointer to n bytes inside the first segment.
        unsafe {
            let p = dpdk_sys::zc_pktmbuf_prepend(self.mbuf.as_ptr(), n as u16);
            debug_assert!(!p.is_null());
            Ok(std::slice::from_raw_parts_mut(p as *mut u8, n))
        }
    }

    /// Grows the packet at the end by `n` bytes (into the last segment's
    /// tailroom) and returns the new bytes, uninitialised contents zeroed.
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], PacketError> {
        let available = self.tailroom();
        if n > available {
            return Err(PacketError::NoTailroom { asked: n, available });
        }
        // SAFETY: n <= tailroom of the last segment, so append succeeds and
        // returns n bytes inside that segment's data room.
        unsafe {
            let p = dpdk_sys::zc_pktmbuf_append(self.mbuf.as_ptr(), n as u16);
            debug_assert!(!p.is_null());
            let s = std::slice::from_raw_parts_mut(p as *mut u8, n);
            s.fill(0);
            Ok(s)
        }
    }

    /// Removes `n` bytes from the front (of the first segment).
    pub fn adj(&mut self, n: usize) -> Result<(), PacketError> {
        let available = self.m().data_len as usize;
        if n > available {
            return Err(PacketError::TooShort { asked: n, available });
        }
        // SAFETY: n <= first segment's data_len, so adj succeeds.
        unsafe { dpdk_sys::zc_pktmbuf_adj(self.mbuf.as_ptr(), n as u16) };
        Ok(())
    }

    /// Removes `n` bytes from the end (of the last segment).
    pub fn trim(&mut self, n: usize) -> Result<(), PacketError> {
        // SAFETY: the chain is valid.
        let available = unsafe { (*self.last_segment()).data_len as usize };
        if n > available {
            return Err(PacketError::TooShort { asked: n, available });
        }
        // SAFETY: n <= last segment's data_len, so trim succeeds.
        unsafe { dpdk_sys::zc_pktmbuf_trim(self.mbuf.as_ptr(), n as u16) };
        Ok(())
    }

    /// Sets the length to `len` bytes, growing (zero-filled) or shrinking
    /// the single segment. Chained packets: only shrinking within the last segment.
    pub fn resize(&mut self, len: usize) -> Result<(), PacketError> {
        let cur = self.len();
        if len >= cur {
            self.append(len - cur).map(|_| ())
        } else {
            self.trim(cur - len)
        }
    }

    /// Appends `tail`'s segments after this packet's; `tail` is consumed.
    /// Fails (handing `tail` back) if the chain would exceed DPDK's segment limit.
    pub fn chain(&mut self, tail: Packet) -> Result<(), Packet> {
        // SAFETY: both are valid, separately owned chains; on success the
        // head owns the tail's mbufs, so `tail` must not free them.
        let ret = unsafe { dpdk_sys::zc_pktmbuf_chain(self.mbuf.as_ptr(), tail.mbuf.as_ptr()) };
        if ret == 0 {
            std::mem::forget(tail);
            Ok(())
        } else {
            Err(tail)
        }
    }

    /// Number of segments in the chain.
    #[inline]
    pub fn segment_count(&self) -> usize {
        self.m().nb_segs as usize
    }

    /// The bytes of each segment, in order.
    pub fn segments(&self) -> Segments<'_> {
        Segments { next: self.mbuf.as_ptr(), _packet: PhantomData }
    }

    /// Copies the whole packet (all segments) into a `Vec` — for tests and
    /// slow paths; the fast paths never need it.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for s in self.segments() {
            v.extend_from_slice(s);
        }
        v
    }

    /// The RSS hash the NIC computed, if it did.
    #[inline]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.m();
        // SAFETY: reading the `rss` member of a plain-integer union.
        let rss = unsafe { m.__bindgen_anon_2.hash.rss };
        (m.ol_flags & RX_RSS_HASH != 0).then_some(rss)
    }

    /// Records `hash` as the RSS hash of a received frame, as a NIC does
    /// (the in-memory wire's `toeplitz` mode).
    #[inline]
    pub(crate) fn set_rss_hash(&mut self, hash: u32) {
        // SAFETY: exclusive access; `hash.rss` is a plain-integer union
        // member and writing it leaves the other members valid integers.
        unsafe {
            let m = self.mbuf.as_mut();
            m.__bindgen_anon_2.hash.rss = hash;
            m.ol_flags |= RX_RSS_HASH;
        }
    }

    /// The IPv4 header checksum status reported by the NIC.
    #[inline]
    pub fn rx_ip_checksum(&self) -> ChecksumStatus {
        ChecksumStatus::from_bits(self.m().ol_flags, RX_IP_CKSUM_MASK, RX_IP_CKSUM_GOOD, RX_IP_CKSUM_BAD)
    }

    /// The TCP/UDP checksum status reported by the NIC.
    #[inline]
    pub fn rx_l4_checksum(&self) -> ChecksumStatus {
        ChecksumStatus::from_bits(self.m().ol_flags, RX_L4_CKSUM_MASK, RX_L4_CKSUM_GOOD, RX_L4_CKSUM_BAD)
    }

    /// The port the packet arrived on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// The pool the (first) mbuf belongs to.
    #[inline(always)]
    pub(crate) fn pool_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.m().pool
    }

    /// The mbuf's reference count: 1 for every packet (see `from_raw`).
    #[inline(always)]
    pub(crate) fn refcnt(&self) -> u16 {
        self.m().refcnt
    }

    /// Takes `from`'s offload flags and header lengths (what a tx queue
    /// reads for checksum offload), for a copy of it.
    pub(crate) fn copy_tx_offload_from(&mut self, from: &Packet) {
        let (flags, lengths) = {
            let m = from.m();
            // SAFETY: tx_offload is a plain 64-bit integer member of the union.
            (m.ol_flags, unsafe { m.__bindgen_anon_3.tx_offload })
        };
        // SAFETY: exclusive access to this packet's mbuf header.
        unsafe {
            let m = self.mbuf.as_mut();
            m.ol_flags = flags;
            m.__bindgen_anon_3.tx_offload = lengths;
        }
    }

    /// Sets the offload flags and header lengths a tx queue needs for
    /// checksum offload (`l2_len`, `l3_len` in bytes).
    pub(crate) fn set_tx_offload(&mut self, flags: u64, l2_len: u8, l3_len: u16) {
        // SAFETY: exclusive access; tx_offload is a plain integer bitfield
        // word (l2_len: 7 bits, l3_len: 9 bits, then l4_len...).
        unsafe {
            let m = self.mbuf.as_mut();
            m.ol_flags |= flags;
            m.__bindgen_anon_3.tx_offload = (l2_len as u64 & 0x7f) | ((l3_len as u64 & 0x1ff) << 7);
        }
    }
}

impl Drop for Packet {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the packet owns the mbuf chain; it is freed exactly once.
        unsafe { dpdk_sys::zc_pktmbuf_free(self.mbuf.as_ptr()) }
    }
}

/// Iterator over a packet's segments, from [`Packet::segments`].
pub struct Segments<'a> {
    next: *mut rte_mbuf,
    _packet: PhantomData<&'a Packet>,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: `next` is a segment of a chain borrowed for 'a; its data
        // range lies inside its data room.
        unsafe {
            let m = &*self.next;
            self.next = m.next;
            Some(std::slice::from_raw_parts((m.buf_addr as *const u8).add(m.data_off as usize), m.data_len as usize))
        }
    }
}

/// Up to [`MAX_BURST`] packets in a fixed array: what rx fills and tx drains,
/// with no heap allocation per burst. Packets still in the batch when it is
/// dropped are freed.
///
/// A batch knows whether it may hold a chained packet, so that a tx queue
/// checks its packets one by one only then (see [`TxQueue`](crate::TxQueue)):
/// what rx delivers is one segment each (zcnet requests no scatter, and
/// `Port::open` refuses an MTU that does not fit one mbuf); a chained
/// [`push`](PacketBatch::push) or [`as_mut_slice`](PacketBatch::as_mut_slice)
/// (a `&mut Packet` can be chained) makes it ask, until the batch is empty.
/// [`for_each_data_mut`](PacketBatch::for_each_data_mut) edits bytes in
/// place without that.
pub struct PacketBatch {
    // Invariant: slots head..len are initialised and owned by the batch.
    slots: [MaybeUninit<Packet>; MAX_BURST],
    head: usize,
    len: usize,
    // False only if every packet in head..len is a single segment.
    maybe_chained: bool,
}

impl Default for PacketBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PacketBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBatch").field("len", &self.len()).finish()
    }
}

impl PacketBatch {
    /// An empty batch.
    pub const fn new() -> Self {
        PacketBatch { slots: [const { MaybeUninit::uninit() }; MAX_BURST], head: 0, len: 0, maybe_chained: false }
    }

    /// Packets in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.len - self.head
    }

    /// True if the batch holds no packet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == self.head
    }

    /// Room left for more packets.
    #[inline]
    pub fn spare(&self) -> usize {
        MAX_BURST - self.len()
    }

    /// Adds a packet at the end, or hands it back if the batch is full.
    #[inline]
    pub fn push(&mut self, packet: Packet) -> Result<(), Packet> {
        if self.len == MAX_BURST {
            self.compact();
            if self.len == MAX_BURST {
                return Err(packet);
            }
        }
        self.maybe_chained |= packet.segment_count() != 1;
        self.slots[self.len].write(packet);
        self.len += 1;
        Ok(())
    }

    /// Takes the first packet.
    #[inline]
    pub fn pop(&mut self) -> Option<Packet> {
        if self.is_empty() {
            return None;
        }
        // SAFETY: slot `head` is initialised; advancing head gives up the
        // batch's ownership of it.
        let p = unsafe { self.slots[self.head].assume_init_read() };
        self.head += 1;
        if self.head == self.len {
            self.emptied();
        }
        Some(p)
    }

    /// The packets, in order, for in-place work. A tx queue then checks
    /// them one by one (a `&mut Packet` can be chained): for byte edits,
    /// [`PacketBatch::for_each_data_mut`] spares it that.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Packet] {
        self.maybe_chained = true;
        self.packets_mut()
    }

    /// Runs `f` on every packet's bytes (its first segment), in order, for
    /// edits in place that keep the packet's shape, hinting the CPU to fetch
    /// each packet's data `ahead` packets in advance (as DPDK's forwarding
    /// loops do). Unlike [`PacketBatch::as_mut_slice`], it lets a tx queue
    /// still skip checking the packets (see the type's docs).
    #[inline]
    pub fn for_each_data_mut(&mut self, ahead: usize, mut f: impl FnMut(&mut [u8])) {
        let pkts = self.packets_mut();
        for p in pkts.iter().take(ahead) {
            p.prefetch();
        }
        for i in 0..pkts.len() {
            if let Some(p) = pkts.get(i + ahead) {
                p.prefetch();
            }
            f(pkts[i].data_mut());
        }
    }

    /// The packets, mutably, without telling the batch (crate use only:
    /// callers do not change a packet's segments).
    #[inline]
    pub(crate) fn packets_mut(&mut self) -> &mut [Packet] {
        // SAFETY: slots head..len are initialised; MaybeUninit<Packet> has
        // Packet's layout.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().add(self.head) as *mut Packet, self.len()) }
    }

    /// Whether a packet in the batch may be chained (see the type's docs).
    #[inline]
    pub(crate) fn may_hold_chains(&self) -> bool {
        self.maybe_chained
    }

    fn emptied(&mut self) {
        self.head = 0;
        self.len = 0;
        self.maybe_chained = false;
    }

    /// The packets, in order.
    #[inline]
    pub fn as_slice(&self) -> &[Packet] {
        // SAFETY: as in `as_mut_slice`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().add(self.head) as *const Packet, self.len()) }
    }

    /// Frees every packet in the batch.
    pub fn clear(&mut self) {
        let n = self.len();
        if n > 0 {
            // SAFETY: slots head..len are owned mbufs (Packet is a
            // transparent mbuf pointer); after the bulk free the batch is
            // emptied so none is freed twice.
            unsafe {
                dpdk_sys::zc_pktmbuf_free_bulk(self.slots.as_mut_ptr().add(self.head) as *mut *mut rte_mbuf, n as u32)
            };
        }
        self.emptied();
    }

    fn compact(&mut self) {
        if self.head > 0 {
            let n = self.len();
            // SAFETY: moves the initialised slots to the front (bitwise
            // moves of owned pointers; ranges may overlap).
            unsafe { std::ptr::copy(self.slots.as_ptr().add(self.head), self.slots.as_mut_ptr(), n) };
            self.head = 0;
            self.len = n;
        }
    }

    /// Where rx may write up to `max` more mbufs: a pointer to free slots and
    /// their count. Follow with [`PacketBatch::filled`].
    #[inline]
    pub(crate) fn spare_raw(&mut self, max: usize) -> (*mut *mut rte_mbuf, usize) {
        if self.len + max > MAX_BURST {
            self.compact();
        }
        let n = max.min(MAX_BURST - self.len);
        // SAFETY: len <= MAX_BURST, so the pointer is in bounds (or one past).
        (unsafe { self.slots.as_mut_ptr().add(self.len) as *mut *mut rte_mbuf }, n)
    }

    /// Records that `n` slots after the last packet were filled with owned
    /// mbufs, each a single segment.
    ///
    /// # Safety
    /// The `n` slots returned by `spare_raw` must now hold valid, owned,
    /// single-segment mbufs (what an rx queue of a zcnet port delivers).
    #[inline]
    pub(crate) unsafe fn filled(&mut self, n: usize) {
        self.len += n;
    }

    /// The packets as a raw array, for tx. Follow with [`PacketBatch::consumed`].
    #[inline]
    pub(crate) fn pending_raw(&mut self) -> (*mut *mut rte_mbuf, usize) {
        // SAFETY: head <= len <= MAX_BURST.
        (unsafe { self.slots.as_mut_ptr().add(self.head) as *mut *mut rte_mbuf }, self.len())
    }

    /// Records that the first `n` packets were handed to the driver.
    ///
    /// # Safety
    /// The driver must have taken ownership of exactly those `n` mbufs.
    #[inline]
    pub(crate) unsafe fn consumed(&mut self, n: usize) {
        self.head += n;
        if self.head == self.len {
            self.emptied();
        }
    }
}

impl Drop for PacketBatch {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Extend<Packet> for PacketBatch {
    /// Adds packets until the batch is full; the rest are dropped (freed).
    fn extend<I: IntoIterator<Item = Packet>>(&mut self, iter: I) {
        for p in iter {
            if self.push(p).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ol_flag_bits_match_dpdk_headers() {
        assert_eq!(RX_IP_CKSUM_BAD, dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD as u64);
        assert_eq!(RX_L4_CKSUM_BAD, dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_BAD as u64);
        assert_eq!(RX_L4_CKSUM_GOOD, dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD as u64);
        assert_eq!(RX_L4_CKSUM_MASK, dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_MASK as u64);
        assert_eq!(RX_IP_CKSUM_GOOD, dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64);
        assert_eq!(RX_IP_CKSUM_MASK, dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64);
        assert_eq!(RX_RSS_HASH, dpdk_sys::RTE_MBUF_F_RX_RSS_HASH as u64);
    }
}
