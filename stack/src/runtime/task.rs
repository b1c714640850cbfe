//! Tasks: the atomic header that wakers share, the join handle, and the
//! generational slab the executor stores futures in. A task's future is
//! `!Send`, so it lives only in the owning executor's slab; the header a
//! [`Waker`] points at holds nothing but atomics and the executor's
//! cross-thread wake queue, which makes waking from any thread sound.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use crossbeam_queue::ArrayQueue;

use super::executor;

/// Names one entry of a [`Slab`]; stale once the entry is removed, even if
/// its slot is reused (the generation differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct SlabKey {
    index: u32,
    generation: u32,
}

/// A vector of slots with a free list, addressed by [`SlabKey`]. Used for
/// the executor's tasks and for the timer queue's entries.
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Slab<T> {
    pub(super) fn new() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }

    /// Number of occupied slots.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The key the next [`Slab::insert`] will return.
    pub(super) fn vacant_key(&self) -> SlabKey {
        match self.free.last() {
            Some(&index) => SlabKey { index, generation: self.slots[index as usize].generation },
            None => SlabKey {
                index: u32::try_from(self.slots.len()).expect("slab holds more than u32::MAX entries"),
                generation: 0,
            },
        }
    }

    pub(super) fn insert(&mut self, value: T) -> SlabKey {
        let key = self.vacant_key();
        if self.free.pop().is_none() {
            self.slots.push(Slot { generation: 0, value: None });
        }
        self.slots[key.index as usize].value = Some(value);
        self.len += 1;
        key
    }

    pub(super) fn get(&self, key: SlabKey) -> Option<&T> {
        self.slots
            .get(key.index as usize)
            .filter(|slot| slot.generation == key.generation)
            .and_then(|slot| slot.value.as_ref())
    }

    /// Where `key`'s slot is, for cache hints only (never read through: it
    /// may be past the end, or a slot reused since).
    pub(super) fn slot_addr(&self, key: SlabKey) -> *const u8 {
        self.slots.as_ptr().wrapping_add(key.index as usize) as *const u8
    }

    pub(super) fn get_mut(&mut self, key: SlabKey) -> Option<&mut T> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|slot| slot.generation == key.generation)
            .and_then(|slot| slot.value.as_mut())
    }

    pub(super) fn remove(&mut self, key: SlabKey) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        // A new generation makes every outstanding copy of `key` stale.
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (SlabKey, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let value = slot.value.as_ref()?;
            let key = SlabKey { index: index as u32, generation: slot.generation };
            Some((key, value))
        })
    }

    /// Removes every entry and returns them.
    pub(super) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if let Some(value) = slot.value.take() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(index as u32);
                out.push(value);
            }
        }
        self.len = 0;
        out
    }
}

/// The part of an executor that other threads may touch: the bounded queue
/// of remote wake-ups, the overflow flag, and what is needed to unpark the
/// owner thread. Referenced by every task header, so it outlives the
/// executor for as long as a waker does.
pub(super) struct Shared {
    /// Keys of tasks woken from outside the owner's entered executor.
    pub(super) remote: ArrayQueue<SlabKey>,
    /// Set when `remote` was full: some header carries `OVERFLOWED`.
    pub(super) overflow: AtomicBool,
    /// True while the owner thread is (about to be) parked waiting for work.
    pub(super) sleeping: AtomicBool,
    owner: Thread,
}

impl Shared {
    /// The calling thread becomes the owner that remote wakes unpark.
    pub(super) fn new(remote_capacity: usize) -> Shared {
        Shared {
            remote: ArrayQueue::new(remote_capacity),
            overflow: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            owner: thread::current(),
        }
    }

    /// Unparks the owner if it sleeps waiting for work. Called after the
    /// wake-up was published; pairs with the fence in the executor's park.
    pub(super) fn notify_owner(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.owner.unpark();
        }
    }

    /// A remote wake-up is waiting to be collected by the owner.
    pub(super) fn has_pending(&self) -> bool {
        !self.remote.is_empty() || self.overflow.load(Ordering::Acquire)
    }
}

