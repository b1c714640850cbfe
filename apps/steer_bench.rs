//! zcnet-steer-bench: what handing a frame to its owner core costs.
//!
//! A frame that arrives on a core that does not own its flow is pushed, as
//! the same mbuf, into a bounded lock-free queue (crossbeam's `ArrayQueue`,
//! as the stack's steering uses) and popped by the owner. This measures that
//! path between two worker lcores — the sender allocates a packet, writes a
//! frame's first bytes and pushes it; the owner pops it, reads those bytes
//! and frees it — beside the unsteered path, where one core allocates,
//! writes, reads and frees. Both print nanoseconds per packet; the handoff's
//! cost is their difference. Medians of `--runs` runs.
//!
//!     zcnet-steer-bench --packets 2000000 --runs 5

use clap::Parser;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use zcnet::config::{EalConfig, Hugepages, MempoolConfig};
use zcnet::{Eal, Mempool, Packet};

/// A one-line error and exit code 2, as the other samples do.
fn exit_usage(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// Cost of steering one frame between two cores.
#[derive(Debug, Parser)]
#[command(name = "zcnet-steer-bench", version)]
struct Args {
    /// Packets per run.
    #[arg(long, default_value_t = 2_000_000)]
    packets: u64,
    /// Runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// EAL lcores: the main lcore and two workers (`0@0,1@0,2@1` maps them
    /// onto two CPUs).
    #[arg(long, default_value = "0@0,1@0,2@1")]
    lcores: String,
}

/// The stack's steering queue size (net.steer_queue).
const QUEUE: usize = 1024;

fn frame(p: &mut Packet, i: u64) {
    if let Ok(b) = p.append(64) {
        b[..8].copy_from_slice(&i.to_le_bytes());
    }
}

fn read(p: &Packet) -> u64 {
    p.data().get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    let eal_config = EalConfig { lcores: args.lcores.clone(), hugepages: Hugepages::Auto, ..Default::default() };
    let eal = Eal::init(&eal_config).unwrap_or_else(|e| exit_usage(&e.to_string()));
    if eal.data_lcores().len() != 2 {
        exit_usage("--lcores must give the main lcore and exactly two workers");
    }
    let pool_config = MempoolConfig { mbufs: 8191, cache: 256, ..Default::default() };
    let pool = Arc::new(Mempool::new("steer-bench", &pool_config, 0).unwrap_or_else(|e| exit_usage(&e.to_string())));
    let n = args.packets;
    let (mut local, mut handoff) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        // The unsteered path, on one worker.
        let ns = Arc::new(AtomicU64::new(0));
        let (p, out) = (pool.clone(), ns.clone());
        eal.launch(move |lcore| {
            if lcore.index != 0 {
                return;
            }
            let (t0, mut sum) = (Instant::now(), 0u64);
            for i in 0..n {
                let Some(mut pkt) = p.try_alloc() else { continue };
                frame(&mut pkt, i);
                sum = sum.wrapping_add(read(&pkt));
            }
            std::hint::black_box(sum);
            out.store((t0.elapsed().as_nanos() as u64) / n, Ordering::Relaxed);
        })
        .and_then(|l| l.join().map_err(|e| zcnet::Error::Worker(e.to_string())))
        .unwrap_or_else(|e| exit_usage(&e.to_string()));
        local.push(ns.load(Ordering::Relaxed) as f64);

        // The steered path: worker 0 hands every packet to worker 1.
        let queue = Arc::new(ArrayQueue::<Packet>::new(QUEUE));
        let done = Arc::new(AtomicBool::new(false));
        let ns = Arc::new(AtomicU64::new(0));
        let (p, q, d, out) = (pool.clone(), queue.clone(), done.clone(), ns.clone());
        eal.launch(move |lcore| {
            let t0 = Instant::now();
            if lcore.index == 0 {
                for i in 0..n {
                    let mut pkt = loop {
                        if let Some(pkt) = p.try_alloc() {
                            break pkt;
                        }
                        std::hint::spin_loop();
                    };
                    frame(&mut pkt, i);
                    while let Err(back) = q.push(pkt) {
                        pkt = back;
                        std::hint::spin_loop();
                    }
                }
                d.store(true, Ordering::Release);
            } else {
                let (mut got, mut sum) = (0u64, 0u64);
                while got < n {
                    match q.pop() {
                        Some(pkt) => {
                            sum = sum.wrapping_add(read(&pkt));
                            got += 1;
                        }
                        None if d.load(Ordering::Acquire) && q.is_empty() => break,
                        None => std::hint::spin_loop(),
                    }
                }
                std::hint::black_box(sum);
                out.store((t0.elapsed().as_nanos() as u64) / n.max(1), Ordering::Relaxed);
            }
        })
        .and_then(|l| l.join().map_err(|e| zcnet::Error::Worker(e.to_string())))
        .unwrap_or_else(|e| exit_usage(&e.to_string()));
        handoff.push(ns.load(Ordering::Relaxed) as f64);
    }
    let full = pool.is_full();
    let (l, h) = (median(local), median(handoff));
    println!(
        "steer packets={n} runs={} local_ns={l:.1} steered_ns={h:.1} handoff_ns={:.1} pools_full={full}",
        args.runs,
        h - l
    );
}
