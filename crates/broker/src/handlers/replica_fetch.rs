//! Fetch from a follower (`replica_id` >= 0) in a replicated cluster: the leader's side of
//! replication.
//!
//! For each partition: this broker must lead it (else NOT_LEADER_OR_FOLLOWER) at the epoch the
//! follower names (older: FENCED_LEADER_EPOCH, newer: UNKNOWN_LEADER_EPOCH). When the follower's
//! last fetched epoch ended earlier here than the follower's log does (or is not in this log),
//! the answer carries `diverging_epoch` (KIP-320) and no records: the follower truncates and
//! fetches again. Otherwise the fetch offset is the follower's log end offset: it is recorded
//! (which may advance the high watermark and the ISR) and records are read up to the log end,
//! not the high watermark. Followers fetch without sessions; a fetch waits up to `max_wait_ms`
//! for data, woken by appends. From v15 the follower names its broker epoch (KIP-903), and a
//! fetch from an older incarnation than metadata knows is not counted as progress. A partition
//! under a leader replication throttle (`replication_quota.rs`) is answered without records to
//! a follower outside the ISR while the leader's throttled rate is over its bound.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::codec::Records;
use protocol::generated::fetch_response::{EpochEndOffset, FetchableTopicResponse, PartitionData};
use protocol::generated::{FetchRequest, FetchResponse};
use tokio::time::Instant;

use super::fetch::{error_data, records_bytes};
use super::long_poll::AppendWait;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partitions::Partition;
use crate::replication_quota::{LEADER_RATE, LEADER_REPLICAS, bound, throttles};
use crate::replication_rules::{FetchPosition, diverging_epoch};

/// Longest a follower's fetch waits at the leader.
const REPLICA_FETCH_WAIT_MS_MAX: u64 = 10_000;

struct Position {
    topic_index: usize,
    partition: i32,
    current_leader_epoch: i32,
    fetch_offset: i64,
    /// The follower's log start offset (for the leader's low watermark, DeleteRecords).
    log_start_offset: i64,
    last_fetched_epoch: i32,
    max_bytes: u64,
}

/// Answers a follower's fetch.
pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    replica_id: i32,
    request: FetchRequest,
) -> FetchResponse {
    // v15+: the follower's broker epoch, so progress is never credited to a newer incarnation.
    let replica_epoch = if version >= 15 {
        request.replica_state.replica_epoch
    } else {
        -1
    };
    let uses_topic_ids = version >= 13;
    let mut topics: Vec<(String, protocol::Uuid)> = Vec::with_capacity(request.topics.len());
    let mut positions = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        let name = if uses_topic_ids {
            broker
                .metadata
                .topic_by_id(topic.topic_id)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        } else {
            topic.topic.clone()
        };
        topics.push((name, topic.topic_id));
        for p in &topic.partitions {
            positions.push(Position {
                topic_index,
                partition: p.partition,
                current_leader_epoch: p.current_leader_epoch,
                fetch_offset: p.fetch_offset,
                log_start_offset: p.log_start_offset,
                last_fetched_epoch: p.last_fetched_epoch,
                max_bytes: u64::try_from(p.partition_max_bytes).unwrap_or(0),
            });
        }
    }
    let max_wait = u64::try_from(request.max_wait_ms)
        .unwrap_or(0)
        .min(REPLICA_FETCH_WAIT_MS_MAX);
    let deadline = Instant::now() + Duration::from_millis(max_wait);
    let mut remaining_total = u64::try_from(request.max_bytes).unwrap_or(0);
    let now_ms = broker.replica_now_ms();
    // Progress is recorded once, on arrival: the fetch offset is the follower's log end.
    let resolved: Vec<Result<Arc<Partition>, BrokerError>> = positions
        .iter()
        .map(|position| {
            let partition = broker
                .replicas
                .partition(&topics[position.topic_index].0, position.partition)?;
            partition.check_leader_epoch(position.current_leader_epoch)?;
            if diverging(&partition, position)?.is_none() {
                partition.record_follower_fetch(
                    replica_id,
                    replica_epoch,
                    position.fetch_offset,
                    position.log_start_offset,
                    now_ms,
                )?;
            }
            Ok(partition)
        })
        .collect();
    // Replication throttles (`replication_quota.rs`): which partitions count, and whether the
    // leader's rate is over its bound now, for a follower outside their ISR.
    let throttled: Vec<bool> = resolved
        .iter()
        .map(|p| {
            p.as_ref()
                .is_ok_and(|p| throttles(p, LEADER_REPLICAS, broker.config.node_id))
        })
        .collect();
    let hold_back = throttled.iter().any(|t| *t) && {
        let limit = broker
            .cluster
            .get()
            .and_then(|c| bound(c.image().broker_config(broker.config.node_id, LEADER_RATE)));
        broker.replication_quotas.leader.exceeded(limit, now_ms)
    };
    let answered = loop {
        let appended = AppendWait::arm(resolved.iter().filter_map(|p| p.as_ref().ok()));
        let mut bytes = 0usize;
        let mut any_error = false;
        let answered: Vec<PartitionData> = positions
            .iter()
            .zip(&resolved)
            .zip(&throttled)
            .map(|((position, partition), throttled)| {
                let partition = match partition {
                    Ok(partition) => partition,
                    Err(error) => {
                        any_error = true;
                        return error_data(position.partition, error);
                    }
                };
                let held = hold_back && *throttled && !in_isr(partition, replica_id);
                let max_bytes = position.max_bytes.min(remaining_total);
                match read(partition, position, max_bytes, held) {
                    Ok(data) => {
                        let length = records_bytes(&data);
                        remaining_total = remaining_total.saturating_sub(length as u64);
                        bytes += length;
                        any_error |= data.diverging_epoch.epoch >= 0;
                        data
                    }
                    Err(error) => {
                        any_error = true;
                        let mut data = error_data(position.partition, &error);
                        // The follower starts over here when its log ends before this one
                        // starts (OFFSET_OUT_OF_RANGE); Kafka's asks ListOffsets instead.
                        if let Ok(log_start) = partition.log_start_offset() {
                            data.log_start_offset = log_start;
                        }
                        data
                    }
                }
            })
            .collect();
        if bytes > 0 || any_error || Instant::now() >= deadline || broker.is_shutting_down() {
            break answered;
        }
        appended.wait(broker, deadline).await;
    };
    let throttled_bytes: usize = answered
        .iter()
        .zip(&throttled)
        .filter(|(_, throttled)| **throttled)
        .map(|(data, _)| records_bytes(data))
        .sum();
    broker
        .replication_quotas
        .leader
        .record(throttled_bytes as u64, broker.replica_now_ms());
    let mut responses: Vec<FetchableTopicResponse> = topics
        .iter()
        .map(|(name, id)| FetchableTopicResponse {
            topic: if uses_topic_ids {
                String::new()
            } else {
                name.clone()
            },
            topic_id: *id,
            ..Default::default()
        })
        .collect();
    for (position, data) in positions.iter().zip(answered) {
        responses[position.topic_index].partitions.push(data);
    }
    FetchResponse {
        responses,
        ..Default::default()
    }
}

