//! [`WakerList`]: every task waiting on one event of a socket. smoltcp keeps
//! one waker per socket and direction, so a second task awaiting the same
//! socket would silently replace the first; zcnet keeps its own lists and
//! wakes them when the connection table sees the socket change.

use crate::prefetch::prefetch;
use std::task::Waker;

/// The tasks waiting for one event. The first waits inline: a connection
/// usually has one reader and one writer, and at thousands of connections
/// a list on the heap is one more cold cache line per wake-up.
#[derive(Debug, Default)]
pub(crate) struct WakerList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakerList {
    /// Adds `waker` unless it (or one that wakes the same task) is there.
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.rest.iter().any(|w| w.will_wake(waker)) {
                    self.rest.push(waker.clone());
                }
            }
        }
    }

    /// Wakes every waiting task (they check again for themselves), in the
    /// order they registered.
    pub(crate) fn wake_all(&mut self) {
        if let Some(w) = self.first.take() {
            w.wake();
        }
        for w in self.rest.drain(..) {
            w.wake();
        }
    }

    /// Hints the CPU to fetch what waking the first waiter touches: the
    /// data its waker points at, and the two words before it (an `Arc`'s
    /// counts, which every waker built from an `Arc` has there; for other
    /// wakers the hint only wastes a fill, it never reads).
    #[inline]
    pub(crate) fn prefetch_first(&self) {
        if let Some(w) = &self.first {
            prefetch((w.data() as *const u8).wrapping_sub(2 * std::mem::size_of::<usize>()), 2);
        }
    }

    /// True if no task waits.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn two_waiters_are_both_woken_and_one_waiter_only_once() {
        let (a, b) = (Arc::new(Count(AtomicUsize::new(0))), Arc::new(Count(AtomicUsize::new(0))));
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let mut list = WakerList::default();
        list.register(&wa);
        list.register(&wa);
        list.register(&wb);
        list.register(&wb);
        list.register(&wa);
        list.wake_all();
        assert_eq!((a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)), (1, 1));
        assert!(list.is_empty());
    }

    struct Order(u8, Arc<std::sync::Mutex<Vec<u8>>>);
    impl Wake for Order {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn waiters_are_woken_in_the_order_they_registered_also_after_the_list_emptied() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let w: Vec<Waker> = (1..=3).map(|i| Waker::from(Arc::new(Order(i, log.clone())))).collect();
        let mut list = WakerList::default();
        for i in [0, 1, 2] {
            list.register(&w[i]);
        }
        list.wake_all();
        for i in [2, 0] {
            list.register(&w[i]);
        }
        list.wake_all();
        list.wake_all();
        assert_eq!(*log.lock().unwrap(), [1, 2, 3, 3, 1]);
    }
}
