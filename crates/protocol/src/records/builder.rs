//! `RecordBatchBuilder`: writes v2 record batches for records the broker makes itself (control
//! batches such as transaction markers, internal topics such as `__consumer_offsets`).
//!
//! The builder encodes records as they are pushed, then `build` compresses them (optionally),
//! writes the 61-byte header with `lastOffsetDelta`, `maxTimestamp` and `recordsCount` derived
//! from the records, and computes the CRC32C over attributes..end. Produced batches are not built
//! here: the broker appends those as the client sent them.
//!
//! Invariants: offset deltas are non-negative and strictly increasing; the batch's length fits
//! an `i32`. A built batch always passes `RecordBatchHeader::parse` and `verify_crc`.

use bytes::Bytes;

use super::batch::{
    ATTRIBUTE_CONTROL, ATTRIBUTE_DELETE_HORIZON, ATTRIBUTE_LOG_APPEND_TIME,
    ATTRIBUTE_TRANSACTIONAL, CRC_START, LOG_OVERHEAD_BYTES, MAGIC_V2,
};
use super::{
    Compression, RECORD_BATCH_HEADER_BYTES, Record, RecordsError, TimestampType, compress,
};

/// Kafka's `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Kafka's `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: i32 = -1;
/// Kafka's `RecordBatch.NO_PARTITION_LEADER_EPOCH`.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Kafka's `RecordBatch.NO_TIMESTAMP`.
pub const NO_TIMESTAMP: i64 = -1;

