//! UDP sockets that nobody reads cannot take the pool from the rest of the
//! core. On an in-memory wire, in one process: core 0 binds eight "sink"
//! sockets it never reads (room for 8 x 512 queued datagrams, twice the
//! pool) and an echo socket; core 1 floods the sinks, then needs its own
//! pool for a thousand echo round trips. Together the sinks may hold the
//! core's share `S` of the pool (`NetStats::queued_mbufs_share`, a quarter
//! of what was free at start), then each only its fair part of it, and
//! never more than `2 S` in all; what comes past is dropped and counted.
//! Without that bound, the sinks would keep every mbuf core 1 can allocate
//! (the wire moves mbufs by pointer) and the echoes could not be sent; and
//! the echo socket, which is read, still receives when the share is used
//! up. Run under cargo-nextest (one EAL per process).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use zcnet::config::{Config, PortConfig};
use zcnet::net::UdpSocket;
use zcnet::runtime::{sleep, timeout, yield_now};

const MBUFS: u32 = 2047;
const SINKS: u16 = 8;
const SINK_BASE: u16 = 5000;
/// Datagrams sent to each sink: more than its own queue (512) would hold,
/// so without the share the eight would keep 4096, twice the pool.
const PER_SINK: usize = 600;
const ECHOES: u64 = 1000;

static SERVER_READY: AtomicBool = AtomicBool::new(false);
static CLIENT_DONE: AtomicBool = AtomicBool::new(false);
static STATS_TAKEN: AtomicBool = AtomicBool::new(false);
static FLOOD_SENT: AtomicUsize = AtomicUsize::new(0);
static FLOOD_RETRIES: AtomicUsize = AtomicUsize::new(0);
static ECHOED_BACK: AtomicU64 = AtomicU64::new(0);
static ECHO_NO_MBUF: AtomicU64 = AtomicU64::new(0);
static QUEUED: AtomicUsize = AtomicUsize::new(0);
static SHARE: AtomicUsize = AtomicUsize::new(0);
static SHARE_FULL: AtomicU64 = AtomicU64::new(0);
static QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
/// The server's counters, for the report.
static SERVER_STATS: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
static CLIENT_STATS: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn wire_config() -> Config {
    let mut c = Config::default();
    c.eal.lcores = "0@0,1@0,2@1".into();
    c.ports = vec![PortConfig { name: "unread-wire".into(), wire: true, ..PortConfig::default() }];
    c.mempool.mbufs = MBUFS;
    c.net.ip = "198.18.0.2/24".into();
    c.net.core_ips = vec!["198.18.0.2".into(), "198.18.0.3".into()];
    c.runtime.idle = zcnet::config::IdlePolicy::Busy;
    c
}

async fn server_core() {
    let sinks: Vec<UdpSocket> = (0..SINKS)
        .map(|i| UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], SINK_BASE + i))).expect("bind sink"))
        .collect();
    let echo = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 7))).expect("bind echo");
    SERVER_READY.store(true, Ordering::Release);
    zcnet::runtime::spawn(async move {
        while let Ok(datagram) = echo.recv_packet().await {
            let _ = echo.reply(datagram);
        }
    });
    while !CLIENT_DONE.load(Ordering::Acquire) {
        sleep(Duration::from_millis(1)).await;
    }
    let s = zcnet::net::stats().expect("stats");
    QUEUED.store(s.queued_mbufs, Ordering::Relaxed);
    SHARE.store(s.queued_mbufs_share, Ordering::Relaxed);
    SHARE_FULL.store(s.datagrams.core_share_full, Ordering::Relaxed);
    QUEUE_FULL.store(s.datagrams.queue_full, Ordering::Relaxed);
    *SERVER_STATS.lock().unwrap() = format!("{s:?}");
    STATS_TAKEN.store(true, Ordering::Release);
    drop(sinks);
}

/// Sends `payload` to `to` from a fresh mbuf; false if the pool had none
/// or the transmit queue was full (the datagram did not go out).
fn send(socket: &UdpSocket, to: SocketAddr, payload: &[u8]) -> bool {
    let Ok(mut packet) = socket.alloc_datagram(payload.len()) else { return false };
    packet.data_mut().copy_from_slice(payload);
    socket.send_packet(packet, to).is_ok()
}

