//! The transaction coordinator service: the broker's side of the sans-I/O
//! `coordinator::TransactionCoordinator`. One shard per `__transaction_state` partition, each
//! behind its own mutex; creating the topic on first use (as Kafka does on the first
//! FindCoordinator for a transactional id); loading a shard from its partition when this broker
//! leads it (its leader epoch is the coordinator epoch); running an operation as "call the
//! coordinator, append its record, wait until the ISR has it, then answer"; starting the
//! marker jobs its answers ask for (`txn_markers.rs`); and the timer task that loads shards
//! after a failover, drops shards whose leadership moved, aborts timed-out transactions and
//! removes expired transactional ids.
//!
//! Ordering: an operation holds its shard's lock from the coordinator call through the append
//! of its record, so the log holds records in the order the state changed. The lock is a
//! `std::sync::Mutex` taken only on the blocking pool, never across an `.await`; a replay runs
//! outside it (operations meanwhile answer COORDINATOR_LOAD_IN_PROGRESS).
//!
//! Failure: if an append fails, or (in a cluster) the record does not reach the ISR in time,
//! the shard's coordinator is dropped and rebuilt from the log by the next operation or the
//! timer task, as Kafka's coordinator reverts to the last written state. A panic inside the
//! coordinator poisons the lock; the shard is rebuilt the same way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use coordinator::txn::{
    MarkerJob, TRANSACTION_STATE_TOPIC, TransactionCoordinator, TxnConfig, TxnEffects,
};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::internal_log::{self, ReplayItem};

/// How long an operation waits for its record to reach the ISR.
const REPLICATION_WAIT: Duration = Duration::from_secs(5);
/// How often the timer task looks for shards to load or drop.
const LEADERSHIP_CHECK: Duration = Duration::from_secs(1);

/// One `__transaction_state` partition's coordinator.
struct Shard {
    partition: i32,
    /// `None` until loaded, and after a failure until rebuilt from the log.
    coordinator: Option<TransactionCoordinator>,
    /// A replay is running outside this lock.
    loading: bool,
}

/// What one operation on a shard produced besides its answer.
struct Executed<R> {
    response: R,
    /// Marker jobs to start (the operation's, or those a load found unfinished).
    jobs: Vec<MarkerJob>,
    /// Whether a record was appended (to wait for in a cluster).
    wrote: bool,
}

/// Every shard, the coordinator settings and the topic's creation settings.
pub struct TxnCoordinatorService {
    config: TxnConfig,
    partitions: i32,
    min_isr: i32,
    segment_bytes: String,
    replication_factor: i16,
    abort_interval_ms: u64,
    shards: OnceLock<Box<[Mutex<Shard>]>>,
    /// Serialises the topic's creation.
    starting: tokio::sync::Mutex<()>,
}

impl TxnCoordinatorService {
    pub fn new(config: &BrokerConfig) -> Self {
        let number = |key: &str, default: i64| {
            config
                .value(key)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(default)
        };
        let clamp_i32 = |v: i64| v.clamp(1, i64::from(i32::MAX)) as i32;
        TxnCoordinatorService {
            config: TxnConfig {
                transaction_max_timeout_ms: clamp_i32(number(
                    "transaction.max.timeout.ms",
                    900_000,
                )),
                transactional_id_expiration_ms: number(
                    "transactional.id.expiration.ms",
                    604_800_000,
                )
                .max(1),
            },
            partitions: clamp_i32(number("transaction.state.log.num.partitions", 50)),
            min_isr: clamp_i32(number("transaction.state.log.min.isr", 2)),
            segment_bytes: number("transaction.state.log.segment.bytes", 104_857_600).to_string(),
            // A single node hosts the one replica of each partition.
            replication_factor: if config.is_clustered() {
                number("transaction.state.log.replication.factor", 3).clamp(1, 16) as i16
            } else {
                1
            },
            abort_interval_ms: number(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                10_000,
            )
            .max(1) as u64,
            shards: OnceLock::new(),
            starting: tokio::sync::Mutex::new(()),
        }
    }

    /// Partitions of `__transaction_state` (0 before it exists here).
    pub fn partition_count(&self) -> i32 {
        self.shards.get().map_or(0, |s| s.len() as i32)
    }

