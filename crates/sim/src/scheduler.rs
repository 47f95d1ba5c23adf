//! The seeded scheduler: a priority queue of events in virtual time. Events at the same time
//! run in the order they were scheduled (a sequence number breaks ties), so a run depends only
//! on the seed. Bounded: scheduling past [`EVENTS_QUEUED_MAX`] is a simulator bug and panics.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// More events than this waiting at once means a runaway timer or message storm.
pub const EVENTS_QUEUED_MAX: usize = 100_000;

struct Entry<E> {
    at_ms: i64,
    sequence: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.sequence) == (other.at_ms, other.sequence)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: the heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ms, other.sequence).cmp(&(self.at_ms, self.sequence))
    }
}

/// Events waiting to happen, and the virtual clock.
pub struct Scheduler<E> {
    queue: BinaryHeap<Entry<E>>,
    next_sequence: u64,
    now_ms: i64,
}

impl<E> Scheduler<E> {
    pub fn new() -> Self {
        Scheduler {
            queue: BinaryHeap::new(),
            next_sequence: 0,
            now_ms: 0,
        }
    }

    /// The virtual time of the event being run.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Schedules `event` `delay_ms` from now (never in the past).
    pub fn after(&mut self, delay_ms: i64, event: E) {
        assert!(
            self.queue.len() < EVENTS_QUEUED_MAX,
            "more than {EVENTS_QUEUED_MAX} events queued"
        );
        self.queue.push(Entry {
            at_ms: self.now_ms + delay_ms.max(0),
            sequence: self.next_sequence,
            event,
        });
        self.next_sequence += 1;
    }

    /// The next event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<E> {
        let entry = self.queue.pop()?;
        debug_assert!(entry.at_ms >= self.now_ms, "time runs forward");
        self.now_ms = entry.at_ms;
        Some(entry.event)
    }
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}
