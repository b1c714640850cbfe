//! Timers of the per-core executor: [`sleep`], [`sleep_until`] and
//! [`timeout`]. Each executor keeps one binary heap of deadlines; a sleep
//! registers on its first poll, and dropping it early makes its heap entry
//! stale, which the heap sheds once stale entries outnumber live ones.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::executor;
use super::task::{Slab, SlabKey};

/// Compaction bound: the heap is rebuilt once it holds more stale entries
/// than `STALE_FACTOR * live + STALE_SLACK`.
const STALE_FACTOR: usize = 2;
const STALE_SLACK: usize = 64;

/// Roughly 30 years: where a deadline that would overflow `Instant` goes.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// An executor's timers and its cached clock.
pub(super) struct Timers {
    queue: RefCell<TimerQueue>,
    now: Cell<Instant>,
    /// Unique in the process: names this queue where an `Rc` cannot be
    /// kept (`HyperSleep` must be `Send`).
    #[cfg(feature = "hyper")]
    id: u64,
}

impl Timers {
    pub(super) fn new(now: Instant) -> Timers {
        #[cfg(feature = "hyper")]
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Timers {
            queue: RefCell::new(TimerQueue::new()),
            now: Cell::new(now),
            #[cfg(feature = "hyper")]
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// This queue's process-wide name.
    #[cfg(feature = "hyper")]
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The cached time: the latest instant passed to [`Timers::fire`].
    pub(super) fn now(&self) -> Instant {
        self.now.get()
    }

    /// Advances the cached clock to `now` (never backwards) and wakes every
    /// timer due by then; returns how many it woke.
    pub(super) fn fire(&self, now: Instant) -> usize {
        if now > self.now.get() {
            self.now.set(now);
        }
        let now = self.now.get();
        let mut fired = 0;
        loop {
            // The borrow ends before the wake, which may run any waker code.
            let due = self.queue.borrow_mut().pop_due(now);
            let Some(waker) = due else {
                return fired;
            };
            waker.wake();
            fired += 1;
        }
    }

    /// The earliest deadline of a timer that is still armed.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.queue.borrow_mut().next_deadline()
    }

    /// Polls a registered sleep: ready once its timer fired or its deadline
    /// is behind the cached clock, otherwise keeps the latest waker.
    pub(super) fn poll_registered(&self, key: SlabKey, deadline: Instant, waker: &Waker) -> Poll<()> {
        let mut queue = self.queue.borrow_mut();
        let ready = match queue.entries.get(key) {
            None | Some(TimerEntry::Fired) => true,
            Some(TimerEntry::Armed(_)) => deadline <= self.now.get(),
        };
        if ready {
            let removed = queue.remove(key);
            drop(queue);
            drop(removed);
            return Poll::Ready(());
        }
        let replaced = queue.replace_waker(key, waker);
        drop(queue);
        drop(replaced);
        Poll::Pending
    }

    pub(super) fn register(&self, deadline: Instant, waker: Waker) -> SlabKey {
        self.queue.borrow_mut().insert(deadline, waker)
    }

    pub(super) fn cancel(&self, key: SlabKey) {
        let removed = self.queue.borrow_mut().remove(key);
        drop(removed);
    }

    #[cfg(test)]
    pub(super) fn heap_len(&self) -> usize {
        self.queue.borrow().heap.len()
    }
}

/// A heap entry; ordered by deadline, then by registration order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HeapEntry {
    deadline: Instant,
    seq: u64,
    key: SlabKey,
}

enum TimerEntry {
    /// In the heap, waiting for its deadline.
    Armed(Waker),
    /// Popped and woken; the sleep has not seen it yet.
    Fired,
}

/// A min-heap of deadlines with lazy deletion: a cancelled timer's entry
/// leaves the slab at once and is skipped (or compacted away) in the heap.
struct TimerQueue {
    heap: BinaryHeap<Reverse<HeapEntry>>,
    entries: Slab<TimerEntry>,
    /// Entries that are `Armed`; every other heap entry is stale.
    armed: usize,
    next_seq: u64,
}

