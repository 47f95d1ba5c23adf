//! Fetch (v4-17): reads record batches for consumers, waiting up to `max_wait_ms` for
//! `min_bytes` (long polling woken by appends, never by polling), within `max_bytes` per response
//! and `partition_max_bytes` per partition, through fetch sessions (KIP-227, `fetch_session.rs`).
//!
//! - Records are whole batches, sent from the log file with `sendfile` (`Records::File`). A
//!   fetch at an offset inside a batch returns that whole batch (storage reads from the batch
//!   containing the offset); clients skip the records before their offset.
//! - KIP-74: the first batch of the first partition with data is returned even when it is
//!   larger than `partition_max_bytes` or `max_bytes`, so a consumer never gets stuck.
//! - KIP-392: with `replica.selector.class` rack-aware, a leader answers a consumer (v11+) that
//!   names its `rack_id` with a preferred read replica and no records when an in-sync follower
//!   in that rack holds the offset (`replica_selector.rs`), and followers serve consumers (v11+,
//!   up to their own high watermark, at the leader epoch they follow). Without a selector only
//!   leaders serve consumers, unlike Kafka (whose followers serve any v11+ consumer): no client
//!   is sent to a follower then, and one that gets there by stale metadata is better told to
//!   refresh it.
//! - Consumers read only below the high watermark. An offset outside
//!   `[log start offset, log end offset]` gets OFFSET_OUT_OF_RANGE.
//! - `read_committed` (isolation level 1) reads below the last stable offset (the first offset
//!   of the earliest open transaction, at most the high watermark) and gets the aborted
//!   transactions overlapping the returned range, whose batches the consumer drops;
//!   `aborted_transactions` is null for `read_uncommitted`, as Kafka sends it.
//! - Replica fetches (`replica_id` >= 0, or `replica_state` from v15) come from followers: in a
//!   replicated cluster `replica_fetch.rs` answers them; a single node has none: each partition is answered as Kafka answers a broker that is not
//!   one of its replicas (`Partition.followerReplicaOrThrow`): UNKNOWN_LEADER_EPOCH when the
//!   request names a leader epoch, NOT_LEADER_OR_FOLLOWER when not.
//! - Authorization: a consumer needs READ on each topic (TOPIC_AUTHORIZATION_FAILED on its
//!   partitions), a follower CLUSTER_ACTION on the cluster (else every partition gets
//!   TOPIC_AUTHORIZATION_FAILED, as Kafka answers).
//! - Quotas: a consumer's `consumer_byte_rate` caps `max_bytes` and `min_bytes` to what the
//!   quota window allows; a fetch that puts the client over its bound is answered empty with
//!   `throttle_time_ms`, its bytes not counted, and the connection muted that long (KIP-219).
//!   Follower fetches are not bound by client quotas.
//! - Versions 0-3 (message formats v0/v1, no log start offset) are not served; every client
//!   that speaks record batch v2 fetches with v4 or later.
//! - `max_wait_ms` is capped at [`FETCH_WAIT_MS_MAX`]; answering earlier with less than
//!   `min_bytes` is always allowed (clients simply fetch again), and a waiting fetch answers at
//!   once when the broker shuts down.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::codec::Records;
use protocol::generated::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use protocol::generated::{FetchRequest, FetchResponse};
use security::acl::AclOperation;
use tokio::time::Instant;

use super::RequestContext;
use super::long_poll::AppendWait;
use crate::broker::Broker;
use crate::client_quotas::QuotaKind;
use crate::error::BrokerError;
use crate::fetch_session::{
    FetchContext, FetchPosition, PartitionSummary, SessionPartitionKey, TopicKey,
};
use crate::partitions::Partition;
use crate::replica_selector::{Candidate, select};

/// Longest a fetch waits for `min_bytes`, whatever `max_wait_ms` asks.
pub const FETCH_WAIT_MS_MAX: i64 = 60_000;
/// Kafka's `IsolationLevel.READ_COMMITTED`.
const READ_COMMITTED: i8 = 1;

/// What a fetch asks of the whole response.
struct Limits {
    max_wait_ms: i64,
    min_bytes: usize,
    max_bytes: u64,
    read_committed: bool,
    /// Fetch v11+ (KIP-392): a follower may serve it.
    from_followers: bool,
    /// The client's rack and the brokers' racks, where the leader may name a preferred read
    /// replica (`replica.selector.class` is rack-aware and the client named a rack).
    rack_choice: Option<RackChoice>,
}

