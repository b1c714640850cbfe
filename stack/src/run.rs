//! The entry point: [`run`] starts EAL, gives every worker lcore its own
//! mempool, queue pair, smoltcp interface and executor, runs the user's
//! future on each, and shuts everything down in order.
//!
//! The loop of one core, each turn: receive a burst and feed it to smoltcp;
//! fire due timers; run woken tasks (up to a budget, so a busy task cannot
//! starve the NIC); let smoltcp emit into fresh mbufs and send them (the
//! first half burst as soon as it is built, the rest at the end). When
//! idle it keeps polling (`idle = "busy"`) or, after
//! `runtime.idle_spins` idle turns, sleeps until the next timer, at most
//! `MAX_IDLE_SLEEP` (2 ms; `idle = "backoff"`).
//!
//! Every wait of a core is for an absolute deadline (a futex wait, through
//! `thread::park_timeout`), never a relative sleep: net_tap raises a signal
//! per received packet, and a relative `nanosleep` resumed after each one
//! restarts from a remainder that includes the timer slack, so under
//! traffic it stretches without bound.
//!
//! This is the one place that knows both the runtime and the network
//! stack; neither of those imports the other's core loop.

use crate::config::{Config, IdlePolicy};
use crate::eal::{Eal, Lcore};
use crate::error::{Error, Result};
use crate::mempool::Mempool;
use crate::net::{DpdkDevice, NetCore, NetStats, Steering};
use crate::os_random::os_random_u64;
use crate::port::{Port, PortStats};
use crate::runtime::mailbox::{self, Mailboxes};
use crate::runtime::Executor;
use crate::signal::{install_handlers, stop_requested};
use crate::telemetry::{Board, Publisher};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first sleep of an idle `backoff` core; each idle sleep after it is
/// twice as long, up to `MAX_IDLE_SLEEP`. Any work resets it.
const MIN_IDLE_SLEEP: Duration = Duration::from_micros(50);
/// The longest a `backoff` core sleeps before polling the NIC again: the
/// most latency a packet arriving at an idle core can see.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(2);
/// How long a core waits between two polls during the shutdown grace period.
const GRACE_POLL: Duration = Duration::from_micros(200);

/// What each core's future is told about where it runs.
#[derive(Debug, Clone)]
pub struct Core {
    /// The lcore (its `index` is the queue pair it owns).
    pub lcore: Lcore,
    /// How many cores run the stack.
    pub cores: usize,
    /// This host's address.
    pub ip: Ipv4Addr,
    /// The port's MAC address.
    pub mac: [u8; 6],
}

/// What [`run`] reports when it returns.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Each core's counters at its end.
    pub cores: Vec<NetStats>,
    /// The port's own counters (`rte_eth_stats`) when the cores were done,
    /// before it closed: what its driver dropped (`rx_missed`, and
    /// `rx_nombuf` for frames it had no mbuf to replace) is counted there,
    /// not in the cores' `NetStats`.
    pub port: PortStats,
    /// True if every mbuf was back in its pool at the end, but for those in
    /// [`RunReport::kept_by_driver`].
    pub pools_full: bool,
    /// mbufs the port's driver kept after the port was closed (DPDK 22.11's
    /// net_af_xdp: its fill rings), counted apart from the application's;
    /// see [`Mempool::kept_by_driver`].
    pub kept_by_driver: usize,
    /// Frames one core handed to another after that core had stopped
    /// taking them (the cores stop one after another): freed at the end,
    /// so that `steered_out` = `steered_in` + this, summed over the cores.
    pub steered_left_at_exit: usize,
}

impl RunReport {
    /// Every core's counters added up.
    pub fn total(&self) -> NetStats {
        NetStats::total(&self.cores)
    }
}

/// Drivers that keep, when their port is closed, the mbufs they took for
/// receiving. DPDK 22.11's net_af_xdp fills each queue's fill ring with 2048
/// mbufs of its pool when the queue is set up and replaces every one it
/// receives; closing the port deletes the socket and its UMEM but frees none
/// of the fill ring's mbufs.
const DRIVERS_KEEPING_RX_MBUFS: &[&str] = &["net_af_xdp"];

