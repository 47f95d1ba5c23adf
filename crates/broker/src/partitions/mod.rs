//! The partitions this broker hosts (Kafka's ReplicaManager on a single node): one storage
//! `Log` per partition, opened at start for every known topic, created and deleted with topics,
//! and the wake-up that long-polling fetches wait on.
//!
//! Locking: the map is behind an `RwLock` held only to look up, add or remove an
//! `Arc<Partition>`; log operations run on the `Arc` outside it.
//!
//! Storage is reached only through this module: `io.rs` holds every read and write of a
//! partition's `storage::Log` and decides where blocking work runs (the `log` field is private,
//! so handlers, the follower fetcher and the group coordinator cannot bypass it).
//!
//! In a cluster, a leader out of contact with the controller (`cluster::self_fencing`) whose ISR
//! has a member lagging past `replica.lag.time.max.ms` stops serving clients
//! (NOT_LEADER_OR_FOLLOWER): it cannot commit until the controller shrinks the ISR, and the
//! controller has probably moved the leadership already. Followers still fetch from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use protocol::Uuid;
use storage::{Log, LogAppendInfo};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::BrokerError;
use crate::replica::{Assignment, BrokerId, LeaderState, Role};
use crate::replication_rules::follower_high_watermark;
use crate::topic_config::TopicConfig;

mod io;
mod verification;

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// One hosted partition.
pub struct Partition {
    pub topic_partition: TopicPartition,
    pub topic_id: Uuid,
    log: Log,
    config: RwLock<Arc<TopicConfig>>,
    /// Woken after every append and high-watermark change; fetches wait on it.
    appended: Notify,
    /// This broker's id.
    local_id: BrokerId,
    /// Leader or follower. Also serialises "compute the high watermark, set it", so it never
    /// moves backwards.
    role: Mutex<Role>,
    /// Shared by every partition of the broker.
    contact: Arc<ControllerContact>,
    /// Producers whose first transactional batches here are being verified
    /// (`verification.rs`).
    verifying: verification::VerificationState,
    /// Bytes and records in and out (`metrics`).
    pub metrics: crate::metrics::PartitionMetrics,
    /// Shared by every partition of the broker.
    isr_changes: Arc<IsrChanges>,
}

/// ISR shrinks and expands this broker made as leader (Kafka's `IsrShrinksPerSec` and
/// `IsrExpandsPerSec`), counted when metadata brings the new ISR.
#[derive(Debug, Default)]
pub struct IsrChanges {
    pub shrinks: std::sync::atomic::AtomicU64,
    pub expands: std::sync::atomic::AtomicU64,
}

