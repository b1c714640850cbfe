//! Integration tests of the data plane: EAL, mempools, packets, ports,
//! queues and launching, on virtual devices only (net_null, net_ring).
//!
//! EAL initialises once per process, so each test starts its own EAL and
//! the suite must run one process per test: `cargo nextest run` does that.
//! (Under plain `cargo test` every test after the first fails with
//! `EalAlreadyInitialised`.) EAL always runs with `--no-pci`: no test can
//! touch the machine's NIC, and no traffic leaves the process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zcnet::config::{EalConfig, Hugepages, MempoolConfig, PortConfig};
use zcnet::{Eal, Error, Mempool, Packet, PacketBatch, PacketError, Port, MAX_BURST};

/// The EAL configuration of a test: these vdevs, these lcores, no PCI.
fn eal_config(vdevs: &[&str], lcores: &str, hugepages: Hugepages) -> EalConfig {
    EalConfig {
        vdevs: vdevs.iter().map(|v| v.to_string()).collect(),
        lcores: lcores.into(),
        hugepages,
        // Only used with --no-huge; tests need little memory.
        memory_mb: 256,
        ..Default::default()
    }
}

/// Starts EAL on lcore 0 with `vdevs`, on hugepages where they are free.
fn eal(vdevs: &[&str]) -> Eal {
    Eal::init(&eal_config(vdevs, "0", Hugepages::Auto)).expect("EAL init")
}

/// A pool of `mbufs` mbufs with a per-lcore cache of `cache`.
fn pool(eal: &Eal, name: &str, mbufs: u32, cache: u32) -> Arc<Mempool> {
    let config = MempoolConfig { mbufs, cache, ..Default::default() };
    Arc::new(Mempool::new(name, &config, eal.main_lcore().socket).expect("mempool"))
}

/// Opens and starts the port `name` with one queue pair fed by `pool`.
fn port(name: &str, pool: &Arc<Mempool>) -> Arc<Port> {
    let config = PortConfig { name: name.into(), ..Default::default() };
    Port::open(&config, std::slice::from_ref(pool)).expect("port open")
}

/// One step of splitmix64: a fast, well-mixed pseudo-random sequence.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The payload of packet number `seq`: its sequence number, then
/// pseudo-random bytes seeded by it; 60..=1500 bytes long.
fn payload(seq: u64, out: &mut Vec<u8>) {
    let mut state = seq ^ 0x5EED_F00D_2C4E_7000;
    let len = 60 + (splitmix(&mut state) % 1441) as usize;
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    while out.len() < len {
        out.extend_from_slice(&splitmix(&mut state).to_le_bytes());
    }
    out.truncate(len);
}

/// A packet from `pool` holding `bytes`.
fn packet_with(pool: &Mempool, bytes: &[u8]) -> Packet {
    let mut p = pool.alloc().expect("alloc");
    p.append(bytes.len()).expect("append").copy_from_slice(bytes);
    p
}