/// What a rack-aware leader needs to pick a consumer's preferred read replica: the client's
/// rack, its own, and the image the brokers' racks are registered in.
struct RackChoice {
    client_rack: String,
    leader_rack: Option<String>,
    image: Arc<controller::MetadataImage>,
}

impl RackChoice {
    /// The follower to send the consumer to, if this replica leads and one in the client's rack
    /// is in sync and holds `offset` ([`crate::replica_selector::select`]).
    fn preferred(&self, partition: &Partition, offset: i64) -> Option<i32> {
        let followers: Vec<Candidate> = partition
            .in_sync_followers_holding(offset)
            .into_iter()
            .map(|(broker_id, log_end_offset)| Candidate {
                broker_id,
                rack: self
                    .image
                    .brokers
                    .get(&broker_id)
                    .and_then(|b| b.rack.clone()),
                log_end_offset,
            })
            .collect();
        select(&self.client_rack, self.leader_rack.as_deref(), &followers)
    }
}

/// How the response relates to a fetch session.
enum SessionMode {
    /// Full response; with `create`, a new session caches it.
    Full {
        create: bool,
    },
    Incremental {
        session_id: i32,
    },
}

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: FetchRequest,
) -> FetchResponse {
    let version = context.api_version;
    let uses_topic_ids = version >= 13;
    let replica_id = if version >= 15 {
        request.replica_state.replica_id
    } else {
        request.replica_id
    };
    let requested: Vec<FetchPosition> = request
        .topics
        .iter()
        .flat_map(|topic| {
            let topic_key = if uses_topic_ids {
                TopicKey::Id(topic.topic_id)
            } else {
                TopicKey::Name(topic.topic.clone())
            };
            topic.partitions.iter().map(move |p| FetchPosition {
                key: SessionPartitionKey {
                    topic: topic_key.clone(),
                    partition: p.partition,
                },
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
            })
        })
        .collect();
    // A follower's fetch needs CLUSTER_ACTION; without it every partition is
    // TOPIC_AUTHORIZATION_FAILED, as Kafka answers.
    if replica_id >= 0 && !broker.allows_cluster(context, AclOperation::ClusterAction) {
        let denied = BrokerError::NotAuthorized(ErrorCode::TopicAuthorizationFailed);
        let answered = requested
            .into_iter()
            .map(|position| {
                let data = error_data(position.key.partition, &denied);
                (position, data)
            })
            .collect();
        return response(0, answered);
    }
    if replica_id >= 0 && broker.config.is_clustered() {
        return super::replica_fetch::handle(broker, version, replica_id, request).await;
    }
    if replica_id >= 0 {
        let answered = requested
            .into_iter()
            .map(|position| {
                let error = match resolve(broker, &position.key) {
                    Ok(_) => BrokerError::UnknownReplica {
                        replica_id,
                        leader_epoch_given: position.current_leader_epoch >= 0,
                    },
                    Err(error) => error,
                };
                let data = error_data(position.key.partition, &error);
                (position, data)
            })
            .collect();
        return response(0, answered);
    }
    let forgotten: Vec<SessionPartitionKey> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|topic| {
            let topic_key = if uses_topic_ids {
                TopicKey::Id(topic.topic_id)
            } else {
                TopicKey::Name(topic.topic.clone())
            };
            topic
                .partitions
                .iter()
                .map(move |&partition| SessionPartitionKey {
                    topic: topic_key.clone(),
                    partition,
                })
        })
        .collect();
    let (positions, mode) = match broker.fetch_sessions.new_context(
        request.session_id,
        request.session_epoch,
        uses_topic_ids,
        requested,
        forgotten,
    ) {
        FetchContext::Error(error) => return session_error(&error),
        FetchContext::Full { positions, create } => (positions, SessionMode::Full { create }),
        FetchContext::Incremental {
            session_id,
            positions,
        } => (positions, SessionMode::Incremental { session_id }),
    };
    // A consumer quota caps what one fetch may return (Kafka's `maxValueInQuotaWindow`).
    let quota_bytes_max = broker
        .client_quotas
        .fetch_bytes_max(&broker.metadata, context)
        .unwrap_or(u64::MAX);
    let max_bytes = u64::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(quota_bytes_max);
    let limits = Limits {
        max_wait_ms: i64::from(request.max_wait_ms).clamp(0, FETCH_WAIT_MS_MAX),
        min_bytes: usize::try_from(request.min_bytes)
            .unwrap_or(0)
            .min(usize::try_from(max_bytes).unwrap_or(usize::MAX)),
        max_bytes,
        read_committed: request.isolation_level == READ_COMMITTED,
        // Only where a selector can send consumers to followers: without one a consumer at a
        // follower has stale metadata and is told to refresh it (NOT_LEADER_OR_FOLLOWER).
        from_followers: version >= 11
            && broker.config.is_clustered()
            && broker.config.rack_aware_reads,
        rack_choice: rack_choice(broker, version, &request.rack_id),
    };
    let unreadable = unreadable_topics(broker, context, &positions);
    let answered = read_waiting(broker, positions, &limits, &unreadable).await;
    let fetched: usize = answered.iter().map(|(_, data)| records_bytes(data)).sum();
    let throttle_ms =
        broker
            .client_quotas
            .record(&broker.metadata, QuotaKind::Fetch, context, fetched);
    if throttle_ms > 0 {
        // Over the consumer quota: nothing is sent (and nothing counted); the client comes back
        // after the throttle for the same offsets (Kafka's `getThrottledResponse`).
        broker
            .client_quotas
            .unrecord(&broker.metadata, QuotaKind::Fetch, context, fetched);
        context.throttle(throttle_ms);
        let session_id = match mode {
            SessionMode::Incremental { session_id } => session_id,
            SessionMode::Full { .. } => 0,
        };
        let mut empty = response(session_id, Vec::new());
        empty.throttle_time_ms = i32::try_from(throttle_ms).unwrap_or(i32::MAX);
        return empty;
    }
    let summaries: Vec<(FetchPosition, PartitionSummary)> = answered
        .iter()
        .map(|(position, data)| (position.clone(), summary(data)))
        .collect();
    match mode {
        SessionMode::Full { create: false } => response(0, answered),
        SessionMode::Full { create: true } => {
            let session_id = broker
                .fetch_sessions
                .create_session(uses_topic_ids, &summaries);
            response(session_id, answered)
        }
        SessionMode::Incremental { session_id } => {
            match broker.fetch_sessions.select_changed(session_id, &summaries) {
                Some(selected) => {
                    let changed = answered
                        .into_iter()
                        .zip(selected)
                        .filter_map(|(answer, keep)| keep.then_some(answer))
                        .collect();
                    response(session_id, changed)
                }
                // Evicted while this fetch waited: the client starts over.
                None => session_error(&BrokerError::FetchSessionIdNotFound(session_id)),
            }
        }
    }
}