impl TimerQueue {
    fn new() -> TimerQueue {
        TimerQueue { heap: BinaryHeap::new(), entries: Slab::new(), armed: 0, next_seq: 0 }
    }

    fn is_armed(&self, key: SlabKey) -> bool {
        matches!(self.entries.get(key), Some(TimerEntry::Armed(_)))
    }

    fn insert(&mut self, deadline: Instant, waker: Waker) -> SlabKey {
        let key = self.entries.insert(TimerEntry::Armed(waker));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(HeapEntry { deadline, seq, key }));
        self.armed += 1;
        key
    }

    /// Stores `waker` unless the armed entry already holds an equivalent
    /// one; returns the replaced waker, for the caller to drop.
    fn replace_waker(&mut self, key: SlabKey, waker: &Waker) -> Option<Waker> {
        match self.entries.get_mut(key) {
            Some(TimerEntry::Armed(current)) if !current.will_wake(waker) => {
                Some(std::mem::replace(current, waker.clone()))
            }
            _ => None,
        }
    }

    /// Removes an entry; returns it so the caller drops its waker outside
    /// the borrow.
    fn remove(&mut self, key: SlabKey) -> Option<TimerEntry> {
        let entry = self.entries.remove(key)?;
        if let TimerEntry::Armed(_) = entry {
            self.armed -= 1;
            self.compact_if_stale();
        }
        Some(entry)
    }

    /// Rebuilds the heap without stale entries once they outnumber the
    /// live ones, so that creating and dropping sleeps cannot grow it
    /// without bound. Amortised O(1) per cancellation.
    fn compact_if_stale(&mut self) {
        let stale = self.heap.len() - self.armed;
        if stale > self.armed * STALE_FACTOR + STALE_SLACK {
            let entries = &self.entries;
            self.heap.retain(|Reverse(entry)| matches!(entries.get(entry.key), Some(TimerEntry::Armed(_))));
            debug_assert_eq!(self.heap.len(), self.armed);
        }
    }

    /// Pops the earliest armed timer if it is due at `now`, marks it fired
    /// and returns its waker. Stale entries on the way are discarded.
    fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        loop {
            let Reverse(top) = self.heap.peek()?;
            if top.deadline > now {
                return None;
            }
            let key = top.key;
            self.heap.pop();
            if let Some(entry) = self.entries.get_mut(key) {
                if let TimerEntry::Armed(waker) = std::mem::replace(entry, TimerEntry::Fired) {
                    self.armed -= 1;
                    return Some(waker);
                }
            }
        }
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        loop {
            let Reverse(top) = self.heap.peek()?;
            if self.is_armed(top.key) {
                return Some(top.deadline);
            }
            self.heap.pop();
        }
    }
}

pub(super) fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration).unwrap_or_else(|| now + FAR_FUTURE)
}

