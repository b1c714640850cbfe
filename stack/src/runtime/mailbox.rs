//! Cross-core messages: a task asks another core to run something and
//! awaits the result, as Seastar's `submit_to` does — for sharded services
//! (a cache whose keys each belong to one core, a proxy handing a request
//! to the core that owns the backend connection).
//!
//! What crosses is a `Send` closure, and what comes back a `Send` value:
//! the closure runs on the target core and may build `!Send` futures there
//! (its sockets, its tasks), which never leave it. Each ordered pair of cores
//! has its own bounded lock-free queue (crossbeam's `ArrayQueue`); a sender
//! that finds its queue full waits until the target has drained some
//! (back-pressure), and the target is woken the way any remote wake-up
//! wakes an executor. Nothing here allocates a lock on the data path: the
//! closure's box and the reply's `Arc` are the only allocations per message.

use super::executor::spawn;
use crossbeam_queue::ArrayQueue;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Messages each ordered pair of cores may have in flight.
const QUEUE: usize = 1024;
/// Messages a core starts per turn of its mailbox task before yielding.
const BUDGET: usize = 64;

type Message = Box<dyn FnOnce() + Send>;

/// A wake-up slot: the waker of a task that waits on something another
/// thread will do.
#[derive(Default)]
struct Slot(Mutex<Option<Waker>>);

impl Slot {
    fn register(&self, waker: &Waker) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !w.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *w = Some(waker.clone());
        }
    }

    fn wake(&self) {
        let w = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// The message queues between the cores of one `zcnet::run`.
pub(crate) struct Mailboxes {
    cores: usize,
    /// `queues[src * cores + dst]`: from core `src` to core `dst`.
    queues: Box<[ArrayQueue<Message>]>,
    /// Each core's mailbox task, waiting for messages.
    doors: Box<[Slot]>,
    /// Senders waiting for room in a queue to each core.
    room: Box<[Mutex<Vec<Waker>>]>,
}

impl Mailboxes {
    pub(crate) fn new(cores: usize) -> Arc<Mailboxes> {
        Arc::new(Mailboxes {
            cores,
            queues: (0..cores * cores).map(|_| ArrayQueue::new(QUEUE)).collect(),
            doors: (0..cores).map(|_| Slot::default()).collect(),
            room: (0..cores).map(|_| Mutex::new(Vec::new())).collect(),
        })
    }

    /// Starts every message waiting for core `me` (up to the budget); true
    /// if some are left.
    fn run_pending(&self, me: usize) -> bool {
        let mut started = 0;
        for src in 0..self.cores {
            while let Some(message) = self.queues[src * self.cores + me].pop() {
                message();
                started += 1;
                if started >= BUDGET {
                    self.wake_senders(me);
                    return true;
                }
            }
        }
        if started > 0 {
            self.wake_senders(me);
        }
        false
    }

    fn wake_senders(&self, me: usize) {
        let waiting = std::mem::take(&mut *self.room[me].lock().unwrap_or_else(|e| e.into_inner()));
        for w in waiting {
            w.wake();
        }
    }

    fn inbox_empty(&self, me: usize) -> bool {
        (0..self.cores).all(|src| self.queues[src * self.cores + me].is_empty())
    }
}

thread_local! {
    /// The calling core's index and its run's mailboxes (set by `zcnet::run`).
    static CURRENT: RefCell<Option<(usize, Arc<Mailboxes>)>> = const { RefCell::new(None) };
}

/// Makes the calling thread core `me` of `mailboxes` (until `leave`).
pub(crate) fn enter(me: usize, mailboxes: Arc<Mailboxes>) {
    CURRENT.with(|c| *c.borrow_mut() = Some((me, mailboxes)));
}

/// Forgets the calling thread's mailboxes.
pub(crate) fn leave() {
    CURRENT.with(|c| c.borrow_mut().take());
}

/// The task each core runs: starts the messages sent to it.
pub(crate) async fn serve(me: usize, mailboxes: Arc<Mailboxes>) {
    std::future::poll_fn(|cx| loop {
        if mailboxes.run_pending(me) {
            // More than a budget's worth: let the other tasks run first.
            cx.waker().wake_by_ref();
            return Poll::<()>::Pending;
        }
        mailboxes.doors[me].register(cx.waker());
        // A message pushed before the waker was in place is seen here.
        if mailboxes.inbox_empty(me) {
            return Poll::Pending;
        }
    })
    .await
}

/// Where a message's result comes back.
struct Reply<T> {
    value: Mutex<Option<T>>,
    /// The message was dropped without an answer (its core stopped).
    lost: AtomicBool,
    waiter: Slot,
}

/// The target core's end of a [`Reply`]: sends the value, or on drop
/// without one tells the waiting task the answer is lost.
struct Answer<T>(Option<Arc<Reply<T>>>);

impl<T> Answer<T> {
    fn send(mut self, value: T) {
        if let Some(r) = self.0.take() {
            *r.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            r.waiter.wake();
        }
    }
}

impl<T> Drop for Answer<T> {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.lost.store(true, Ordering::Release);
            r.waiter.wake();
        }
    }
}

