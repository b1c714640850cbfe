//! The per-core executor: it runs `!Send` tasks on the thread that owns it,
//! a bounded number per turn so one task cannot starve the NIC, and keeps
//! the timers that [`sleep`](super::sleep) and [`timeout`](super::timeout)
//! use. Wake-ups from other threads arrive through a bounded lock-free queue
//! that each turn drains.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Instant;

use super::task::{panic_message, Header, JoinError, JoinHandle, JoinSink, JoinState, Shared, Slab, SlabKey};
use super::timer::Timers;
use crate::prefetch::{prefetch, LINE};

/// Capacity of the cross-thread wake queue of [`Executor::new`].
const DEFAULT_REMOTE_QUEUE_CAPACITY: usize = 4096;

/// How many tasks [`Executor::block_on`] polls between two polls of its own future.
const BLOCK_ON_BUDGET: usize = 128;

/// Below this many tasks their entries and futures stay in cache, and
/// fetching them ahead in `run_ready` would only cost.
const PREFETCH_MIN_TASKS: usize = 512;

/// How far ahead in the run queue `run_ready` fetches a task's slab slot,
/// and (reading that slot, fetched earlier) the first lines of its future.
const PREFETCH_SLOT_AHEAD: usize = 8;
const PREFETCH_FUTURE_AHEAD: usize = 4;
const PREFETCH_FUTURE_LINES: usize = 4;

thread_local! {
    /// The executor [`Executor::enter`] made current on this thread.
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
}

/// One spawned task, as the executor stores it. Only the owner thread
/// touches it; `future` is `None` while the task is being polled.
struct TaskEntry {
    header: Arc<Header>,
    waker: Waker,
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    join: Rc<dyn JoinSink>,
}

/// The executor's state; `Executor` owns it, `enter` lends it to the thread.
struct Inner {
    shared: Arc<Shared>,
    tasks: RefCell<Slab<TaskEntry>>,
    run_queue: RefCell<VecDeque<SlabKey>>,
    timers: Rc<Timers>,
    /// True while `run_ready` polls tasks, to refuse re-entry from a task.
    running: Cell<bool>,
}

/// A single-threaded executor for `!Send` futures: one per worker lcore.
///
/// Tasks are spawned with [`Executor::spawn`] or, from inside the executor,
/// with the free function [`spawn`]. A core loop drives the executor itself,
/// turn by turn: [`run_ready`](Executor::run_ready) polls woken tasks up to
/// a budget and [`fire_timers`](Executor::fire_timers) wakes the tasks whose
/// timers are due. Simple programs and tests use
/// [`block_on`](Executor::block_on), which does both and parks the thread
/// when there is nothing to do.
///
/// Waking a task from the owner thread pushes it on a local queue with no
/// lock and no allocation; waking it from another thread goes through a
/// bounded lock-free queue that every turn drains, and unparks the owner if
/// it sleeps in `block_on`. No wake-up is ever lost, even when that queue is
/// full.
///
/// Dropping the executor drops every task's future, on the owner thread;
/// their [`JoinHandle`]s then yield [`JoinError::Cancelled`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zcnet_stack::runtime::{sleep, spawn, Executor};
///
/// let executor = Executor::new();
/// let total = executor.block_on(async {
///     let a = spawn(async { sleep(Duration::from_millis(1)).await; 1 });
///     let b = spawn(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(total, 3);
/// ```
///
/// The executor belongs to the thread that created it; it is not `Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<zcnet_stack::runtime::Executor>();
/// ```
pub struct Executor {
    inner: Rc<Inner>,
}

impl Executor {
    /// Creates an executor owned by the calling thread, with a cross-thread
    /// wake queue of 4096 entries.
    pub fn new() -> Executor {
        Executor::with_remote_queue_capacity(DEFAULT_REMOTE_QUEUE_CAPACITY)
    }

    /// Creates an executor whose cross-thread wake queue holds `capacity`
    /// entries. Wakes beyond that are still delivered, through a slower scan.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero.
    pub fn with_remote_queue_capacity(capacity: usize) -> Executor {
        assert!(capacity > 0, "the remote wake queue needs a capacity of at least 1");
        Executor {
            inner: Rc::new(Inner {
                shared: Arc::new(Shared::new(capacity)),
                tasks: RefCell::new(Slab::new()),
                run_queue: RefCell::new(VecDeque::new()),
                timers: Rc::new(Timers::new(Instant::now())),
                running: Cell::new(false),
            }),
        }
    }