/// Sends `count` packets with distinct payloads on the port's queue pair 0
/// and checks that each comes back (the port loops tx to rx, as net_ring
/// does) in order and byte for byte. Refused packets are retried, never
/// dropped. Fails after `limit`.
fn loop_back_and_verify(port: &Arc<Port>, pool: &Mempool, count: u64, limit: Duration) {
    let mut rx = port.rx_queue(0).expect("rx queue");
    let mut tx = port.tx_queue(0).expect("tx queue");
    let (mut to_send, mut to_send_batch, mut received) = (PacketBatch::new(), 0u64, PacketBatch::new());
    let (mut next_recv, mut expected) = (0u64, Vec::with_capacity(1500));
    let start = Instant::now();
    while next_recv < count {
        assert!(
            start.elapsed() < limit,
            "after {limit:?}: {to_send_batch} of {count} packets sent, {next_recv} received"
        );
        while to_send_batch < count && to_send.spare() > 0 {
            let Some(mut p) = pool.try_alloc() else { break };
            payload(to_send_batch, &mut expected);
            p.append(expected.len()).expect("append").copy_from_slice(&expected);
            to_send.push(p).expect("batch has room");
            to_send_batch += 1;
        }
        // Whatever the ring refuses stays in `to_send`, in order, for the next turn.
        tx.tx_burst(&mut to_send);
        rx.rx_burst(&mut received, MAX_BURST);
        while let Some(p) = received.pop() {
            payload(next_recv, &mut expected);
            assert_eq!(p.segment_count(), 1, "packet {next_recv}: segments");
            assert_eq!(p.len(), expected.len(), "packet {next_recv}: length");
            if p.data() != &expected[..] {
                let at = p.data().iter().zip(&expected).position(|(a, b)| a != b);
                let got_seq = p.data().get(..8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
                panic!("packet {next_recv}: bytes differ at offset {at:?} (it carries sequence number {got_seq:?})");
            }
            next_recv += 1;
        }
    }
    assert!(to_send.is_empty());
    assert_eq!(rx.drain(), 0, "more packets arrived than were sent");
}

#[test]
fn eal_starts_without_pci_or_hugepages_on_net_null() {
    let config = eal_config(&["net_null0"], "0", Hugepages::Off);
    let (args, no_huge) = Eal::args(&config).expect("args");
    assert!(args.iter().any(|a| a == "--no-pci"), "no --no-pci in {args:?}");
    assert!(args.iter().any(|a| a == "--no-huge"), "no --no-huge in {args:?}");
    assert!(no_huge);
    assert!(!args.iter().any(|a| a == "-a" || a == "--allow"), "a PCI device is allowed: {args:?}");

    let eal = Eal::init(&config).expect("EAL init with --no-pci --no-huge");
    assert!(eal.no_huge());
    assert!(eal.workers().is_empty());
    zcnet::port_id_by_name("net_null0").expect("net_null0 exists");
    // SAFETY: EAL is initialised; this only reads the device table.
    let ports = unsafe { dpdk_sys::rte_eth_dev_count_avail() };
    assert_eq!(ports, 1, "only the named vdev may be probed, never a PCI NIC");

    // Memory works without hugepages: a pool, a port and a packet.
    let pool = pool(&eal, "nohuge", 511, 0);
    let port = port("net_null0", &pool);
    let p = packet_with(&pool, b"no hugepages needed");
    assert_eq!(p.data(), b"no hugepages needed");
    drop((p, port));
    assert!(pool.is_full());
}

#[test]
fn eal_starts_with_hugepages() {
    assert!(
        zcnet::free_hugepages() > 0,
        "no free hugepages: run scripts/setup.sh (as root) before the test suite to reserve them"
    );
    let config = eal_config(&["net_null0"], "0", Hugepages::Required);
    let (args, no_huge) = Eal::args(&config).expect("args");
    assert!(!no_huge);
    assert!(!args.iter().any(|a| a == "--no-huge"), "--no-huge in {args:?}");
    assert!(args.iter().any(|a| a == "--no-pci"), "no --no-pci in {args:?}");

    let eal = Eal::init(&config).expect("EAL init with hugepages");
    assert!(!eal.no_huge());
    let pool = pool(&eal, "huge", 2047, 64);
    let packets: Vec<Packet> = (0..100u8).map(|i| packet_with(&pool, &[i; 100])).collect();
    assert_eq!(pool.in_use(), 100);
    assert!(packets.iter().enumerate().all(|(i, p)| p.data() == [i as u8; 100]));
    drop(packets);
    assert!(pool.is_full());
}

#[test]
fn prefetching_the_next_mbuf_takes_nothing_from_the_pool_and_changes_no_packet() {
    let eal = eal(&["net_null0"]);
    for (name, cache) in [("pf-cache", 64), ("pf-nocache", 0)] {
        let pool = pool(&eal, name, 511, cache);
        // A fresh pool: this lcore's cache is still empty (or absent).
        pool.prefetch_next();
        drop(packet_with(&pool, &[7; 200]));
        // That mbuf is the top of the cache now (if the pool has one; this
        // test runs on the main lcore, which has an lcore id): the one the
        // hint fetches.
        pool.prefetch_next();
        assert_eq!(pool.in_use(), 0, "{name}: the hint took an mbuf");
        let p = pool.alloc().expect("alloc");
        assert_eq!((p.len(), p.headroom()), (0, 128), "{name}: the next packet is not fresh");
        // An empty packet has no line to fetch; a longer one keeps its bytes.
        p.prefetch_lines(4);
        let q = packet_with(&pool, &[9; 300]);
        q.prefetch_header();
        q.prefetch_lines(4);
        assert_eq!(q.data(), [9; 300], "{name}");
        assert_eq!(pool.in_use(), 2, "{name}");
        drop((p, q));
        assert!(pool.is_full(), "{name}: {} mbuf(s) leaked", pool.in_use());
    }
}

#[test]
fn second_eal_init_is_an_error_not_ub() {
    let config = eal_config(&["net_null0"], "0", Hugepages::Auto);
    let first = Eal::init(&config).expect("first EAL init");
    let second = Eal::init(&config);
    assert!(matches!(second, Err(Error::EalAlreadyInitialised)), "second init while running: {second:?}");
    // The first EAL is unharmed.
    let pool = pool(&first, "still-works", 127, 0);
    drop(pool.alloc().expect("alloc after a refused second init"));
    drop(pool);
    // DPDK cannot be initialised again after cleanup either.
    drop(first);
    let third = Eal::init(&config);
    assert!(matches!(third, Err(Error::EalAlreadyInitialised)), "init after cleanup: {third:?}");
}

#[test]
fn bad_eal_arguments_give_an_error_not_an_abort() {
    let mut config = eal_config(&["net_null0"], "0", Hugepages::Auto);
    config.extra_args = vec!["--definitely-not-an-option".into()];
    match Eal::init(&config) {
        Err(Error::EalInit { reason, args }) => {
            assert!(!reason.trim().is_empty(), "EalInit error without a reason");
            assert!(args.contains("--definitely-not-an-option"), "the error does not show the arguments: {args}");
        }
        other => panic!("expected Error::EalInit, got {other:?}"),
    }
    // A bad lcore list is refused before DPDK sees it.
    let bad_lcores = eal_config(&[], "3-1", Hugepages::Auto);
    let e = Eal::init(&bad_lcores).expect_err("lcores 3-1 accepted");
    assert!(matches!(e, Error::EalInit { .. }) && !e.to_string().is_empty(), "{e:?}");

    // The process lives on. (DPDK 22.11 keeps state from a refused init,
    // so a retry in the same process is not expected to succeed.)
    assert!(!zcnet::signal::stop_requested());
}

#[test]
fn ring_pair_delivers_100k_distinct_payloads_intact() {
    const COUNT: u64 = 100_000;
    let eal = eal(&["net_ring0"]);
    let pool = pool(&eal, "ring", 4095, 64);
    let port = port("net_ring0", &pool);
    port.reset_stats().expect("reset stats");
    loop_back_and_verify(&port, &pool, COUNT, Duration::from_secs(30));
    let stats = port.stats().expect("stats");
    assert_eq!((stats.tx_packets, stats.rx_packets), (COUNT, COUNT), "{stats:?}");
    assert_eq!(pool.in_use(), 0, "packets were leaked in flight");
}

#[test]
fn every_mbuf_returns_to_the_pool_after_traffic() {
    let eal = eal(&["net_ring0"]);
    let pool = pool(&eal, "ring", 4095, 64);
    let port = port("net_ring0", &pool);
    loop_back_and_verify(&port, &pool, 20_000, Duration::from_secs(30));

    // Fill the ring until it refuses; tx_burst_or_drop frees what it refuses.
    let mut tx = port.tx_queue(0).expect("tx queue");
    let mut rx = port.rx_queue(0).expect("rx queue");
    let (mut sent, mut bursts) = (0usize, 0);
    while tx.refused() == 0 {
        bursts += 1;
        assert!(bursts < 1000, "net_ring never refused a packet after {sent} sent");
        let mut batch = PacketBatch::new();
        batch.extend((0..MAX_BURST).map(|i| packet_with(&pool, &[i as u8; 64])));
        sent += tx.tx_burst_or_drop(&mut batch);
        assert!(batch.is_empty());
    }
    assert_eq!(pool.in_use(), sent, "refused packets were not freed");

    // Hold some received packets, then leave the rest in the ring.
    let mut held = PacketBatch::new();
    let got = rx.rx_burst(&mut held, 10);
    assert_eq!((got, held.len()), (10, 10));
    assert_eq!(pool.in_use(), sent);
    assert_eq!(rx.drain(), sent - 10, "drain did not receive what the ring held");
    assert_eq!(pool.in_use(), 10);
    drop(held);
    drop((rx, tx));
    drop(port);
    assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
    assert_eq!(Arc::strong_count(&pool), 1, "the closed port still holds the pool");
}

#[test]
fn port_control_waits_for_every_queue_to_be_released() {
    // stop/start/set_link/set_promiscuous are not synchronised with bursts
    // by DPDK: they take `&mut Port`, which `Arc::get_mut` gives only while
    // no queue (each holds an Arc<Port>) is claimed.
    let eal = eal(&["net_ring0"]);
    let pool = pool(&eal, "control", 1023, 0);
    let mut port = port("net_ring0", &pool);
    let rx = port.rx_queue(0).expect("rx queue");
    assert!(Arc::get_mut(&mut port).is_none(), "port control offered while an rx queue is claimed");
    drop(rx);
    let tx = port.tx_queue(0).expect("tx queue");
    assert!(Arc::get_mut(&mut port).is_none(), "port control offered while a tx queue is claimed");
    drop(tx);
    let control = Arc::get_mut(&mut port).expect("no queue is claimed");
    control.stop().expect("stop");
    control.start().expect("start");
    // net_ring supports neither link changes nor promiscuous mode: an error, not a crash.
    let _ = control.set_link(true);
    let _ = control.set_promiscuous(true);
    // The restarted port carries traffic again.
    loop_back_and_verify(&port, &pool, 1000, Duration::from_secs(10));
    drop(port);
    assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
}

#[test]
fn exhausted_pool_fails_cleanly_and_recovers() {
    let eal = eal(&[]);
    let pool = pool(&eal, "tiny", 127, 0);
    let mut packets = Vec::new();
    let err = loop {
        assert!(packets.len() <= 1000, "a pool of 127 gave more than 1000 packets");
        match pool.alloc() {
            Ok(p) => packets.push(p),
            Err(e) => break e,
        }
    };
    assert!(matches!(&err, Error::PoolExhausted(name) if name == "tiny"), "{err:?}");
    assert!(err.to_string().contains("tiny"), "{err}");
    assert_eq!(packets.len(), 127);
    assert_eq!(pool.available(), 0);
    assert!(pool.try_alloc().is_none());

    packets.pop();
    let again = pool.alloc().expect("alloc after a packet was freed");
    assert!(pool.alloc().is_err(), "the pool grew");
    packets.push(again);
    packets.clear();
    assert!(pool.is_full());
    let all: Vec<Packet> = (0..127).map(|_| pool.alloc().expect("alloc after recovery")).collect();
    drop(all);
    assert!(pool.is_full());
}

/// A packet with 100 bytes 0, 1, 2, ... for the limit tests.
fn numbered_packet(pool: &Mempool) -> Packet {
    let bytes: Vec<u8> = (0..100).collect();
    packet_with(pool, &bytes)
}

#[test]
fn packet_prepend_beyond_headroom_is_an_error() {
    let eal = eal(&[]);
    let pool = pool(&eal, "limits", 127, 0);
    let mut p = numbered_packet(&pool);
    let (before, headroom) = (p.data().to_vec(), p.headroom());
    assert_eq!(headroom, dpdk_sys::RTE_PKTMBUF_HEADROOM as usize);

    let e = p.prepend(headroom + 1).expect_err("prepend beyond headroom");
    assert_eq!(e, PacketError::NoHeadroom { asked: headroom + 1, available: headroom });
    let e = p.prepend(usize::MAX).expect_err("prepend usize::MAX");
    assert_eq!(e, PacketError::NoHeadroom { asked: usize::MAX, available: headroom });
    assert_eq!((p.len(), p.headroom(), p.data()), (100, headroom, &before[..]));

    // Exactly the headroom fits; then there is none left.
    p.prepend(headroom).expect("prepend all headroom").fill(0xAA);
    assert_eq!((p.len(), p.headroom()), (100 + headroom, 0));
    assert_eq!(p.prepend(1), Err(PacketError::NoHeadroom { asked: 1, available: 0 }));
    assert_eq!(&p.data()[headroom..], &before[..]);
    assert!(p.data()[..headroom].iter().all(|&b| b == 0xAA));
}

#[test]
fn packet_append_beyond_tailroom_is_an_error() {
    let eal = eal(&[]);
    let pool = pool(&eal, "limits", 127, 0);
    let mut p = numbered_packet(&pool);
    let (before, tailroom) = (p.data().to_vec(), p.tailroom());
    assert!(tailroom > 1500, "tailroom {tailroom}");

    let e = p.append(tailroom + 1).expect_err("append beyond tailroom");
    assert_eq!(e, PacketError::NoTailroom { asked: tailroom + 1, available: tailroom });
    assert_eq!(p.append(usize::MAX).unwrap_err(), PacketError::NoTailroom { asked: usize::MAX, available: tailroom });
    assert_eq!((p.len(), p.tailroom(), p.data()), (100, tailroom, &before[..]));

    let tail = p.append(tailroom).expect("append all tailroom");
    assert!(tail.iter().all(|&b| b == 0), "appended bytes are not zeroed");
    assert_eq!((p.len(), p.tailroom()), (100 + tailroom, 0));
    assert_eq!(p.append(1), Err(PacketError::NoTailroom { asked: 1, available: 0 }));
    assert_eq!(&p.data()[..100], &before[..]);
}

#[test]
fn packet_trim_and_adj_beyond_length_are_errors() {
    let eal = eal(&[]);
    let pool = pool(&eal, "limits", 127, 0);
    let mut p = numbered_packet(&pool);
    let (before, headroom, tailroom) = (p.data().to_vec(), p.headroom(), p.tailroom());
    let unchanged = |p: &Packet| {
        assert_eq!((p.len(), p.headroom(), p.tailroom()), (100, headroom, tailroom));
        assert_eq!(p.data(), &before[..]);
    };

    assert_eq!(p.trim(101), Err(PacketError::TooShort { asked: 101, available: 100 }));
    unchanged(&p);
    assert_eq!(p.adj(101), Err(PacketError::TooShort { asked: 101, available: 100 }));
    unchanged(&p);
    assert_eq!(p.trim(usize::MAX), Err(PacketError::TooShort { asked: usize::MAX, available: 100 }));
    assert_eq!(p.adj(usize::MAX), Err(PacketError::TooShort { asked: usize::MAX, available: 100 }));
    unchanged(&p);

    // Within bounds they work, down to an empty packet.
    p.adj(10).expect("adj 10");
    p.trim(10).expect("trim 10");
    assert_eq!(p.data(), &before[10..90]);
    p.trim(80).expect("trim the rest");
    assert!(p.is_empty());
    assert_eq!(p.adj(1), Err(PacketError::TooShort { asked: 1, available: 0 }));
    assert_eq!(p.trim(1), Err(PacketError::TooShort { asked: 1, available: 0 }));
    p.adj(0).expect("adj 0 of an empty packet");
}

#[test]
fn packet_chain_segments_iterate_in_order() {
    let eal = eal(&[]);
    let pool = pool(&eal, "chain", 127, 0);
    let (a, b, c) = ([b'a'; 10], [b'b'; 20], [b'c'; 30]);
    let mut head = packet_with(&pool, &a);
    head.chain(packet_with(&pool, &b)).expect("chain 2nd");
    head.chain(packet_with(&pool, &c)).expect("chain 3rd");
    assert_eq!(pool.in_use(), 3);
    assert_eq!((head.segment_count(), head.len()), (3, 60));
    assert_eq!(head.data(), &a[..], "data() is the first segment");
    let segments: Vec<&[u8]> = head.segments().collect();
    assert_eq!(segments, [&a[..], &b[..], &c[..]]);
    assert_eq!(head.to_vec(), [&a[..], &b[..], &c[..]].concat());

    // Append and trim work on the last segment.
    head.append(5).expect("append to the chain").copy_from_slice(b"ddddd");
    assert_eq!(head.len(), 65);
    let last: Vec<u8> = [&c[..], b"ddddd"].concat();
    assert_eq!(head.segments().last(), Some(&last[..]), "append did not grow the last segment");
    assert_eq!(head.segments().count(), 3);
    head.trim(5).expect("trim the chain");
    assert_eq!(head.to_vec(), [&a[..], &b[..], &c[..]].concat());
    assert_eq!(head.trim(31), Err(PacketError::TooShort { asked: 31, available: 30 }));
    assert_eq!(head.len(), 60);

    drop(head);
    assert!(pool.is_full(), "{} segment(s) leaked", pool.in_use());
}

#[test]
fn a_chained_packet_leaves_as_one_segment_or_is_dropped_counted() {
    // zcnet never requests RTE_ETH_TX_OFFLOAD_MULTI_SEGS, so a driver may
    // read only a packet's first segment: tx copies a chain into one mbuf,
    // or drops it (counted) when it does not fit one.
    let eal = eal(&["net_ring0"]);
    let pool = pool(&eal, "chains", 1023, 0);
    let port = port("net_ring0", &pool);
    let (mut rx, mut tx) = (port.rx_queue(0).expect("rx queue"), port.tx_queue(0).expect("tx queue"));
    let parts: [&[u8]; 3] = [&[b'a'; 100], &[b'b'; 200], &[b'c'; 300]];
    let mut chain = packet_with(&pool, parts[0]);
    for part in &parts[1..] {
        chain.chain(packet_with(&pool, part)).expect("chain");
    }
    let too_long = {
        let mut p = packet_with(&pool, &[b'x'; 1500]);
        p.chain(packet_with(&pool, &[b'y'; 1500])).expect("chain");
        p
    };
    let mut batch = PacketBatch::new();
    for p in [packet_with(&pool, b"before"), chain, too_long, packet_with(&pool, b"after")] {
        batch.push(p).expect("room");
    }
    assert_eq!(tx.tx_burst(&mut batch), 3);
    assert!(batch.is_empty());
    assert_eq!(tx.unsendable(), 1, "the 3000-byte chain fits no mbuf: dropped and counted");
    let mut got = PacketBatch::new();
    assert_eq!(rx.rx_burst(&mut got, MAX_BURST), 3);
    let frames: Vec<(usize, Vec<u8>)> = got.as_slice().iter().map(|p| (p.segment_count(), p.to_vec())).collect();
    assert_eq!(frames, [(1, b"before".to_vec()), (1, parts.concat()), (1, b"after".to_vec())]);

    // A packet rx delivered, chained in place through as_mut_slice: the
    // batch no longer vouches for its packets, and tx still sends one segment.
    got.clear();
    let mut batch = PacketBatch::new();
    batch.push(packet_with(&pool, b"one")).expect("room");
    assert_eq!(tx.tx_burst(&mut batch), 1);
    assert_eq!(rx.rx_burst(&mut batch, MAX_BURST), 1);
    batch.as_mut_slice()[0].chain(packet_with(&pool, b" two")).expect("chain");
    // Bytes edited in place through for_each_data_mut keep the packet's shape.
    batch.for_each_data_mut(0, |d| d[0] = b'O');
    assert_eq!(tx.tx_burst(&mut batch), 1);
    assert_eq!(rx.rx_burst(&mut got, MAX_BURST), 1);
    assert_eq!((got.as_slice()[0].segment_count(), got.as_slice()[0].to_vec()), (1, b"One two".to_vec()));
    drop((got, rx, tx, port));
    assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
}

#[test]
fn a_port_refuses_an_mtu_that_does_not_fit_one_mbuf() {
    // Rx must hand over single segments (zcnet requests no scatter, and tx
    // trusts that): a frame that cannot fit one mbuf of a queue's pool is
    // refused when the port opens, naming the pool.
    let eal = eal(&["net_null0"]);
    let config = MempoolConfig { mbufs: 127, cache: 0, data_room: 1024 };
    let small = Arc::new(Mempool::new("small-room", &config, eal.main_lcore().socket).expect("mempool"));
    let err = Port::open(&PortConfig { name: "net_null0".into(), ..Default::default() }, &[small]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::PortCapability { .. }) && text.contains("small-room"), "{text}");
}

