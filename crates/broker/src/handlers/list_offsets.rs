//! ListOffsets: the offset of a partition at a point in time, for consumers starting at
//! earliest/latest, seeking by timestamp (`offsetsForTimes`) and tools like GetOffsetShell.
//!
//! Special timestamps: -1 latest (the HighWatermark, or the last stable offset for
//! read_committed: offsets at or past it are not returned either), -2 earliest (the
//! log start offset), -3 max timestamp (KIP-734), -4 earliest local (the log start: there is no
//! tiered storage), -5 latest tiered and -6 earliest pending upload (v11, KIP-1023; offset -1
//! with epoch -1, as Kafka answers without tiered storage). A special timestamp older than the
//! request's version, or unknown, gets UNSUPPORTED_VERSION. Any other timestamp finds the first batch whose max timestamp is at or after it
//! through the time index, then the exact record by decoding that one batch (decompression
//! capped). Offsets at or past the HighWatermark are not returned (offset -1), as in Kafka.
//!
//! Versions: v1 and up. v0 answers with an array of offsets (`old_style_offsets`) and a
//! `max_num_offsets` semantic no current client uses, so it is not served.

use std::collections::HashSet;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::ListOffsetsRequest;
use protocol::generated::ListOffsetsResponse;
use protocol::generated::list_offsets_request::ListOffsetsPartition;
use protocol::generated::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use protocol::records::{RecordBatchHeader, TimestampType, decode_batch_records};
use security::acl::AclOperation;
use storage::EpochEntry;

use super::RequestContext;
use crate::broker::Broker;

/// ListOffsets' isolation level of read_committed consumers.
const READ_COMMITTED: i8 = 1;
use crate::error::BrokerError;
use crate::log_validator::DECOMPRESSED_BATCH_BYTES_MAX;
use crate::partitions::Partition;

pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;
pub const EARLIEST_PENDING_UPLOAD_TIMESTAMP: i64 = -6;
/// Kafka's marker for "no leader epoch known".
const NO_EPOCH: i32 = -1;
/// Largest batch read back to find the exact record of a timestamp lookup.
const LOOKUP_BATCH_BYTES_MAX: u64 = 64 << 20;

/// A timestamp, an offset and the leader epoch that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    timestamp: i64,
    offset: i64,
    leader_epoch: i32,
}