/// The task is in a run queue, or marked `OVERFLOWED`: waking it again is a no-op.
const SCHEDULED: u8 = 1;
/// A remote wake found the queue full; the owner finds the task by scanning.
const OVERFLOWED: u8 = 2;
/// `JoinHandle::abort` was called: the executor drops the future next turn.
const CANCELLED: u8 = 4;
/// The future is gone: every later wake is a no-op.
const DONE: u8 = 8;

/// What a task's [`Waker`] points at. Only atomics and `Arc<Shared>`, so it
/// is `Send + Sync` and can be woken from any thread; the future it names
/// stays in the executor's slab.
pub(super) struct Header {
    key: SlabKey,
    state: AtomicU8,
    shared: Arc<Shared>,
}

impl Header {
    /// A header for a task that is being put in the run queue.
    pub(super) fn new_scheduled(key: SlabKey, shared: Arc<Shared>) -> Header {
        Header { key, state: AtomicU8::new(SCHEDULED), shared }
    }

    /// Sets `SCHEDULED` unless it is set or the task is done. The caller
    /// that succeeds must put the task in a queue (or mark it overflowed).
    fn try_mark_scheduled(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & (SCHEDULED | DONE) != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(state, state | SCHEDULED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Queues the task at most once: in the local run queue if this thread
    /// is running the owning executor, otherwise in the remote queue, or, if
    /// that is full, by flagging it for the owner's overflow scan. Never
    /// blocks, never allocates, never loses the wake-up.
    pub(super) fn schedule(&self) {
        if !self.try_mark_scheduled() {
            return;
        }
        if executor::push_local(&self.shared, self.key) {
            return;
        }
        if self.shared.remote.push(self.key).is_err() {
            // Order: the task's flag first, then the executor-wide flag, so
            // an owner that sees `overflow` also sees `OVERFLOWED`.
            self.state.fetch_or(OVERFLOWED, Ordering::Release);
            self.shared.overflow.store(true, Ordering::Release);
        }
        self.shared.notify_owner();
    }

    /// Clears `SCHEDULED` before a poll, so a wake during the poll queues
    /// the task again. Returns whether the task was cancelled.
    pub(super) fn begin_poll(&self) -> bool {
        self.state.fetch_and(!SCHEDULED, Ordering::AcqRel) & CANCELLED != 0
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCELLED != 0
    }

    /// Clears `OVERFLOWED`, returning whether it was set.
    pub(super) fn take_overflowed(&self) -> bool {
        self.state.fetch_and(!OVERFLOWED, Ordering::AcqRel) & OVERFLOWED != 0
    }

    /// The future is being dropped: wakes from now on do nothing.
    pub(super) fn mark_done(&self) {
        self.state.fetch_or(DONE, Ordering::AcqRel);
    }

    fn cancel(&self) {
        self.state.fetch_or(CANCELLED, Ordering::AcqRel);
        self.schedule();
    }
}

impl Wake for Header {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}

/// Where a task's result waits for its [`JoinHandle`].
pub(super) struct JoinState<T> {
    result: RefCell<Option<Result<T, JoinError>>>,
    finished: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
}

impl<T> JoinState<T> {
    pub(super) fn new() -> Self {
        JoinState { result: RefCell::new(None), finished: Cell::new(false), waiter: RefCell::new(None) }
    }

    /// Stores the result (the first one wins) and wakes the handle's task.
    pub(super) fn complete(&self, result: Result<T, JoinError>) {
        if self.finished.replace(true) {
            return;
        }
        *self.result.borrow_mut() = Some(result);
        let waiter = self.waiter.borrow_mut().take();
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// The type-erased side of [`JoinState`] the executor keeps, to report a
/// task that ended without producing its output.
pub(super) trait JoinSink {
    fn fail(&self, error: JoinError);
}

impl<T> JoinSink for JoinState<T> {
    fn fail(&self, error: JoinError) {
        self.complete(Err(error));
    }
}

/// The text of a panic payload.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "task panicked with a payload that is not a string".to_owned()
    }
}

/// An owned permission to await a spawned task's output.
///
/// Awaiting a `JoinHandle` yields `Ok(output)` when the task completes,
/// `Err(JoinError::Cancelled)` when it was [aborted](JoinHandle::abort) or
/// its executor was dropped first, and `Err(JoinError::Panicked(_))` when it
/// panicked. Dropping the handle detaches the task: it keeps running and its
/// output is dropped. Like the task, the handle is `!Send`.
///
/// Awaiting is cancel safe: dropping the `.await` before it completes loses
/// nothing, and the result stays in the handle.
///
/// # Examples
///
/// ```
/// use zcnet_stack::runtime::{spawn, Executor};
///
/// let executor = Executor::new();
/// let answer = executor.block_on(async {
///     let handle = spawn(async { 6 * 7 });
///     handle.await
/// });
/// assert_eq!(answer, Ok(42));
/// ```
pub struct JoinHandle<T> {
    state: Rc<JoinState<T>>,
    header: Arc<Header>,
}

impl<T> JoinHandle<T> {
    pub(super) fn new(state: Rc<JoinState<T>>, header: Arc<Header>) -> Self {
        JoinHandle { state, header }
    }

    /// Cancels the task. Its future is dropped on the executor's next turn,
    /// without being polled again, and the handle then yields
    /// `Err(JoinError::Cancelled)`. Does nothing if the task has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use zcnet_stack::runtime::{spawn, Executor, JoinError};
    ///
    /// let executor = Executor::new();
    /// executor.block_on(async {
    ///     let handle = spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert_eq!(handle.await, Err(JoinError::Cancelled));
    /// });
    /// ```
    pub fn abort(&self) {
        if !self.state.finished.get() {
            self.header.cancel();
        }
    }

    /// Whether the task has completed, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.state.finished.get()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = self.state.result.borrow_mut().take();
        if let Some(result) = result {
            return Poll::Ready(result);
        }
        assert!(!self.state.finished.get(), "JoinHandle polled again after it returned the task's result");
        let replaced = {
            let mut waiter = self.state.waiter.borrow_mut();
            match waiter.as_ref() {
                Some(current) if current.will_wake(cx.waker()) => None,
                _ => waiter.replace(cx.waker().clone()),
            }
        };
        drop(replaced);
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish_non_exhaustive()
    }
}

/// Why a task ended without producing its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// The task was aborted with [`JoinHandle::abort`], or its executor was
    /// dropped before the task completed.
    Cancelled,
    /// The task panicked; the panic message. The executor kept running.
    Panicked(String),
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled before it completed"),
            JoinError::Panicked(message) => write!(f, "task panicked: {message}"),
        }
    }
}