#[test]
fn batch_push_pop_and_drop_free_everything() {
    let eal = eal(&[]);
    let pool = pool(&eal, "batch", 255, 0);
    let mut batch = PacketBatch::new();
    assert!(batch.is_empty());
    let mut order = Vec::new();
    for i in 0..MAX_BURST {
        let p = packet_with(&pool, &[i as u8; 60]);
        order.push(p.mbuf_ptr());
        batch.push(p).expect("push within MAX_BURST");
    }
    assert_eq!((batch.len(), batch.spare()), (MAX_BURST, 0));

    let extra = packet_with(&pool, &[0xEE; 60]);
    let extra_ptr = extra.mbuf_ptr();
    let back = batch.push(extra).expect_err("push beyond MAX_BURST");
    assert_eq!(back.mbuf_ptr(), extra_ptr, "a different packet was handed back");
    assert_eq!(back.data(), [0xEE; 60]);
    drop(back);
    assert_eq!(pool.in_use(), MAX_BURST);

    let ptrs: Vec<_> = batch.as_slice().iter().map(Packet::mbuf_ptr).collect();
    assert_eq!(ptrs, order);
    let mut popped = Vec::new();
    for (i, expected) in order.iter().enumerate().take(3) {
        let p = batch.pop().expect("pop");
        assert_eq!((p.mbuf_ptr(), p.data()[0]), (*expected, i as u8));
        popped.push(p);
    }
    assert_eq!(batch.len(), MAX_BURST - 3);
    assert_eq!(pool.in_use(), MAX_BURST, "popping freed a packet");
    drop(popped);
    assert_eq!(pool.in_use(), MAX_BURST - 3);
    // Room at the front is reused after a pop.
    for _ in 0..3 {
        batch.push(packet_with(&pool, &[1; 60])).expect("push after pop");
    }
    assert_eq!(batch.len(), MAX_BURST);
    assert_eq!(batch.as_slice()[0].mbuf_ptr(), order[3], "order lost after compaction");
    assert_eq!(pool.in_use(), MAX_BURST);

    // Extend stops at MAX_BURST and frees the rest.
    let mut other = PacketBatch::new();
    other.extend((0..MAX_BURST + 10).map(|_| packet_with(&pool, &[2; 60])));
    assert_eq!(other.len(), MAX_BURST);
    other.clear();
    assert!(other.is_empty());

    drop(batch);
    assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
}