/// Reads every partition, and while the result is below `min_bytes` without errors, waits for
/// an append to any of them (or the deadline) and reads again.
async fn read_waiting(
    broker: &Broker,
    positions: Vec<FetchPosition>,
    limits: &Limits,
    unreadable: &HashSet<TopicKey>,
) -> Vec<(FetchPosition, PartitionData)> {
    let deadline = Instant::now() + Duration::from_millis(limits.max_wait_ms as u64);
    let mut shutting_down = false;
    loop {
        let partitions: Vec<Result<Arc<Partition>, BrokerError>> = positions
            .iter()
            .map(|position| {
                if unreadable.contains(&position.key.topic) {
                    return Err(BrokerError::NotAuthorized(
                        ErrorCode::TopicAuthorizationFailed,
                    ));
                }
                resolve(broker, &position.key)
            })
            .collect();
        let appended = AppendWait::arm(partitions.iter().filter_map(|p| p.as_ref().ok()));
        let (answered, bytes, errors) = read_once(&positions, &partitions, limits);
        let waited_enough = limits.max_wait_ms == 0 || Instant::now() >= deadline || shutting_down;
        if waited_enough || positions.is_empty() || bytes >= limits.min_bytes || errors {
            return positions.into_iter().zip(answered).collect();
        }
        // A shutdown answers now with what there is (read once more).
        shutting_down |= appended.wait(broker, deadline).await;
    }
}