/// Runs `f` on core `core` (the index of [`crate::Core::lcore`], 0-based)
/// and resolves to what the future it returns produces there.
///
/// `f` and the result cross cores, so they must be `Send`; the future `f`
/// makes need not be: it is built and run on the target core, where it may
/// use that core's sockets and spawn its tasks. Submitting to the calling
/// core spawns the future here. A full queue to the target holds the
/// submission back until there is room (back-pressure).
///
/// Errors: `InvalidInput` for a core that does not exist, `NotConnected`
/// outside `zcnet::run`, `BrokenPipe` if the target core stopped before it
/// answered.
///
/// Cancel safety: dropping the future before the message is queued sends
/// nothing; after, the target still runs it and its answer is dropped.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use zcnet_stack::runtime::submit_to;
/// // Ask core 1 for something only it knows.
/// let answer: usize = submit_to(1, || async { zcnet_stack::net::stats().map(|s| s.tcp_sockets).unwrap_or(0) }).await?;
/// # let _ = answer; Ok(()) }
/// ```
///
/// Nothing `!Send` can be sent along:
/// ```compile_fail
/// # async fn example() {
/// let local = std::rc::Rc::new(5);
/// let _ = zcnet_stack::runtime::submit_to(1, move || async move { *local }).await;
/// # }
/// ```
/// or come back:
/// ```compile_fail
/// # async fn example() {
/// let _ = zcnet_stack::runtime::submit_to(1, || async { std::rc::Rc::new(5) }).await;
/// # }
/// ```
pub fn submit_to<F, Fut, T>(core: usize, f: F) -> Submit<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let reply = Arc::new(Reply { value: Mutex::new(None), lost: AtomicBool::new(false), waiter: Slot::default() });
    let answer = Answer(Some(reply.clone()));
    let message: Message = Box::new(move || {
        let fut = f();
        spawn(async move { answer.send(fut.await) });
    });
    Submit { core, message: Some(message), reply }
}

/// The future of [`submit_to`].
#[must_use = "futures do nothing unless awaited"]
pub struct Submit<T> {
    core: usize,
    message: Option<Message>,
    reply: Arc<Reply<T>>,
}

impl<T> std::fmt::Debug for Submit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submit").field("core", &self.core).field("queued", &self.message.is_none()).finish()
    }
}

impl<T> Unpin for Submit<T> {}

impl<T> Future for Submit<T> {
    type Output = io::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let this = self.get_mut();
        if let Some(message) = this.message.take() {
            let sent = CURRENT.with(|c| {
                let current = c.borrow();
                let Some((me, mailboxes)) = current.as_ref() else {
                    return Err(io::Error::new(io::ErrorKind::NotConnected, "submit_to works inside zcnet::run"));
                };
                if this.core >= mailboxes.cores {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("no core {} (this run has {})", this.core, mailboxes.cores),
                    ));
                }
                if this.core == *me {
                    message();
                    return Ok(None);
                }
                let queue = &mailboxes.queues[me * mailboxes.cores + this.core];
                let message = match queue.push(message) {
                    Ok(()) => None,
                    Err(message) => {
                        // Full: wait for the target to drain; try once more
                        // after registering, so a drain in between is seen.
                        mailboxes.room[this.core].lock().unwrap_or_else(|e| e.into_inner()).push(cx.waker().clone());
                        queue.push(message).err()
                    }
                };
                if message.is_none() {
                    mailboxes.doors[this.core].wake();
                }
                Ok(message)
            });
            match sent {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Some(message)) => {
                    this.message = Some(message);
                    return Poll::Pending;
                }
                Ok(None) => {}
            }
        }
        if let Some(v) = this.reply.value.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Poll::Ready(Ok(v));
        }
        this.reply.waiter.register(cx.waker());
        // The answer may have come (or been lost) while registering.
        if let Some(v) = this.reply.value.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Poll::Ready(Ok(v));
        }
        if this.reply.lost.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the target core stopped before it answered",
            )));
        }
        Poll::Pending
    }
}