    /// Makes this executor the thread's current one while `f` runs, so that
    /// [`spawn`], [`sleep`](super::sleep), [`yield_now`] and [`now`] work,
    /// and so that wake-ups on this thread take the fast local path.
    ///
    /// # Panics
    ///
    /// If an executor (this one or another) is already entered on this thread.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            assert!(
                current.is_none(),
                "zcnet runtime: an executor is already entered on this thread; \
                 Executor::enter cannot be nested"
            );
            *current = Some(Rc::clone(&self.inner));
        });
        let _exit = ExitGuard;
        f()
    }

    /// Spawns a task that runs `future` to completion on this executor. It
    /// is first polled on a later call to [`run_ready`](Executor::run_ready)
    /// (or inside [`block_on`](Executor::block_on)). The future need not be
    /// `Send`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.spawn(future)
    }

    /// Collects the wake-ups that came from other threads, then polls up to
    /// `budget` woken tasks in the order they were woken, each at most once:
    /// a task that wakes itself (as [`yield_now`] does) goes to the back of
    /// the queue and waits for the next call. Returns how many tasks were
    /// polled (a cancelled task, whose future is dropped, counts too).
    ///
    /// Enters the executor for the call if no executor is entered.
    ///
    /// # Panics
    ///
    /// If another executor is entered on this thread, or if called from
    /// inside one of this executor's tasks.
    pub fn run_ready(&self, budget: usize) -> usize {
        if self.is_current() {
            self.inner.run_ready(budget)
        } else {
            self.enter(|| self.inner.run_ready(budget))
        }
    }

    /// Wakes every task whose timer is due at `now` and returns how many it
    /// woke. `now` also becomes the executor's cached time, which [`now`]
    /// returns inside tasks (it never goes backwards). The caller owns the
    /// clock: pass `Instant::now()` in a core loop, any instant in a test.
    pub fn fire_timers(&self, now: Instant) -> usize {
        self.inner.timers.fire(now)
    }

    /// Whether a task is waiting to be polled: woken on this thread, or
    /// woken from another one and not yet collected.
    pub fn has_ready(&self) -> bool {
        self.inner.has_ready()
    }

    /// The earliest deadline of a pending timer, if any: how long a core
    /// loop may sleep when it is idle.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inner.timers.next_deadline()
    }

    /// The number of live tasks: spawned and not yet completed, panicked
    /// or cancelled.
    pub fn task_count(&self) -> usize {
        self.inner.tasks.borrow().len()
    }

    /// Parks the thread until a task is woken (from any thread) or until
    /// `deadline` passes; returns at once if a task is already waiting. For
    /// a core loop that backs off when idle. It may also return early
    /// (spurious unpark).
    pub fn wait_for_work(&self, deadline: Option<Instant>) {
        self.inner.park(deadline, || false);
    }

    /// [`wait_for_work`](Executor::wait_for_work) that also returns at once
    /// if `ready` says there is work the executor does not know of (frames
    /// other cores handed this one, say). Whoever makes `ready` true must
    /// then call [`Unparker::unpark`], so the check and the sleep cannot miss it.
    pub fn wait_for_work_unless(&self, deadline: Option<Instant>, ready: impl Fn() -> bool) {
        self.inner.park(deadline, ready);
    }

    /// A handle that other threads use to wake this executor's thread if
    /// it sleeps in [`wait_for_work`](Executor::wait_for_work) or
    /// [`block_on`](Executor::block_on).
    pub fn unparker(&self) -> Unparker {
        Unparker { shared: Arc::clone(&self.inner.shared) }
    }

    /// Runs `future` to completion on the current thread, together with the
    /// executor's tasks and timers, and returns its output. When nothing is
    /// ready the thread sleeps until the next timer deadline or until a
    /// wake-up arrives from another thread. For tests and simple programs;
    /// a core loop calls [`run_ready`](Executor::run_ready) and
    /// [`fire_timers`](Executor::fire_timers) itself.
    ///
    /// Enters the executor for the call if no executor is entered.
    ///
    /// # Panics
    ///
    /// If another executor is entered on this thread, if called from inside
    /// one of this executor's tasks, or if `future` panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if self.is_current() {
            self.inner.block_on(future)
        } else {
            self.enter(|| self.inner.block_on(future))
        }
    }

    fn is_current(&self) -> bool {
        CURRENT.with(|current| current.borrow().as_ref().is_some_and(|inner| Rc::ptr_eq(inner, &self.inner)))
    }

    #[cfg(test)]
    fn local_queue_len(&self) -> usize {
        self.inner.run_queue.borrow().len()
    }

    #[cfg(test)]
    fn remote_queue_len(&self) -> usize {
        self.inner.shared.remote.len()
    }

    #[cfg(test)]
    fn overflow_flagged(&self) -> bool {
        self.inner.shared.overflow.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(super) fn timer_heap_len(&self) -> usize {
        self.inner.timers.heap_len()
    }
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("task_count", &self.task_count())
            .field("has_ready", &self.has_ready())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Drop every future here, on the owning thread. A future's drop may
        // spawn or wake; loop until no task is left.
        let mut first_panic = None;
        loop {
            let entries = self.inner.tasks.borrow_mut().drain();
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                entry.header.mark_done();
                let future = entry.future;
                if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(future))) {
                    first_panic.get_or_insert(payload);
                }
                entry.join.fail(JoinError::Cancelled);
            }
        }
        self.inner.run_queue.borrow_mut().clear();
        while self.inner.shared.remote.pop().is_some() {}
        if let Some(payload) = first_panic {
            if !thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}

