//! Packet pools. Each worker lcore gets its own [`Mempool`] on its NUMA
//! socket; every [`Packet`] comes from one and goes back to it when dropped.
//!
//! The lifetime rule: a pool outlives every packet taken from it. Packets
//! carry no lifetime (they must cross `await` points and, if the user wants,
//! threads), so the rule is enforced at the pool's end instead: dropping a
//! `Mempool` frees its memory only if every mbuf is back and no other thread
//! can still be putting one back. Otherwise the pool is deliberately leaked —
//! still valid for the stragglers — and EAL cleanup is skipped, so no packet
//! can ever point into freed memory.
//!
//! "Every mbuf is back" is only a proof when nothing frees into the pool at
//! the same time: DPDK counts the ring plus every lcore's cache without a
//! lock, so an lcore flushing its cache is counted twice for a moment, and a
//! thread in the middle of a free still writes to the pool afterwards. Only
//! EAL lcores have caches; any other thread puts straight into the ring, and
//! the store that makes an mbuf count is that put's last. So a pool is freed
//! only when dropped on the main lcore while no worker lcore runs a launched
//! closure (see `Eal::launch`): then no thread with a cache can be freeing.
//!
//! Pools always use DPDK's multi-producer, multi-consumer ring
//! (`ring_mp_mc`), whatever EAL's `--mbuf-pool-ops-name` says: that is what
//! makes sharing a pool between threads sound.

use crate::config::MempoolConfig;
use crate::eal::{is_running, only_main_lcore_runs, LIVE_POOLS};
use crate::error::{rte_errno, rte_strerror, Error, Result};
use crate::packet::Packet;
use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The mempool driver every pool uses: a lock-free ring that any number of
/// threads may put into and take from at once.
const POOL_OPS: &CStr = c"ring_mp_mc";

/// A pool of mbufs (`rte_pktmbuf_pool_create`).
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    capacity: u32,
    data_room: u16,
    /// mbufs a closed port's driver kept (see [`Mempool::kept_by_driver`]).
    kept_by_driver: AtomicUsize,
}

// SAFETY: every pool is created with the `ring_mp_mc` ops (POOL_OPS, named
// explicitly, so EAL arguments cannot choose others), whose get and put are
// thread-safe; the per-lcore caches are indexed by the calling thread's lcore
// id, so two threads never share one. The handle itself is an immutable
// pointer. Freeing is the exception, see the module docs and `Drop`.
unsafe impl Send for Mempool {}
// SAFETY: as above: every method takes `&self` and is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("available", &self.available())
            .finish()
    }
}