#[test]
fn queue_claimed_twice_is_an_error() {
    let eal = eal(&["net_null0"]);
    let pool = pool(&eal, "queues", 1023, 0);
    let port = port("net_null0", &pool);
    let rx = port.rx_queue(0).expect("first claim of rx 0");
    let again = port.rx_queue(0);
    assert!(
        matches!(&again, Err(Error::Queue { kind: "rx", queue: 0, why, .. }) if why.contains("in use")),
        "{:?}",
        again.err()
    );
    let tx = port.tx_queue(0).expect("tx 0 is separate from rx 0");
    let again = port.tx_queue(0);
    assert!(matches!(&again, Err(Error::Queue { kind: "tx", queue: 0, .. })), "{:?}", again.err());
    let missing = port.rx_queue(1);
    assert!(
        matches!(&missing, Err(Error::Queue { queue: 1, why, .. }) if why.contains("not exist")),
        "{:?}",
        missing.err()
    );

    drop(rx);
    let rx = port.rx_queue(0).expect("rx 0 after the first claim was dropped");
    drop(tx);
    let tx = port.tx_queue(0).expect("tx 0 after the first claim was dropped");
    drop((rx, tx, port));
    assert!(pool.is_full());
}

#[test]
fn port_reports_link_stats_and_xstats_on_net_null() {
    let eal = eal(&["net_null0"]);
    let pool = pool(&eal, "stats", 1023, 0);
    let port = port("net_null0", &pool);
    assert_eq!(port.name(), "net_null0");
    assert_eq!(port.queue_pairs(), 1);
    assert!(port.mtu() > 0);
    assert!(port.link().up, "net_null's link is down after start");
    port.reset_stats().expect("reset stats");

    let (mut rx, mut tx) = (port.rx_queue(0).expect("rx"), port.tx_queue(0).expect("tx"));
    let (mut received, mut sent) = (0u64, 0u64);
    let mut batch = PacketBatch::new();
    for _ in 0..10 {
        received += rx.rx_burst(&mut batch, 32) as u64;
        sent += tx.tx_burst(&mut batch) as u64;
        batch.clear();
    }
    assert!(received > 0, "net_null produced no packets");
    assert!(sent > 0, "net_null took no packets");

    let stats = port.stats().expect("stats");
    assert_eq!((stats.rx_packets, stats.tx_packets), (received, sent), "{stats:?}");
    assert_eq!((stats.rx_errors, stats.tx_errors), (0, 0), "{stats:?}");

    let xstats = port.xstats().expect("xstats");
    assert!(!xstats.is_empty(), "no xstats");
    assert!(xstats.iter().all(|(name, _)| !name.is_empty()), "an xstat without a name: {xstats:?}");
    let get = |name: &str| xstats.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(get("rx_good_packets"), Some(received), "{xstats:?}");
    assert_eq!(get("tx_good_packets"), Some(sent), "{xstats:?}");

    port.reset_stats().expect("reset stats");
    assert_eq!(port.stats().expect("stats").rx_packets, 0);
    drop((rx, tx, batch, port));
    assert!(pool.is_full(), "{} mbuf(s) leaked", pool.in_use());
}

