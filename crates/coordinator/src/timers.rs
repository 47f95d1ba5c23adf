//! The coordinator's timers: one deadline per key (a member's session, a group's join or sync
//! phase, the periodic offset purge), ordered by deadline so `next_deadline` and expiry are cheap.
//!
//! Like Kafka's coordinator timer, scheduling a key that is already scheduled replaces it, and a
//! task carries what it needs to decide whether it is still current (e.g. the generation a sync
//! deadline was set for). Size: one entry per member, pending member and group, plus one.

use std::collections::{BTreeMap, HashMap};

/// What a timer is for; at most one timer per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TimerKey {
    /// A member's (or KIP-394 pending member's) session.
    Heartbeat { group_id: String, member_id: String },
    /// The end of a group's join phase (initial delay or rebalance timeout).
    Join { group_id: String },
    /// The deadline for every member to SyncGroup after a join phase completed.
    PendingSync { group_id: String },
    /// The periodic purge of expired offsets and empty groups.
    Cleanup,
    /// A KIP-848 member's session.
    ConsumerSession { group_id: String, member_id: String },
    /// How long a KIP-848 member may take to revoke partitions (its rebalance timeout).
    ConsumerRevocation { group_id: String, member_id: String },
    /// A share group member's session (KIP-932).
    ShareSession { group_id: String, member_id: String },
}

/// What to do when a timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerTask {
    HeartbeatExpiry,
    /// Kafka's InitialDelayedJoin: `delay_ms` was waited, `remaining_ms` of the rebalance timeout
    /// may still be spent waiting for members.
    InitialJoin {
        delay_ms: i64,
        remaining_ms: i64,
    },
    CompleteJoin,
    PendingSyncExpiry {
        generation_id: i32,
    },
    Cleanup,
    ConsumerSessionExpiry,
    ConsumerRevocationExpiry {
        member_epoch: i32,
    },
    ShareSessionExpiry,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    /// Invariant: holds exactly the `(deadline, seq)` pairs of `by_key`.
    by_deadline: BTreeMap<(i64, u64), TimerKey>,
    by_key: HashMap<TimerKey, (i64, u64, TimerTask)>,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn schedule(&mut self, key: TimerKey, deadline_ms: i64, task: TimerTask) {
        self.cancel(&key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_deadline.insert((deadline_ms, seq), key.clone());
        self.by_key.insert(key, (deadline_ms, seq, task));
    }

    pub(crate) fn cancel(&mut self, key: &TimerKey) {
        if let Some((deadline_ms, seq, _)) = self.by_key.remove(key) {
            let removed = self.by_deadline.remove(&(deadline_ms, seq));
            debug_assert!(removed.is_some());
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<i64> {
        self.by_deadline
            .keys()
            .next()
            .map(|(deadline_ms, _)| *deadline_ms)
    }

    /// Removes and returns the earliest timer due at `now_ms`, if any.
    pub(crate) fn pop_expired(&mut self, now_ms: i64) -> Option<(TimerKey, TimerTask)> {
        let (&(deadline_ms, seq), _) = self.by_deadline.first_key_value()?;
        if deadline_ms > now_ms {
            return None;
        }
        let key = self.by_deadline.remove(&(deadline_ms, seq))?;
        let (_, _, task) = self.by_key.remove(&key)?;
        Some((key, task))
    }

    pub(crate) fn len(&self) -> usize {
        debug_assert_eq!(self.by_key.len(), self.by_deadline.len());
        self.by_key.len()
    }
}
