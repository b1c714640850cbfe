//! The share of the pool a core's socket queues may hold: received mbufs
//! queued for applications that have not taken them yet.
//!
//! A UDP or raw socket queues each frame as the mbuf it arrived in, up to
//! its own limit. Without a bound across sockets, a few sockets nobody
//! reads could hold every mbuf of the pool, and the core would stop
//! receiving for everyone else (TCP segments, other sockets, ARP). Every
//! such queue is a [`MbufQueue`] drawing on the core's one [`HeldMbufs`],
//! whose share `S` works like this:
//!
//! - while the queues together hold fewer than `S` mbufs, any socket may
//!   queue (up to its own limit);
//! - from `S` on, only a socket holding fewer than its fair part, `S / N`
//!   of `N` queues (at least one frame), may, up to that part: the parts
//!   add up to `S`, so a socket that is read keeps receiving while others
//!   stay unread; a socket alone, with nobody to keep room for, may use the
//!   whole cap;
//! - at `2 S`, none may: the queues never hold more.
//!
//! Frames refused are dropped and counted, like those to a full socket
//! queue. (The fair parts of queues bound later can add up to more than
//! `S` when earlier queues already hold more than theirs, and with more
//! queues than `S` one frame each does; the `2 S` cap is what bounds the
//! total.)
//!
//! The count is of the frames a core's sockets hold, whichever pool their
//! mbufs came from, against a share of the core's own pool. A NIC's or
//! tap's receive queue fills from the core's own pool, and a wire in
//! `pairs` mode from its one peer's pool of the same size, so there the
//! bound is on the pool it protects. Frames steered in from other cores,
//! or sent over a spreading wire, come from the sending core's pool: there
//! each receiving core may hold up to `2 S` of it, so several cores that
//! never read could together hold more of one sender's pool.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

/// How many queued mbufs one core's sockets hold, in how many queues, and
/// their share.
#[derive(Debug)]
pub(crate) struct HeldMbufs {
    held: Cell<usize>,
    queues: Cell<usize>,
    share: usize,
}

impl HeldMbufs {
    /// A share of `share` mbufs (at least one).
    pub(crate) fn new(share: usize) -> Rc<HeldMbufs> {
        Rc::new(HeldMbufs { held: Cell::new(0), queues: Cell::new(0), share: share.max(1) })
    }

    /// Mbufs queued now.
    pub(crate) fn held(&self) -> usize {
        self.held.get()
    }

    /// The share `S` (the queues hold at most twice as many).
    pub(crate) fn share(&self) -> usize {
        self.share
    }

    /// True if a queue holding `len` frames may take one more.
    #[inline]
    fn admits(&self, len: usize) -> bool {
        let held = self.held.get();
        let (cap, queues) = (2 * self.share, self.queues.get());
        let part = if queues <= 1 { cap } else { (self.share / queues).max(1) };
        held < self.share || (held < cap && len < part)
    }
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueRefused {
    /// The socket's own queue is full.
    SocketFull,
    /// The core's queues hold their share and this one its fair part.
    CoreShareFull,
}

/// A socket's queue of received frames, bounded by its own limit and by the
/// core's share; dropping it returns its frames and their share.
pub(crate) struct MbufQueue<T> {
    items: VecDeque<T>,
    limit: usize,
    share: Rc<HeldMbufs>,
}

impl<T> MbufQueue<T> {
    /// An empty queue of at most `limit` frames, drawing on `share`.
    pub(crate) fn new(limit: usize, share: Rc<HeldMbufs>) -> MbufQueue<T> {
        share.queues.set(share.queues.get() + 1);
        MbufQueue { items: VecDeque::with_capacity(limit), limit, share }
    }

    /// Queues `item`, or gives it back with the reason it was refused.
    #[inline]
    pub(crate) fn push(&mut self, item: T) -> Result<(), (T, QueueRefused)> {
        if self.items.len() >= self.limit {
            return Err((item, QueueRefused::SocketFull));
        }
        if !self.share.admits(self.items.len()) {
            return Err((item, QueueRefused::CoreShareFull));
        }
        self.share.held.set(self.share.held.get() + 1);
        self.items.push_back(item);
        Ok(())
    }

    /// Takes the oldest frame.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.share.held.set(self.share.held.get() - 1);
        Some(item)
    }

