//! The group coordinator service: the broker's side of the sans-I/O `coordinator` crate. One
//! `GroupCoordinator` shard per `__consumer_offsets` partition (Kafka's coordinator shards),
//! each behind its own mutex; loading shards from the log; running an operation as
//! "call the coordinator, append its records, then answer"; parked JoinGroup / SyncGroup
//! requests; and the timer task that drives every shard's deadlines.
//!
//! Ordering (the coordinator's contract): an operation holds its shard's lock from the call
//! through the append of its records (one batch) to the delivery of its completions, so the log
//! holds records in the order the state changed, and no response or completion leaves before
//! its records are in the log. The lock is a `std::sync::Mutex`, never held across an `.await`
//! and never taken on a runtime thread for long: every operation runs on the blocking pool, and
//! a shard's replay runs outside its lock (operations meanwhile get COORDINATOR_LOAD_IN_PROGRESS).
//! In a replicated cluster no answer, the caller's or a parked member's, leaves before the
//! records it depends on reach the ISR.
//!
//! Failure: if an append fails, the shard's coordinator is dropped and every parked request of
//! the shard is answered (their senders drop: COORDINATOR_NOT_AVAILABLE); the next operation or
//! timer rebuilds the shard from the log with `replay`, as Kafka reverts to the last committed
//! state. A panic inside the coordinator poisons the lock; the shard is rebuilt the same way.
//!
//! Invariants: every parked ticket's sender is in its shard's `waiters` from the moment the
//! coordinator parks it (registered under the same lock) until its completion is delivered,
//! the shard fails, or its handler gives up waiting; each handler's wait is bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use coordinator::{
    Completion, Effects, GroupConfig, GroupCoordinator, OFFSETS_TOPIC, Outcome, Reply, Ticket,
    TopicImage, TopicsImage,
};
use protocol::generated::{JoinGroupResponse, SyncGroupResponse};
use tokio::sync::{Notify, oneshot};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::consumer_offsets;
use crate::error::BrokerError;

/// The longest the timer task sleeps without looking at the shards again.
const TIMER_SLEEP_MS_MAX: i64 = 60_000;
/// How long after a failure the timer task retries loading a shard.
const RELOAD_RETRY_MS: i64 = 1_000;
/// Added to a parked request's own deadline before its handler stops waiting.
pub const PARKED_WAIT_MARGIN_MS: u64 = 5_000;

/// A parked request's way back to its handler.
pub enum Waiter {
    Join(oneshot::Sender<JoinGroupResponse>),
    Sync(oneshot::Sender<SyncGroupResponse>),
}

/// A response that is ready, or the receiving end of a parked request.
pub enum Answer<R> {
    Ready(R),
    Parked {
        ticket: Ticket,
        receiver: oneshot::Receiver<R>,
    },
}

/// What an operation on a shard produced: its response, the coordinator's effects, and the
/// waiter to register when it parked.
pub struct Step<R> {
    pub response: R,
    pub effects: Effects,
    pub parked: Option<(Ticket, Waiter)>,
}

impl<R> From<Outcome<R>> for Step<R> {
    fn from(outcome: Outcome<R>) -> Self {
        Step {
            response: outcome.response,
            effects: Effects {
                records: outcome.records,
                completed: outcome.completed,
            },
            parked: None,
        }
    }
}

impl<R> Step<R> {
    /// A response with no effects (read-only calls).
    pub fn answer(response: R) -> Self {
        Step {
            response,
            effects: Effects::default(),
            parked: None,
        }
    }
}

impl<T> Step<Answer<T>> {
    /// A JoinGroup or SyncGroup outcome: a parked reply gets a channel whose sender becomes the
    /// ticket's waiter.
    pub fn parking(outcome: Outcome<Reply<T>>, waiter: fn(oneshot::Sender<T>) -> Waiter) -> Self {
        let effects = Effects {
            records: outcome.records,
            completed: outcome.completed,
        };
        match outcome.response {
            Reply::Ready(response) => Step {
                response: Answer::Ready(response),
                effects,
                parked: None,
            },
            Reply::Pending(ticket) => {
                let (sender, receiver) = oneshot::channel();
                Step {
                    response: Answer::Parked { ticket, receiver },
                    effects,
                    parked: Some((ticket, waiter(sender))),
                }
            }
        }
    }
}