/// Where the follower's log diverges from this one, if it does: the largest epoch at or below
/// its last fetched epoch here, and where that epoch ends ([`diverging_epoch`]).
fn diverging(
    partition: &Partition,
    position: &Position,
) -> Result<Option<EpochEndOffset>, BrokerError> {
    let fetched = FetchPosition {
        fetch_offset: position.fetch_offset,
        last_fetched_epoch: position.last_fetched_epoch,
    };
    let log_end = partition.log_end_offset()?;
    let answer = diverging_epoch(fetched, log_end, |epoch| {
        partition.end_offset_for_epoch(epoch)
    })?;
    Ok(answer.map(|diverging| EpochEndOffset {
        epoch: diverging.epoch,
        end_offset: diverging.end_offset,
        ..Default::default()
    }))
}

fn in_isr(partition: &Partition, replica_id: i32) -> bool {
    partition
        .leader_state()
        .is_some_and(|state| state.isr.contains(&replica_id))
}

/// The answer to one partition: a diverging epoch, or records from the fetch offset (none when
/// `held` back by the leader's replication throttle).
fn read(
    partition: &Partition,
    position: &Position,
    max_bytes: u64,
    held: bool,
) -> Result<PartitionData, BrokerError> {
    partition.check_leader_epoch(position.current_leader_epoch)?;
    let mut data = PartitionData {
        partition_index: position.partition,
        preferred_read_replica: -1,
        records: Some(Records::Bytes(Bytes::new())),
        ..Default::default()
    };
    if let Some(diverging) = diverging(partition, position)? {
        data.high_watermark = partition.high_watermark()?;
        data.last_stable_offset = data.high_watermark;
        data.log_start_offset = partition.log_start_offset()?;
        data.diverging_epoch = diverging;
        return Ok(data);
    }
    if held {
        data.high_watermark = partition.high_watermark()?;
        data.last_stable_offset = data.high_watermark;
        data.log_start_offset = partition.log_start_offset()?;
        return Ok(data);
    }
    let log_end = partition.log_end_offset()?;
    let read = partition.read(position.fetch_offset, max_bytes, log_end, true)?;
    data.high_watermark = read.high_watermark;
    data.last_stable_offset = read.high_watermark;
    data.log_start_offset = read.log_start_offset;
    if let Some(range) = read.records {
        data.records = Some(Records::File(range.file_region()));
    }
    Ok(data)
}
