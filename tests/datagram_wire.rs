//! Proof of the zero-copy datagram path on an in-memory wire, in one
//! process: core 0 echoes with `recv_packet` + `reply`, core 1 sends with
//! `alloc_datagram` + `send_packet` and receives the echoes. The wire moves
//! mbufs by pointer, so the echo core 1 receives must be the very mbuf core
//! 0 received — if `reply` copied into a fresh mbuf, the pointers would
//! differ. The client's sends must take the datagram path (`datagrams.sent`
//! counts it), not smoltcp's copy. A counting allocator shows the echo core
//! allocates nothing per datagram in steady state. Run under cargo-nextest
//! (one EAL per process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use zcnet::config::{Config, PortConfig};
use zcnet::net::UdpSocket;
use zcnet::runtime::timeout;

struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const DATAGRAMS: usize = 20_000;
/// Datagrams before the echo core starts counting allocations.
const WARMUP: usize = 2_000;
/// Datagrams after which it stops (before the client ends the run).
const STEADY_END: usize = DATAGRAMS - 100;
/// The mbuf each datagram arrived in at the echo core, by sequence number.
static SEEN_AT_SERVER: [AtomicUsize; DATAGRAMS] = [const { AtomicUsize::new(0) }; DATAGRAMS];
static PAYLOAD_OUTSIDE_MBUF: AtomicU64 = AtomicU64::new(0);
static SAME_MBUF: AtomicU64 = AtomicU64::new(0);
static OTHER_MBUF: AtomicU64 = AtomicU64::new(0);
static BAD_PAYLOAD: AtomicU64 = AtomicU64::new(0);
static ECHOED: AtomicU64 = AtomicU64::new(0);
static CLIENT_DONE: AtomicBool = AtomicBool::new(false);

fn wire_config() -> Config {
    let mut c = Config::default();
    c.eal.lcores = "0@0,1@0,2@1".into();
    c.ports = vec![PortConfig { name: "dgram-wire".into(), wire: true, ..PortConfig::default() }];
    c.net.ip = "198.18.0.2/24".into();
    c.net.core_ips = vec!["198.18.0.2".into(), "198.18.0.3".into()];
    c.runtime.idle = zcnet::config::IdlePolicy::Busy;
    c
}

fn seq_of(payload: &[u8]) -> Option<usize> {
    let s = usize::from_le_bytes(payload.get(..8)?.try_into().ok()?);
    (s < DATAGRAMS).then_some(s)
}

fn payload_for(seq: usize, len: usize) -> impl Iterator<Item = u8> {
    (seq.to_le_bytes().into_iter()).chain((8..len).map(move |i| (i * 31 + seq) as u8))
}

async fn echo_core() {
    let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 7))).expect("bind");
    let mut n = 0usize;
    while let Ok(datagram) = socket.recv_packet().await {
        // Count over the steady state only: not the first datagrams (queues
        // and caches warming up) nor shutdown (the executor frees its tasks).
        if n == WARMUP {
            COUNTING.with(|c| c.set(true));
        }
        if n == STEADY_END {
            COUNTING.with(|c| c.set(false));
        }
        n += 1;
        let range = datagram.packet().buffer_range();
        let p = datagram.payload().as_ptr() as usize;
        if p < range.start || p + datagram.payload().len() > range.end {
            PAYLOAD_OUTSIDE_MBUF.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(seq) = seq_of(datagram.payload()) {
            SEEN_AT_SERVER[seq].store(datagram.packet().mbuf_ptr() as usize, Ordering::Relaxed);
        }
        let _ = socket.reply(datagram);
        ECHOED.fetch_add(1, Ordering::Relaxed);
    }
}

async fn client_core() {
    let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 4000))).expect("bind");
    let server: SocketAddr = "198.18.0.2:7".parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (seq, seen_at_server) in SEEN_AT_SERVER.iter().enumerate() {
        if Instant::now() > deadline {
            break;
        }
        let len = 8 + seq % 1000;
        let mut packet = socket.alloc_datagram(len).expect("alloc");
        for (b, v) in packet.data_mut().iter_mut().zip(payload_for(seq, len)) {
            *b = v;
        }
        socket.send_packet(packet, server).expect("send");
        // One in flight; the first goes through ARP resolution.
        let Ok(Ok(echo)) = timeout(Duration::from_secs(2), socket.recv_packet()).await else {
            continue;
        };
        if !echo.payload().iter().copied().eq(payload_for(seq, len)) {
            BAD_PAYLOAD.fetch_add(1, Ordering::Relaxed);
        }
        let here = echo.packet().mbuf_ptr() as usize;
        if seen_at_server.load(Ordering::Relaxed) == here {
            SAME_MBUF.fetch_add(1, Ordering::Relaxed);
        } else {
            OTHER_MBUF.fetch_add(1, Ordering::Relaxed);
        }
    }
    CLIENT_DONE.store(true, Ordering::Relaxed);
    zcnet::signal::request_stop();
}

#[test]
fn echoed_datagrams_leave_in_the_mbuf_they_arrived_in_without_allocating() {
    let report = zcnet::run(&wire_config(), |core| async move {
        if core.lcore.index == 0 {
            echo_core().await
        } else {
            client_core().await
        }
    })
    .expect("zcnet::run");
    assert!(CLIENT_DONE.load(Ordering::Relaxed), "the client did not finish");
    let (same, other) = (SAME_MBUF.load(Ordering::Relaxed), OTHER_MBUF.load(Ordering::Relaxed));
    // All but the first (sent through smoltcp while ARP resolved) came back.
    assert!(same + other >= (DATAGRAMS - 2) as u64, "only {} echoes of {DATAGRAMS}", same + other);
    assert_eq!(other, 0, "{other} echoes came back in a different mbuf than the echo core received");
    assert_eq!(BAD_PAYLOAD.load(Ordering::Relaxed), 0, "echoed payloads differ");
    assert_eq!(PAYLOAD_OUTSIDE_MBUF.load(Ordering::Relaxed), 0, "a payload slice lay outside its mbuf");
    let echoed = ECHOED.load(Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(echoed as usize > WARMUP + 10_000, "too few datagrams in steady state: {echoed}");
    assert_eq!(allocations, 0, "the echo core allocated {allocations} times over {} datagrams", STEADY_END - WARMUP);
    assert!(report.pools_full, "mbufs leaked");
    let delivered: u64 = report.cores.iter().map(|c| c.datagrams.delivered).sum();
    assert!(delivered >= 2 * (DATAGRAMS as u64 - 2), "fast path delivered only {delivered}");
    // The client's `send_packet`s went out as built: through smoltcp (when
    // the neighbor table has no MAC for the peer) the copy would not be
    // counted here. (`reply` takes its MAC from the frame it answers, so
    // the echo core's count shows only that replies took the same path.)
    let (echo, client) = (&report.cores[0].datagrams, &report.cores[1].datagrams);
    assert!(client.sent >= DATAGRAMS as u64 - 2, "the client sent only {} datagrams without a copy", client.sent);
    assert!(echo.sent >= DATAGRAMS as u64 - 2, "the echo core replied to only {} datagrams in place", echo.sent);
}