    /// Frames queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

impl<T> Drop for MbufQueue<T> {
    fn drop(&mut self) {
        self.share.held.set(self.share.held.get() - self.items.len());
        self.share.queues.set(self.share.queues.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill<T: Copy>(q: &mut MbufQueue<T>, v: T) -> usize {
        let mut n = 0;
        while q.push(v).is_ok() {
            n += 1;
        }
        n
    }

    #[test]
    fn queues_stop_at_their_own_limit() {
        let share = HeldMbufs::new(100);
        let mut a = MbufQueue::new(3, share.clone());
        assert_eq!((a.push(1), a.push(2), a.push(3)), (Ok(()), Ok(()), Ok(())));
        assert_eq!(a.push(4), Err((4, QueueRefused::SocketFull)));
        assert_eq!((a.len(), share.held()), (3, 3));
    }

    #[test]
    fn past_the_share_only_queues_under_their_fair_part_take_more() {
        let share = HeldMbufs::new(12);
        let (mut a, mut b, mut c) = (
            MbufQueue::new(100, share.clone()),
            MbufQueue::new(100, share.clone()),
            MbufQueue::new(100, share.clone()),
        );
        assert_eq!(fill(&mut a, 0), 12, "the first queue takes the share S");
        assert_eq!(a.push(0), Err((0, QueueRefused::CoreShareFull)));
        // Fair part: 12 / 3 queues = 4.
        assert_eq!(fill(&mut b, 0), 4);
        assert_eq!(b.push(0), Err((0, QueueRefused::CoreShareFull)));
        assert_eq!(c.push(7), Ok(()), "a queue being read still receives");
        assert_eq!(c.pop(), Some(7));
        assert_eq!(fill(&mut c, 0), 4);
        assert_eq!(share.held(), 20);
        assert!(share.held() <= 2 * share.share());
        // Reading frees room for the readers first, not for the full queue.
        assert_eq!(c.pop(), Some(0));
        assert_eq!(a.push(0), Err((0, QueueRefused::CoreShareFull)));
        assert_eq!(c.push(0), Ok(()));
    }

    #[test]
    fn with_more_queues_than_the_cap_each_still_takes_one() {
        let share = HeldMbufs::new(2);
        let mut queues: Vec<MbufQueue<u8>> = (0..10).map(|_| MbufQueue::new(512, share.clone())).collect();
        assert_eq!(fill(&mut queues[0], 0), 2);
        // 2 S / 10 queues rounds down to 0: the fair part is one frame.
        assert_eq!(fill(&mut queues[1], 0), 1);
        assert_eq!(fill(&mut queues[2], 0), 1);
        assert_eq!(queues[3].push(0), Err((0, QueueRefused::CoreShareFull)), "the cap");
        assert_eq!(queues[1].pop(), Some(0));
        assert_eq!(queues[3].push(0), Ok(()), "a read queue's room goes to a queue under its part");
    }

    #[test]
    fn many_unread_queues_hold_at_most_twice_the_share() {
        let share = HeldMbufs::new(64);
        let mut queues: Vec<MbufQueue<u8>> = (0..10).map(|_| MbufQueue::new(512, share.clone())).collect();
        for q in queues.iter_mut() {
            fill(q, 0);
        }
        assert!(share.held() <= 2 * 64, "held {}", share.held());
        // Then more queues appear and fill their (smaller) fair parts.
        for _ in 0..20 {
            let mut q = MbufQueue::new(512, share.clone());
            fill(&mut q, 0);
            queues.push(q);
        }
        assert_eq!(share.held(), 2 * 64, "the cap, not the fair parts, bounds it here");
        let mut late = MbufQueue::new(512, share.clone());
        assert_eq!(late.push(0), Err((0, QueueRefused::CoreShareFull)));
    }

    #[test]
    fn a_dropped_queue_returns_its_whole_share() {
        let share = HeldMbufs::new(4);
        let mut a = MbufQueue::new(16, share.clone());
        assert_eq!(fill(&mut a, 0), 8, "alone, a queue may use the whole cap 2 S");
        let mut b = MbufQueue::new(16, share.clone());
        assert_eq!(b.push(0), Err((0, QueueRefused::CoreShareFull)), "the cap is reached");
        drop(a);
        assert_eq!(share.held(), 0);
        assert_eq!(fill(&mut b, 0), 8, "alone again: the whole cap");
        while b.pop().is_some() {}
        assert_eq!(share.held(), 0);
    }

    #[test]
    fn the_share_is_at_least_one() {
        let share = HeldMbufs::new(0);
        let mut a = MbufQueue::new(8, share.clone());
        assert_eq!((a.push(1), a.push(2), a.push(3)), (Ok(()), Ok(()), Err((3, QueueRefused::CoreShareFull))));
        assert_eq!(share.share(), 1);
    }
}
