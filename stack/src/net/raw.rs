//! Raw Ethernet frames for custom L2/L3 protocols: a [`RawSocket`] claims
//! an EtherType (optionally only frames to one destination MAC); matching
//! frames are taken off the rx burst as owned [`Packet`]s and never reach
//! smoltcp. Frames the application builds are sent as they are.

use super::err;
use super::held_mbufs::MbufQueue;
use super::stack::{current, Deferred, NetCore};
use super::wakers::WakerList;
use crate::packet::Packet;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::Poll;

/// Frames queued per raw socket before new ones are dropped (counted); all
/// of a core's socket queues together hold at most its share of the pool
/// (`held_mbufs`).
const RAW_QUEUE: usize = 512;

/// The frames waiting for one raw socket.
pub(crate) struct RawQueue {
    pub(crate) dst_mac: Option<[u8; 6]>,
    pub(crate) frames: MbufQueue<Packet>,
    pub(crate) receivers: WakerList,
    pub(crate) dropped: u64,
}

impl RawQueue {
    /// Queues a claimed frame, or drops it when the socket's queue is full
    /// or the core's queues hold their share of the pool.
    pub(crate) fn push(&mut self, frame: Packet) {
        match self.frames.push(frame) {
            Ok(()) => self.receivers.wake_all(),
            Err(_) => self.dropped += 1,
        }
    }
}

/// A socket for whole Ethernet frames of one EtherType.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::net::RawSocket;
/// // Answer every frame of EtherType 0x88b5 (local experimental) in place.
/// let raw = RawSocket::bind(0x88b5, None)?;
/// loop {
///     let mut frame = raw.recv().await?;
///     let d = frame.data_mut();
///     let (dst, src) = d.split_at_mut(6);
///     dst.swap_with_slice(&mut src[..6]);            // swap the MAC addresses
///     raw.send(frame)?;                               // the same mbuf goes out
/// }
/// # }
/// ```
pub struct RawSocket {
    net: Rc<NetCore>,
    ethertype: u16,
}

impl std::fmt::Debug for RawSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawSocket({:#06x})", self.ethertype)
    }
}

impl RawSocket {
    /// Claims frames of `ethertype` (and, if given, only those sent to
    /// `dst_mac`). IPv4 (0x0800) and ARP (0x0806) belong to the stack and
    /// cannot be claimed.
    pub fn bind(ethertype: u16, dst_mac: Option<[u8; 6]>) -> io::Result<RawSocket> {
        if ethertype == 0x0800 || ethertype == 0x0806 || ethertype < 0x0600 {
            return Err(err(io::ErrorKind::InvalidInput, "IPv4, ARP and length-field values cannot be claimed"));
        }
        let net = current()?;
        {
            let mut inner = net.lock()?;
            if inner.raw_queues.contains_key(&ethertype) {
                return Err(err(io::ErrorKind::AddrInUse, "a raw socket already claims this EtherType"));
            }
            let q = RawQueue {
                dst_mac,
                frames: MbufQueue::new(RAW_QUEUE, inner.held.clone()),
                receivers: WakerList::default(),
                dropped: 0,
            };
            inner.raw_queues.insert(ethertype, q);
        }
        Ok(RawSocket { net, ethertype })
    }

    /// Receives the next claimed frame, as the mbuf it arrived in.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn recv(&self) -> io::Result<Packet> {
        poll_fn(|cx| {
            let mut inner = match self.net.lock() {
                Ok(i) => i,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let Some(q) = inner.raw_queues.get_mut(&self.ethertype) else {
                return Poll::Ready(Err(err(io::ErrorKind::NotConnected, "raw socket closed")));
            };
            match q.frames.pop() {
                Some(p) => Poll::Ready(Ok(p)),
                None => {
                    q.receivers.register(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// An empty packet from this core's pool, for building a frame;
    /// `OutOfMemory` when the pool is exhausted (retry when packets are freed).
    pub fn alloc(&self) -> io::Result<Packet> {
        let inner = self.net.lock()?;
        inner.device.pool().try_alloc().ok_or_else(|| err(io::ErrorKind::OutOfMemory, "mempool exhausted"))
    }

    /// Queues a whole frame (Ethernet header included) for the NIC, as it is.
    /// Fails with `OutOfMemory` if the transmit queue stays full: the frame
    /// is dropped (as a NIC drops what it has no room for) and counted in
    /// the device's `drop_tx_full`.
    pub fn send(&self, frame: Packet) -> io::Result<()> {
        let mut inner = self.net.lock()?;
        inner
            .device
            .queue_tx(frame)
            .map_err(|_| err(io::ErrorKind::OutOfMemory, "transmit queue full; the frame was dropped (counted)"))
    }

    /// Frames dropped because this socket's queue was full, or because the
    /// core's socket queues held their share of the pool.
    pub fn dropped(&self) -> io::Result<u64> {
        let inner = self.net.lock()?;
        Ok(inner.raw_queues.get(&self.ethertype).map_or(0, |q| q.dropped))
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        self.net.run_or_defer(Deferred::RemoveRaw(self.ethertype));
    }
}
