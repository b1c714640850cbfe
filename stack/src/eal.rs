//! The Environment Abstraction Layer: DPDK's process-wide runtime. It is
//! initialised once per process from an [`EalConfig`], runs closures on the
//! worker lcores and is cleaned up when the [`Eal`] is dropped — after every
//! worker has been joined and every mempool freed.

use crate::config::{parse_lcores, EalConfig, Hugepages};
use crate::error::{rte_errno, rte_strerror, Args, Error, Result};
use crate::runtime_files::{remove_dead_zcnet_prefixes, remove_prefix, DEFAULT_PREFIX};
use std::any::Any;
use std::ffi::{c_char, c_int, c_void, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

const NEVER: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const CLEANED: u8 = 3;
/// DPDK 22.11 keeps state after a rejected init: it cannot be retried.
const FAILED: u8 = 4;
static STATE: AtomicU8 = AtomicU8::new(NEVER);

/// Pointers (as integers) of the mempools that have not been freed; EAL is
/// only cleaned up once this is empty (see `Mempool`'s drop).
pub(crate) static LIVE_POOLS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// True while EAL is initialised and not cleaned up.
pub(crate) fn is_running() -> bool {
    STATE.load(Ordering::Acquire) == RUNNING
}

/// A worker lcore as seen by a launched closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lcore {
    /// DPDK's lcore id.
    pub id: u32,
    /// Position among the workers, 0-based: worker `index` uses queue pair
    /// `index` of every port and mempool `index`.
    pub index: usize,
    /// The NUMA socket the lcore is on.
    pub socket: u32,
}

/// The initialised EAL. Exactly one can exist per process, ever.
///
/// Dropping it calls `rte_eal_cleanup` — but only once every mempool has
/// been freed and no worker lcore is inside a launched closure (its
/// [`Launched`] was forgotten); otherwise cleanup is skipped (with a
/// warning), because a live packet or a running worker would use freed memory.
///
/// `Eal` stays on the thread that created it:
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::Eal>();
/// ```
pub struct Eal {
    main: Lcore,
    workers: Vec<Lcore>,
    no_huge: bool,
    /// The `--file-prefix`.
    prefix: String,
    /// Whether `rte_pdump_init` succeeded (and needs `rte_pdump_uninit`).
    pdump: bool,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for Eal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eal").field("main", &self.main).field("workers", &self.workers).finish()
    }
}

