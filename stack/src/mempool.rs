//! Packet pools. Each worker lcore gets its own [`Mempool`] on its NUMA
//! socket; every [`Packet`] comes from one and goes back to it when dropped.
//!
//! The lifetime rule: a pool outlives every packet taken from it. Packets
//! carry no lifetime (they must cross `await` points and, if the user wants,
//! threads), so the rule is enforced at the pool's end instead: dropping a
//! `Mempool` frees its memory only if every mbuf is back. Otherwise the pool
//! is deliberately leaked — still valid for the stragglers — and EAL cleanup
//! is skipped, so no packet can ever point into freed memory.

use crate::config::MempoolConfig;
use crate::eal::{is_running, LIVE_POOLS};
use crate::error::{Error, Result};
use crate::packet::Packet;
use std::ffi::CString;
use std::ptr::NonNull;

/// A pool of mbufs (`rte_pktmbuf_pool_create`).
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    capacity: u32,
}

// SAFETY: zcnet creates pools with DPDK's default ops (a multi-producer,
// multi-consumer ring), whose get and put are thread-safe; the per-lcore
// caches are indexed by the calling thread's lcore id, so two threads never
// share one. The handle itself is an immutable pointer.
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
    /// Creates a pool of `config.mbufs` mbufs on NUMA `socket`. EAL must be
    /// running. Names must be unique in the process.
    pub fn new(name: &str, config: &MempoolConfig, socket: u32) -> Result<Mempool> {
        if !is_running() {
            return Err(Error::Dpdk { call: "rte_pktmbuf_pool_create", reason: "EAL is not initialised".into() });
        }
        let cname = CString::new(name).map_err(|_| Error::Dpdk {
            call: "rte_pktmbuf_pool_create",
            reason: "pool name contains a NUL byte".into(),
        })?;
        // SAFETY: EAL is running; the name is a valid C string that DPDK copies.
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                config.mbufs,
                config.cache,
                0,
                config.data_room,
                socket as i32,
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::dpdk("rte_pktmbuf_pool_create", 0))?;
        LIVE_POOLS.lock().unwrap_or_else(|e| e.into_inner()).push(ptr.as_ptr() as usize);
        Ok(Mempool { ptr, name: name.to_string(), capacity: config.mbufs })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
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

    /// mbufs taken out and not yet returned.
    pub fn in_use(&self) -> usize {
        self.capacity().saturating_sub(self.available())
    }

    /// True when every mbuf is back in the pool.
    pub fn is_full(&self) -> bool {
        self.available() == self.capacity()
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

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        if !self.is_full() {
            eprintln!(
                "zcnet: mempool {} dropped with {} packet(s) still out; leaking it so they stay valid",
                self.name,
                self.in_use()
            );
            return;
        }
        // SAFETY: every mbuf is back in the pool, so no Packet refers to it,
        // and no port queue uses it (ports hold an Arc to their pools).
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
        let mut live = LIVE_POOLS.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|&p| p != self.ptr.as_ptr() as usize);
    }
}