/// Runs `main` on every worker core (or on the main lcore if there are
/// none) until every core's future has returned or SIGINT/SIGTERM arrives
/// (a core whose future returned keeps serving its queue, its other tasks
/// and the frames it hands to other cores until then); then
/// closes connections gracefully (up to `runtime.shutdown_grace_secs`),
/// frees every mbuf and cleans EAL up.
///
/// The network stack uses the first configured port; each core serves its
/// own queue pair of it.
pub fn run<F, Fut>(config: &Config, main: F) -> Result<RunReport>
where
    F: Fn(Core) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    install_handlers();
    let port_config = config.effective_ports().into_iter().next().ok_or_else(|| Error::PortCapability {
        port: "(none)".into(),
        what: "no port configured: add a vdev (--vdev net_tap0,iface=zc0) or [[ports]]".into(),
    })?;
    let eal = Eal::init(&config.eal)?;
    let lcores = eal.data_lcores();
    let pools: Vec<Arc<Mempool>> = lcores
        .iter()
        .map(|l| Mempool::new(&format!("zcnet-{}", l.id), &config.mempool, l.socket).map(Arc::new))
        .collect::<Result<_>>()?;
    let port = Port::open(&port_config, &pools)?;
    // What the driver took at queue setup, for a driver that keeps it.
    let driver = port.driver_name();
    let held_at_open: Vec<usize> = pools.iter().map(|p| p.in_use()).collect();
    let report = Arc::new(Mutex::new(vec![NetStats::default(); lcores.len()]));
    let cores = lcores.len();
    let cluster = Cluster {
        board: Board::install(cores),
        port: port.clone(),
        pools: pools.clone(),
        config: config.clone(),
        mailboxes: Mailboxes::new(cores),
        steering: if cores > 1 { steering_for(config, &port, cores)? } else { None },
        cores,
        running: AtomicUsize::new(cores),
    };
    let steering = cluster.steering.clone();
    let job = {
        let report = report.clone();
        move |lcore: Lcore| {
            let stats = core_main(lcore, &cluster, &main);
            if let Ok(mut r) = report.lock() {
                r[lcore.index] = stats;
            }
        }
    };
    eal.launch(job)?.join().map_err(|e| Error::Worker(e.to_string()))?;
    let port_stats = port.stats().unwrap_or_else(|e| {
        log::warn!("port counters at exit: {e}");
        PortStats::default()
    });
    // Every core is done: what is still in the steering queues goes back.
    let steered_left_at_exit = steering.map_or(0, |s| s.drain());
    // Frames still in the port's receive rings (an in-memory wire or a
    // loopback vdev keeps what a core sent after its peer stopped reading)
    // belong to the pools too: free them before the pools are checked.
    port.drain_rx();
    port.flush_tx();
    drop(port);
    let kept_by_driver = if DRIVERS_KEEPING_RX_MBUFS.contains(&driver.as_str()) {
        count_driver_kept(&pools, &held_at_open, &driver)
    } else {
        0
    };
    let pools_full = pools.iter().all(|p| p.leaked() == 0);
    for p in pools.iter().filter(|p| p.leaked() > 0) {
        log::warn!("mempool {} has {} mbuf(s) out at exit", p.name(), p.leaked());
    }
    drop(pools);
    drop(eal);
    let cores = report.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(RunReport { cores, port: port_stats, pools_full, kept_by_driver, steered_left_at_exit })
}