impl Error for JoinError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_key_of_removed_entry_is_stale_after_slot_reuse() {
        let mut slab = Slab::new();
        let first = slab.insert("first");
        assert_eq!(slab.remove(first), Some("first"));
        let second = slab.insert("second");
        assert_eq!(first.index, second.index, "the slot is reused");
        assert_eq!(slab.get(first), None);
        assert_eq!(slab.remove(first), None);
        assert_eq!(slab.get(second), Some(&"second"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn slab_vacant_key_predicts_insert() {
        let mut slab = Slab::new();
        for round in 0..10 {
            let expected = slab.vacant_key();
            let key = slab.insert(round);
            assert_eq!(key, expected);
            if round % 3 == 0 {
                slab.remove(key);
            }
        }
        assert_eq!(slab.len(), 6);
        assert_eq!(slab.drain().len(), 6);
        assert_eq!(slab.len(), 0);
        assert_eq!(slab.iter().count(), 0);
    }

    #[test]
    fn join_error_messages_say_what_happened() {
        assert_eq!(JoinError::Cancelled.to_string(), "task was cancelled before it completed");
        assert_eq!(JoinError::Panicked("boom".into()).to_string(), "task panicked: boom");
    }

    #[test]
    fn panic_message_reads_str_and_string_payloads() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert!(panic_message(&17_u32).contains("not a string"));
    }
}
