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
//! Persistence (`persist.rs`): a share-partition is loaded from the share coordinator when this
//! broker first serves it at a leader epoch, created (and written) at `share.auto.offset.reset`
//! when it has no state, and written after every change that must survive: acknowledgements
//! (before they are answered), releases, lock expiries, resets. Acquisitions are not written
//! (a lock does not survive its leader). Writes of one share-partition are serialised, each
//! carrying the state as it is when the write starts, so a later write never loses an earlier
//! change.

pub mod partition;
pub mod persist;
pub mod read;
pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::{ErrorCode, Uuid};
use tokio::sync::Notify;

use crate::broker::Broker;
use crate::partitions::Partition;
use coordinator::share_state::{ShareStateBatch, ShareStateKey};
use partition::{RecordState, SharePartition, SharePartitionLimits};
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
    /// The broker's share limits; a group's configs may override them
    /// (`group_configs::share_settings`, which callers pass in).
    pub limits: SharePartitionLimits,
    /// A share session unused this long is closed and its member's records released.
    pub session_idle_ms: i64,
    /// The share coordinator's stores on this broker.
    pub coordinator: persist::ShareCoordinator,
    /// Serialises the loads and writes of each share-partition's persisted state.
    writers: Mutex<HashMap<ShareKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl ShareState {
    pub fn new(limits: SharePartitionLimits, max_sessions: usize, session_idle_ms: i64) -> Self {
        ShareState {
            partitions: Mutex::new(HashMap::new()),
            sessions: Mutex::new(ShareSessions::new(max_sessions)),
            changed: Notify::new(),
            limits,
            session_idle_ms,
            coordinator: Default::default(),
            writers: Mutex::new(HashMap::new()),
        }
    }

    fn writer(&self, key: &ShareKey) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.writers.lock().unwrap().entry(key.clone()).or_default())
    }

    /// The share-partition for `key` as this broker serves it at `partition`'s current leader
    /// epoch: the one in memory, or its state read from the share coordinator, or a new one at
    /// `reset` (written before it is used). REQUEST_TIMED_OUT (retriable) when the broker
    /// already holds [`SHARE_PARTITIONS_MAX`]; the coordinator's errors otherwise.
    pub async fn load(
        &self,
        broker: &Arc<Broker>,
        key: &ShareKey,
        partition: &Partition,
        reset: crate::group_configs::AutoOffsetReset,
        limits: &SharePartitionLimits,
    ) -> Result<Arc<Mutex<SharePartition>>, ErrorCode> {
        let epoch = partition.leader_epoch();
        let current = |this: &Self| {
            this.existing(key)
                .filter(|share| share.lock().unwrap().leader_epoch == epoch)
        };
        if let Some(share) = current(self) {
            return Ok(share);
        }
        let writer = self.writer(key);
        let _serialised = writer.lock().await;
        if let Some(share) = current(self) {
            return Ok(share);
        }
        if self.existing(key).is_none()
            && self.partitions.lock().unwrap().len() >= SHARE_PARTITIONS_MAX
        {
            return Err(ErrorCode::RequestTimedOut);
        }
        let state_key = state_key(key);
        let mut share = match persist::read(broker, &state_key, epoch).await? {
            Some(state) => {
                let ranges: Vec<(i64, i64, RecordState, i16)> = state
                    .batches
                    .iter()
                    .map(|b| {
                        (
                            b.first_offset,
                            b.last_offset,
                            RecordState::from_persisted(b.delivery_state),
                            b.delivery_count,
                        )
                    })
                    .collect();
                SharePartition::restore(state.start_offset, &ranges, limits)
            }
            None => {
                let start = initial_offset(partition, reset, (broker.clock)())?;
                persist::write(broker, &state_key, epoch, start, Vec::new()).await?;
                SharePartition::new(start)
            }
        };
        share.leader_epoch = epoch;
        let share = Arc::new(Mutex::new(share));
        self.partitions
            .lock()
            .unwrap()
            .insert(key.clone(), Arc::clone(&share));
        Ok(share)
    }

    /// Writes `key`'s state as it is now to the share coordinator.
    pub async fn persist(&self, broker: &Arc<Broker>, key: &ShareKey) -> Result<(), ErrorCode> {
        let writer = self.writer(key);
        let _serialised = writer.lock().await;
        let Some(share) = self.existing(key) else {
            return Ok(());
        };
        let (epoch, start, batches) = {
            let share = share.lock().unwrap();
            let batches: Vec<ShareStateBatch> = share
                .ranges()
                .into_iter()
                .map(|(first, last, state, count)| ShareStateBatch {
                    first_offset: first,
                    last_offset: last,
                    delivery_state: state.persisted_id(),
                    delivery_count: count,
                })
                .collect();
            (share.leader_epoch, share.start_offset(), batches)
        };
        let written = persist::write(broker, &state_key(key), epoch, start, batches).await;
        if written == Err(ErrorCode::FencedLeaderEpoch) {
            // A newer leader owns the state: this copy is stale.
            self.partitions.lock().unwrap().remove(key);
        }
        written
    }

    /// Writes the states of `keys` in the background (releases and expiries nobody waits for).
    pub fn persist_later(&self, broker: &Arc<Broker>, keys: Vec<ShareKey>) {
        for key in keys {
            let broker = Arc::clone(broker);
            tokio::spawn(async move {
                if let Err(code) = broker.shares.persist(&broker, &key).await {
                    tracing::debug!(?key, ?code, "writing share state");
                }
            });
        }
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

    /// Sets the start offset of `key`'s share-partition (led here at `partition`), creating
    /// it, and writes it (AlterShareGroupOffsets).
    pub async fn reset(
        &self,
        broker: &Arc<Broker>,
        key: &ShareKey,
        partition: &Partition,
        offset: i64,
    ) -> Result<(), ErrorCode> {
        {
            let mut partitions = self.partitions.lock().unwrap();
            if !partitions.contains_key(key) && partitions.len() >= SHARE_PARTITIONS_MAX {
                return Err(ErrorCode::RequestTimedOut);
            }
            let mut share = SharePartition::new(offset);
            share.leader_epoch = partition.leader_epoch();
            partitions.insert(key.clone(), Arc::new(Mutex::new(share)));
        }
        self.changed.notify_waiters();
        self.persist(broker, key).await
    }

    /// Forgets the share-partitions of `group_id` on `topic_id` held in memory
    /// (DeleteShareGroupOffsets; the caller deletes the persisted states).
    pub fn remove_topic(&self, group_id: &str, topic_id: Uuid) {
        self.forget(|k| k.group_id == group_id && k.topic_id == topic_id);
    }

    /// Forgets every share-partition of `group_id` held in memory (the group was deleted);
    /// returns their keys.
    pub fn remove_group(&self, group_id: &str) -> Vec<ShareKey> {
        self.forget(|k| k.group_id == group_id)
    }

    /// Drops the share-partitions (and their write locks) whose keys match; returns the keys.
    fn forget(&self, matches: impl Fn(&ShareKey) -> bool) -> Vec<ShareKey> {
        let mut removed = Vec::new();
        self.partitions.lock().unwrap().retain(|k, _| {
            let forget = matches(k);
            if forget {
                removed.push(k.clone());
            }
            !forget
        });
        self.writers.lock().unwrap().retain(|k, _| !matches(k));
        removed
    }

    /// Releases what `member_id` holds in `group_id` (its session closed or expired); returns
    /// the share-partitions that changed.
    pub fn release_member(
        &self,
        group_id: &str,
        member_id: &str,
        limits: &SharePartitionLimits,
    ) -> Vec<ShareKey> {
        let mut changed = Vec::new();
        for (key, partition) in self.of_group(group_id) {
            if partition.lock().unwrap().release_member(member_id, limits) > 0 {
                changed.push(key);
            }
        }
        if !changed.is_empty() {
            self.changed.notify_waiters();
        }
        changed
    }

    /// A future that completes on the next [`Self::notify_changed`]; create it before looking.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    pub fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Expires locks due at `now_ms` and closes idle sessions (releasing their records), with
    /// each group's limits from `limits_of`; returns the share-partitions that changed.
    pub fn upkeep(
        &self,
        now_ms: i64,
        limits_of: impl Fn(&str) -> SharePartitionLimits,
    ) -> Vec<ShareKey> {
        let all: Vec<(ShareKey, Arc<Mutex<SharePartition>>)> = self
            .partitions
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        let mut changed = Vec::new();
        for (key, partition) in all {
            let mut partition = partition.lock().unwrap();
            if partition.next_lock_deadline().is_some_and(|d| d <= now_ms)
                && partition.expire_locks(now_ms, &limits_of(&key.group_id)) > 0
            {
                changed.push(key);
            }
        }
        let idle: Vec<SessionKey> = self
            .sessions
            .lock()
            .unwrap()
            .evict_idle(now_ms, self.session_idle_ms);
        for key in idle {
            let limits = limits_of(&key.group_id);
            changed.extend(self.release_member(&key.group_id, &key.member_id, &limits));
        }
        if !changed.is_empty() {
            self.changed.notify_waiters();
        }
        changed
    }

    /// Closes `member_id`'s share session and releases what it holds (it left the group);
    /// returns the share-partitions that changed.
    pub fn close_member(
        &self,
        group_id: &str,
        member_id: &str,
        limits: &SharePartitionLimits,
    ) -> Vec<ShareKey> {
        self.sessions.lock().unwrap().remove(&SessionKey {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
        });
        self.release_member(group_id, member_id, limits)
    }
}

/// The share coordinator's key of a share-partition.
pub fn state_key(key: &ShareKey) -> ShareStateKey {
    ShareStateKey {
        group_id: key.group_id.clone(),
        topic_id: key.topic_id,
        partition: key.partition,
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
            let changed = broker.shares.upkeep(now_ms(), |group| {
                crate::group_configs::share_settings(&broker, group).limits
            });
            broker.shares.persist_later(&broker, changed);
        }
    })
}
