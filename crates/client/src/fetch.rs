//! Reading partitions: ListOffsets (earliest, latest, by timestamp) and Fetch from each
//! partition's leader, with the answer's record batches checked (CRC32C), decompressed under a
//! cap and turned into `ConsumerRecord`s.
//!
//! Fetches are sessionless (session id 0, epoch -1: every request is a full fetch) and
//! read_uncommitted, as Kafka's console consumer reads by default. Control batches
//! (transaction markers) advance the position and yield nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use protocol::generated::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use protocol::records::{
    RecordBatchHeader, RecordBatches, RecordHeader, TimestampType, decode_batch_records,
};
use protocol::{ApiKey, ErrorCode};

use crate::{Client, ClientError, Retry, Target, TopicMetadata, body, expect_response};

/// Bytes a fetch asks for in all (a response frame stays far below `RESPONSE_BYTES_MAX`).
const FETCH_BYTES_MAX: i32 = 16 << 20;
/// Bytes a fetch asks for per partition (the broker still returns a larger first batch whole).
const PARTITION_FETCH_BYTES_MAX: i32 = 1 << 20;
/// Largest decompressed batch accepted (decompression bombs).
const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// Where to start reading, as ListOffsets resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (ListOffsets timestamp -2).
    Earliest,
    /// The high watermark: the next offset to be written (-1).
    Latest,
    /// The first offset whose timestamp is at or after this one (ms); the high watermark when
    /// there is none.
    Timestamp(i64),
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

/// What one fetch round brought.
#[derive(Debug, Default)]
pub struct Fetched {
    pub records: Vec<ConsumerRecord>,
    /// The next offset to fetch of each partition that advanced.
    pub positions: BTreeMap<i32, i64>,
    /// Partitions answered with an error code (OFFSET_OUT_OF_RANGE, NOT_LEADER_OR_FOLLOWER...).
    pub errors: Vec<(i32, i16)>,
    /// The high watermark of each partition answered without error.
    pub high_watermarks: BTreeMap<i32, i64>,
}

impl Client {
    /// ListOffsets for `partitions` of `topic`, one request per leader; retriable errors (a
    /// leader moved or unreachable) are tried again with fresh metadata.
    pub async fn list_offsets(
        &mut self,
        topic: &TopicMetadata,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let mut retry = Retry::new(self);
        let mut fresh: Option<TopicMetadata> = None;
        loop {
            let current = fresh.as_ref().unwrap_or(topic);
            match self.list_offsets_once(current, partitions, spec).await {
                Err(error) if error.is_retriable() && retry.wait().await => {
                    fresh = Some(self.topic(&topic.name).await?);
                }
                other => return other,
            }
        }
    }

    async fn list_offsets_once(
        &mut self,
        topic: &TopicMetadata,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        let timestamp = match spec {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms,
        };
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for &partition in partitions {
            by_leader
                .entry(topic.leader(partition)?)
                .or_default()
                .push(partition);
        }
        let timeout_ms = self.config.request_timeout.as_millis() as i32;
        let mut offsets = BTreeMap::new();
        let mut latest_needed = Vec::new();
        for (leader, partitions) in by_leader {
            let (_, response) = self
                .send(
                    Target::Node(leader),
                    ApiKey::ListOffsets,
                    Duration::ZERO,
                    |_| {
                        body(ListOffsetsRequest {
                            replica_id: -1,
                            isolation_level: 0,
                            topics: vec![ListOffsetsTopic {
                                name: topic.name.clone(),
                                partitions: partitions
                                    .iter()
                                    .map(|&partition| ListOffsetsPartition {
                                        partition_index: partition,
                                        timestamp,
                                        ..Default::default()
                                    })
                                    .collect(),
                                ..Default::default()
                            }],
                            timeout_ms,
                            ..Default::default()
                        })
                    },
                )
                .await?;
            let response = expect_response!(response, ListOffsets);
            for answer in response.topics.into_iter().flat_map(|t| t.partitions) {
                crate::error::check(
                    || {
                        format!(
                            "listing offsets of topic {} partition {}",
                            topic.name, answer.partition_index
                        )
                    },
                    answer.error_code,
                    None,
                )?;
                if answer.offset < 0 {
                    // No record at or after the timestamp: start at the end.
                    latest_needed.push(answer.partition_index);
                } else {
                    offsets.insert(answer.partition_index, answer.offset);
                }
            }
        }
        if !latest_needed.is_empty() && spec != OffsetSpec::Latest {
            let latest =
                Box::pin(self.list_offsets(topic, &latest_needed, OffsetSpec::Latest)).await?;
            offsets.extend(latest);
        }
        Ok(offsets)
    }

