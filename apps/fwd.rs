//! zcnet-fwd: a testpmd-style forwarder, and the shortest complete zcnet
//! data-plane program. Read it top to bottom:
//!
//! 1. parse flags and configuration, start EAL;
//! 2. one mempool per worker lcore, every port opened with one queue pair per worker;
//! 3. each worker receives bursts on its queue of every port and sends them
//!    out of the peer port (port 0 <-> 1, or one port back to itself), in
//!    `io` mode untouched or in `macswap` mode with the MAC addresses swapped;
//! 4. the main lcore prints a stats line every second and stops the workers
//!    after `--duration` or on Ctrl-C, then prints a summary.

#[path = "shared/usage.rs"]
mod usage;
use clap::{Parser, ValueEnum};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use usage::{config_or_exit, exit_usage};
use zcnet::cli::CommonArgs;
use zcnet::signal::{install_handlers, request_stop, stop_requested};
use zcnet::{Eal, Mempool, PacketBatch, Port};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Forward packets untouched.
    Io,
    /// Swap source and destination MAC addresses.
    Macswap,
}

/// Forward packets between ports, like dpdk-testpmd.
#[derive(Debug, Parser)]
#[command(name = "zcnet-fwd", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Forwarding mode.
    #[arg(long, value_enum, default_value = "io")]
    mode: Mode,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Seconds between stats lines (0: none).
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    stats_interval: f64,
    /// Before forwarding, send this many bursts of 64-byte frames on every
    /// port (what testpmd's `start tx_first N` does; needed on net_ring).
    #[arg(long, default_value_t = 0, value_name = "N")]
    tx_first: u32,
}

/// Per-core counters, written by their core only (plain stores), read by main.
#[derive(Default)]
#[repr(align(64))]
struct CoreCounters {
    rx: AtomicU64,
    tx: AtomicU64,
    dropped: AtomicU64,
}