/// One `__consumer_offsets` partition's coordinator.
struct Shard {
    partition: i32,
    /// `None` until loaded, and after a failure until rebuilt from the log.
    coordinator: Option<GroupCoordinator>,
    /// A replay of the partition is running, outside this lock; operations meanwhile answer
    /// COORDINATOR_LOAD_IN_PROGRESS.
    loading: bool,
    /// Parked requests by ticket (at most two per member: the coordinator answers older ones).
    waiters: HashMap<Ticket, Waiter>,
    /// Times this shard was (re)built, mixed into its member id seed.
    loads: u64,
    /// The partition's leader epoch when `coordinator` was loaded. A coordinator is only used
    /// at the epoch it was loaded at: leadership can move away and come back between two calls
    /// (a restarting broker replaying old metadata leads briefly, then another leader appends,
    /// then this broker leads again), and the state loaded the first time lacks what the other
    /// leader appended.
    epoch: i32,
}

/// Every shard, the configuration they share, and the timer task's wake-up.
pub struct GroupCoordinatorService {
    config: GroupConfig,
    /// Fresh randomness per start: member ids must not repeat ids loaded from the log.
    seed: u64,
    shards: OnceLock<Box<[Mutex<Shard>]>>,
    /// Woken when an operation may have moved a shard's next deadline.
    deadlines_changed: Notify,
    /// True once `start` has made the shards.
    started: tokio::sync::watch::Sender<bool>,
}