/// CPUs online (the highest id + 1 of /sys/devices/system/cpu/online).
fn online_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_lcores(s.trim()).ok())
        .and_then(|ids| ids.into_iter().max())
        .map(|m| m as usize + 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Free 2 MiB (default size) hugepages, read from /proc/meminfo.
pub fn free_hugepages() -> u64 {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else { return 0 };
    info.lines().find_map(|l| l.strip_prefix("HugePages_Free:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

impl Eal {
    /// The EAL argument vector for `config`, and whether it runs without
    /// hugepages. `--no-pci` is passed unless PCI devices are allowed.
    pub fn args(config: &EalConfig) -> Result<(Vec<String>, bool)> {
        let lcores = parse_lcores(&config.lcores).map_err(|reason| Error::EalInit { reason, args: String::new() })?;
        let prefix = Self::file_prefix(config);
        // `-l` takes plain core lists; `--lcores` also maps lcores to CPUs.
        let flag = if config.lcores.contains('@') { "--lcores" } else { "-l" };
        // Plain lists name CPUs: each must exist here (EAL's own refusal is a
        // page of usage text).
        if flag == "-l" {
            let cpus = online_cpus();
            if let Some(bad) = lcores.iter().find(|&&l| l as usize >= cpus) {
                return Err(Error::EalInit {
                    reason: format!(
                        "eal.lcores: CPU {bad} does not exist here (CPUs 0-{}); map lcores onto CPUs with LCORE@CPU, e.g. \"0@0,1@0,2@1\"",
                        cpus - 1
                    ),
                    args: String::new(),
                });
            }
        }
        // A tap device needs CAP_NET_ADMIN; without it EAL only says the port is missing.
        // SAFETY: geteuid has no preconditions.
        if config.vdevs.iter().any(|v| v.starts_with("net_tap")) && unsafe { libc::geteuid() } != 0 {
            return Err(Error::Permission(
                "net_tap needs root (or CAP_NET_ADMIN) to create its interface: run as root".into(),
            ));
        }
        let mut args: Vec<String> = vec!["zcnet".into(), flag.into(), config.lcores.clone()];
        args.extend(["--main-lcore".into(), lcores[0].to_string()]);
        args.extend(["--file-prefix".into(), prefix]);
        let level = crate::LogLevel::parse(&config.log_level)
            .map_err(|e| Error::EalInit { reason: format!("eal.log_level: {e}"), args: String::new() })?;
        args.push(format!("--log-level={}", level.eal));
        if config.allow.is_empty() {
            args.push("--no-pci".into());
        }
        for dev in &config.allow {
            args.extend(["-a".into(), dev.clone()]);
        }
        for vdev in &config.vdevs {
            args.extend(["--vdev".into(), vdev.clone()]);
        }
        let no_huge = match config.hugepages {
            Hugepages::Off => true,
            Hugepages::Required if free_hugepages() == 0 => return Err(Error::NoHugepages),
            Hugepages::Required => false,
            Hugepages::Auto => free_hugepages() == 0,
        };
        // With hugepages, EAL shares its configuration and memory through
        // files under the process's own prefix, so secondary processes
        // (dpdk-dumpcap, dpdk-pdump, dpdk-proc-info) can attach and parallel
        // processes never collide. Without hugepages EAL runs in legacy
        // memory mode, which cannot share memory: --no-shconf keeps it from
        // writing shared files, and no secondary process can attach.
        if no_huge {
            args.extend(["--no-huge".into(), "--no-shconf".into(), "-m".into(), config.memory_mb.to_string()]);
        }
        args.extend(config.extra_args.iter().cloned());
        Ok((args, no_huge))
    }

    /// The `--file-prefix` EAL runs with: `eal.file_prefix`, or `zcnet-<pid>`.
    /// Secondary processes attach with it (`dpdk-dumpcap --file-prefix P`),
    /// and DPDK's telemetry socket is `/var/run/dpdk/P/dpdk_telemetry.v2`.
    pub fn file_prefix(config: &EalConfig) -> String {
        if config.file_prefix.is_empty() {
            format!("{DEFAULT_PREFIX}{}", std::process::id())
        } else {
            config.file_prefix.clone()
        }
    }

    /// Initialises EAL. Fails with [`Error::EalAlreadyInitialised`] if EAL
    /// was initialised before in this process, and with [`Error::EalInit`]
    /// (carrying `rte_errno`'s text) if EAL refuses the arguments.
    pub fn init(config: &EalConfig) -> Result<Eal> {
        match STATE.compare_exchange(NEVER, STARTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {}
            Err(FAILED) => {
                return Err(Error::EalInit {
                    reason: "an earlier EAL init in this process failed, and DPDK cannot retry it: start a new process"
                        .into(),
                    args: String::new(),
                })
            }
            Err(_) => return Err(Error::EalAlreadyInitialised),
        }
        match Self::init_inner(config) {
            Ok(eal) => {
                STATE.store(RUNNING, Ordering::Release);
                Ok(eal)
            }
            Err(e) => {
                // Errors found before rte_eal_init ran leave DPDK untouched.
                let touched = matches!(&e, Error::EalInit { args, .. } if !args.is_empty());
                STATE.store(if touched { FAILED } else { NEVER }, Ordering::Release);
                Err(e)
            }
        }
    }

    fn init_inner(config: &EalConfig) -> Result<Eal> {
        let (args, no_huge) = Self::args(config)?;
        if no_huge && config.hugepages == Hugepages::Auto {
            log::warn!(
                "no free hugepages, running with --no-huge (scripts/setup.sh reserves them); no secondary process (dpdk-dumpcap) can attach"
            );
        } else if no_huge {
            log::info!("running with --no-huge: no secondary process (dpdk-dumpcap) can attach");
        }
        // Killed zcnet processes leave hugepage files that hold their pages.
        for gone in remove_dead_zcnet_prefixes() {
            log::info!("removed the runtime files of {gone}, whose process is gone");
        }
        let shown = Args(&args).to_string();
        let cargs: Vec<CString> =
            args.iter().map(|a| CString::new(a.as_str())).collect::<std::result::Result<_, _>>().map_err(|_| {
                Error::EalInit { reason: "an argument contains a NUL byte".into(), args: shown.clone() }
            })?;
        // EAL may keep pointers into argv for the life of the process, so the
        // strings are deliberately leaked (a few hundred bytes, once).
        let mut argv: Vec<*mut c_char> = cargs.into_iter().map(|c| c.into_raw()).collect();
        let argc = argv.len() as c_int;
        argv.push(std::ptr::null_mut());
        let argv = Box::leak(argv.into_boxed_slice());
        // SAFETY: argv is a NULL-terminated array of valid C strings that
        // lives forever; STATE guarantees no other init runs concurrently.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::EalInit { reason: rte_strerror(rte_errno()), args: shown });
        }
        // SAFETY: EAL is initialised; these only read its lcore table.
        let (main_id, workers) = unsafe {
            let main_id = dpdk_sys::rte_get_main_lcore();
            let mut workers = Vec::new();
            let mut id = dpdk_sys::rte_get_next_lcore(u32::MAX, 1, 0);
            while id < dpdk_sys::RTE_MAX_LCORE {
                workers.push(Lcore { id, index: workers.len(), socket: dpdk_sys::rte_lcore_to_socket_id(id) });
                id = dpdk_sys::rte_get_next_lcore(id, 1, 0);
            }
            (main_id, workers)
        };
        // SAFETY: as above.
        let socket = unsafe { dpdk_sys::rte_lcore_to_socket_id(main_id) };
        let prefix = Self::file_prefix(config);
        crate::telemetry::register();
        // Serves dpdk-dumpcap and dpdk-pdump: they ask through EAL's
        // multi-process channel, which exists only with shared files.
        // SAFETY: EAL is initialised; called once, from the main lcore.
        let pdump = !no_huge && unsafe { dpdk_sys::rte_pdump_init() } == 0;
        if pdump {
            log::info!(
                "EAL file prefix {prefix}: capture with `dpdk-dumpcap --file-prefix {prefix} -i PORT`, query with `dpdk-telemetry.py -f {prefix}`"
            );
        } else {
            log::info!(
                "EAL file prefix {prefix}: query with `dpdk-telemetry.py -f {prefix}` (no capture without hugepages)"
            );
        }
        Ok(Eal {
            main: Lcore { id: main_id, index: 0, socket },
            workers,
            no_huge,
            prefix,
            pdump,
            _not_send: PhantomData,
        })
    }

    /// The main lcore (the thread that called `init`).
    pub fn main_lcore(&self) -> Lcore {
        self.main
    }

    /// The worker lcores, in order.
    pub fn workers(&self) -> &[Lcore] {
        &self.workers
    }

    /// The lcores that run loops: the workers, or the main lcore alone when
    /// there are none (see [`Eal::launch`]).
    pub fn data_lcores(&self) -> Vec<Lcore> {
        if self.workers.is_empty() {
            vec![self.main]
        } else {
            self.workers.clone()
        }
    }

    /// Whether EAL runs without hugepages (then no secondary process can attach).
    pub fn no_huge(&self) -> bool {
        self.no_huge
    }

    /// The `--file-prefix` EAL runs with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `f` on every worker lcore and returns at once; [`Launched::join`]
    /// waits for them all. With no worker lcores, `f` runs on the main lcore
    /// inside `join`. A panic in `f` is caught on its lcore and reported by
    /// `join`, so one failing core does not abort the process.
    pub fn launch<F>(&self, f: F) -> Result<Launched<'_>>
    where
        F: Fn(Lcore) + Send + Sync + 'static,
    {
        let job: Arc<Job> = Arc::new(Job { f: Box::new(f), panics: Mutex::new(Vec::new()) });
        let mut launched =
            Launched { eal: self, job: job.clone(), running: Vec::new(), inline: self.workers.is_empty() };
        for lcore in &self.workers {
            BUSY.start(lcore.id);
            let arg = Box::into_raw(Box::new((job.clone(), *lcore)));
            // SAFETY: `trampoline` takes back ownership of `arg` exactly once;
            // if the launch fails, the box is reclaimed here instead.
            let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg as *mut c_void, lcore.id) };
            if ret != 0 {
                // SAFETY: the launch failed, so the trampoline never ran.
                drop(unsafe { Box::from_raw(arg) });
                BUSY.finish(lcore.id);
                crate::signal::request_stop();
                launched.wait();
                return Err(Error::dpdk("rte_eal_remote_launch", ret));
            }
            launched.running.push(lcore.id);
        }
        Ok(launched)
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        let live = LIVE_POOLS.lock().map(|p| p.len()).unwrap_or(1);
        if live > 0 {
            log::warn!("{live} mempool(s) still hold packets; skipping rte_eal_cleanup");
            return;
        }
        // A forgotten `Launched` leaves its workers running, and nothing
        // borrows the Eal any more to stop this drop: EAL stays up for them.
        let busy = BUSY.lcores();
        if !busy.is_empty() {
            log::warn!(
                "lcore(s) {busy:?} still run a launched closure (its Launched was forgotten); skipping rte_eal_cleanup"
            );
            return;
        }
        for lcore in &self.workers {
            // SAFETY: no worker is inside a closure (checked above; no launch
            // can start, `self` is borrowed mutably): this returns at once,
            // or after the few instructions between a trampoline's `finish`
            // and its return to EAL's loop.
            unsafe { dpdk_sys::rte_eal_wait_lcore(lcore.id) };
        }
        if self.pdump {
            // SAFETY: rte_pdump_init succeeded; EAL is still up.
            unsafe { dpdk_sys::rte_pdump_uninit() };
        }
        // EAL leaves its runtime directory and hugepage files behind; note
        // the directory first.
        // SAFETY: returns a pointer to a static NUL-terminated path.
        let runtime_dir = unsafe {
            let p = dpdk_sys::rte_eal_get_runtime_dir();
            (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        // SAFETY: every worker has returned from its launched closure and is
        // back in EAL's loop (above), and every mempool has been freed.
        unsafe { dpdk_sys::rte_eal_cleanup() };
        STATE.store(CLEANED, Ordering::Release);
        if let Some(dir) = runtime_dir {
            // The prefix is this process's: EAL locks it against other
            // primaries. An attached secondary keeps its mappings.
            remove_prefix(std::path::Path::new(&dir), &self.prefix);
        }
    }
}

struct Job {
    f: Box<dyn Fn(Lcore) + Send + Sync>,
    panics: Mutex<Vec<(u32, String)>>,
}

impl Job {
    fn run(&self, lcore: Lcore) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| (self.f)(lcore))) {
            let msg = panic_message(&*p);
            if let Ok(mut panics) = self.panics.lock() {
                panics.push((lcore.id, msg));
            }
            // One core failed: ask the others to stop too.
            crate::signal::request_stop();
        }
    }
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// Which worker lcores are inside a launched closure. `launch` marks an
/// lcore busy before it starts; the lcore itself clears the mark once the
/// closure has returned and it has let go of the job. The main lcore blocks
/// on the condvar — a futex wait, which no signal cuts short or stretches
/// (net_tap raises one per received packet) — instead of sleep-polling
/// EAL's lcore state with relative sleeps.
struct Busy {
    lcores: Mutex<Vec<u32>>,
    finished: Condvar,
}

/// The worker lcores of this process's one EAL that run a closure now.
static BUSY: Busy = Busy { lcores: Mutex::new(Vec::new()), finished: Condvar::new() };

impl Busy {
    fn lock(&self) -> MutexGuard<'_, Vec<u32>> {
        self.lcores.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&self, id: u32) {
        self.lock().push(id);
    }

    fn finish(&self, id: u32) {
        self.lock().retain(|&l| l != id);
        self.finished.notify_all();
    }

    /// Blocks until lcore `id` is not inside a closure.
    fn wait(&self, id: u32) {
        let mut lcores = self.lock();
        while lcores.contains(&id) {
            lcores = self.finished.wait(lcores).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The lcores inside a closure now.
    fn lcores(&self) -> Vec<u32> {
        self.lock().clone()
    }
}

/// True if the calling thread is EAL's main lcore and no worker lcore runs
/// a launched closure: then no other thread with a mempool cache (only
/// lcores have one) can be freeing mbufs, and no launch can start.
pub(crate) fn only_main_lcore_runs() -> bool {
    // SAFETY: both only read EAL's lcore state (a thread-local id and a
    // global set at init); callers hold a Mempool, so EAL is up.
    let on_main = unsafe { dpdk_sys::zc_lcore_id() == dpdk_sys::rte_get_main_lcore() };
    on_main && BUSY.lcores().is_empty()
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from Box::into_raw in `Eal::launch` and is taken
    // back exactly once, here.
    let (job, lcore) = *unsafe { Box::from_raw(arg as *mut (Arc<Job>, Lcore)) };
    job.run(lcore);
    // Let go of the job (and what its closure holds) before saying so.
    drop(job);
    BUSY.finish(lcore.id);
    0
}

/// Closures running on the worker lcores. Dropping it without `join` asks
/// the workers to stop and waits for them. Forgetting it (`mem::forget`)
/// leaves them running: the [`Eal`] then skips `rte_eal_cleanup` when it is
/// dropped, so they never run on a cleaned-up EAL.
#[must_use = "dropping Launched stops the workers"]
pub struct Launched<'eal> {
    eal: &'eal Eal,
    job: Arc<Job>,
    running: Vec<u32>,
    inline: bool,
}

/// A launched closure panicked.
#[derive(Debug, thiserror::Error)]
#[error("lcore {lcore} panicked: {message}")]
pub struct WorkerPanic {
    /// The lcore.
    pub lcore: u32,
    /// The panic message.
    pub message: String,
}

impl Launched<'_> {
    fn wait(&mut self) {
        for id in self.running.drain(..) {
            BUSY.wait(id);
            // SAFETY: `id` is a worker that was launched and has returned
            // from its closure, so this only waits for it to be back in
            // EAL's loop (a few instructions: it does not spin for long).
            unsafe { dpdk_sys::rte_eal_wait_lcore(id) };
        }
    }

    /// Waits for every worker to return (runs the closure on the main lcore
    /// first if there are no workers). Reports the first panic, if any.
    pub fn join(mut self) -> std::result::Result<(), WorkerPanic> {
        if self.inline {
            self.inline = false;
            self.job.run(self.eal.main);
        }
        self.wait();
        let panics = std::mem::take(&mut *self.job.panics.lock().unwrap_or_else(|e| e.into_inner()));
        match panics.into_iter().next() {
            Some((lcore, message)) => Err(WorkerPanic { lcore, message }),
            None => Ok(()),
        }
    }
}

impl Drop for Launched<'_> {
    fn drop(&mut self) {
        if !self.running.is_empty() {
            crate::signal::request_stop();
            self.wait();
        }
    }
}
