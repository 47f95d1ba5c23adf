//! Share groups' data plane on this broker (KIP-932): the share-partitions this node leads
//! (`partition.rs`), the share sessions of the consumers fetching from it (`session.rs`), the
//! log reads that feed acquisitions (`read.rs`), and the upkeep task that expires acquisition
//! locks and idle sessions.
//!
//! Bounds: at most `group.share.max.share.sessions` sessions and
//! [`SHARE_PARTITIONS_MAX`] share-partitions (a new group-partition pair beyond it gets the
//! retriable REQUEST_TIMED_OUT); each share-partition's window holds at most
//! `group.share.partition.max.record.locks` records.
//!
//! The state lives in memory: a restart or a leader change starts each share-partition again
//! at `share.auto.offset.reset` (docs/internals/share-groups.md says what that means for
//! delivered records).

pub mod partition;
pub mod read;
pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::{ErrorCode, Uuid};
use tokio::sync::Notify;

use crate::broker::Broker;
use partition::{SharePartition, SharePartitionLimits};
use session::{SessionKey, ShareSessions};

/// The most share-partitions (group, topic partition pairs) one broker keeps.
pub const SHARE_PARTITIONS_MAX: usize = 100_000;
/// How often locks and idle sessions are checked.
const UPKEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Names one share-partition: a share group reading one topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareKey {
    pub group_id: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// The share-partitions and share sessions on this broker.
#[derive(Debug)]
pub struct ShareState {
    partitions: Mutex<HashMap<ShareKey, Arc<Mutex<SharePartition>>>>,
    pub sessions: Mutex<ShareSessions>,
    /// Woken when records become available again (released, expired, start moved), so
    /// waiting ShareFetches look again.
    changed: Notify,
    pub limits: SharePartitionLimits,
    /// Groups whose configs override `limits` (`group_configs.rs`), as last seen by a fetch.
    group_limits: Mutex<HashMap<String, SharePartitionLimits>>,
    /// A share session unused this long is closed and its member's records released.
    pub session_idle_ms: i64,
}

impl ShareState {
    pub fn new(limits: SharePartitionLimits, max_sessions: usize, session_idle_ms: i64) -> Self {
        ShareState {
            partitions: Mutex::new(HashMap::new()),
            sessions: Mutex::new(ShareSessions::new(max_sessions)),
            changed: Notify::new(),
            limits,
            group_limits: Mutex::new(HashMap::new()),
            session_idle_ms,
        }
    }

    /// The share-partition for `key`, created at `start_offset()` when new; REQUEST_TIMED_OUT
    /// (retriable) when the broker already holds [`SHARE_PARTITIONS_MAX`].
    pub fn share_partition(
        &self,
        key: &ShareKey,
        start_offset: impl FnOnce() -> Result<i64, ErrorCode>,
    ) -> Result<Arc<Mutex<SharePartition>>, ErrorCode> {
        let mut partitions = self.partitions.lock().unwrap();
        if let Some(existing) = partitions.get(key) {
            return Ok(Arc::clone(existing));
        }
        if partitions.len() >= SHARE_PARTITIONS_MAX {
            return Err(ErrorCode::RequestTimedOut);
        }
        let created = Arc::new(Mutex::new(SharePartition::new(start_offset()?)));
        partitions.insert(key.clone(), Arc::clone(&created));
        Ok(created)
    }

    /// Records the limits `group_id` resolves to now; returns them.
    pub fn set_group_limits(&self, group_id: &str, limits: SharePartitionLimits) {
        let mut all = self.group_limits.lock().unwrap();
        if limits == self.limits {
            all.remove(group_id);
        } else {
            all.insert(group_id.to_owned(), limits);
        }
    }

    /// The limits of `group_id`'s share-partitions.
    pub fn limits_for(&self, group_id: &str) -> SharePartitionLimits {
        self.group_limits
            .lock()
            .unwrap()
            .get(group_id)
            .copied()
            .unwrap_or(self.limits)
    }

    /// The share-partition for `key` if it exists.
    pub fn existing(&self, key: &ShareKey) -> Option<Arc<Mutex<SharePartition>>> {
        self.partitions.lock().unwrap().get(key).cloned()
    }

    /// Every share-partition of `group_id`.
    pub fn of_group(&self, group_id: &str) -> Vec<(ShareKey, Arc<Mutex<SharePartition>>)> {
        let partitions = self.partitions.lock().unwrap();
        let mut found: Vec<_> = partitions
            .iter()
            .filter(|(k, _)| k.group_id == group_id)
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Sets the start offset of `key`'s share-partition, creating it (AlterShareGroupOffsets).
    pub fn reset(&self, key: &ShareKey, offset: i64) -> Result<(), ErrorCode> {
        let share = self.share_partition(key, || Ok(offset))?;
        share.lock().unwrap().reset(offset);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Forgets the share-partitions of `group_id` on `topic_id` (DeleteShareGroupOffsets);
    /// returns how many there were.
    pub fn remove_topic(&self, group_id: &str, topic_id: Uuid) -> usize {
        let mut partitions = self.partitions.lock().unwrap();
        let before = partitions.len();
        partitions.retain(|k, _| !(k.group_id == group_id && k.topic_id == topic_id));
        before - partitions.len()
    }

    /// Forgets every share-partition of `group_id` (the group was deleted).
    pub fn remove_group(&self, group_id: &str) {
        self.partitions
            .lock()
            .unwrap()
            .retain(|k, _| k.group_id != group_id);
        self.group_limits.lock().unwrap().remove(group_id);
    }

    /// Releases what `member_id` holds in `group_id` (its session closed or expired).
    pub fn release_member(&self, group_id: &str, member_id: &str) {
        let mut released = 0;
        let limits = self.limits_for(group_id);
        for (_, partition) in self.of_group(group_id) {
            released += partition.lock().unwrap().release_member(member_id, &limits);
        }
        if released > 0 {
            self.changed.notify_waiters();
        }
    }

    /// A future that completes on the next [`Self::notify_changed`]; create it before looking.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    pub fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Expires locks due at `now_ms` and closes idle sessions (releasing their records).
    pub fn upkeep(&self, now_ms: i64) {
        let all: Vec<(ShareKey, Arc<Mutex<SharePartition>>)> = self
            .partitions
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        let mut released = 0;
        for (key, partition) in all {
            let mut partition = partition.lock().unwrap();
            if partition.next_lock_deadline().is_some_and(|d| d <= now_ms) {
                released += partition.expire_locks(now_ms, &self.limits_for(&key.group_id));
            }
        }
        let idle: Vec<SessionKey> = self
            .sessions
            .lock()
            .unwrap()
            .evict_idle(now_ms, self.session_idle_ms);
        for key in idle {
            self.release_member(&key.group_id, &key.member_id);
        }
        if released > 0 {
            self.changed.notify_waiters();
        }
    }
}

impl ShareState {
    /// Closes `member_id`'s share session and releases what it holds (it left the group).
    pub fn close_member(&self, group_id: &str, member_id: &str) {
        self.sessions.lock().unwrap().remove(&SessionKey {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
        });
        self.release_member(group_id, member_id);
    }
}

/// The share state for a broker's configuration (`group.share.*`, Kafka's names and defaults).
pub fn share_state(config: &crate::config::BrokerConfig) -> ShareState {
    let number = |key: &str, default: i64, min: i64, max: i64| {
        config
            .value(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
            .clamp(min, max)
    };
    let defaults = SharePartitionLimits::default();
    let limits = SharePartitionLimits {
        lock_duration_ms: number(
            "group.share.record.lock.duration.ms",
            defaults.lock_duration_ms,
            1_000,
            3_600_000,
        ),
        delivery_count_limit: number(
            "group.share.delivery.count.limit",
            i64::from(defaults.delivery_count_limit),
            2,
            10,
        ) as i16,
        max_record_locks: number(
            "group.share.partition.max.record.locks",
            defaults.max_record_locks as i64,
            100,
            10_000,
        ) as usize,
    };
    ShareState::new(
        limits,
        number("group.share.max.share.sessions", 2_000, 1, 100_000) as usize,
        number(
            "group.share.session.timeout.ms",
            45_000,
            1,
            i64::from(i32::MAX),
        ),
    )
}

/// Where a new share-partition starts (`share.auto.offset.reset`): the high watermark, the log
/// start, or the first record at most the given duration old (the high watermark when none).
pub fn initial_offset(
    partition: &crate::partitions::Partition,
    reset: crate::group_configs::AutoOffsetReset,
    now_wall_ms: i64,
) -> Result<i64, ErrorCode> {
    use crate::group_configs::AutoOffsetReset;
    let code = |e: crate::error::BrokerError| e.error_code();
    match reset {
        AutoOffsetReset::Latest => partition.high_watermark().map_err(code),
        AutoOffsetReset::Earliest => partition.log_start_offset().map_err(code),
        AutoOffsetReset::ByDuration(ms) => {
            let since = now_wall_ms.saturating_sub(ms);
            match partition.offset_for_timestamp(since).map_err(code)? {
                Some(found) => Ok(found.offset),
                None => partition.high_watermark().map_err(code),
            }
        }
    }
}

/// The monotonic milliseconds share locks are measured in.
pub fn now_ms() -> i64 {
    crate::clock::monotonic_ms()
}

/// Runs [`ShareState::upkeep`] until the broker shuts down.
pub fn start_upkeep(broker: Arc<Broker>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(UPKEEP_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !broker.is_shutting_down() {
            ticker.tick().await;
            broker.shares.upkeep(now_ms());
        }
    })
}
