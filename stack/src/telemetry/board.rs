//! The board the cores pin their counters to, and DPDK's telemetry thread
//! reads: one slot per core, each a seqlock over atomics. A core writes its
//! slot now and then from its own loop ([`Publisher::tick`]); a reader takes
//! a consistent copy without a lock and without ever making the core wait.

use super::fields::{fields, FIELDS};
use crate::net::{NetStats, SocketStates};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The board of the process's current (or last) run. Only `run` (when it
/// starts) and the telemetry thread take this lock; the cores never do.
static CURRENT: Mutex<Option<Arc<Board>>> = Mutex::new(None);

/// How often a core publishes its counters.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// A core looks at the clock once per this many loop turns (a power of two).
const TURNS_PER_CHECK: u32 = 64;

/// One core's counters as last published.
struct Slot {
    /// The lcore id; `u32::MAX` until the core first publishes.
    lcore: AtomicU32,
    /// Even: `values` is consistent; odd: the core is writing it.
    seq: AtomicU64,
    values: [AtomicU64; FIELDS],
}

/// The published counters of every core of one run.
pub(crate) struct Board {
    slots: Box<[Slot]>,
}

/// A consistent copy of one core's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The lcore id.
    pub lcore: u32,
    /// The counter values, in the order of [`super::fields::NAMES`].
    pub values: [u64; FIELDS],
}

impl Board {
    /// A board for `cores` cores, none published yet.
    pub(crate) fn new(cores: usize) -> Board {
        let slots = (0..cores)
            .map(|_| Slot {
                lcore: AtomicU32::new(u32::MAX),
                seq: AtomicU64::new(0),
                values: std::array::from_fn(|_| AtomicU64::new(0)),
            })
            .collect();
        Board { slots }
    }

    /// A fresh board for a run of `cores` cores, which telemetry reads from
    /// now on (the last run's stays readable until the next one starts).
    pub(crate) fn install(cores: usize) -> Arc<Board> {
        let board = Arc::new(Board::new(cores));
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(board.clone());
        board
    }

    /// The board telemetry reads, if a run has started.
    pub(crate) fn current() -> Option<Arc<Board>> {
        CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Writes core `index`'s counters. Only that core calls it (one writer
    /// per slot), so the sequence is never written concurrently.
    pub(crate) fn publish(&self, index: usize, lcore: u32, stats: &NetStats, sockets: &SocketStates) {
        let Some(slot) = self.slots.get(index) else { return };
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // The odd sequence is visible before any new value.
        fence(Ordering::Release);
        for (v, new) in slot.values.iter().zip(fields(stats, sockets)) {
            v.store(new, Ordering::Relaxed);
        }
        slot.lcore.store(lcore, Ordering::Relaxed);
        // Every value is visible before the even sequence.
        slot.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// A consistent copy of every core that has published, in core order.
    /// A core caught writing is read again; one that keeps writing (it
    /// cannot: it publishes every 100 ms) is left out rather than waited for.
    pub(crate) fn read(&self) -> Vec<Snapshot> {
        self.slots.iter().filter_map(read_slot).collect()
    }

    /// A consistent copy of core `index` (its queue index, not its place
    /// among the cores that have published), if it has published.
    pub(crate) fn read_core(&self, index: usize) -> Option<Snapshot> {
        self.slots.get(index).and_then(read_slot)
    }
}

fn read_slot(slot: &Slot) -> Option<Snapshot> {
    for _ in 0..1000 {
        let before = slot.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let values: [u64; FIELDS] = std::array::from_fn(|i| slot.values[i].load(Ordering::Relaxed));
        let lcore = slot.lcore.load(Ordering::Relaxed);
        // The value loads complete before the sequence is read again.
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) == before {
            return (lcore != u32::MAX).then_some(Snapshot { lcore, values });
        }
    }
    None
}

/// A core's handle on its slot: publishes at most every [`PUBLISH_EVERY`],
/// looking at the clock only once per 64 turns of the loop.
pub(crate) struct Publisher {
    board: Arc<Board>,
    index: usize,
    lcore: u32,
    turns: u32,
    last: Option<Instant>,
}

impl Publisher {
    /// The publisher of core `index` (lcore id `lcore`).
    pub(crate) fn new(board: Arc<Board>, index: usize, lcore: u32) -> Publisher {
        Publisher { board, index, lcore, turns: 0, last: None }
    }