fn main() {
    let args = Args::parse();
    let config = config_or_exit(&args.common);
    if matches!(args.duration, Some(d) if !(d > 0.0 && d.is_finite())) {
        exit_usage("--duration must be a positive number of seconds");
    }
    let port_configs = config.effective_ports();
    if port_configs.is_empty() || port_configs.len() > 2 {
        exit_usage("zcnet-fwd needs one or two ports (add --vdev net_null0, or --device NAME)");
    }
    install_handlers();

    let eal = Eal::init(&config.eal).unwrap_or_else(|e| exit_usage(&e.to_string()));
    let lcores = eal.data_lcores();
    let pools: Vec<Arc<Mempool>> = lcores
        .iter()
        .map(|l| Mempool::new(&format!("fwd-{}", l.id), &config.mempool, l.socket).map(Arc::new))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| exit_usage(&e.to_string()));
    let ports: Vec<Arc<Port>> = port_configs
        .iter()
        .map(|pc| Port::open(pc, &pools))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| exit_usage(&e.to_string()));
    for p in &ports {
        let m = p.mac();
        println!(
            "port {} ({}): mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, {} queue pair(s), link {}, {:?}",
            p.id(),
            p.name(),
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            p.queue_pairs(),
            if p.link().up { "up" } else { "down" },
            p.offloads()
        );
    }
    println!("forwarding in {:?} mode on {} core(s), burst {}", args.mode, lcores.len(), config.runtime.burst);

    let counters: Arc<Vec<CoreCounters>> = Arc::new(lcores.iter().map(|_| CoreCounters::default()).collect());
    let worker = {
        let (ports, pools, counters) = (ports.clone(), pools.clone(), counters.clone());
        let (mode, burst, tx_first) = (args.mode, config.runtime.burst as usize, args.tx_first);
        move |lcore: zcnet::Lcore| {
            let q = lcore.index as u16;
            // Route i: receive on port i, send on its peer (1 <-> 0, or itself).
            let mut routes: Vec<_> = (0..ports.len())
                .map(|i| {
                    let peer = &ports[(i + 1) % ports.len()];
                    (ports[i].rx_queue(q).expect("rx queue"), peer.tx_queue(q).expect("tx queue"))
                })
                .collect();
            let pool = &pools[lcore.index];
            for (_, tx) in routes.iter_mut() {
                prime(tx, pool, tx_first, burst);
            }
            let c = &counters[lcore.index];
            let (mut rx_total, mut tx_total) = (0u64, 0u64);
            let mut batch = PacketBatch::new();
            while !stop_requested() {
                for (rx, tx) in routes.iter_mut() {
                    let n = rx.rx_burst(&mut batch, burst);
                    if n == 0 {
                        continue;
                    }
                    if mode == Mode::Macswap {
                        // Prefetching a few packets ahead, as testpmd does.
                        batch.for_each_data_mut(PREFETCH_AHEAD, macswap);
                    }
                    rx_total += n as u64;
                    tx_total += tx.tx_burst_or_drop(&mut batch) as u64;
                }
                c.rx.store(rx_total, Ordering::Relaxed);
                c.tx.store(tx_total, Ordering::Relaxed);
            }
            // Free what is still in flight on loopback devices: nothing leaks.
            for (rx, _) in routes.iter_mut() {
                rx.drain();
            }
            let dropped: u64 = routes.iter().map(|(_, tx)| tx.refused()).sum();
            c.dropped.store(dropped, Ordering::Relaxed);
        }
    };
    let launched = eal.launch(worker).unwrap_or_else(|e| exit_usage(&e.to_string()));

    // Main lcore: periodic stats until the deadline or a signal.
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + Duration::from_secs_f64(d));
    let total = |f: fn(&CoreCounters) -> &AtomicU64| counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum::<u64>();
    let (mut last_t, mut last_tx) = (start, 0u64);
    let interval = Duration::from_secs_f64(args.stats_interval.max(0.0));
    let mut next_stats = start + interval;
    while !stop_requested() && deadline.is_none_or(|d| Instant::now() < d) {
        // A wait for an absolute deadline: a relative sleep would stretch
        // under net_tap's per-packet signal (an early return is harmless).
        std::thread::park_timeout(Duration::from_millis(10));
        let now = Instant::now();
        if args.stats_interval > 0.0 && now >= next_stats {
            let tx = total(|c| &c.tx);
            let mpps = (tx - last_tx) as f64 / now.duration_since(last_t).as_secs_f64() / 1e6;
            println!(
                "[{:8.3}s] rx {:>12}  tx {:>12}  {:8.3} Mpps",
                (now - start).as_secs_f64(),
                total(|c| &c.rx),
                tx,
                mpps
            );
            (last_t, last_tx) = (now, tx);
            next_stats += interval;
        }
    }
    request_stop();
    if let Err(e) = launched.join() {
        eprintln!("zcnet-fwd: {e}");
        std::process::exit(1);
    }
    let secs = start.elapsed().as_secs_f64();
    let (rx, tx, dropped) = (total(|c| &c.rx), total(|c| &c.tx), total(|c| &c.dropped));
    println!(
        "summary: mode {:?}, {} port(s), {} core(s), {:.2} s: rx {} tx {} dropped {} = {:.3} Mpps",
        args.mode,
        ports.len(),
        lcores.len(),
        secs,
        rx,
        tx,
        dropped,
        tx as f64 / secs / 1e6
    );
    // Closing the ports returns the mbufs drivers hold; then every pool must be full.
    drop(ports);
    for pool in &pools {
        if !pool.is_full() {
            eprintln!("zcnet-fwd: mempool {} still has {} mbuf(s) out", pool.name(), pool.in_use());
        }
    }
}

/// Packets prefetched ahead of the one being rewritten.
const PREFETCH_AHEAD: usize = 3;

/// Swaps the destination and source MAC addresses in place: one 16-byte
/// load, shifts and one store (the bytes after the MACs are kept).
#[inline(always)]
fn macswap(d: &mut [u8]) {
    const MAC: u128 = (1 << 48) - 1;
    if let Some(h) = d.first_chunk_mut::<16>() {
        let x = u128::from_le_bytes(*h);
        *h = ((x >> 48) & MAC | (x & MAC) << 48 | x & !((1u128 << 96) - 1)).to_le_bytes();
    } else if let Some(macs) = d.get_mut(..12) {
        let (dst, src) = macs.split_at_mut(6);
        dst.swap_with_slice(src);
    }
}

/// Sends `bursts` bursts of minimal UDP frames on `tx`, to start traffic on
/// loopback devices such as net_ring.
fn prime(tx: &mut zcnet::TxQueue, pool: &Mempool, bursts: u32, burst: usize) {
    const FRAME: [u8; 42] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, // IPv4
        0x04, 0xd2, 0x16, 0x2e, 0, 26, 0, 0, // UDP
    ];
    let mut batch = PacketBatch::new();
    for _ in 0..bursts {
        for _ in 0..burst {
            let Some(mut p) = pool.try_alloc() else { break };
            if let Ok(buf) = p.append(60) {
                buf[..FRAME.len()].copy_from_slice(&FRAME);
            }
            let _ = batch.push(p);
        }
        tx.tx_burst_or_drop(&mut batch);
    }
}