impl IsrChanges {
    fn record(&self, before: usize, after: usize) {
        let counter = match after.cmp(&before) {
            std::cmp::Ordering::Less => &self.shrinks,
            std::cmp::Ordering::Greater => &self.expands,
            std::cmp::Ordering::Equal => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The broker's contact with the controller, as its leaders need to know it.
#[derive(Debug)]
pub struct ControllerContact {
    /// Out of contact with the active controller, or behind its metadata.
    lost: AtomicBool,
    /// `replica.lag.time.max.ms`.
    lag_max_ms: AtomicI64,
}

impl Partition {
    pub fn config(&self) -> Arc<TopicConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a topic's new configuration: the broker's rules at once, and the log's settings
    /// (retention, segments, flushing) from its next append or retention pass.
    pub fn set_config(&self, config: Arc<TopicConfig>) -> Result<(), BrokerError> {
        self.log.set_config(config.log.clone())?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// Wakes every fetch waiting on this partition.
    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// A future that completes at the next [`Partition::notify_appended`]; create it before
    /// checking for data so no append is missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    fn role(&self) -> std::sync::MutexGuard<'_, Role> {
        self.role.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current leader epoch (the one batches are stamped with when leading).
    pub fn leader_epoch(&self) -> i32 {
        self.role().leader_epoch()
    }

    /// The leader's state, or `None` when this replica follows.
    pub fn leader_state(&self) -> Option<LeaderState> {
        match &*self.role() {
            Role::Leader(state) => Some(state.clone()),
            Role::Follower { .. } => None,
        }
    }

    /// The leader this replica follows (`None` when it leads or the partition is offline).
    pub fn followed_leader(&self) -> Option<(BrokerId, i32)> {
        match &*self.role() {
            Role::Follower {
                leader: Some(leader),
                leader_epoch,
            } => Some((*leader, *leader_epoch)),
            _ => None,
        }
    }

    /// NOT_LEADER_OR_FOLLOWER unless this replica leads; else the leader epoch.
    pub fn check_leader(&self) -> Result<i32, BrokerError> {
        match &*self.role() {
            Role::Leader(state) => Ok(state.leader_epoch),
            Role::Follower { .. } => Err(self.not_leader()),
        }
    }

    /// A follower's fetch: [`Self::check_leader`], then the epoch the follower believes current
    /// checked against ours ([`check_epoch`]).
    pub fn check_leader_epoch(&self, requested: i32) -> Result<i32, BrokerError> {
        let current = self.check_leader()?;
        check_epoch(requested, current)?;
        Ok(current)
    }

    /// A client's request (fetch, list offsets, offset for leader epoch):
    /// [`Self::check_serving_leader`], then the epoch the client believes current checked
    /// against ours ([`check_epoch`]).
    pub fn check_serving_leader_epoch(&self, requested: i32) -> Result<i32, BrokerError> {
        let current = self.check_serving_leader()?;
        check_epoch(requested, current)?;
        Ok(current)
    }

    /// What a consumer's fetch that may read from a follower checks (KIP-392, Fetch v11+): as
    /// [`Self::check_serving_leader_epoch`] where this replica leads; where it follows a leader,
    /// the epoch the client names against the one it follows.
    pub fn check_serving_replica_epoch(&self, requested: i32) -> Result<i32, BrokerError> {
        let following = match &*self.role() {
            Role::Follower {
                leader: Some(_),
                leader_epoch,
            } => Some(*leader_epoch),
            _ => None,
        };
        match following {
            Some(current) => {
                check_epoch(requested, current)?;
                Ok(current)
            }
            None => self.check_serving_leader_epoch(requested),
        }
    }

    /// The ISR followers whose log holds `offset` (log start <= offset <= log end), with their
    /// log end offsets: where a leader may send a consumer (KIP-392). Empty unless this leads.
    pub fn in_sync_followers_holding(&self, offset: i64) -> Vec<(BrokerId, i64)> {
        match &*self.role() {
            Role::Leader(state) => state
                .isr
                .iter()
                .filter(|&&r| r != self.local_id)
                .filter_map(|r| {
                    let progress = state.followers.get(r)?;
                    let holds = progress.log_start_offset >= 0
                        && progress.log_start_offset <= offset
                        && offset <= progress.log_end_offset;
                    holds.then_some((*r, progress.log_end_offset))
                })
                .collect(),
            Role::Follower { .. } => Vec::new(),
        }
    }

    /// What client requests check: NOT_LEADER_OR_FOLLOWER unless this replica leads, and is
    /// not a leader out of contact with the controller with a lagging ISR member (see the
    /// module doc); else the leader epoch.
    pub fn check_serving_leader(&self) -> Result<i32, BrokerError> {
        let role = self.role();
        let serving = match &*role {
            Role::Leader(state) => {
                let lag_max_ms = self.contact.lag_max_ms.load(Ordering::Acquire);
                let stranded = self.contact.lost.load(Ordering::Acquire)
                    && state.isr_member_lagging(
                        self.local_id,
                        lag_max_ms,
                        crate::clock::monotonic_ms(),
                    );
                (!stranded).then_some(state.leader_epoch)
            }
            Role::Follower { .. } => None,
        };
        serving.ok_or_else(|| self.not_leader())
    }

    fn not_leader(&self) -> BrokerError {
        BrokerError::NotLeaderOrFollower {
            topic: self.topic_partition.topic.clone(),
            partition: self.topic_partition.partition,
        }
    }

    /// Appends a produced (validated) batch as leader, stamping this partition's leader epoch
    /// into it in place, then advances the high watermark as far as the ISR allows and wakes
    /// waiting fetches. Blocking file I/O (in fsync-before-ack mode it returns once the batch
    /// is on disk): callers on the runtime use [`Partition::append_records_as_leader`]; the
    /// group coordinator calls this from the blocking pool.
    pub fn append_as_leader(&self, records: &mut [u8]) -> Result<LogAppendInfo, BrokerError> {
        let epoch = self.check_leader()?;
        let info = self.log.append_as_leader(records, epoch)?;
        if !info.duplicate {
            let count = info.last_offset - info.first_offset + 1;
            self.metrics
                .record_append(records.len(), u64::try_from(count).unwrap_or(0));
            self.advance_high_watermark()?;
            self.notify_appended();
        }
        Ok(info)
    }

    /// Raises the high watermark to what the ISR has (a leader), never lowering it. A follower's
    /// high watermark comes from its leader ([`Partition::set_follower_high_watermark`]).
    pub fn advance_high_watermark(&self) -> Result<i64, BrokerError> {
        let role = self.role();
        let current = self.log.high_watermark()?;
        let Role::Leader(state) = &*role else {
            return Ok(current);
        };
        let log_end = self.log.log_end_offset()?;
        let min_isr = self.config().min_insync_replicas;
        match state.next_high_watermark(self.local_id, log_end, min_isr, current) {
            Some(next) => Ok(self.log.set_high_watermark(next)?),
            None => Ok(current),
        }
    }

    /// A follower takes its leader's high watermark, capped at its own log end.
    pub fn set_follower_high_watermark(
        &self,
        leader_high_watermark: i64,
    ) -> Result<(), BrokerError> {
        let _role = self.role();
        let log_end = self.log.log_end_offset()?;
        self.log
            .set_high_watermark(follower_high_watermark(leader_high_watermark, log_end))?;
        Ok(())
    }

    /// A follower fetched at `fetch_offset` (its log end offset): records its progress and
    /// advances the high watermark. NOT_LEADER_OR_FOLLOWER when this replica does not lead,
    /// UnknownReplica when `follower` holds no replica.
    pub fn record_follower_fetch(
        &self,
        follower: BrokerId,
        follower_broker_epoch: i64,
        fetch_offset: i64,
        follower_log_start: i64,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        let log_start_moved = {
            let mut role = self.role();
            let Role::Leader(state) = &mut *role else {
                return Err(self.not_leader());
            };
            if !state.followers.contains_key(&follower) {
                return Err(unknown_replica(follower));
            }
            let log_end = self.log.log_end_offset()?;
            let high_watermark = self.log.high_watermark()?;
            state
                .record_follower_fetch(
                    follower,
                    follower_broker_epoch,
                    fetch_offset,
                    log_end,
                    high_watermark,
                    now_ms,
                )
                .map_err(|_| unknown_replica(follower))?;
            state.record_follower_log_start(follower, follower_broker_epoch, follower_log_start)
        };
        let before = self.log.high_watermark()?;
        if self.advance_high_watermark()? > before || log_start_moved {
            self.notify_appended();
        }
        Ok(())
    }

    /// Completes once every live replica's log start offset reached `offset` (Kafka's
    /// DelayedDeleteRecords), with the low watermark ([`LeaderState::low_watermark`]) then.
    /// NOT_LEADER_OR_FOLLOWER if leadership moves meanwhile, REQUEST_TIMED_OUT at `deadline`.
    pub async fn wait_for_low_watermark(
        &self,
        offset: i64,
        deadline: tokio::time::Instant,
    ) -> Result<i64, BrokerError> {
        loop {
            let notified = self.appended();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let local = self.log.log_start_offset()?;
            let low_watermark = match &*self.role() {
                Role::Leader(state) => state.low_watermark(
                    local,
                    self.contact.lag_max_ms.load(Ordering::Acquire),
                    crate::clock::monotonic_ms(),
                ),
                Role::Follower { .. } => return Err(self.not_leader()),
            };
            if low_watermark >= offset {
                return Ok(low_watermark);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return Err(BrokerError::RequestTimedOut),
            }
        }
    }

    /// Completes once the high watermark passes `offset` (acks=all). NOT_LEADER_OR_FOLLOWER
    /// if leadership moves meanwhile, REQUEST_TIMED_OUT at `deadline`.
    pub async fn wait_for_high_watermark(
        &self,
        offset: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), BrokerError> {
        loop {
            let notified = self.appended();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.log.high_watermark()? > offset {
                return Ok(());
            }
            self.check_leader()?;
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return Err(BrokerError::RequestTimedOut),
            }
        }
    }

    /// Why this replica's log went offline (a write or sync failed in its directory), if it did.
    pub fn offline_reason(&self) -> Option<String> {
        self.log.offline_reason()
    }

    /// The ISR change this leader wants now, if any; marks it pending.
    pub fn take_isr_change(
        &self,
        lag_max_ms: i64,
        now_ms: i64,
    ) -> Option<(LeaderState, Vec<BrokerId>)> {
        let high_watermark = self.log.high_watermark().ok()?;
        let mut role = self.role();
        let Role::Leader(state) = &mut *role else {
            return None;
        };
        state.drop_stalled_joiners(lag_max_ms, now_ms);
        let Some(wanted) = state.isr_change(self.local_id, high_watermark, lag_max_ms, now_ms)
        else {
            state.forget_stale_isr_proposal(now_ms);
            return None;
        };
        state.pending_isr = Some((wanted.clone(), now_ms));
        Some((state.clone(), wanted))
    }

    /// The controller refused the ISR change proposed at `proposed_at`: it is no longer in
    /// flight, so its additions (and followers waiting to join) stop holding the high watermark.
    pub fn isr_change_refused(&self, proposed_at: i64) {
        if let Role::Leader(state) = &mut *self.role()
            && state
                .pending_isr
                .as_ref()
                .is_some_and(|(_, at)| *at == proposed_at)
        {
            state.pending_isr = None;
            state.abandon_joins();
        }
    }

    /// Takes the role metadata gives this replica. Returns true when leadership or the leader
    /// followed changed (fetchers must be told).
    pub fn apply_assignment(
        &self,
        assignment: &Assignment,
        now_ms: i64,
    ) -> Result<bool, BrokerError> {
        let changed = {
            let mut role = self.role();
            let change = role.apply_assignment(
                assignment,
                self.local_id,
                || self.log.log_end_offset(),
                now_ms,
            )?;
            if let Some((before, after)) = change.isr_sizes {
                self.isr_changes.record(before, after);
            }
            change.changed
        };
        let before = self.log.high_watermark()?;
        if self.advance_high_watermark()? > before || changed {
            self.notify_appended();
        }
        Ok(changed)
    }
}

/// Every partition this broker hosts.
pub struct ReplicaManager {
    log_dir: PathBuf,
    local_id: BrokerId,
    /// In a replicated cluster partitions open as followers of nobody until metadata says.
    clustered: bool,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Shared with every partition (a cluster broker starts out of contact).
    contact: Arc<ControllerContact>,
    /// The broker's clock, handed to every partition.
    clock: Clock,
    /// Shared with every partition.
    pub isr_changes: Arc<IsrChanges>,
}

impl ReplicaManager {
    pub fn new(log_dir: &Path, local_id: BrokerId, clustered: bool, clock: Clock) -> Self {
        Self {
            clock,
            log_dir: log_dir.to_path_buf(),
            local_id,
            clustered,
            partitions: RwLock::new(HashMap::new()),
            contact: Arc::new(ControllerContact {
                lost: AtomicBool::new(clustered),
                lag_max_ms: AtomicI64::new(30_000),
            }),
            isr_changes: Arc::default(),
        }
    }

    /// Records whether the broker is out of contact with the controller; returns whether it
    /// was before.
    pub fn set_controller_contact_lost(&self, lost: bool) -> bool {
        self.contact.lost.swap(lost, Ordering::AcqRel)
    }

    /// `replica.lag.time.max.ms`, for the rule in the module doc.
    pub fn set_replica_lag_time_max_ms(&self, lag_max_ms: i64) {
        self.contact.lag_max_ms.store(lag_max_ms, Ordering::Release);
    }

    fn map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.log_dir
            .join(storage::partition_dir_name(topic, partition))
    }

    /// Opens (creating when absent) the logs of partitions `from..to` of a topic.
    pub fn open_partitions(
        &self,
        topic: &str,
        topic_id: Uuid,
        from: i32,
        to: i32,
        config: Arc<TopicConfig>,
    ) -> Result<(), BrokerError> {
        for index in from..to {
            let tp = TopicPartition {
                topic: topic.to_string(),
                partition: index,
            };
            if self.map().contains_key(&tp) {
                continue;
            }
            let log = Log::open_with_clock(
                &self.partition_dir(topic, index),
                config.log.clone(),
                self.clock.clone(),
            )?;
            let partition = Arc::new(Partition {
                topic_partition: tp.clone(),
                topic_id,
                log,
                config: RwLock::new(config.clone()),
                appended: Notify::new(),
                verifying: Default::default(),
                local_id: self.local_id,
                role: Mutex::new(if self.clustered {
                    Role::Follower {
                        leader: None,
                        leader_epoch: -1,
                    }
                } else {
                    Role::single_node(self.local_id)
                }),
                contact: self.contact.clone(),
                metrics: Default::default(),
                isr_changes: self.isr_changes.clone(),
            });
            // Recovery starts the high watermark at the log start; a single node is the whole
            // ISR, so it moves to the log end. In a cluster metadata sets the role next.
            partition.advance_high_watermark()?;
            self.map_mut().insert(tp, partition);
        }
        Ok(())
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.map()
            .get(&TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .cloned()
    }

    /// The hosted partition, or UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, BrokerError> {
        self.get(topic, partition)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// Every hosted partition, sorted.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        let mut all: Vec<_> = self.map().values().cloned().collect();
        all.sort_by(|a, b| a.topic_partition.cmp(&b.topic_partition));
        all
    }

    /// The partitions of one topic.
    pub fn topic_partitions(&self, topic: &str) -> Vec<Arc<Partition>> {
        self.all()
            .into_iter()
            .filter(|p| p.topic_partition.topic == topic)
            .collect()
    }

    /// Stops hosting a topic: closes its logs and deletes their directories in the background
    /// (renamed first, as Kafka does, so a restart never sees a half-deleted log).
    pub fn delete_topic(&self, topic: &str) {
        self.delete_where(|tp| tp.topic == topic);
    }

    /// Stops hosting one partition (a reassignment moved it away), as [`Self::delete_topic`].
    pub fn delete_partition(&self, topic: &str, partition: i32) {
        self.delete_where(|tp| tp.topic == topic && tp.partition == partition);
    }

    fn delete_where(&self, doomed: impl Fn(&TopicPartition) -> bool) {
        let removed: Vec<Arc<Partition>> = {
            let mut map = self.map_mut();
            let keys: Vec<_> = map.keys().filter(|tp| doomed(tp)).cloned().collect();
            keys.into_iter().filter_map(|k| map.remove(&k)).collect()
        };
        let mut doomed = Vec::new();
        for partition in removed {
            let _ = partition.log.close();
            partition.notify_appended();
            let dir = partition.log.dir().to_path_buf();
            let tombstone =
                dir.with_extension(format!("{}-delete", crate::metadata::random_uuid()));
            if std::fs::rename(&dir, &tombstone).is_ok() {
                doomed.push(tombstone);
            }
        }
        if !doomed.is_empty() {
            std::thread::spawn(move || {
                for dir in doomed {
                    let _ = std::fs::remove_dir_all(dir);
                }
            });
        }
    }

    /// Deletes partition directories this broker does not host and `is_stray(topic, partition)`
    /// says belong elsewhere (a reassignment moved the replica away while this node was down),
    /// as Kafka deletes stray replicas at startup. Directories whose name is no partition's are
    /// left alone.
    pub fn delete_stray_dirs(&self, is_stray: impl Fn(&str, i32) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.log_dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((topic, partition)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(partition) = partition.parse::<i32>() else {
                continue;
            };
            if self.get(topic, partition).is_some() || !is_stray(topic, partition) {
                continue;
            }
            tracing::info!(dir = %name, "deleting a stray replica reassigned away from this node");
            let tombstone = entry
                .path()
                .with_extension(format!("{}-delete", crate::metadata::random_uuid()));
            if std::fs::rename(entry.path(), &tombstone).is_ok() {
                let _ = std::fs::remove_dir_all(tombstone);
            }
        }
    }

    /// Removes directories left by deletions a crash interrupted.
    pub fn clean_deleted_dirs(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.log_dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with("-delete") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    /// Closes every log cleanly (flush, clean-shutdown marker).
    pub fn close_all(&self) {
        for partition in self.all() {
            if let Err(error) = partition.log.close() {
                tracing::warn!(partition = ?partition.topic_partition, %error, "closing log");
            }
        }
    }
}

fn unknown_replica(follower: BrokerId) -> BrokerError {
    BrokerError::UnknownReplica {
        replica_id: follower,
        leader_epoch_given: true,
    }
}

/// FENCED_LEADER_EPOCH for a requester behind the current epoch, UNKNOWN_LEADER_EPOCH for one
/// ahead of it; a negative epoch means the requester does not know it and passes.
fn check_epoch(requested: i32, current: i32) -> Result<(), BrokerError> {
    if requested >= 0 && requested < current {
        Err(BrokerError::FencedLeaderEpoch { requested, current })
    } else if requested > current {
        Err(BrokerError::UnknownLeaderEpoch { requested, current })
    } else {
        Ok(())
    }
}