/// Wakes an executor's thread from another thread (see [`Executor::unparker`]).
#[derive(Clone)]
pub struct Unparker {
    shared: Arc<Shared>,
}

impl Unparker {
    /// Unparks the executor's thread if it sleeps waiting for work. Publish
    /// the work first (a queue push), then call this.
    pub fn unpark(&self) {
        self.shared.notify_owner();
    }
}

impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unparker")
    }
}

/// Clears the thread's current executor when `enter` returns or unwinds.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let previous = CURRENT.with(|current| current.borrow_mut().take());
        drop(previous);
    }
}

/// Resets `Inner::running` when `run_ready` returns or unwinds.
struct RunningGuard<'a>(&'a Cell<bool>);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// The waker of `block_on`'s own future: a flag, and an unpark if needed.
struct MainWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.shared.notify_owner();
    }
}

impl Inner {
    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let state = Rc::new(JoinState::new());
        let sink = Rc::clone(&state);
        let task: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
            let output = future.await;
            sink.complete(Ok(output));
        });
        let join: Rc<dyn JoinSink> = state.clone();
        let header = {
            let mut tasks = self.tasks.borrow_mut();
            let key = tasks.vacant_key();
            let header = Arc::new(Header::new_scheduled(key, Arc::clone(&self.shared)));
            let inserted = tasks.insert(TaskEntry {
                header: Arc::clone(&header),
                waker: Waker::from(Arc::clone(&header)),
                future: Some(task),
                join,
            });
            debug_assert_eq!(inserted, key);
            self.run_queue.borrow_mut().push_back(key);
            header
        };
        JoinHandle::new(state, header)
    }

    fn has_ready(&self) -> bool {
        !self.run_queue.borrow().is_empty() || self.shared.has_pending()
    }

    fn run_ready(&self, budget: usize) -> usize {
        assert!(
            !self.running.get(),
            "zcnet runtime: run_ready or block_on was called from inside a task \
             of the same executor; a task must not drive its own executor"
        );
        self.running.set(true);
        let _running = RunningGuard(&self.running);

        self.collect_remote_wakes();
        // Only what is queued now runs in this call: a task that is woken
        // while it runs waits for the next call.
        let queued = self.run_queue.borrow().len();
        let prefetching = self.tasks.borrow().len() >= PREFETCH_MIN_TASKS;
        let mut polled = 0;
        for _ in 0..queued {
            if polled >= budget {
                break;
            }
            let Some(key) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            if prefetching {
                self.prefetch_ahead();
            }
            if self.run_task(key) {
                polled += 1;
            }
        }
        polled
    }

    /// Hints the CPU to fetch the tasks a few places ahead in the run
    /// queue: with thousands of tasks, a woken task's slot and future are
    /// cold when its turn comes, one miss after another if fetched on use.
    fn prefetch_ahead(&self) {
        let queue = self.run_queue.borrow();
        let tasks = self.tasks.borrow();
        if let Some(&key) = queue.get(PREFETCH_SLOT_AHEAD) {
            prefetch(tasks.slot_addr(key), 1);
        }
        if let Some(future) = queue.get(PREFETCH_FUTURE_AHEAD).and_then(|&k| tasks.get(k)?.future.as_ref()) {
            let future: &dyn Future<Output = ()> = future.as_ref().get_ref();
            let lines = std::mem::size_of_val(future).div_ceil(LINE).min(PREFETCH_FUTURE_LINES);
            prefetch(future as *const dyn Future<Output = ()> as *const u8, lines);
        }
    }

    /// Moves remote wake-ups into the local run queue.
    fn collect_remote_wakes(&self) {
        let mut run_queue = self.run_queue.borrow_mut();
        // Bounded, so wakers on other threads cannot keep this loop going.
        for _ in 0..self.shared.remote.capacity() {
            match self.shared.remote.pop() {
                Some(key) => run_queue.push_back(key),
                None => break,
            }
        }
        if self.shared.overflow.swap(false, Ordering::AcqRel) {
            let tasks = self.tasks.borrow();
            for (key, entry) in tasks.iter() {
                if entry.header.take_overflowed() {
                    run_queue.push_back(key);
                }
            }
        }
    }

    /// Polls one task; returns false if `key` named no live task.
    fn run_task(&self, key: SlabKey) -> bool {
        let (cancelled, waker, mut future) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(entry) = tasks.get_mut(key) else {
                return false; // it finished after it was queued
            };
            let Some(future) = entry.future.take() else {
                return false;
            };
            (entry.header.begin_poll(), entry.waker.clone(), future)
        };
        if cancelled {
            self.finish(key, future, Some(JoinError::Cancelled));
            return true;
        }

        let mut cx = Context::from_waker(&waker);
        // AssertUnwindSafe: a future that panicked is dropped, never polled again.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
        match outcome {
            Ok(Poll::Pending) => {
                let mut tasks = self.tasks.borrow_mut();
                let entry = tasks.get_mut(key).expect("a task stays in the slab while it is polled");
                if entry.header.is_cancelled() {
                    drop(tasks);
                    self.finish(key, future, Some(JoinError::Cancelled));
                } else {
                    entry.future = Some(future);
                }
            }
            // The task's wrapper already handed the output to the JoinHandle.
            Ok(Poll::Ready(())) => self.finish(key, future, None),
            Err(payload) => {
                let message = panic_message(&*payload);
                drop(payload);
                self.finish(key, future, Some(JoinError::Panicked(message)));
            }
        }
        true
    }

    /// Removes a task, drops its future and reports `error` to its handle.
    fn finish(&self, key: SlabKey, future: Pin<Box<dyn Future<Output = ()>>>, error: Option<JoinError>) {
        let entry = self.tasks.borrow_mut().remove(key);
        let Some(entry) = entry else {
            return;
        };
        entry.header.mark_done();
        // A panic in the future's drop was already reported by the panic
        // hook; the task is over either way.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(future)));
        if let Some(error) = error {
            entry.join.fail(error);
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(!self.running.get(), "zcnet runtime: block_on was called from inside a task of the same executor");
        let mut future = pin!(future);
        let main = Arc::new(MainWaker { woken: AtomicBool::new(true), shared: Arc::clone(&self.shared) });
        let waker = Waker::from(Arc::clone(&main));
        let mut cx = Context::from_waker(&waker);
        loop {
            if main.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            self.timers.fire(Instant::now());
            self.run_ready(BLOCK_ON_BUDGET);
            if main.woken.load(Ordering::Acquire) || self.has_ready() {
                continue;
            }
            let deadline = self.timers.next_deadline();
            self.park(deadline, || main.woken.load(Ordering::SeqCst));
        }
    }

    /// Parks until a wake-up arrives or `deadline` passes, unless one is
    /// already pending (in the queues, or as `extra_ready` says).
    fn park(&self, deadline: Option<Instant>, extra_ready: impl Fn() -> bool) {
        // Announce the sleep before the last check: a waker publishes its
        // wake-up, then reads `sleeping` (Shared::notify_owner); with SeqCst
        // on both sides one of the two sees the other.
        self.shared.sleeping.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if !extra_ready() && !self.has_ready() {
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if deadline > now {
                        thread::park_timeout(deadline - now);
                    }
                }
            }
        }
        self.shared.sleeping.store(false, Ordering::SeqCst);
    }
}