/// One pass over the partitions in order: (responses, record bytes, whether any failed).
fn read_once(
    positions: &[FetchPosition],
    partitions: &[Result<Arc<Partition>, BrokerError>],
    limits: &Limits,
) -> (Vec<PartitionData>, usize, bool) {
    let mut remaining = limits.max_bytes;
    // KIP-74: until some partition returned data, return at least one batch.
    let mut min_one_batch = true;
    let mut bytes = 0usize;
    let mut errors = false;
    let answered = positions
        .iter()
        .zip(partitions)
        .map(|(position, partition)| {
            let index = position.key.partition;
            let partition_max = u64::try_from(position.partition_max_bytes).unwrap_or(0);
            let result = match partition {
                Ok(partition) => read_partition(
                    partition,
                    position,
                    partition_max.min(remaining),
                    min_one_batch,
                    limits,
                ),
                Err(error) => {
                    errors = true;
                    return error_data(index, error);
                }
            };
            match result {
                Ok(data) => {
                    let length = records_bytes(&data);
                    if length > 0 {
                        min_one_batch = false;
                        remaining = remaining.saturating_sub(length as u64);
                        bytes += length;
                    }
                    data
                }
                Err(error) => {
                    errors = true;
                    error_data(index, &error)
                }
            }
        })
        .collect();
    (answered, bytes, errors)
}

fn read_partition(
    partition: &Partition,
    position: &FetchPosition,
    max_bytes: u64,
    min_one_batch: bool,
    limits: &Limits,
) -> Result<PartitionData, BrokerError> {
    // From v11 a follower serves consumers too (KIP-392), up to its own high watermark.
    if limits.from_followers {
        partition.check_serving_replica_epoch(position.current_leader_epoch)?;
    } else {
        partition.check_serving_leader_epoch(position.current_leader_epoch)?;
    }
    if let Some(replica) = limits
        .rack_choice
        .as_ref()
        .and_then(|choice| choice.preferred(partition, position.fetch_offset))
    {
        return preferred_replica_answer(partition, position, replica, limits);
    }
    // Consumers read committed data only: below the high watermark, or for read_committed
    // below the last stable offset.
    let data = if limits.read_committed {
        partition.read_committed(position.fetch_offset, max_bytes, min_one_batch)?
    } else {
        let high_watermark = partition.high_watermark()?;
        partition.read(
            position.fetch_offset,
            max_bytes,
            high_watermark,
            min_one_batch,
        )?
    };
    let aborted_transactions = data.aborted_transactions.map(|aborted| {
        aborted
            .into_iter()
            .map(|a| AbortedTransaction {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
                ..Default::default()
            })
            .collect()
    });
    let records = match data.records {
        Some(range) => {
            let region = range.file_region();
            // Counted as read (a fetch then throttled by a consumer quota sends none of it).
            partition.metrics.record_fetch(region.length as u64);
            Records::File(region)
        }
        None => Records::Bytes(Bytes::new()),
    };
    Ok(PartitionData {
        partition_index: position.key.partition,
        error_code: 0,
        high_watermark: data.high_watermark,
        last_stable_offset: data.last_stable_offset,
        log_start_offset: data.log_start_offset,
        aborted_transactions,
        preferred_read_replica: -1,
        records: Some(records),
        ..Default::default()
    })
}

/// The rack-aware choice for a fetch, where the broker's `replica.selector.class` is rack-aware,
/// the fetch is v11+ and names the client's rack, and this node is part of a cluster.
fn rack_choice(broker: &Broker, version: i16, client_rack: &str) -> Option<RackChoice> {
    if !broker.config.rack_aware_reads || version < 11 || client_rack.is_empty() {
        return None;
    }
    Some(RackChoice {
        client_rack: client_rack.to_string(),
        leader_rack: broker.config.broker_rack.clone(),
        image: broker.cluster.get()?.image(),
    })
}

