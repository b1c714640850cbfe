//! [`WakerList`]: every task waiting on one event of a socket. smoltcp keeps
//! one waker per socket and direction, so a second task awaiting the same
//! socket would silently replace the first; zcnet keeps its own lists and
//! wakes them when the connection table sees the socket change.

use std::task::Waker;

/// The tasks waiting for one event.
#[derive(Debug, Default)]
pub(crate) struct WakerList(Vec<Waker>);

impl WakerList {
    /// Adds `waker` unless it (or one that wakes the same task) is there.
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    /// Wakes every waiting task (they check again for themselves).
    pub(crate) fn wake_all(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }

    /// True if no task waits.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        list.wake_all();
        assert_eq!((a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)), (1, 1));
        assert!(list.is_empty());
    }
}