/// Waits until `duration` has elapsed.
///
/// The deadline is taken from `Instant::now()` when `sleep` is called; the
/// timer is registered with the current executor on the first poll and
/// fires when the executor's clock (see [`Executor::fire_timers`]) reaches
/// the deadline. A `Duration` too large for `Instant` sleeps about 30 years.
///
/// Cancel safe: dropping the `Sleep` removes its timer.
///
/// # Panics
///
/// Polling the returned future panics if no executor is entered on this
/// thread.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use zcnet_stack::runtime::{sleep, Executor};
///
/// let executor = Executor::new();
/// let started = Instant::now();
/// executor.block_on(sleep(Duration::from_millis(5)));
/// assert!(started.elapsed() >= Duration::from_millis(5));
/// ```
///
/// [`Executor::fire_timers`]: super::Executor::fire_timers
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline`. See [`sleep`]; cancel safe in the same way.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, registration: None }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// `!Send`: it belongs to the executor whose timer it holds.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    registration: Option<Registration>,
}

/// A sleep's timer entry in one executor's queue.
struct Registration {
    timers: Weak<Timers>,
    key: SlabKey,
}

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Changes the deadline, keeping the future; if it had completed it will
    /// wait again. Cheaper than dropping it and creating a new one for
    /// retransmission-style timers that move often.
    pub fn reset(&mut self, deadline: Instant) {
        self.deregister();
        self.deadline = deadline;
    }

    fn deregister(&mut self) {
        if let Some(registration) = self.registration.take() {
            if let Some(timers) = registration.timers.upgrade() {
                timers.cancel(registration.key);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let registered = this
            .registration
            .as_ref()
            .and_then(|registration| Some((registration.timers.upgrade()?, registration.key)));
        if let Some((timers, key)) = registered {
            let poll = timers.poll_registered(key, this.deadline, cx.waker());
            if poll.is_ready() {
                this.registration = None;
            }
            return poll;
        }
        // Not registered yet, or its executor is gone: use the current one.
        this.registration = None;
        let Some(timers) = executor::current_timers() else {
            panic!(
                "zcnet runtime: a Sleep was polled outside an executor; await it \
                 in a task, or inside Executor::enter or Executor::block_on"
            );
        };
        if this.deadline <= timers.now() {
            return Poll::Ready(());
        }
        let key = timers.register(this.deadline, cx.waker().clone());
        this.registration = Some(Registration { timers: Rc::downgrade(&timers), key });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.registration.is_some())
            .finish()
    }
}

/// Requires `future` to complete within `duration`: yields `Ok(output)` if
/// it does, `Err(Elapsed)` otherwise, in which case `future` is dropped with
/// the `Timeout`. If both are ready at the same poll, the output wins.
///
/// Cancel safe if `future` is: dropping the `Timeout` drops `future` and
/// removes the timer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zcnet_stack::runtime::{sleep, timeout, Executor};
///
/// let executor = Executor::new();
/// executor.block_on(async {
///     let fast = timeout(Duration::from_secs(5), async { 1 }).await;
///     assert_eq!(fast, Ok(1));
///     let slow = timeout(Duration::from_millis(1), sleep(Duration::from_secs(60))).await;
///     assert!(slow.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(deadline_after(duration), future)
}

/// Like [`timeout`], with a deadline instead of a duration.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { future, sleep: sleep_until(deadline) }
}

/// The future returned by [`timeout`] and [`timeout_at`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The instant at which the timeout elapses.
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // a pinned `Timeout` (no method takes it by value or `&mut` from
        // `Pin<&mut Self>` other than this projection), `Timeout` has no
        // `Drop` impl, and it is `Unpin` only when `F` is (auto trait, as
        // `Sleep` is `Unpin`). `sleep` is `Unpin`, so it is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` stays where it is.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("future", &self.future).field("sleep", &self.sleep).finish()
    }
}