impl Mempool {
    /// Creates a pool of `config.mbufs` mbufs on NUMA `socket`, backed by
    /// DPDK's `ring_mp_mc` driver. EAL must be running. Names must be unique
    /// in the process (a leaked pool keeps its name).
    pub fn new(name: &str, config: &MempoolConfig, socket: u32) -> Result<Mempool> {
        if !is_running() {
            return Err(Error::Dpdk { call: "rte_pktmbuf_pool_create", reason: "EAL is not initialised".into() });
        }
        let cname = CString::new(name).map_err(|_| Error::Dpdk {
            call: "rte_pktmbuf_pool_create",
            reason: "pool name contains a NUL byte".into(),
        })?;
        // SAFETY: EAL is running; the name and ops name are valid C strings
        // that DPDK copies.
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create_by_ops(
                cname.as_ptr(),
                config.mbufs,
                config.cache,
                0,
                config.data_room,
                socket as i32,
                POOL_OPS.as_ptr(),
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::Dpdk {
            call: "rte_pktmbuf_pool_create_by_ops",
            reason: format!("pool {name:?}: {}", rte_strerror(rte_errno())),
        })?;
        LIVE_POOLS.lock().unwrap_or_else(|e| e.into_inner()).push(ptr.as_ptr() as usize);
        Ok(Mempool {
            ptr,
            name: name.to_string(),
            capacity: config.mbufs,
            data_room: config.data_room,
            kept_by_driver: AtomicUsize::new(0),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the mempool driver behind the pool: always `ring_mp_mc`.
    pub fn ops_name(&self) -> String {
        // SAFETY: the pool is valid; the shim returns the static name of its
        // registered ops (a NUL-terminated array inside DPDK's ops table).
        unsafe { CStr::from_ptr(dpdk_sys::zc_mempool_ops_name(self.ptr.as_ptr())) }.to_string_lossy().into_owned()
    }

    /// Bytes of data room in each mbuf, headroom included.
    pub fn data_room(&self) -> usize {
        self.data_room as usize
    }

    /// Number of mbufs in the pool, in use or not.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// mbufs free right now (per-lcore caches included).
    pub fn available(&self) -> usize {
        // SAFETY: the pool is valid for the life of `self`.
        unsafe { dpdk_sys::zc_mempool_avail_count(self.ptr.as_ptr()) as usize }
    }

    /// mbufs the calling lcore could allocate right now: the pool's shared
    /// store and this lcore's own cache. Unlike [`Mempool::available`] it
    /// leaves out other lcores' caches (this one cannot take from them) and
    /// is cheap enough for every receive burst. Another lcore allocating
    /// from the same pool meanwhile can make it stale at once.
    #[inline]
    pub fn available_here(&self) -> usize {
        // SAFETY: the pool is valid for the life of `self`; the call reads
        // its store's count and the calling lcore's cache (none for a
        // thread without an lcore id) and writes nothing.
        unsafe { dpdk_sys::zc_mempool_avail_here(self.ptr.as_ptr()) as usize }
    }

    /// mbufs taken out and not yet returned.
    pub fn in_use(&self) -> usize {
        self.capacity().saturating_sub(self.available())
    }

    /// True when every mbuf is back in the pool.
    pub fn is_full(&self) -> bool {
        self.available() == self.capacity()
    }

    /// mbufs that a device's driver kept when its port was closed and will
    /// never give back; 0 unless [`crate::run`] found such a driver. DPDK
    /// 22.11's net_af_xdp is one: the mbufs of its fill ring (taken when the
    /// queue is set up) stay in the closed socket's memory. Nothing refers
    /// to them any more, so the pool is freed without them.
    pub fn kept_by_driver(&self) -> usize {
        self.kept_by_driver.load(Ordering::Relaxed)
    }

    /// mbufs out that the application or the stack still holds: those in
    /// use but for what a closed port's driver kept. 0 when every mbuf that
    /// can come back has.
    pub fn leaked(&self) -> usize {
        self.in_use().saturating_sub(self.kept_by_driver())
    }

    /// Records that the `n` mbufs now out are kept by a closed port's
    /// driver (see [`Mempool::kept_by_driver`]). Only for `run`, once the
    /// port that received into this pool is closed, when no `Packet` of the
    /// pool is left: then the mbufs out are the driver's, and no code can
    /// reach them.
    pub(crate) fn count_as_kept_by_driver(&self, n: usize) {
        self.kept_by_driver.store(n, Ordering::Relaxed);
    }

    /// Takes one packet (empty, with the default headroom). Fails with
    /// [`Error::PoolExhausted`] when every mbuf is in use — back-pressure,
    /// not a crash; allocation works again as soon as packets are freed.
    #[inline]
    pub fn alloc(&self) -> Result<Packet> {
        self.try_alloc().ok_or_else(|| Error::PoolExhausted(self.name.clone()))
    }

    /// [`Mempool::alloc`] without the error value, for hot paths.
    #[inline]
    pub fn try_alloc(&self) -> Option<Packet> {
        // SAFETY: the pool is valid; a non-null result is a fresh mbuf with
        // refcnt 1 that nobody else references, so the Packet owns it.
        unsafe { NonNull::new(dpdk_sys::zc_pktmbuf_alloc(self.ptr.as_ptr())).map(|m| Packet::from_raw(m)) }
    }

    /// Hints the CPU to bring into cache the mbuf that the calling lcore's
    /// next [`Mempool::try_alloc`] would return if nothing is freed or
    /// taken in between (its header and first data lines), so that
    /// allocating and filling it does not wait on memory.
    /// Mbufs often come back from another core (the one that received and
    /// freed them), and their lines with them. A hint only: it takes
    /// nothing from the pool and does nothing if this lcore has no cache.
    #[inline]
    pub fn prefetch_next(&self) {
        // SAFETY: the pool is valid and a pktmbuf pool (`Mempool::new` makes
        // only those); the call reads the calling lcore's cache of it, the
        // pool's cache size and private size, writes nothing, and issues
        // prefetches, which never fault. A thread without an lcore id gets
        // no cache (DPDK returns none), so it does nothing.
        unsafe { dpdk_sys::zc_pktmbuf_prefetch_next(self.ptr.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // Checked first: `is_full` proves nothing while a cache can be
        // flushing (see the module docs).
        if !only_main_lcore_runs() {
            log::warn!(
                "mempool {} dropped off the main lcore or while workers run, where a free may be in flight; leaking it",
                self.name
            );
            return;
        }
        if self.leaked() > 0 {
            log::warn!(
                "mempool {} dropped with {} packet(s) still out; leaking it so they stay valid",
                self.name,
                self.leaked()
            );
            return;
        }
        // Pairs with the ring's release store of the last put: what that
        // thread wrote to the pool is done before the pool is freed.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        // SAFETY: every mbuf is back in the pool, or kept by the driver of a
        // closed port (which no Packet and no driver refers to any more), and
        // no thread can be inside a put (above), so no Packet refers to the
        // pool; no port queue uses it (ports hold an Arc to their pools).
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
        let mut live = LIVE_POOLS.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|&p| p != self.ptr.as_ptr() as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EalConfig, Hugepages};
    use crate::Eal;

    #[test]
    fn available_here_counts_the_store_and_this_lcores_cache() {
        // The only test here that starts EAL (one per process). The main
        // lcore has a cache of the pool: what it frees stays there.
        let config = EalConfig { lcores: "0".into(), hugepages: Hugepages::Auto, memory_mb: 256, ..Default::default() };
        let _eal = Eal::init(&config).expect("EAL init");
        let pool =
            Mempool::new("here", &MempoolConfig { mbufs: 511, cache: 32, ..Default::default() }, 0).expect("pool");
        assert_eq!(pool.available_here(), 511);
        let mut taken: Vec<Packet> = (0..100).map(|_| pool.alloc().expect("alloc")).collect();
        assert_eq!(pool.available_here(), 411);
        // Freed into this lcore's cache, not the store: still counted.
        taken.truncate(90);
        assert_eq!(pool.available_here(), 421);
        assert_eq!(pool.available_here(), pool.available());
        drop(taken);
        assert_eq!(pool.available_here(), 511);
    }
}