    /// One fetch of `positions` (partition -> next offset), a request per leader, waiting up to
    /// `wait` in all for records to arrive.
    pub async fn fetch(
        &mut self,
        topic: &TopicMetadata,
        positions: &BTreeMap<i32, i64>,
        wait: Duration,
    ) -> Result<Fetched, ClientError> {
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        let mut fetched = Fetched::default();
        for (&partition, &offset) in positions {
            match topic.leader(partition) {
                Ok(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((partition, offset)),
                Err(error) => fetched.errors.push((
                    partition,
                    error
                        .kafka_code()
                        .map_or(ErrorCode::LeaderNotAvailable.code(), ErrorCode::code),
                )),
            }
        }
        // Leaders are asked one after another: the long poll's budget is shared among them.
        let leaders = by_leader.len().max(1) as u32;
        let wait_each = wait / leaders;
        for (leader, partitions) in by_leader {
            let sent = self
                .send(Target::Node(leader), ApiKey::Fetch, wait_each, |_| {
                    body(FetchRequest {
                        replica_id: -1,
                        max_wait_ms: wait_each.as_millis() as i32,
                        min_bytes: 1,
                        max_bytes: FETCH_BYTES_MAX,
                        isolation_level: 0,
                        session_id: 0,
                        session_epoch: -1,
                        topics: vec![FetchTopic {
                            // v13+ names the topic by id, earlier versions by name.
                            topic: topic.name.clone(),
                            topic_id: topic.topic_id,
                            partitions: partitions
                                .iter()
                                .map(|&(partition, offset)| FetchPartition {
                                    partition,
                                    fetch_offset: offset,
                                    partition_max_bytes: PARTITION_FETCH_BYTES_MAX,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                })
                .await;
            let response = match sent {
                Ok((_, response)) => expect_response!(response, Fetch),
                Err(error) if crate::is_connection_error(&error) => {
                    // The leader is unreachable (perhaps failing over): its partitions report
                    // a retriable error and the caller refreshes the metadata.
                    fetched.errors.extend(
                        partitions
                            .iter()
                            .map(|&(partition, _)| (partition, ErrorCode::NetworkException.code())),
                    );
                    continue;
                }
                Err(error) => return Err(error),
            };
            crate::error::check(
                || format!("fetching topic {}", topic.name),
                response.error_code,
                None,
            )?;
            for answer in response.responses.into_iter().flat_map(|t| t.partitions) {
                let partition = answer.partition_index;
                if answer.error_code != 0 {
                    fetched.errors.push((partition, answer.error_code));
                    continue;
                }
                fetched
                    .high_watermarks
                    .insert(partition, answer.high_watermark);
                let Some(offset) = positions.get(&partition).copied() else {
                    continue;
                };
                let Some(bytes) = answer.records.as_ref().and_then(|r| r.as_bytes()) else {
                    continue;
                };
                let next =
                    decode_records(&topic.name, partition, offset, bytes, &mut fetched.records)?;
                if next > offset {
                    fetched.positions.insert(partition, next);
                }
            }
        }
        Ok(fetched)
    }
}

/// Appends the records at or after `offset` in `bytes` (whole batches; a partial last batch
/// is left for the next fetch) and returns the next offset to fetch.
fn decode_records(
    topic: &str,
    partition: i32,
    offset: i64,
    bytes: &Bytes,
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64, ClientError> {
    let records_error = |source| ClientError::Records {
        context: format!("reading topic {topic} partition {partition}"),
        source,
    };
    let mut next = offset;
    for batch in RecordBatches::allowing_partial_tail(bytes) {
        let batch: RecordBatchHeader<'_> = batch.map_err(records_error)?;
        batch.verify_crc().map_err(records_error)?;
        if batch.is_control() {
            next = next.max(batch.last_offset() + 1);
            continue;
        }
        let log_append_time = batch.timestamp_type() == TimestampType::LogAppendTime;
        for record in
            decode_batch_records(&batch, bytes, DECOMPRESSED_BYTES_MAX).map_err(records_error)?
        {
            let record = record.map_err(records_error)?;
            let record_offset = batch.base_offset() + i64::from(record.offset_delta);
            if record_offset < offset {
                // A fetch starts at the batch holding `offset`: skip what came before.
                continue;
            }
            out.push(ConsumerRecord {
                partition,
                offset: record_offset,
                timestamp_ms: if log_append_time {
                    batch.max_timestamp()
                } else {
                    batch
                        .base_timestamp()
                        .saturating_add(record.timestamp_delta)
                },
                timestamp_type: batch.timestamp_type(),
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
        next = next.max(batch.last_offset() + 1);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use protocol::records::{Compression, Record, RecordBatchBuilder};

    use super::*;

    fn batch(base_offset: i64, values: &[&str], compression: Compression) -> Bytes {
        let mut builder = RecordBatchBuilder::new()
            .base_offset(base_offset)
            .base_timestamp(1_000)
            .compression(compression);
        for (i, value) in values.iter().enumerate() {
            builder
                .push(Record {
                    offset_delta: i as i32,
                    timestamp_delta: i as i64,
                    key: Some(Bytes::from(format!("k{i}"))),
                    value: Some(Bytes::copy_from_slice(value.as_bytes())),
                    headers: vec![RecordHeader {
                        key: Bytes::from_static(b"h"),
                        value: Some(Bytes::from_static(b"v")),
                    }],
                })
                .unwrap();
        }
        builder.build().unwrap()
    }

    #[test]
    fn records_before_the_position_are_skipped_and_partial_tails_left() {
        let mut bytes = batch(10, &["a", "b", "c"], Compression::Lz4).to_vec();
        let second = batch(13, &["d"], Compression::None);
        bytes.extend_from_slice(&second);
        bytes.extend_from_slice(&second[..20]); // a partial batch, as a fetch may end
        let bytes = Bytes::from(bytes);
        let mut out = Vec::new();
        let next = decode_records("t", 0, 11, &bytes, &mut out).unwrap();
        assert_eq!(next, 14);
        let offsets: Vec<i64> = out.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [11, 12, 13]);
        assert_eq!(out[0].value.as_deref(), Some(&b"b"[..]));
        assert_eq!(out[0].timestamp_ms, 1_001);
        assert_eq!(out[0].headers.len(), 1);
    }

    #[test]
    fn a_corrupt_batch_is_an_error() {
        let mut bytes = batch(0, &["a"], Compression::None).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let error = decode_records("t", 0, 0, &Bytes::from(bytes), &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("topic t partition 0"), "{error}");
    }
}