const NOT_FOUND: Found = Found {
    timestamp: -1,
    offset: -1,
    leader_epoch: NO_EPOCH,
};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let version = context.api_version;
    // Kafka answers a partition named twice with INVALID_REQUEST for both entries.
    let mut seen = HashSet::new();
    let mut duplicates = HashSet::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            let key = (topic.name.as_str(), partition.partition_index);
            if !seen.insert(key) {
                duplicates.insert(key);
            }
        }
    }
    let topics = request
        .topics
        .iter()
        .map(|topic| ListOffsetsTopicResponse {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|wanted| {
                    let result =
                        if !broker.allows_topic(context, AclOperation::Describe, &topic.name) {
                            Err(BrokerError::NotAuthorized(
                                ErrorCode::TopicAuthorizationFailed,
                            ))
                        } else if duplicates
                            .contains(&(topic.name.as_str(), wanted.partition_index))
                        {
                            Err(BrokerError::InvalidRequest(
                                "partition listed more than once".into(),
                            ))
                        } else {
                            check_timestamp(version, wanted.timestamp).and_then(|()| {
                                list_offset(broker, &topic.name, wanted, request.isolation_level)
                            })
                        };
                    partition_response(wanted.partition_index, result)
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
        ..Default::default()
    }
}

fn partition_response(
    index: i32,
    result: Result<Found, BrokerError>,
) -> ListOffsetsPartitionResponse {
    match result {
        Ok(found) => ListOffsetsPartitionResponse {
            partition_index: index,
            error_code: 0,
            timestamp: found.timestamp,
            offset: found.offset,
            leader_epoch: found.leader_epoch,
            ..Default::default()
        },
        Err(error) => ListOffsetsPartitionResponse {
            partition_index: index,
            error_code: error.error_code().code(),
            timestamp: -1,
            offset: -1,
            leader_epoch: NO_EPOCH,
            ..Default::default()
        },
    }
}

fn list_offset(
    broker: &Broker,
    topic: &str,
    wanted: &ListOffsetsPartition,
    isolation_level: i8,
) -> Result<Found, BrokerError> {
    let partition = broker.replicas.partition(topic, wanted.partition_index)?;
    // Offsets come from the leader only.
    partition.check_serving_leader_epoch(wanted.current_leader_epoch)?;
    // LATEST: the high watermark, or for read_committed the last stable offset.
    let last_fetchable = if isolation_level == READ_COMMITTED {
        partition.last_stable_offset()?
    } else {
        partition.high_watermark()?
    };
    let found = match wanted.timestamp {
        LATEST_TIMESTAMP => Found {
            timestamp: -1,
            offset: last_fetchable,
            leader_epoch: partition.leader_epoch(),
        },
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => {
            let log_start = partition.log_start_offset()?;
            Found {
                timestamp: -1,
                offset: log_start,
                leader_epoch: epoch_for_offset(&partition.leader_epochs()?, log_start),
            }
        }
        LATEST_TIERED_TIMESTAMP | EARLIEST_PENDING_UPLOAD_TIMESTAMP => NOT_FOUND,
        MAX_TIMESTAMP => match partition.max_timestamp_offset()? {
            Some(batch) => refine(&partition, batch.offset, |ts| ts == batch.timestamp)?,
            None => NOT_FOUND,
        },
        target => match partition.offset_for_timestamp(target)? {
            Some(batch) => refine(&partition, batch.offset, |ts| ts >= target)?,
            None => NOT_FOUND,
        },
    };
    // Kafka returns a timestamp lookup only below the last fetchable offset.
    let special = matches!(
        wanted.timestamp,
        LATEST_TIMESTAMP
            | EARLIEST_TIMESTAMP
            | EARLIEST_LOCAL_TIMESTAMP
            | LATEST_TIERED_TIMESTAMP
            | EARLIEST_PENDING_UPLOAD_TIMESTAMP
    );
    let hidden = !special && found.offset >= last_fetchable;
    Ok(if hidden { NOT_FOUND } else { found })
}

/// UNSUPPORTED_VERSION for a special (negative) timestamp the request's version does not know,
/// or one no version knows (Kafka's `ReplicaManager.timestampMinSupportedVersion`).
fn check_timestamp(version: i16, timestamp: i64) -> Result<(), BrokerError> {
    let since = match timestamp {
        0.. => return Ok(()),
        LATEST_TIMESTAMP | EARLIEST_TIMESTAMP => 0,
        MAX_TIMESTAMP => 7,
        EARLIEST_LOCAL_TIMESTAMP => 8,
        LATEST_TIERED_TIMESTAMP => 9,
        EARLIEST_PENDING_UPLOAD_TIMESTAMP => 11,
        _ => i16::MAX,
    };
    if version >= since {
        Ok(())
    } else {
        Err(BrokerError::Unsupported(format!(
            "timestamp {timestamp} is not served by ListOffsets v{version}"
        )))
    }
}

/// The epoch of the leader that wrote `offset`: the last epoch starting at or before it.
fn epoch_for_offset(entries: &[EpochEntry], offset: i64) -> i32 {
    entries
        .iter()
        .rev()
        .find(|entry| entry.start_offset <= offset)
        .map_or(NO_EPOCH, |entry| entry.epoch)
}

/// Reads the batch holding `offset` and returns its first record at or after `offset` whose
/// timestamp satisfies `wanted` (falling back to the batch's max timestamp at `offset` when
/// the batch cannot be read back or decoded).
fn refine(
    partition: &Partition,
    offset: i64,
    wanted: impl Fn(i64) -> bool,
) -> Result<Found, BrokerError> {
    let epochs = partition.leader_epochs()?;
    let data = partition.read(offset, 1, i64::MAX, true)?;
    let fallback = |timestamp| Found {
        timestamp,
        offset,
        leader_epoch: epoch_for_offset(&epochs, offset),
    };
    let Some(range) = data.records.filter(|r| r.len() <= LOOKUP_BATCH_BYTES_MAX) else {
        return Ok(fallback(-1));
    };
    let bytes = range
        .read_to_bytes()
        .map_err(|e| BrokerError::io("reading a batch for ListOffsets", e))?;
    let Ok(header) = RecordBatchHeader::parse(&bytes) else {
        return Ok(fallback(-1));
    };
    if header.timestamp_type() == TimestampType::LogAppendTime {
        // Every record of the batch carries the append time.
        let first = header.base_offset().max(offset);
        return Ok(Found {
            timestamp: header.max_timestamp(),
            offset: first,
            leader_epoch: epoch_for_offset(&epochs, first),
        });
    }
    let Ok(records) = decode_batch_records(&header, &bytes, DECOMPRESSED_BATCH_BYTES_MAX) else {
        return Ok(fallback(header.max_timestamp()));
    };
    for record in records {
        let Ok(record) = record else { break };
        let record_offset = header.base_offset() + i64::from(record.offset_delta);
        let timestamp = header.base_timestamp().wrapping_add(record.timestamp_delta);
        if record_offset >= offset && wanted(timestamp) {
            return Ok(Found {
                timestamp,
                offset: record_offset,
                leader_epoch: epoch_for_offset(&epochs, record_offset),
            });
        }
    }
    Ok(fallback(header.max_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_for_offset_takes_the_last_epoch_starting_at_or_before() {
        let entries = [
            EpochEntry {
                epoch: 0,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 3,
                start_offset: 10,
            },
        ];
        assert_eq!(epoch_for_offset(&entries, 0), 0);
        assert_eq!(epoch_for_offset(&entries, 9), 0);
        assert_eq!(epoch_for_offset(&entries, 10), 3);
        assert_eq!(epoch_for_offset(&[], 5), NO_EPOCH);
    }
}