#[test]
fn launch_runs_on_every_worker_and_join_reports_panics() {
    let eal = Eal::init(&eal_config(&[], "0-1", Hugepages::Auto)).expect("EAL init on lcores 0-1");
    assert_eq!(eal.main_lcore().id, 0);
    let workers: Vec<u32> = eal.workers().iter().map(|l| l.id).collect();
    assert_eq!(workers, [1]);

    let main_thread = std::thread::current().id();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let launched = {
        let seen = seen.clone();
        eal.launch(move |lcore| {
            // SAFETY: reads this thread's lcore id, set by EAL.
            let running_on = unsafe { dpdk_sys::zc_lcore_id() };
            seen.lock().unwrap().push((lcore, running_on, std::thread::current().id()));
        })
        .expect("launch")
    };
    launched.join().expect("join");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the closure ran {} times on 1 worker", seen.len());
    let (lcore, running_on, thread) = seen[0];
    assert_eq!((lcore.id, lcore.index, running_on), (1, 0, 1));
    assert_ne!(thread, main_thread, "the closure ran on the main thread");

    let launched = eal.launch(|lcore| panic!("worker {} gives up", lcore.id)).expect("launch");
    let panic = launched.join().expect_err("a panicking worker joined cleanly");
    assert_eq!(panic.lcore, 1);
    assert!(panic.message.contains("worker 1 gives up"), "{panic}");
    assert!(zcnet::signal::stop_requested(), "a worker panic does not stop the others");
    zcnet::signal::reset_stop();

    // The worker survived its panic and takes work again.
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    eal.launch(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .expect("launch after a panic")
    .join()
    .expect("join after a panic");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_forgotten_launch_keeps_eal_up_while_its_workers_run() {
    // `mem::forget(Launched)` ends its borrow of the Eal, which can then be
    // dropped while the workers still run: it must not clean EAL up under them.
    let eal = Eal::init(&eal_config(&[], "0-1", Hugepages::Auto)).expect("EAL init on lcores 0-1");
    let socket = eal.main_lcore().socket;
    let (go, done) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None)));
    let launched = {
        let (go, done) = (go.clone(), done.clone());
        eal.launch(move |_| {
            while !go.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            // After the Eal is gone: a pool made and a packet taken from it.
            let config = MempoolConfig { mbufs: 64, cache: 0, ..Default::default() };
            let result = Mempool::new("after-eal-drop", &config, socket).and_then(|pool| pool.alloc().map(|p| p.len()));
            *done.lock().unwrap() = Some(result.map_err(|e| e.to_string()));
        })
        .expect("launch")
    };
    std::mem::forget(launched);
    drop(eal);
    go.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(20);
    let result = loop {
        if let Some(result) = done.lock().unwrap().take() {
            break result;
        }
        assert!(Instant::now() < deadline, "the worker did not finish within 20 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(result, Ok(0), "the worker could not use EAL after the Eal was dropped");
}

#[test]
fn a_full_pool_is_freed_only_on_the_main_lcore_while_no_worker_runs() {
    // A full pool is only provably idle when no lcore (the only threads with
    // mempool caches) can be in the middle of a free: a pool dropped
    // anywhere else is leaked, which keeps its name taken.
    let eal = Eal::init(&eal_config(&[], "0-1", Hugepages::Auto)).expect("EAL init on lcores 0-1");
    let socket = eal.main_lcore().socket;
    let config = MempoolConfig { mbufs: 64, cache: 0, ..Default::default() };
    let make = |name: &str| Mempool::new(name, &config, socket);

    drop(make("on-main").expect("pool"));
    let again = make("on-main");
    assert!(again.is_ok(), "a full pool dropped on the main lcore was not freed: {again:?}");
    drop(again);

    let pool = make("off-main").expect("pool");
    std::thread::spawn(move || drop(pool)).join().expect("the dropping thread");
    assert!(make("off-main").is_err(), "a pool dropped off the main lcore was freed");

    let release = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let launched = {
        let (release, running) = (release.clone(), running.clone());
        eal.launch(move |_| {
            running.store(true, Ordering::Release);
            while !release.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
        })
        .expect("launch")
    };
    while !running.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    drop(make("worker-running").expect("pool"));
    assert!(make("worker-running").is_err(), "a pool dropped while a worker runs was freed");
    release.store(true, Ordering::Release);
    launched.join().expect("join");
}

#[test]
fn pools_use_the_mp_mc_ring_whatever_eal_is_told() {
    // Mempool is Send + Sync because its driver is thread-safe; EAL's
    // --mbuf-pool-ops-name must not be able to pick a single-producer one.
    let mut config = eal_config(&[], "0", Hugepages::Auto);
    config.extra_args = vec!["--mbuf-pool-ops-name".into(), "ring_sp_sc".into()];
    let eal = Eal::init(&config).expect("EAL init");
    let pool = pool(&eal, "ops", 64, 0);
    assert_eq!(pool.ops_name(), "ring_mp_mc");
}