/// After the port is closed: counts as kept by its `driver` the mbufs still
/// out of each pool if they are exactly as many as the driver took when its
/// queues were set up (`held_at_open`; it replaces every mbuf it receives,
/// so that stays its share). Any other count is a leak and stays one: a
/// pool is never freed under a `Packet` the application still holds. Says
/// what it counted. Returns the total.
fn count_driver_kept(pools: &[Arc<Mempool>], held_at_open: &[usize], driver: &str) -> usize {
    let mut total = 0;
    for (pool, &held) in pools.iter().zip(held_at_open) {
        let out = pool.in_use();
        if out > 0 && out == held {
            pool.count_as_kept_by_driver(out);
            total += out;
            log::info!(
                "{driver} kept {out} mbuf(s) of mempool {} after its port closed (its fill ring, taken at queue setup); counted apart, not a leak",
                pool.name()
            );
        }
    }
    total
}

/// What the cores of one run share: the port, their pools, the
/// configuration, and the queues between them.
struct Cluster {
    port: Arc<Port>,
    pools: Vec<Arc<Mempool>>,
    config: Config,
    mailboxes: Arc<Mailboxes>,
    steering: Option<Arc<Steering>>,
    cores: usize,
    /// Cores whose future has not returned yet. A core whose future
    /// returned keeps serving until this is zero: other cores' flows may
    /// still arrive on its queue (and be handed over from there), and the
    /// tasks it spawned may still run.
    running: AtomicUsize,
    /// Where the cores publish their counters for telemetry.
    board: Arc<Board>,
}

fn core_main<F, Fut>(lcore: Lcore, cluster: &Cluster, main: &F) -> NetStats
where
    F: Fn(Core) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let Cluster { port, pools, config, mailboxes, steering, cores, running, board } = cluster;
    let (cores, pool) = (*cores, &pools[lcore.index]);
    let q = lcore.index as u16;
    let (rxq, txq) = match (port.rx_queue(q), port.tx_queue(q)) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => panic!("core {}: {e}", lcore.id),
    };
    let device = DpdkDevice::new(rxq, txq, pool.clone(), config.runtime.burst as usize);
    let net = NetCore::new(device, &config.net, lcore.index, os_random_u64(), steering.clone())
        .unwrap_or_else(|e| panic!("core {}: {e}", lcore.id));
    net.set_current();
    let ip = crate::net::core_address(&config.net, lcore.index).map(|(ip, _)| ip).unwrap_or(Ipv4Addr::UNSPECIFIED);
    let core = Core { lcore, cores, ip, mac: port.mac() };
    let budget = config.runtime.task_budget as usize;
    let idle_policy = config.runtime.idle;
    let idle_spins = config.runtime.idle_spins;
    let mut telemetry = Publisher::new(board.clone(), lcore.index, lcore.id);

    let executor = Executor::new();
    if let Some(s) = &steering {
        s.set_unparker(lcore.index, executor.unparker());
    }
    mailbox::enter(lcore.index, mailboxes.clone());
    executor.enter(|| {
        executor.spawn(mailbox::serve(lcore.index, mailboxes.clone()));
        let main_task = executor.spawn(main(core));
        let mut idle_turns = 0u32;
        let mut returned = false;
        while !stop_requested() {
            if !returned && main_task.is_finished() {
                returned = true;
                running.fetch_sub(1, Ordering::AcqRel);
            }
            if returned && running.load(Ordering::Acquire) == 0 {
                break;
            }
            telemetry.tick(|| Some((net.stats().ok()?, net.socket_states().ok()?)));
            let received = net.ingress();
            executor.fire_timers(Instant::now());
            let ran = executor.run_ready(budget);
            // Egress polls only connections with work; skip the call when
            // nothing can have queued any (no frame in, no task ran, no
            // timer due).
            let sent = if received > 0 || ran > 0 || net.egress_due() { net.egress() } else { false };
            if received > 0 || ran > 0 || sent || executor.has_ready() {
                idle_turns = 0;
                continue;
            }
            idle_turns = idle_turns.saturating_add(1);
            if idle_policy == IdlePolicy::Backoff {
                if let Some(max) = backoff_sleep(idle_turns, idle_spins) {
                    idle_sleep(&executor, &net, max);
                }
            }
        }
    });
    // Shutdown: drop every task (their sockets start closing), stop
    // listening, and give connections the grace period to finish.
    drop(executor);
    net.close_all();
    let deadline = Instant::now() + Duration::from_secs_f64(config.runtime.shutdown_grace_secs);
    while !net.all_closed() && Instant::now() < deadline {
        let busy = (net.ingress() > 0) | net.egress();
        if !busy {
            // Absolute deadline (see the module docs); an early return only
            // means one more turn.
            std::thread::park_timeout(GRACE_POLL);
        }
    }
    let stats = net.stats().unwrap_or_default();
    telemetry.publish(&stats, &net.socket_states().unwrap_or_default());
    net.teardown();
    NetCore::clear_current();
    mailbox::leave();
    stats
}