    /// Creates `__transaction_state` unless it exists, opens this node's logs of it and makes
    /// the shards (unloaded). Returns the partition count. In a cluster with fewer brokers
    /// than the replication factor the creation fails: COORDINATOR_NOT_AVAILABLE, retriable.
    pub async fn ensure_started(broker: &Arc<Broker>) -> Result<i32, BrokerError> {
        let service = &broker.transactions;
        if let Some(shards) = service.shards.get() {
            return Ok(shards.len() as i32);
        }
        let _starting = service.starting.lock().await;
        if let Some(shards) = service.shards.get() {
            return Ok(shards.len() as i32);
        }
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "uncompressed".to_string()),
            (
                "min.insync.replicas".to_string(),
                service
                    .min_isr
                    .min(i32::from(service.replication_factor))
                    .to_string(),
            ),
            ("segment.bytes".to_string(), service.segment_bytes.clone()),
        ]);
        let topic = internal_log::ensure_topic(
            broker,
            TRANSACTION_STATE_TOPIC,
            service.partitions,
            service.replication_factor,
            configs,
        )
        .await
        .map_err(|error| {
            BrokerError::CoordinatorNotAvailable(format!(
                "creating {TRANSACTION_STATE_TOPIC}: {error}"
            ))
        })?;
        let shards: Box<[Mutex<Shard>]> = (0..topic.partitions)
            .map(|partition| {
                Mutex::new(Shard {
                    partition,
                    coordinator: None,
                    loading: false,
                })
            })
            .collect();
        let _ = service.shards.set(shards);
        Ok(topic.partitions)
    }

    /// The `__transaction_state` partition of `transactional_id` (Kafka's
    /// `abs(hashCode) % partitions`, as for groups).
    pub async fn partition_for(
        broker: &Arc<Broker>,
        transactional_id: &str,
    ) -> Result<i32, BrokerError> {
        let count = Self::ensure_started(broker).await?;
        Ok(coordinator::partition_for(transactional_id, count))
    }

    fn shard(&self, partition: i32) -> Result<&Mutex<Shard>, BrokerError> {
        self.shards
            .get()
            .and_then(|shards| shards.get(usize::try_from(partition).ok()?))
            .ok_or_else(|| BrokerError::NotCoordinator(format!("no shard {partition}")))
    }

    /// Locks the shard and makes sure it has a coordinator, replaying its partition (outside
    /// the lock) when it has none. Returns the marker jobs a fresh load found unfinished.
    /// Blocking: called on the blocking pool.
    fn loaded<'a>(
        &self,
        broker: &Broker,
        shard_lock: &'a Mutex<Shard>,
    ) -> Result<(MutexGuard<'a, Shard>, Vec<MarkerJob>), BrokerError> {
        let mut shard = lock(shard_lock);
        let partition = shard.partition;
        let Some(epoch) = leader_epoch(broker, partition) else {
            if shard.coordinator.take().is_some() {
                tracing::info!(partition, "no longer the transaction coordinator");
            }
            return Err(BrokerError::NotCoordinator(format!(
                "this broker does not lead {TRANSACTION_STATE_TOPIC}-{partition}"
            )));
        };
        match &shard.coordinator {
            Some(coordinator) if coordinator.coordinator_epoch() == epoch => {
                return Ok((shard, Vec::new()));
            }
            // Leadership moved away and back: what this broker held may be stale.
            Some(_) => shard.coordinator = None,
            None => {}
        }
        if shard.loading {
            return Err(BrokerError::CoordinatorLoadInProgress { partition });
        }
        shard.loading = true;
        drop(shard);
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.load(broker, partition, epoch)
        }))
        .unwrap_or_else(|_| {
            Err(BrokerError::CoordinatorNotAvailable(format!(
                "replaying {TRANSACTION_STATE_TOPIC}-{partition} panicked"
            )))
        });
        let mut shard = lock(shard_lock);
        shard.loading = false;
        let mut coordinator = built?;
        let jobs = coordinator.finish_loading();
        shard.coordinator = Some(coordinator);
        Ok((shard, jobs))
    }

    /// Builds a coordinator from `__transaction_state-partition` at coordinator `epoch`.
    fn load(
        &self,
        broker: &Broker,
        partition: i32,
        epoch: i32,
    ) -> Result<TransactionCoordinator, BrokerError> {
        let log = broker
            .replicas
            .partition(TRANSACTION_STATE_TOPIC, partition)?;
        let mut coordinator = TransactionCoordinator::new(self.config.clone(), epoch);
        let started = std::time::Instant::now();
        let stats = internal_log::replay(&log, |item| match item {
            ReplayItem::Record {
                key, value, offset, ..
            } => match coordinator.replay(key, value) {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(partition, offset, %error, "skipping a {TRANSACTION_STATE_TOPIC} record");
                    false
                }
            },
            ReplayItem::Control { .. } => true,
        })?;
        tracing::info!(
            partition,
            epoch,
            records = stats.records,
            skipped = stats.skipped,
            transactional_ids = coordinator.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded transaction coordinator"
        );
        Ok(coordinator)
    }

    /// Runs one operation on the shard of `partition`: the coordinator call and the append of
    /// its records (one batch), under the shard's lock. Blocking.
    fn execute<R>(
        &self,
        broker: &Broker,
        partition: i32,
        op: impl FnOnce(&mut TransactionCoordinator, i64) -> (R, Vec<TxnEffects>),
    ) -> Result<Executed<R>, BrokerError> {
        let (mut shard, mut jobs) = self.loaded(broker, self.shard(partition)?)?;
        let now = broker.now_ms();
        let coordinator = shard.coordinator.as_mut().expect("loaded above");
        let (response, effects) = op(coordinator, now);
        let mut records = Vec::new();
        for effect in effects {
            records.extend(effect.record.map(|r| (r.key, r.value)));
            jobs.extend(effect.markers);
        }
        let wrote = !records.is_empty();
        if wrote {
            let appended = broker
                .replicas
                .partition(TRANSACTION_STATE_TOPIC, partition)
                .and_then(|log| internal_log::append(&log, records.into_iter(), now, None));
            if let Err(error) = appended {
                tracing::warn!(partition, %error, "transaction coordinator append failed; reloading");
                shard.coordinator = None;
                return Err(BrokerError::CoordinatorNotAvailable(format!(
                    "writing {TRANSACTION_STATE_TOPIC}-{partition}: {error}"
                )));
            }
        }
        Ok(Executed {
            response,
            jobs,
            wrote,
        })
    }

    /// Runs an operation on the shard of `partition` on the blocking pool, waits (in a
    /// cluster) until its record reaches the ISR, starts the marker jobs it asked for, and
    /// returns its answer.
    pub async fn call_partition<R, F>(
        broker: &Arc<Broker>,
        partition: i32,
        op: F,
    ) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut TransactionCoordinator, i64) -> (R, Vec<TxnEffects>) + Send + 'static,
    {
        Self::ensure_started(broker).await?;
        let worker = broker.clone();
        let executed =
            crate::blocking::on_blocking_pool("a transaction coordinator call", move || {
                worker.transactions.execute(&worker, partition, op)
            })
            .await?;
        if executed.wrote
            && broker.cluster.get().is_some()
            && let Err(error) = Self::wait_for_replication(broker, partition).await
        {
            // The state moved on in memory but not in the ISR: rebuild it from the log.
            if let Ok(shard) = broker.transactions.shard(partition) {
                lock(shard).coordinator = None;
            }
            return Err(error);
        }
        for job in executed.jobs {
            crate::txn_markers::spawn(broker.clone(), partition, job);
        }
        Ok(executed.response)
    }

    /// [`TxnCoordinatorService::call_partition`] on the shard of `transactional_id`, for an
    /// operation with at most one effect.
    pub async fn call<R, F>(
        broker: &Arc<Broker>,
        transactional_id: &str,
        op: F,
    ) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&mut TransactionCoordinator, i64) -> (R, TxnEffects) + Send + 'static,
    {
        let partition = Self::partition_for(broker, transactional_id).await?;
        Self::call_partition(broker, partition, move |coordinator, now| {
            let (response, effects) = op(coordinator, now);
            (response, vec![effects])
        })
        .await
    }

    /// A read-only operation on the shard of `partition`.
    pub async fn read_partition<R, F>(
        broker: &Arc<Broker>,
        partition: i32,
        op: F,
    ) -> Result<R, BrokerError>
    where
        R: Send + 'static,
        F: FnOnce(&TransactionCoordinator, i64) -> R + Send + 'static,
    {
        Self::call_partition(broker, partition, move |coordinator, now| {
            (op(coordinator, now), Vec::new())
        })
        .await
    }

    /// Every marker of `job` is written: the transaction completes.
    pub async fn markers_written(
        broker: &Arc<Broker>,
        partition: i32,
        job: MarkerJob,
    ) -> Result<(), BrokerError> {
        Self::call_partition(broker, partition, move |coordinator, now| {
            ((), vec![coordinator.markers_written(&job, now)])
        })
        .await
    }

    /// Waits until what the shard wrote is replicated to the ISR; a timeout is
    /// COORDINATOR_NOT_AVAILABLE, lost leadership NOT_COORDINATOR (Kafka's mapping).
    async fn wait_for_replication(broker: &Arc<Broker>, partition: i32) -> Result<(), BrokerError> {
        let log = broker
            .replicas
            .partition(TRANSACTION_STATE_TOPIC, partition)?;
        let end = log.log_end_offset()?;
        let deadline = tokio::time::Instant::now() + REPLICATION_WAIT;
        match log.wait_for_high_watermark(end - 1, deadline).await {
            Ok(()) => Ok(()),
            Err(BrokerError::NotLeaderOrFollower { .. }) => Err(BrokerError::NotCoordinator(
                format!("leadership of {TRANSACTION_STATE_TOPIC}-{partition} moved"),
            )),
            Err(error) => Err(BrokerError::CoordinatorNotAvailable(format!(
                "the write to {TRANSACTION_STATE_TOPIC}-{partition} was not replicated in time: {error}"
            ))),
        }
    }

    /// Partitions whose shard this broker leads and has loaded (ListTransactions).
    pub fn loaded_partitions(&self) -> Vec<i32> {
        self.shards.get().map_or_else(Vec::new, |shards| {
            shards
                .iter()
                .filter_map(|shard| {
                    let shard = lock(shard);
                    shard.coordinator.as_ref().map(|_| shard.partition)
                })
                .collect()
        })
    }

    /// The timer task: every second, makes the shards once the topic exists (another broker
    /// may have created it), loads the shards this broker leads (resuming their unfinished
    /// marker jobs) and drops those it no longer leads; every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`, aborts timed-out
    /// transactions and removes expired ids. Ends when the broker's shutdown begins.
    pub async fn run_timers(broker: Arc<Broker>) {
        let mut last_expiry = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(LEADERSHIP_CHECK) => {}
                _ = broker.shutdown_begun() => return,
            }
            let service = &broker.transactions;
            if service.shards.get().is_none() {
                if broker.metadata.topic(TRANSACTION_STATE_TOPIC).is_none() {
                    continue;
                }
                if let Err(error) = Self::ensure_started(&broker).await {
                    tracing::debug!(%error, "transaction coordinator not started yet");
                    continue;
                }
            }
            let expire = last_expiry.elapsed() >= Duration::from_millis(service.abort_interval_ms);
            if expire {
                last_expiry = tokio::time::Instant::now();
            }
            for partition in 0..service.partition_count() {
                let leads = leader_epoch(&broker, partition).is_some();
                let needs_call = match service.shard(partition) {
                    Ok(shard) => {
                        let mut shard = lock(shard);
                        if !leads {
                            shard.coordinator = None;
                            false
                        } else {
                            !shard.loading && (shard.coordinator.is_none() || expire)
                        }
                    }
                    Err(_) => false,
                };
                if !needs_call {
                    continue;
                }
                let result = Self::call_partition(&broker, partition, move |coordinator, now| {
                    let effects = if expire {
                        coordinator.expire(now)
                    } else {
                        Vec::new()
                    };
                    ((), effects)
                })
                .await;
                if let Err(error) = result {
                    tracing::debug!(partition, %error, "transaction coordinator timers");
                }
            }
        }
    }
}

/// This broker's leader epoch of `__transaction_state-partition` when it leads it.
pub fn leader_epoch(broker: &Broker, partition: i32) -> Option<i32> {
    broker
        .replicas
        .get(TRANSACTION_STATE_TOPIC, partition)
        .and_then(|p| p.check_serving_leader().ok())
}

/// Locks a shard. A poisoned lock means a coordinator call panicked midway: its state is not
/// trusted, so the shard is rebuilt from the log.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    match shard.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            shard.clear_poison();
            let mut guard = poisoned.into_inner();
            guard.coordinator = None;
            guard
        }
    }
}