/// Pushes `key` on the local run queue if this thread is running the
/// executor that `shared` belongs to. Returns false otherwise (another
/// thread, no executor entered, or the thread is shutting down); the caller
/// then uses the remote queue.
pub(super) fn push_local(shared: &Arc<Shared>, key: SlabKey) -> bool {
    CURRENT
        .try_with(|current| {
            let Ok(current) = current.try_borrow() else {
                return false;
            };
            let Some(inner) = current.as_ref() else {
                return false;
            };
            if !Arc::ptr_eq(&inner.shared, shared) {
                return false;
            }
            let Ok(mut run_queue) = inner.run_queue.try_borrow_mut() else {
                return false;
            };
            run_queue.push_back(key);
            true
        })
        .unwrap_or(false)
}

/// The timers of the thread's current executor, if one is entered.
pub(super) fn current_timers() -> Option<Rc<Timers>> {
    CURRENT.try_with(|current| current.borrow().as_ref().map(|inner| Rc::clone(&inner.timers))).ok().flatten()
}

/// Spawns a task on the current executor and returns its [`JoinHandle`].
/// The future need not be `Send`; it runs on this thread.
///
/// # Panics
///
/// If no executor is entered on this thread (see [`Executor::enter`]).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use zcnet_stack::runtime::{spawn, Executor};
///
/// let executor = Executor::new();
/// executor.block_on(async {
///     let shared = Rc::new(5); // not Send, and that is fine
///     let handle = spawn(async move { *shared + 1 });
///     assert_eq!(handle.await, Ok(6));
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let inner = CURRENT.with(|current| current.borrow().clone());
    match inner {
        Some(inner) => inner.spawn(future),
        None => panic!(
            "zcnet runtime: spawn called outside an executor; call it from a task, \
             or inside Executor::enter or Executor::block_on"
        ),
    }
}