/// Builds one v2 record batch. Setters consume and return the builder; `push` adds records.
///
/// ```
/// # use protocol::records::{Compression, Record, RecordBatchBuilder, RecordBatchHeader};
/// let mut builder = RecordBatchBuilder::new()
///     .base_offset(42)
///     .base_timestamp(1_700_000_000_000)
///     .compression(Compression::Gzip);
/// builder.push(Record {
///     offset_delta: 0,
///     timestamp_delta: 0,
///     key: Some("group".into()),
///     value: None,
///     headers: Vec::new(),
/// })?;
/// let batch = builder.build()?;
/// let header = RecordBatchHeader::parse(&batch)?;
/// header.verify_crc()?;
/// assert_eq!(header.records_count(), 1);
/// # Ok::<(), protocol::records::RecordsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: i64,
    /// Overrides the maximum computed from the records (e.g. the append time for
    /// `LogAppendTime`).
    max_timestamp: Option<i64>,
    timestamp_type: TimestampType,
    is_transactional: bool,
    is_control: bool,
    compression: Compression,
    /// The pushed records, encoded and uncompressed.
    records: Vec<u8>,
    records_count: i32,
    last_offset_delta: Option<i32>,
    max_timestamp_delta: Option<i64>,
    /// Keeps a batch's offset range when records were removed from it (the log cleaner).
    last_offset_delta_override: Option<i32>,
    has_delete_horizon: bool,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordBatchBuilder {
    /// An empty, uncompressed, non-transactional batch at offset 0 with no producer, no leader
    /// epoch and no timestamp (Kafka's `NO_*` values).
    pub fn new() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: None,
            timestamp_type: TimestampType::CreateTime,
            is_transactional: false,
            is_control: false,
            compression: Compression::None,
            records: Vec::new(),
            records_count: 0,
            last_offset_delta: None,
            max_timestamp_delta: None,
            last_offset_delta_override: None,
            has_delete_horizon: false,
        }
    }

    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    pub fn partition_leader_epoch(mut self, partition_leader_epoch: i32) -> Self {
        self.partition_leader_epoch = partition_leader_epoch;
        self
    }

    /// The producer id, epoch and the sequence number of the first record.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// The timestamp records' `timestamp_delta`s are relative to.
    pub fn base_timestamp(mut self, base_timestamp: i64) -> Self {
        self.base_timestamp = base_timestamp;
        self
    }

    /// Sets `maxTimestamp` instead of deriving it from the records (for `LogAppendTime`, the
    /// append time).
    pub fn max_timestamp(mut self, max_timestamp: i64) -> Self {
        self.max_timestamp = Some(max_timestamp);
        self
    }

    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }

    pub fn transactional(mut self, is_transactional: bool) -> Self {
        self.is_transactional = is_transactional;
        self
    }

    pub fn control(mut self, is_control: bool) -> Self {
        self.is_control = is_control;
        self
    }

    /// The batch's `lastOffsetDelta` regardless of the records pushed: a batch the log cleaner
    /// rewrote keeps its original offset range (Kafka keeps v2 batch boundaries when it
    /// compacts), so records may end before it. `build` refuses a delta below the last record's.
    pub fn last_offset_delta(mut self, last_offset_delta: i32) -> Self {
        self.last_offset_delta_override = Some(last_offset_delta);
        self
    }

    /// KIP-534: marks `baseTimestamp` as the delete horizon (attribute bit 6); the caller sets
    /// `base_timestamp` to the horizon and gives records their deltas from it.
    pub fn delete_horizon(mut self, has_delete_horizon: bool) -> Self {
        self.has_delete_horizon = has_delete_horizon;
        self
    }

    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The offset delta that directly follows the last pushed record (0 when empty).
    pub fn next_offset_delta(&self) -> i32 {
        self.last_offset_delta
            .map_or(0, |last| last.saturating_add(1))
    }

    /// Records pushed so far.
    pub fn records_count(&self) -> i32 {
        self.records_count
    }

    /// Encodes `record` into the batch. Its offset delta must be non-negative and greater than
    /// the previous record's (gaps are allowed, as in compacted batches).
    pub fn push(&mut self, record: Record) -> Result<(), RecordsError> {
        let previous = self.last_offset_delta.unwrap_or(-1);
        if record.offset_delta <= previous {
            return Err(RecordsError::OffsetDeltaNotIncreasing {
                previous,
                offset_delta: record.offset_delta,
            });
        }
        let records_count =
            self.records_count
                .checked_add(1)
                .ok_or(RecordsError::BatchTooLarge {
                    size_bytes: self.records.len(),
                })?;
        record.encode(&mut self.records)?;
        self.records_count = records_count;
        self.last_offset_delta = Some(record.offset_delta);
        self.max_timestamp_delta = Some(
            self.max_timestamp_delta
                .map_or(record.timestamp_delta, |max| {
                    max.max(record.timestamp_delta)
                }),
        );
        Ok(())
    }

    /// The attributes the header will carry.
    pub fn attributes(&self) -> i16 {
        let mut attributes = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= ATTRIBUTE_LOG_APPEND_TIME;
        }
        if self.is_transactional {
            attributes |= ATTRIBUTE_TRANSACTIONAL;
        }
        if self.is_control {
            attributes |= ATTRIBUTE_CONTROL;
        }
        if self.has_delete_horizon {
            attributes |= ATTRIBUTE_DELETE_HORIZON;
        }
        attributes
    }

    /// Writes the batch: header, (compressed) records and CRC32C.
    pub fn build(&self) -> Result<Bytes, RecordsError> {
        let compressed;
        let records: &[u8] = if self.compression == Compression::None {
            &self.records
        } else {
            compressed = compress(self.compression, &self.records)?;
            &compressed
        };
        let last_offset_delta = match (self.last_offset_delta_override, self.last_offset_delta) {
            (Some(forced), Some(last)) if forced < last => {
                return Err(RecordsError::OffsetDeltaNotIncreasing {
                    previous: last,
                    offset_delta: forced,
                });
            }
            (Some(forced), _) => forced,
            (None, last) => last.unwrap_or(0),
        };
        let size_bytes = RECORD_BATCH_HEADER_BYTES + records.len();
        let batch_length = i32::try_from(size_bytes - LOG_OVERHEAD_BYTES)
            .map_err(|_| RecordsError::BatchTooLarge { size_bytes })?;
        let max_timestamp = self
            .max_timestamp
            .unwrap_or(match self.max_timestamp_delta {
                Some(delta) => self.base_timestamp.saturating_add(delta),
                None => self.base_timestamp,
            });

        let mut batch = Vec::with_capacity(size_bytes);
        batch.extend_from_slice(&self.base_offset.to_be_bytes());
        batch.extend_from_slice(&batch_length.to_be_bytes());
        batch.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        batch.push(MAGIC_V2 as u8);
        batch.extend_from_slice(&[0; 4]); // CRC, written below
        batch.extend_from_slice(&self.attributes().to_be_bytes());
        batch.extend_from_slice(&last_offset_delta.to_be_bytes());
        batch.extend_from_slice(&self.base_timestamp.to_be_bytes());
        batch.extend_from_slice(&max_timestamp.to_be_bytes());
        batch.extend_from_slice(&self.producer_id.to_be_bytes());
        batch.extend_from_slice(&self.producer_epoch.to_be_bytes());
        batch.extend_from_slice(&self.base_sequence.to_be_bytes());
        batch.extend_from_slice(&self.records_count.to_be_bytes());
        debug_assert_eq!(batch.len(), RECORD_BATCH_HEADER_BYTES);
        batch.extend_from_slice(records);
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[CRC_START - 4..CRC_START].copy_from_slice(&crc.to_be_bytes());
        Ok(Bytes::from(batch))
    }
}

#[cfg(test)]
mod tests;