/// A leader's answer sending the consumer to `replica`: no records, the offsets it reads by.
fn preferred_replica_answer(
    partition: &Partition,
    position: &FetchPosition,
    replica: i32,
    limits: &Limits,
) -> Result<PartitionData, BrokerError> {
    let high_watermark = partition.high_watermark()?;
    Ok(PartitionData {
        partition_index: position.key.partition,
        error_code: 0,
        high_watermark,
        last_stable_offset: if limits.read_committed {
            partition.last_stable_offset()?
        } else {
            high_watermark
        },
        log_start_offset: partition.log_start_offset()?,
        aborted_transactions: limits.read_committed.then(Vec::new),
        preferred_read_replica: replica,
        records: Some(Records::Bytes(Bytes::new())),
        ..Default::default()
    })
}

/// The topics among `positions` the principal may not READ (their partitions get
/// TOPIC_AUTHORIZATION_FAILED); a topic id is checked by its name, an unknown id is left to
/// UNKNOWN_TOPIC_ID.
fn unreadable_topics(
    broker: &Broker,
    context: &RequestContext,
    positions: &[FetchPosition],
) -> HashSet<TopicKey> {
    if !broker.authorization_enabled() {
        return HashSet::new();
    }
    let topics: HashSet<&TopicKey> = positions.iter().map(|p| &p.key.topic).collect();
    topics
        .into_iter()
        .filter(|key| {
            let name = match key {
                TopicKey::Name(name) => Some(name.clone()),
                TopicKey::Id(id) => broker.metadata.topic_name(*id),
            };
            name.is_some_and(|name| !broker.allows_topic(context, AclOperation::Read, &name))
        })
        .cloned()
        .collect()
}

/// The hosted partition a fetch names, by topic name (v4-12) or topic id (v13+).
fn resolve(broker: &Broker, key: &SessionPartitionKey) -> Result<Arc<Partition>, BrokerError> {
    match &key.topic {
        TopicKey::Name(name) => broker.replicas.partition(name, key.partition),
        TopicKey::Id(id) => {
            let topic = broker
                .metadata
                .topic_name(*id)
                .ok_or(BrokerError::UnknownTopicId(*id))?;
            broker
                .replicas
                .get(&topic, key.partition)
                .filter(|p| p.topic_id == *id)
                .ok_or(BrokerError::UnknownTopicOrPartition {
                    topic,
                    partition: key.partition,
                })
        }
    }
}

/// A partition that failed: Kafka sends unknown (-1) offsets and empty records.
pub(super) fn error_data(partition_index: i32, error: &BrokerError) -> PartitionData {
    PartitionData {
        partition_index,
        error_code: error.error_code().code(),
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records: Some(Records::Bytes(Bytes::new())),
        ..Default::default()
    }
}

/// The record bytes a partition's answer carries.
pub fn records_bytes(data: &PartitionData) -> usize {
    match &data.records {
        Some(Records::File(region)) => region.length,
        Some(Records::Bytes(bytes)) => bytes.len(),
        None => 0,
    }
}

fn summary(data: &PartitionData) -> PartitionSummary {
    PartitionSummary {
        high_watermark: data.high_watermark,
        log_start_offset: data.log_start_offset,
        records_bytes: records_bytes(data),
        error_code: data.error_code,
        preferred_read_replica: data.preferred_read_replica,
    }
}

fn session_error(error: &BrokerError) -> FetchResponse {
    tracing::debug!(%error, "fetch session error");
    FetchResponse {
        error_code: error.error_code().code(),
        session_id: 0,
        ..Default::default()
    }
}

/// Groups consecutive partitions of the same topic into one topic entry, in order.
fn response(session_id: i32, answered: Vec<(FetchPosition, PartitionData)>) -> FetchResponse {
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    let mut last_topic: Option<TopicKey> = None;
    for (position, data) in answered {
        let topic = position.key.topic;
        if last_topic.as_ref() != Some(&topic) || responses.is_empty() {
            let (name, topic_id) = match &topic {
                TopicKey::Name(name) => (name.clone(), protocol::Uuid::ZERO),
                TopicKey::Id(id) => (String::new(), *id),
            };
            responses.push(FetchableTopicResponse {
                topic: name,
                topic_id,
                ..Default::default()
            });
            last_topic = Some(topic);
        }
        responses
            .last_mut()
            .expect("pushed above")
            .partitions
            .push(data);
    }
    FetchResponse {
        throttle_time_ms: 0,
        error_code: 0,
        session_id,
        responses,
        ..Default::default()
    }
}