/// The current executor's cached time: the latest instant passed to
/// [`Executor::fire_timers`] (`block_on` passes `Instant::now()` every
/// turn). Outside an executor, `Instant::now()`. Reading it costs no
/// system call, which is why a core loop caches it.
pub fn now() -> Instant {
    current_timers().map_or_else(Instant::now, |timers| timers.now())
}

/// Yields to the other tasks: the task wakes itself and goes to the back of
/// the run queue, so everything already woken runs first.
///
/// Cancel safe: dropping the future loses nothing.
///
/// # Examples
///
/// ```
/// use zcnet_stack::runtime::{yield_now, Executor};
///
/// let executor = Executor::new();
/// executor.block_on(async {
///     for _ in 0..3 {
///         // A long computation, split into turns.
///         yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`]: pending once, then ready.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::timeout;
    use std::future::poll_fn;
    use std::time::Duration;

    /// A task that parks its waker in `waker` on the first poll and
    /// completes (returning `id`) on the second; counts its polls.
    struct Probe {
        polls: Rc<Cell<usize>>,
        waker: Rc<RefCell<Option<Waker>>>,
    }

    fn spawn_probe(executor: &Executor, id: usize) -> (Probe, JoinHandle<usize>) {
        let probe = Probe { polls: Rc::new(Cell::new(0)), waker: Rc::new(RefCell::new(None)) };
        let (polls, waker) = (Rc::clone(&probe.polls), Rc::clone(&probe.waker));
        let handle = executor.spawn(poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            if polls.get() >= 2 {
                Poll::Ready(id)
            } else {
                *waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }));
        (probe, handle)
    }

    impl Probe {
        fn take_waker(&self) -> Waker {
            self.waker.borrow_mut().take().expect("the probe was polled once")
        }
    }

    /// Sets its flag when dropped.
    struct DropFlag(Rc<Cell<bool>>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    #[test]
    fn spawn_runs_to_completion_and_join_returns_value() {
        let executor = Executor::new();
        let outer = executor.spawn(async { 40 });
        let result = executor.block_on(async {
            let inner = spawn(async {
                yield_now().await;
                2
            });
            outer.await.unwrap() + inner.await.unwrap()
        });
        assert_eq!(result, 42);
        assert_eq!(executor.task_count(), 0);
    }

    #[test]
    fn wake_from_same_thread_requeues_task_once() {
        let executor = Executor::new();
        let (probe, handle) = spawn_probe(&executor, 7);
        assert_eq!(executor.run_ready(16), 1);
        let waker = probe.take_waker();
        executor.enter(|| {
            waker.wake_by_ref();
            waker.wake_by_ref();
            let clone = waker.clone();
            clone.wake();
        });
        assert_eq!(executor.local_queue_len(), 1, "queued once, on the local queue");
        assert_eq!(executor.remote_queue_len(), 0);
        assert_eq!(executor.run_ready(16), 1);
        assert_eq!(probe.polls.get(), 2);
        assert_eq!(executor.run_ready(16), 0);
        assert!(handle.is_finished());
        assert_eq!(executor.block_on(handle), Ok(7));
    }

    #[test]
    fn wake_from_other_thread_goes_through_remote_queue() {
        let executor = Executor::new();
        let (probe, handle) = spawn_probe(&executor, 1);
        executor.run_ready(16);
        let waker = probe.take_waker();
        thread::spawn(move || waker.wake()).join().unwrap();
        assert_eq!(executor.remote_queue_len(), 1);
        assert_eq!(executor.local_queue_len(), 0);
        assert!(executor.has_ready());
        assert_eq!(executor.run_ready(16), 1);
        assert_eq!(executor.block_on(handle), Ok(1));

        // A remote wake must also unpark a block_on that sleeps with no
        // timer due for 10 s.
        let (probe, handle) = spawn_probe(&executor, 2);
        executor.run_ready(16);
        let waker = probe.take_waker();
        let started = Instant::now();
        let waking = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            waker.wake();
        });
        let result = executor.block_on(timeout(Duration::from_secs(10), handle));
        waking.join().unwrap();
        assert_eq!(result, Ok(Ok(2)));
        assert!(started.elapsed() < Duration::from_secs(5), "block_on slept through a remote wake-up");
    }

    #[test]
    fn remote_queue_overflow_loses_no_wakeup() {
        let executor = Executor::with_remote_queue_capacity(4);
        let (probes, handles): (Vec<_>, Vec<_>) = (0..100).map(|id| spawn_probe(&executor, id)).unzip();
        assert_eq!(executor.run_ready(usize::MAX), 100);
        let wakers: Vec<Waker> = probes.iter().map(Probe::take_waker).collect();
        thread::spawn(move || wakers.into_iter().for_each(Waker::wake)).join().unwrap();
        assert_eq!(executor.remote_queue_len(), 4);
        assert!(executor.overflow_flagged());
        assert!(executor.has_ready());
        assert_eq!(executor.run_ready(usize::MAX), 100);
        for (id, handle) in handles.into_iter().enumerate() {
            assert_eq!(executor.block_on(handle), Ok(id));
        }
        assert!(probes.iter().all(|probe| probe.polls.get() == 2));
        assert_eq!(executor.task_count(), 0);
    }

    #[test]
    fn budget_limits_polls_per_turn_and_is_fair() {
        let executor = Executor::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        for name in ['a', 'b'] {
            let log = Rc::clone(&log);
            executor.spawn(async move {
                loop {
                    log.borrow_mut().push(name);
                    yield_now().await;
                }
            });
        }
        for _ in 0..6 {
            assert_eq!(executor.run_ready(1), 1);
        }
        assert_eq!(*log.borrow(), ['a', 'b', 'a', 'b', 'a', 'b']);
        // With a large budget each task still runs once per call.
        assert_eq!(executor.run_ready(100), 2);

        let late = Rc::clone(&log);
        executor.spawn(async move { late.borrow_mut().push('c') });
        log.borrow_mut().clear();
        for _ in 0..3 {
            executor.run_ready(1);
        }
        assert!(log.borrow().contains(&'c'), "a task spawned later was starved: {:?}", log.borrow());
    }

    #[test]
    fn abort_cancels_task_and_drops_its_future() {
        let executor = Executor::new();
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(Rc::clone(&dropped));
        let handle = executor.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        executor.run_ready(16);
        assert!(!dropped.get());
        assert!(!handle.is_finished());
        handle.abort();
        executor.run_ready(16);
        assert!(dropped.get(), "the future was not dropped");
        assert!(handle.is_finished());
        assert_eq!(executor.task_count(), 0);
        assert_eq!(executor.block_on(handle), Err(JoinError::Cancelled));
    }

    #[test]
    fn task_aborting_itself_is_dropped_after_its_poll() {
        let executor = Executor::new();
        let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::new(RefCell::new(None));
        let own = Rc::clone(&slot);
        let handle = executor.spawn(async move {
            if let Some(handle) = own.borrow().as_ref() {
                handle.abort();
            }
            std::future::pending::<()>().await;
        });
        *slot.borrow_mut() = Some(handle);
        executor.run_ready(16);
        assert_eq!(executor.task_count(), 0);
        let handle = slot.borrow_mut().take().unwrap();
        assert_eq!(executor.block_on(handle), Err(JoinError::Cancelled));
    }

    #[test]
    fn panicking_task_is_reported_and_others_keep_running() {
        let executor = Executor::new();
        let bad = executor.spawn(async {
            yield_now().await;
            panic!("boom");
        });
        let good = executor.spawn(async {
            yield_now().await;
            yield_now().await;
            7
        });
        let (bad, good) = executor.block_on(async { (bad.await, good.await) });
        assert_eq!(bad, Err(JoinError::Panicked("boom".to_owned())));
        assert_eq!(good, Ok(7));
        assert_eq!(executor.block_on(async { spawn(async { 1 }).await }), Ok(1));
        assert_eq!(executor.task_count(), 0);
    }

    #[test]
    fn waker_outliving_executor_is_harmless() {
        let executor = Executor::new();
        let dropped = Rc::new(Cell::new(false));
        let flag = DropFlag(Rc::clone(&dropped));
        let (probe, handle) = spawn_probe(&executor, 3);
        let _detached = executor.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        executor.run_ready(16);
        let waker = probe.take_waker();
        drop(executor);
        assert!(dropped.get(), "dropping the executor drops task futures");
        assert!(handle.is_finished());

        waker.wake_by_ref();
        let remote = waker.clone();
        thread::spawn(move || {
            remote.wake_by_ref();
            remote.wake();
        })
        .join()
        .unwrap();
        waker.wake();
        assert_eq!(probe.polls.get(), 1, "a dropped task is never polled");
        assert_eq!(Executor::new().block_on(handle), Err(JoinError::Cancelled));
    }

    #[test]
    fn waker_of_finished_task_is_a_no_op() {
        let executor = Executor::new();
        let (probe, handle) = spawn_probe(&executor, 4);
        executor.run_ready(16);
        let waker = probe.take_waker();
        waker.wake_by_ref();
        assert_eq!(executor.block_on(handle), Ok(4));
        executor.enter(|| waker.wake_by_ref());
        waker.wake();
        assert!(!executor.has_ready());
        assert_eq!(executor.run_ready(16), 0);
    }

    #[test]
    fn wake_on_owner_thread_outside_enter_is_not_lost() {
        let executor = Executor::new();
        let (probe, handle) = spawn_probe(&executor, 5);
        executor.run_ready(16);
        probe.take_waker().wake();
        assert!(executor.has_ready());
        assert_eq!(executor.run_ready(16), 1);
        assert_eq!(executor.block_on(handle), Ok(5));
    }

    #[test]
    #[should_panic(expected = "spawn called outside an executor")]
    fn spawn_outside_executor_panics_with_clear_message() {
        spawn(async {});
    }

    #[test]
    #[should_panic(expected = "cannot be nested")]
    fn nested_enter_panics() {
        let first = Executor::new();
        let second = Executor::new();
        first.enter(|| second.enter(|| ()));
    }

    #[test]
    fn enter_is_left_when_the_closure_panics() {
        let executor = Executor::new();
        let unwound = panic::catch_unwind(AssertUnwindSafe(|| executor.enter(|| panic!("inside"))));
        assert!(unwound.is_err());
        assert_eq!(executor.block_on(async { 1 }), 1);
    }

    #[test]
    fn now_is_the_cached_time_inside_and_the_clock_outside() {
        let executor = Executor::new();
        let later = Instant::now() + Duration::from_secs(3600);
        executor.fire_timers(later);
        assert_eq!(executor.enter(now), later);
        assert!(now() < later);
    }

    #[test]
    fn wait_for_work_returns_at_once_when_a_task_is_ready() {
        let executor = Executor::new();
        executor.spawn(async {});
        let started = Instant::now();
        executor.wait_for_work(Some(started + Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(executor.run_ready(16), 1);
    }
}