/// The coordinator's settings from the broker's (Kafka's key names).
pub fn group_config(config: &BrokerConfig) -> GroupConfig {
    let number = |key: &str, default: i64| {
        config
            .value(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let defaults = GroupConfig::default();
    GroupConfig {
        min_session_timeout_ms: config.group_min_session_timeout_ms,
        max_session_timeout_ms: config.group_max_session_timeout_ms,
        initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms.min(i32::MAX as u64)
            as i32,
        group_max_size: number("group.max.size", defaults.group_max_size as i64).clamp(1, 1_000_000)
            as usize,
        offsets_retention_ms: number("offsets.retention.minutes", 10_080)
            .clamp(1, i64::MAX / 60_000)
            * 60_000,
        offsets_retention_check_interval_ms: number(
            "offsets.retention.check.interval.ms",
            defaults.offsets_retention_check_interval_ms,
        )
        .max(1),
        offset_metadata_max_bytes: number(
            "offset.metadata.max.bytes",
            defaults.offset_metadata_max_bytes as i64,
        )
        .clamp(0, i32::MAX as i64) as usize,
        consumer_heartbeat_interval_ms: number(
            "group.consumer.heartbeat.interval.ms",
            i64::from(defaults.consumer_heartbeat_interval_ms),
        )
        .clamp(1, i64::from(i32::MAX)) as i32,
        consumer_session_timeout_ms: number(
            "group.consumer.session.timeout.ms",
            i64::from(defaults.consumer_session_timeout_ms),
        )
        .clamp(1, i64::from(i32::MAX)) as i32,
        share_heartbeat_interval_ms: number(
            "group.share.heartbeat.interval.ms",
            i64::from(defaults.share_heartbeat_interval_ms),
        )
        .clamp(1, i64::from(i32::MAX)) as i32,
        share_session_timeout_ms: number(
            "group.share.session.timeout.ms",
            i64::from(defaults.share_session_timeout_ms),
        )
        .clamp(1, i64::from(i32::MAX)) as i32,
        share_group_max_size: number("group.share.max.size", defaults.share_group_max_size as i64)
            .clamp(1, 1_000) as usize,
        ..defaults
    }
}

/// The cluster's topics as the coordinator sees them (KIP-848 subscriptions resolve against
/// them; a change moves a group's epoch). Internal topics are left out, as Kafka leaves them
/// out of regex subscriptions. Built per call: bounded by the topic count.
pub fn topics_image(broker: &Broker) -> TopicsImage {
    TopicsImage::new(
        broker
            .metadata
            .topics()
            .into_iter()
            // Internal topics included: Kafka's broker-side (KIP-848) regex resolution matches
            // them too (franz-go's Test848RegexBrokerResolves).
            .map(|t| TopicImage {
                id: t.uuid(),
                partitions: t.partitions,
                name: t.name,
            }),
    )
}

impl GroupCoordinatorService {
    pub fn new(config: &BrokerConfig) -> Self {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("the operating system's random source");
        GroupCoordinatorService {
            config: group_config(config),
            seed: u64::from_le_bytes(seed),
            shards: OnceLock::new(),
            deadlines_changed: Notify::new(),
            started: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Makes one shard per partition of `__consumer_offsets` (`partitions` of them; the topic
    /// exists by now, `Broker::start_groups`) and loads each from its partition. Called once,
    /// on the blocking pool: loading replays the partitions.
    pub fn start(&self, broker: &Broker, partitions: i32) {
        let shards: Box<[Mutex<Shard>]> = (0..partitions)
            .map(|partition| {
                Mutex::new(Shard {
                    partition,
                    coordinator: None,
                    loading: false,
                    waiters: HashMap::new(),
                    loads: 0,
                    epoch: -1,
                })
            })
            .collect();
        let now = broker.group_now_ms();
        for (partition, shard) in shards.iter().enumerate() {
            match self.loaded(broker, shard, now) {
                Ok(_) | Err(BrokerError::NotCoordinator(_)) => {}
                // Retried by the next request and the timer task.
                Err(error) => {
                    tracing::error!(partition, %error, "loading group coordinator");
                }
            }
        }
        let _ = self.shards.set(shards);
        self.started.send_replace(true);
        // The timer task learns of the new shards' deadlines.
        self.deadlines_changed.notify_waiters();
    }

    /// Completes once [`GroupCoordinatorService::start`] has made the shards.
    pub async fn started(&self) {
        let mut started = self.started.subscribe();
        let _ = started.wait_for(|started| *started).await;
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Partitions of `__consumer_offsets` (0 before `start`).
    pub fn partition_count(&self) -> i32 {
        self.shards.get().map_or(0, |s| s.len() as i32)
    }

    /// The `__consumer_offsets` partition (and shard) that owns `group_id`.
    pub fn partition_for(&self, group_id: &str) -> Result<i32, BrokerError> {
        match self.partition_count() {
            0 => Err(BrokerError::CoordinatorNotAvailable(
                "the group coordinator is still loading".into(),
            )),
            n => Ok(coordinator::partition_for(group_id, n)),
        }
    }

    fn shard(&self, partition: i32) -> Result<&Mutex<Shard>, BrokerError> {
        self.shards
            .get()
            .and_then(|shards| shards.get(usize::try_from(partition).ok()?))
            .ok_or_else(|| BrokerError::NotCoordinator(format!("no shard {partition}")))
    }

    /// Locks the shard and makes sure it has a coordinator, rebuilding it from its partition
    /// when it has none. The replay runs without the shard's lock, so the lock only ever covers
    /// in-memory work and one append; operations arriving meanwhile answer
    /// COORDINATOR_LOAD_IN_PROGRESS (retriable), as Kafka's coordinator does while it loads.
    /// Blocking: called on the blocking pool.
    fn loaded<'a>(
        &self,
        broker: &Broker,
        shard_lock: &'a Mutex<Shard>,
        now: i64,
    ) -> Result<MutexGuard<'a, Shard>, BrokerError> {
        let mut shard = lock(shard_lock);
        // In a replicated cluster only the partition's leader coordinates its groups; a
        // coordinator that lost leadership drops its state (the new leader replays the log).
        let Some(epoch) = offsets_leader_epoch(broker, shard.partition) else {
            if shard.coordinator.take().is_some() {
                tracing::info!(
                    partition = shard.partition,
                    "no longer the group coordinator"
                );
                shard.waiters.clear();
            }
            return Err(BrokerError::NotCoordinator(format!(
                "this broker does not lead {OFFSETS_TOPIC}-{}",
                shard.partition
            )));
        };
        if shard.coordinator.is_some() && shard.epoch != epoch {
            // Led at another epoch in between: what was loaded then may lack what another
            // leader appended since. Rebuilt from the log.
            tracing::info!(
                partition = shard.partition,
                loaded_at = shard.epoch,
                epoch,
                "group coordinator's leader epoch moved; reloading"
            );
            shard.coordinator = None;
            shard.waiters.clear();
        }
        if shard.coordinator.is_some() {
            return Ok(shard);
        }
        let partition = shard.partition;
        if shard.loading {
            return Err(BrokerError::CoordinatorLoadInProgress { partition });
        }
        shard.loading = true;
        shard.epoch = epoch;
        shard.loads += 1;
        let seed = self.seed
            ^ (partition as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ shard.loads.rotate_left(32);
        drop(shard);
        // A panic in the replay must not leave the shard loading forever.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.load(broker, partition, seed, now)
        }))
        .unwrap_or_else(|_| {
            Err(BrokerError::GroupCoordinatorNotAvailable {
                partition,
                reason: "replaying the log panicked".into(),
            })
        });
        let mut shard = lock(shard_lock);
        shard.loading = false;
        shard.coordinator = Some(built?);
        self.deadlines_changed.notify_one();
        Ok(shard)
    }

    /// Builds a coordinator from `__consumer_offsets-partition`: the replay, then the records
    /// loading itself writes (expired offsets, members gone while the broker was down).
    fn load(
        &self,
        broker: &Broker,
        partition: i32,
        seed: u64,
        now: i64,
    ) -> Result<GroupCoordinator, BrokerError> {
        let unavailable =
            |reason: String| BrokerError::GroupCoordinatorNotAvailable { partition, reason };
        let log = broker
            .replicas
            .get(OFFSETS_TOPIC, partition)
            .ok_or_else(|| unavailable("the partition is not hosted here".into()))?;
        let mut coordinator = GroupCoordinator::new(self.config.clone(), seed, now);
        let started = std::time::Instant::now();
        let stats = consumer_offsets::replay(&log, &mut coordinator)
            .map_err(|e| unavailable(format!("replaying the log: {e}")))?;
        let effects = coordinator.finish_loading(now);
        if !effects.records.is_empty() {
            consumer_offsets::append(&log, &effects.records, now, None)
                .map_err(|e| unavailable(format!("appending after loading: {e}")))?;
        }
        if stats.records > 0 {
            tracing::info!(
                partition,
                records = stats.records,
                skipped = stats.skipped,
                groups = coordinator.group_count(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded group coordinator"
            );
        }
        Ok(coordinator)
    }

    /// Runs one operation on the shard of `partition`: the coordinator call, the append of its
    /// records, then the delivery of its completions, all under the shard's lock. Blocking (the
    /// append may fsync, a load replays the partition): run by
    /// [`GroupCoordinatorService::call_partition`] on the blocking pool.
    fn execute<R>(
        &self,
        broker: &Broker,
        partition: i32,
        op: impl FnOnce(&mut GroupCoordinator, i64) -> Step<R>,
    ) -> Result<R, BrokerError> {
        let now = broker.group_now_ms();
        let mut shard = self.loaded(broker, self.shard(partition)?, now)?;
        let coordinator = shard.coordinator.as_mut().expect("loaded above");
        let deadline_before = coordinator.next_deadline();
        let step = op(coordinator, now);
        let deadline_after = coordinator.next_deadline();
        if let Some((ticket, waiter)) = step.parked {
            shard.waiters.insert(ticket, waiter);
        }
        self.apply(broker, &mut shard, step.effects, now)?;
        if deadline_after != deadline_before {
            self.deadlines_changed.notify_one();
        }
        Ok(step.response)
    }

    /// Appends the effects' records, then answers the completed parked requests: at once on a
    /// single node, and in a replicated cluster once the records reach the ISR (a task waits
    /// for the high watermark, as [`GroupCoordinatorService::call`] does for the caller's own
    /// answer), so no member learns a generation or an assignment a failover could undo. On a
    /// failed append the shard is dropped (to be rebuilt from the log) with every parked
    /// request.
    fn apply(
        &self,
        broker: &Broker,
        shard: &mut Shard,
        effects: Effects,
        now: i64,
    ) -> Result<(), BrokerError> {
        if !effects.records.is_empty() {
            debug_assert!(effects.records.iter().all(|r| coordinator::partition_for(
                &r.group_id,
                self.partition_count()
            ) == shard.partition));
            let appended = broker
                .replicas
                .partition(OFFSETS_TOPIC, shard.partition)
                .and_then(|partition| {
                    consumer_offsets::append(&partition, &effects.records, now, None)
                });
            if let Err(error) = appended {
                tracing::error!(partition = shard.partition, %error, "group coordinator append failed; reloading");
                shard.coordinator = None;
                shard.waiters.clear();
                self.deadlines_changed.notify_one();
                return Err(BrokerError::GroupCoordinatorNotAvailable {
                    partition: shard.partition,
                    reason: error.to_string(),
                });
            }
        }
        let mut answers = Vec::with_capacity(effects.completed.len());
        for completion in effects.completed {
            // A waiter that is gone gave up (bounded wait) or its connection closed.
            match (shard.waiters.remove(&completion.ticket()), completion) {
                (Some(Waiter::Join(sender)), Completion::Join { response, .. }) => {
                    answers.push(Delivery::Join(sender, response));
                }
                (Some(Waiter::Sync(sender)), Completion::Sync { response, .. }) => {
                    answers.push(Delivery::Sync(sender, response));
                }
                (None, _) => {}
                (Some(_), completion) => {
                    unreachable!(
                        "ticket {:?} completed as the other API",
                        completion.ticket()
                    )
                }
            }
        }
        if answers.is_empty() {
            return Ok(());
        }
        let runtime = tokio::runtime::Handle::try_current();
        match (broker.cluster.get(), runtime) {
            (Some(_), Ok(runtime)) => {
                let partition = broker.replicas.partition(OFFSETS_TOPIC, shard.partition)?;
                let written = partition.log_end_offset()?;
                runtime.spawn(async move {
                    let deadline = tokio::time::Instant::now() + REPLICATION_WAIT;
                    match partition
                        .wait_for_high_watermark(written - 1, deadline)
                        .await
                    {
                        Ok(()) => answers.into_iter().for_each(Delivery::send),
                        // The senders drop: the parked handlers answer COORDINATOR_NOT_AVAILABLE
                        // and their members retry.
                        Err(error) => tracing::info!(
                            partition = ?partition.topic_partition,
                            %error,
                            "parked group answers dropped: their records did not reach the ISR"
                        ),
                    }
                });
            }
            _ => answers.into_iter().for_each(Delivery::send),
        }
        Ok(())
    }

    /// Runs `work` on the loaded coordinator of `partition` under its shard's lock, on the
    /// blocking pool; `work` appends to the partition itself (the transaction paths write
    /// transactional batches and markers). When `work` fails the shard is rebuilt from the log,
    /// since what the coordinator holds may not match it. In a cluster, returns once what the
    /// shard wrote reaches the ISR.
    pub(crate) async fn with_loaded<R, F>(
        broker: &Arc<Broker>,
        partition: i32,
        work: F,
    ) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(
                &mut GroupCoordinator,
                &crate::partitions::Partition,
                i64,
            ) -> Result<R, BrokerError>
            + Send
            + 'static,
    {
        let worker = broker.clone();
        let response = crate::blocking::on_blocking_pool("a group coordinator call", move || {
            let groups = &worker.groups;
            let now = worker.group_now_ms();
            let mut shard = groups.loaded(&worker, groups.shard(partition)?, now)?;
            let log = worker.replicas.partition(OFFSETS_TOPIC, partition)?;
            let coordinator = shard.coordinator.as_mut().expect("loaded above");
            let result = work(coordinator, &log, now);
            if result.is_err() {
                shard.coordinator = None;
                shard.waiters.clear();
            }
            result
        })
        .await?;
        if broker.cluster.get().is_some() {
            Self::wait_for_replication(broker, partition).await?;
        }
        Ok(response)
    }

    /// Runs [`GroupCoordinatorService::execute`] on the shard of `group_id` on the blocking pool,
    /// then, in a replicated cluster, waits until what the shard wrote reaches the ISR.
    pub async fn call<R, F>(broker: &Arc<Broker>, group_id: &str, op: F) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut GroupCoordinator, i64) -> Step<R> + Send + 'static,
    {
        let partition = broker.groups.partition_for(group_id)?;
        Self::write(broker, partition, op).await
    }

    /// [`GroupCoordinatorService::call`] for a known shard (DeleteGroups batches by shard).
    pub async fn write<R, F>(broker: &Arc<Broker>, partition: i32, op: F) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut GroupCoordinator, i64) -> Step<R> + Send + 'static,
    {
        let response = Self::call_partition(broker, partition, op).await?;
        if broker.cluster.get().is_some() {
            Self::wait_for_replication(broker, partition).await?;
        }
        Ok(response)
    }

    /// In a replicated cluster a group operation is answered once what the coordinator has
    /// written to its `__consumer_offsets` partition is replicated to the ISR (as Kafka's
    /// coordinator appends with acks=all), so an acknowledged commit survives a failover.
    /// Kafka's mapping: a timeout is COORDINATOR_NOT_AVAILABLE, lost leadership NOT_COORDINATOR.
    async fn wait_for_replication(broker: &Arc<Broker>, partition: i32) -> Result<(), BrokerError> {
        let Some(log) = broker.replicas.get(OFFSETS_TOPIC, partition) else {
            return Ok(());
        };
        let end = log.log_end_offset()?;
        if end == 0 {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + REPLICATION_WAIT;
        match log.wait_for_high_watermark(end - 1, deadline).await {
            Ok(()) => Ok(()),
            Err(BrokerError::NotLeaderOrFollower { .. }) => Err(BrokerError::NotCoordinator(
                format!("leadership of {OFFSETS_TOPIC}-{partition} moved"),
            )),
            Err(error) => Err(BrokerError::GroupCoordinatorNotAvailable {
                partition,
                reason: format!("the write was not replicated in time: {error}"),
            }),
        }
    }

    /// Runs [`GroupCoordinatorService::execute`] on the shard of `partition` on the blocking
    /// pool (the shard's lock, its append and a load never hold a runtime thread), without
    /// waiting for replication: read-only operations and the timer task use it directly.
    pub async fn call_partition<R, F>(
        broker: &Arc<Broker>,
        partition: i32,
        op: F,
    ) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut GroupCoordinator, i64) -> Step<R> + Send + 'static,
    {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || broker.groups.execute(&broker, partition, op))
            .await
            .map_err(|e| BrokerError::GroupCoordinatorNotAvailable {
                partition,
                reason: format!("the operation failed: {e}"),
            })?
    }

    /// A read-only operation on the shard of `group_id` (describe, offset fetch): on the
    /// blocking pool. In a replicated cluster the answer waits, like a write's, until what the
    /// shard had written when it was read reaches the ISR: the in-memory state runs ahead of
    /// the replicated log (a commit is applied, then appended, then replicated), and an offset
    /// served before its commit is replicated could be lost by a failover and go back (found
    /// by the fault harness, compat/faults/repro_dirty_offset_fetch.py). Kafka serves reads at
    /// the last committed offset; here they wait for it, and a coordinator cut off from its
    /// followers answers COORDINATOR_NOT_AVAILABLE instead of a state it may lose.
    pub async fn read<R, F>(broker: &Arc<Broker>, group_id: &str, op: F) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&GroupCoordinator) -> R + Send + 'static,
    {
        let partition = broker.groups.partition_for(group_id)?;
        let answer = Self::call_partition(broker, partition, move |coordinator, _now| {
            Step::answer(op(coordinator))
        })
        .await?;
        if broker.cluster.get().is_some() {
            // The log end now is at or past the one at the read: waiting for it covers every
            // record the answer reflects.
            Self::wait_for_replication(broker, partition).await?;
        }
        Ok(answer)
    }

    /// Waits for a parked request's answer, at most `bound_ms` and never past the start of a
    /// shutdown. A dropped sender means the shard failed.
    pub async fn wait<R>(
        broker: &Arc<Broker>,
        group_id: &str,
        answer: Answer<R>,
        bound_ms: u64,
    ) -> Result<R, BrokerError> {
        let (ticket, receiver) = match answer {
            Answer::Ready(response) => return Ok(response),
            Answer::Parked { ticket, receiver } => (ticket, receiver),
        };
        let result = tokio::select! {
            received = tokio::time::timeout(Duration::from_millis(bound_ms), receiver) => match received {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(_)) => Err(BrokerError::GroupCoordinatorNotAvailable {
                    partition: broker.groups.partition_for(group_id).unwrap_or(-1),
                    reason: "the coordinator was reloaded while the request waited".into(),
                }),
                Err(_) => {
                    tracing::warn!(group_id, bound_ms, "parked group request was not answered in time");
                    Err(BrokerError::RebalanceTimedOut { waited_ms: bound_ms })
                }
            },
            _ = broker.shutdown_begun() => Err(BrokerError::NotCoordinator("the broker is shutting down".into())),
        };
        broker.groups.forget(group_id, ticket);
        result
    }

    /// Drops the waiter of a ticket whose handler stopped waiting.
    fn forget(&self, group_id: &str, ticket: Ticket) {
        if let Ok(shard) = self
            .partition_for(group_id)
            .and_then(|partition| self.shard(partition))
        {
            lock(shard).waiters.remove(&ticket);
        }
    }

    /// The earliest deadline of any shard; a shard waiting to be rebuilt retries soon.
    fn next_deadline(&self, now: i64) -> Option<i64> {
        let shards = self.shards.get()?;
        shards
            .iter()
            .filter_map(|shard| match &lock(shard).coordinator {
                Some(coordinator) => coordinator.next_deadline(),
                None => Some(now + RELOAD_RETRY_MS),
            })
            .min()
    }

    /// The timer task: sleeps until the earliest deadline of any shard (or until an operation
    /// moves one), then polls every shard whose deadline passed, appending and answering as a
    /// request would. Ends when the broker's shutdown begins.
    pub async fn run_timers(broker: Arc<Broker>) {
        loop {
            // Created before reading the deadlines so no change is missed.
            let changed = broker.groups.deadlines_changed.notified();
            let now = broker.group_now_ms();
            let sleep_ms = broker
                .groups
                .next_deadline(now)
                .map_or(TIMER_SLEEP_MS_MAX, |deadline| deadline - now)
                .clamp(0, TIMER_SLEEP_MS_MAX);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
                _ = changed => continue,
                _ = broker.shutdown_begun() => return,
            }
            let now = broker.group_now_ms();
            for partition in 0..broker.groups.partition_count() {
                let due = broker.groups.shard(partition).is_ok_and(|shard| {
                    let shard = lock(shard);
                    match &shard.coordinator {
                        Some(coordinator) => coordinator.next_deadline().is_some_and(|d| d <= now),
                        None => !shard.loading && leads_offsets_partition(&broker, partition),
                    }
                });
                if !due {
                    continue;
                }
                let polled = Self::call_partition(&broker, partition, |coordinator, now| Step {
                    response: (),
                    effects: coordinator.poll(now),
                    parked: None,
                })
                .await;
                if let Err(error) = polled {
                    tracing::warn!(partition, %error, "group coordinator timers");
                }
            }
        }
    }
}