/// How long a `backoff` core may sleep after `idle_turns` turns without
/// work: nothing for the first `spins`, then `MIN_IDLE_SLEEP`, doubling with
/// each further idle turn up to `MAX_IDLE_SLEEP`.
fn backoff_sleep(idle_turns: u32, spins: u32) -> Option<Duration> {
    let past = idle_turns.checked_sub(spins)?.checked_sub(1)?;
    Some((MIN_IDLE_SLEEP * (1 << past.min(16))).min(MAX_IDLE_SLEEP))
}

/// Sleeps until the next timer (task or smoltcp), at most `max`. The park
/// has an absolute deadline: a signal (net_tap's per-packet one) neither
/// ends nor stretches it.
fn idle_sleep(executor: &Executor, net: &NetCore, max: Duration) {
    let now = Instant::now();
    let mut d = max;
    if let Some(t) = executor.next_deadline() {
        d = d.min(t.saturating_duration_since(now));
    }
    if let Some(t) = net.poll_at() {
        d = d.min(t);
    }
    if !d.is_zero() {
        // Parks the thread; a wake-up from another thread (a task woken, a
        // frame handed over by another core) ends it early.
        executor.wait_for_work_unless(Some(now + d), || net.has_steered_input());
    }
}

/// Flow ownership for `cores` cores with the addresses `config` gives them,
/// by the RSS the port reports for each group of cores that share one.
/// `None` where no frame can reach a core that does not own it: an
/// in-memory wire cabled in pairs whose cores all have addresses of their
/// own (every frame then arrives on its owner; ingress skips the lookup).
fn steering_for(config: &Config, port: &Port, cores: usize) -> Result<Option<Arc<Steering>>> {
    let ips = (0..cores)
        .map(|i| crate::net::core_address(&config.net, i).map(|(ip, _)| ip))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::PortCapability { port: "(stack)".into(), what: e.to_string() })?;
    let distinct = ips.iter().enumerate().all(|(i, ip)| !ips[..i].contains(ip));
    if distinct && port.is_paired_wire() {
        return Ok(None);
    }
    Ok(Some(Steering::new(&ips, |_, group| port.rss_rule(group), config.net.steer_queue, os_random_u64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_core_spins_its_idle_turns_then_sleeps_longer_each_turn_up_to_the_cap() {
        assert_eq!(backoff_sleep(0, 16), None);
        assert_eq!(backoff_sleep(16, 16), None);
        assert_eq!(backoff_sleep(17, 16), Some(MIN_IDLE_SLEEP));
        assert_eq!(backoff_sleep(18, 16), Some(MIN_IDLE_SLEEP * 2));
        assert_eq!(backoff_sleep(19, 16), Some(MIN_IDLE_SLEEP * 4));
        assert_eq!(backoff_sleep(16 + 7, 16), Some(MAX_IDLE_SLEEP.min(MIN_IDLE_SLEEP * 64)));
        assert_eq!(backoff_sleep(u32::MAX, 16), Some(MAX_IDLE_SLEEP));
    }

    #[test]
    fn zero_idle_spins_sleeps_after_the_first_idle_turn() {
        assert_eq!(backoff_sleep(0, 0), None);
        assert_eq!(backoff_sleep(1, 0), Some(MIN_IDLE_SLEEP));
        assert_eq!(backoff_sleep(u32::MAX, u32::MAX), None);
    }
}