/// The error of a [`timeout`] whose deadline passed before the future
/// completed. Converts into an [`io::Error`] of kind
/// [`io::ErrorKind::TimedOut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{now, spawn, yield_now, Executor};
    use std::future::poll_fn;

    #[test]
    fn sleep_fires_in_deadline_order() {
        let executor = Executor::new();
        let base = Instant::now() + Duration::from_secs(1000);
        let order = Rc::new(RefCell::new(Vec::new()));
        for millis in [30_u64, 10, 20, 10] {
            let order = Rc::clone(&order);
            executor.spawn(async move {
                sleep_until(base + Duration::from_millis(millis)).await;
                order.borrow_mut().push(millis);
            });
        }
        executor.run_ready(16);
        assert_eq!(executor.next_deadline(), Some(base + Duration::from_millis(10)));
        assert_eq!(executor.fire_timers(base), 0);
        assert_eq!(executor.fire_timers(base + Duration::from_millis(15)), 2);
        executor.run_ready(16);
        assert_eq!(*order.borrow(), [10, 10]);
        assert_eq!(executor.fire_timers(base + Duration::from_millis(100)), 2);
        executor.run_ready(16);
        assert_eq!(*order.borrow(), [10, 10, 20, 30]);
        assert_eq!(executor.task_count(), 0);
        assert_eq!(executor.next_deadline(), None);
    }

    #[test]
    fn block_on_sleep_waits_for_real_time() {
        let executor = Executor::new();
        let started = Instant::now();
        executor.block_on(async {
            let handle = spawn(sleep(Duration::from_millis(20)));
            handle.await.unwrap();
        });
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn timeout_returns_elapsed_for_slow_future() {
        let executor = Executor::new();
        let started = Instant::now();
        let result = executor.block_on(timeout(Duration::from_millis(10), sleep(Duration::from_secs(3600))));
        assert_eq!(result, Err(Elapsed(())));
        assert!(started.elapsed() >= Duration::from_millis(10));
        assert!(started.elapsed() < Duration::from_secs(60));
        assert_eq!(executor.next_deadline(), None, "both timers are gone");
    }

    #[test]
    fn timeout_returns_value_for_fast_future() {
        let executor = Executor::new();
        let result = executor.block_on(timeout(Duration::from_secs(3600), async {
            yield_now().await;
            5
        }));
        assert_eq!(result, Ok(5));
        assert_eq!(executor.next_deadline(), None);
    }

    #[test]
    fn elapsed_converts_into_timed_out_io_error() {
        let error: io::Error = Elapsed(()).into();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(error.to_string(), "deadline elapsed");
    }

    #[test]
    fn dropped_sleeps_do_not_accumulate() {
        let executor = Executor::new();
        let far = Duration::from_secs(3600);
        let largest = executor.block_on(async {
            // A few live timers, as a real core would have.
            let mut live: Vec<Sleep> = (0..10).map(|_| sleep(far)).collect();
            poll_fn(|cx| {
                for sleep in &mut live {
                    assert!(Pin::new(sleep).poll(cx).is_pending());
                }
                Poll::Ready(())
            })
            .await;
            let mut largest = 0;
            for _ in 0..1_000_000 {
                poll_fn(|cx| {
                    let mut sleep = sleep(far);
                    assert!(Pin::new(&mut sleep).poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                largest = largest.max(executor.timer_heap_len());
            }
            drop(live);
            largest
        });
        assert!(largest <= 10 + STALE_FACTOR * 10 + STALE_SLACK + 1, "heap grew to {largest}");
        assert!(executor.timer_heap_len() <= STALE_SLACK + 1);
        assert_eq!(executor.next_deadline(), None);
    }

    #[test]
    fn next_deadline_skips_cancelled_timers() {
        let executor = Executor::new();
        let base = Instant::now() + Duration::from_secs(1000);
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        executor.enter(|| {
            let mut early = sleep_until(base);
            let mut late = sleep_until(base + Duration::from_secs(1));
            assert!(Pin::new(&mut early).poll(&mut cx).is_pending());
            assert!(Pin::new(&mut late).poll(&mut cx).is_pending());
            assert_eq!(executor.next_deadline(), Some(base));
            drop(early);
            assert_eq!(executor.next_deadline(), Some(base + Duration::from_secs(1)));
            late.reset(base + Duration::from_secs(2));
            assert_eq!(executor.next_deadline(), None, "reset deregisters");
            assert!(Pin::new(&mut late).poll(&mut cx).is_pending());
            assert_eq!(executor.next_deadline(), Some(base + Duration::from_secs(2)));
        });
    }

    #[test]
    fn sleep_in_the_past_is_ready_without_a_timer() {
        let executor = Executor::new();
        executor.fire_timers(Instant::now());
        executor.enter(|| {
            let mut past = sleep_until(now() - Duration::from_millis(1));
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut past).poll(&mut cx).is_ready());
        });
        assert_eq!(executor.timer_heap_len(), 0);
    }

    #[test]
    fn huge_duration_does_not_overflow() {
        let sleep = sleep(Duration::MAX);
        assert!(sleep.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
    }

    /// A waker that does nothing (`Waker::noop` needs Rust 1.85).
    fn noop_waker() -> Waker {
        struct Noop;
        impl std::task::Wake for Noop {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        Waker::from(std::sync::Arc::new(Noop))
    }
}