/// Whether this broker leads `__consumer_offsets-partition` (always on a single node).
pub fn leads_offsets_partition(broker: &Broker, partition: i32) -> bool {
    offsets_leader_epoch(broker, partition).is_some()
}

/// This broker's leader epoch of `__consumer_offsets-partition` when it leads (and serves) it.
fn offsets_leader_epoch(broker: &Broker, partition: i32) -> Option<i32> {
    broker
        .replicas
        .get(OFFSETS_TOPIC, partition)
        .and_then(|p| p.check_serving_leader().ok())
}

/// How long a group operation waits for its write to reach the ISR.
const REPLICATION_WAIT: Duration = Duration::from_secs(5);

/// A parked request's answer on its way back to the handler.
enum Delivery {
    Join(oneshot::Sender<JoinGroupResponse>, JoinGroupResponse),
    Sync(oneshot::Sender<SyncGroupResponse>, SyncGroupResponse),
}

impl Delivery {
    fn send(self) {
        // A receiver that is gone gave up waiting (bounded) or its connection closed.
        let _ = match self {
            Delivery::Join(sender, response) => sender.send(response).map_err(drop),
            Delivery::Sync(sender, response) => sender.send(response).map_err(drop),
        };
    }
}

/// Locks a shard. A poisoned lock means a coordinator call panicked midway: its state is not
/// trusted, so the shard is rebuilt from the log and its parked requests are answered.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    match shard.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            shard.clear_poison();
            let mut guard = poisoned.into_inner();
            guard.coordinator = None;
            guard.waiters.clear();
            guard
        }
    }
}