async fn client_core() {
    while !SERVER_READY.load(Ordering::Acquire) {
        sleep(Duration::from_millis(1)).await;
    }
    let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 4000))).expect("bind");
    let echo_addr: SocketAddr = "198.18.0.2:7".parse().unwrap();
    // The first datagram resolves the server's MAC (through smoltcp and ARP).
    let _ = socket.send_to(b"hello".to_vec(), echo_addr).await;
    let _ = timeout(Duration::from_secs(2), socket.recv_packet()).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    'flood: for sink in 0..SINKS {
        let to = SocketAddr::from(([198, 18, 0, 2], SINK_BASE + sink));
        for n in 0..PER_SINK {
            while !send(&socket, to, &n.to_le_bytes()) {
                FLOOD_RETRIES.fetch_add(1, Ordering::Relaxed);
                if Instant::now() > deadline {
                    break 'flood;
                }
                yield_now().await;
            }
            FLOOD_SENT.fetch_add(1, Ordering::Relaxed);
            if n % 32 == 31 {
                yield_now().await; // let the wire and the server move
            }
        }
    }
    sleep(Duration::from_millis(50)).await;

    for seq in 0..ECHOES {
        if !send(&socket, echo_addr, &seq.to_le_bytes()) {
            ECHO_NO_MBUF.fetch_add(1, Ordering::Relaxed);
            sleep(Duration::from_millis(1)).await;
            continue;
        }
        if let Ok(Ok(d)) = timeout(Duration::from_secs(1), socket.recv_packet()).await {
            if d.payload() == seq.to_le_bytes() {
                ECHOED_BACK.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    *CLIENT_STATS.lock().unwrap() = format!("{:?}", zcnet::net::stats().expect("stats"));
    CLIENT_DONE.store(true, Ordering::Release);
    let until = Instant::now() + Duration::from_secs(5);
    while !STATS_TAKEN.load(Ordering::Acquire) && Instant::now() < until {
        sleep(Duration::from_millis(1)).await;
    }
    zcnet::signal::request_stop();
}

#[test]
fn unread_udp_sockets_hold_at_most_the_cores_share_of_the_pool() {
    let report = zcnet::run(&wire_config(), |core| async move {
        if core.lcore.index == 0 {
            server_core().await
        } else {
            client_core().await
        }
    })
    .expect("zcnet::run");
    let r = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    let r64 = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let what = format!(
        "flood sent {} ({} retries without an mbuf or transmit room); \
         echoes {}/{ECHOES} ({} without an mbuf); server queued {} (share {}), core_share_full {}, queue_full {}",
        r(&FLOOD_SENT),
        r(&FLOOD_RETRIES),
        r64(&ECHOED_BACK),
        r64(&ECHO_NO_MBUF),
        r(&QUEUED),
        r(&SHARE),
        r64(&SHARE_FULL),
        r64(&QUEUE_FULL)
    );
    eprintln!("{what}");
    let what = format!("{what}\nserver: {}\nclient: {}", SERVER_STATS.lock().unwrap(), CLIENT_STATS.lock().unwrap());
    assert!(STATS_TAKEN.load(Ordering::Relaxed), "the server took no stats: {what}");
    assert_eq!(r64(&ECHOED_BACK), ECHOES, "echoes failed while the sinks held mbufs: {what}");
    assert_eq!(r(&FLOOD_SENT), SINKS as usize * PER_SINK, "the flood ran out of mbufs: {what}");
    let (share, queued) = (r(&SHARE), r(&QUEUED));
    assert!(share > 0 && share <= MBUFS as usize / 4, "the share is not at most a quarter of the pool: {what}");
    assert!(queued >= share && queued <= 2 * share, "the unread sinks should hold between S and 2 S: {what}");
    let refused = (r64(&SHARE_FULL) + r64(&QUEUE_FULL)) as usize;
    assert!(r64(&SHARE_FULL) > 0, "nothing was refused for the share: {what}");
    assert_eq!(refused, SINKS as usize * PER_SINK - queued, "every datagram either queued or counted: {what}");
    assert!(report.pools_full, "mbufs leaked: {what}");
}