    /// Called every loop turn; publishes `stats()` when it is time.
    pub(crate) fn tick(&mut self, stats: impl FnOnce() -> Option<(NetStats, SocketStates)>) {
        self.turns = self.turns.wrapping_add(1);
        if self.turns % TURNS_PER_CHECK != 1 {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < PUBLISH_EVERY) {
            return;
        }
        if let Some((s, sockets)) = stats() {
            self.publish(&s, &sockets);
            self.last = Some(now);
        }
    }

    /// Publishes now (the core's final counters, at its end).
    pub(crate) fn publish(&self, stats: &NetStats, sockets: &SocketStates) {
        self.board.publish(self.index, self.lcore, stats, sockets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::fields::NAMES;

    fn value(s: &Snapshot, name: &str) -> u64 {
        let i = NAMES.iter().position(|n| n.to_str() == Ok(name)).expect("field exists");
        s.values[i]
    }

    #[test]
    fn unpublished_cores_are_not_read() {
        let board = Board::new(2);
        assert!(board.read().is_empty());
        let mut s = NetStats::default();
        s.device.rx_packets = 7;
        board.publish(1, 3, &s, &SocketStates::default());
        let got = board.read();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].lcore, value(&got[0], "rx_packets")), (3, 7));
    }

    #[test]
    fn a_reader_never_sees_a_torn_snapshot() {
        // The writer keeps every field equal to one counter and publishes
        // back to back (a core publishes every 100 ms; this is the worst
        // case) until the reader has checked enough snapshots; a torn read
        // would mix two of its values. The writer stops on the reader's
        // count, not its own, so a reader that starts late or is descheduled
        // still reads while it writes.
        const READS: u64 = 20_000;
        let board = Arc::new(Board::new(1));
        let reads = Arc::new(AtomicU64::new(0));
        let writer = {
            let (board, reads) = (board.clone(), reads.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut n = 0u64;
                while reads.load(Ordering::Relaxed) < READS && Instant::now() < deadline {
                    n += 1;
                    let mut s = NetStats::default();
                    s.device.rx_packets = n;
                    s.device.tx_packets = n;
                    s.accepted = n;
                    s.tcp.challenge_acks = n;
                    board.publish(0, 1, &s, &SocketStates::default());
                }
                n
            })
        };
        let mut distinct = std::collections::HashSet::new();
        while !writer.is_finished() {
            for snap in board.read() {
                let rx = value(&snap, "rx_packets");
                assert_eq!(value(&snap, "tx_packets"), rx, "torn: {snap:?}");
                assert_eq!(value(&snap, "accepted"), rx, "torn: {snap:?}");
                assert_eq!(value(&snap, "tcp_challenge_acks"), rx, "torn: {snap:?}");
                distinct.insert(rx);
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }
        let written = writer.join().expect("writer");
        assert!(reads.load(Ordering::Relaxed) >= READS, "the reader got only {reads:?} snapshots in 20 s");
        assert!(distinct.len() > 1, "the reader saw one value only: it never read during the writes");
        assert_eq!(value(&board.read()[0], "rx_packets"), written);
    }

    #[test]
    fn publisher_publishes_on_the_first_turn_and_reads_no_counters_between_checks() {
        let board = Arc::new(Board::new(1));
        let mut p = Publisher::new(board.clone(), 0, 5);
        let mut calls = 0;
        for _ in 0..TURNS_PER_CHECK {
            p.tick(|| {
                calls += 1;
                Some((NetStats::default(), SocketStates::default()))
            });
        }
        assert_eq!(calls, 1, "only the first of {TURNS_PER_CHECK} turns looks at the clock");
        assert_eq!(board.read().iter().map(|s| s.lcore).collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn a_core_is_read_by_its_index_when_an_earlier_core_has_not_published() {
        let board = Arc::new(Board::new(2));
        let mut p = Publisher::new(board.clone(), 1, 7);
        p.tick(|| Some((NetStats::default(), SocketStates::default())));
        assert_eq!(board.read().len(), 1);
        assert!(board.read_core(0).is_none(), "core 0 has not published");
        assert_eq!(board.read_core(1).map(|s| s.lcore), Some(7));
        assert!(board.read_core(2).is_none(), "no such core");
    }
}
