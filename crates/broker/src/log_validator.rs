//! Validation of a produced batch before it is appended (Kafka's `ProduceRequest.validateRecords`,
//! `UnifiedLog.analyzeAndValidateRecords` and `LogValidator`), and the in-place header rewrite
//! LogAppendTime topics need.
//!
//! Checks, in Kafka's order: exactly one magic-v2 batch per partition (INVALID_RECORD), zstd
//! only from produce v7 (UNSUPPORTED_COMPRESSION_TYPE), the batch size against
//! `max.message.bytes` (MESSAGE_TOO_LARGE), the CRC32C (CORRUPT_MESSAGE), the batch's offsets
//! and counts, control and sequence fields (INVALID_RECORD), then the record rules.
//!
//! Records are decoded only where a rule needs them: keys on compacted topics, timestamps when
//! `message.timestamp.before.max.ms` is bounded, and, for `message.timestamp.after.max.ms`, only
//! when the header's maxTimestamp is already past the bound (to name the offending records).
//! Unlike Kafka, which rewrites every batch's maxTimestamp from its records, the header's
//! maxTimestamp is trusted for the "after" bound. Decompression is capped at
//! [`DECOMPRESSED_BATCH_BYTES_MAX`]: a decompression bomb is refused with INVALID_RECORD.
//! Not done: recompression to the topic's `compression.type` (batches are stored as produced).

use bytes::Bytes;
use protocol::records::{
    Compression, RecordBatchHeader, RecordsError, TimestampType, decode_batch_records,
};

use crate::error::{BrokerError, RecordError};
use crate::topic_config::TopicConfig;

/// Most bytes a batch's records may decompress to when a rule has to read them.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize = 32 << 20;
/// Most record errors reported for one batch (the response stays small).
pub const RECORD_ERRORS_MAX: usize = 100;

/// Byte offset of the magic in a batch (also in the v0/v1 message formats).
const MAGIC_OFFSET: usize = 16;
const NO_TIMESTAMP: i64 = -1;

/// What validation needs besides the batch.
pub struct Rules<'a> {
    pub api_version: i16,
    pub now_ms: i64,
    pub config: &'a TopicConfig,
}

/// Validates the records of one partition of a produce request. `records` is the buffer the
/// request was decoded from, so decoded uncompressed records are slices of it, not copies.
pub fn validate(records: &Bytes, rules: &Rules<'_>) -> Result<(), BrokerError> {
    let version = rules.api_version;
    if records.is_empty() {
        return Err(BrokerError::InvalidRecord(format!(
            "Produce requests with version {version} must have at least one record batch per partition"
        )));
    }
    if records.len() > MAGIC_OFFSET && records[MAGIC_OFFSET] as i8 != 2 {
        return Err(BrokerError::InvalidRecord(format!(
            "Produce requests with version {version} are only allowed to contain record batches with magic version 2"
        )));
    }
    let batch = RecordBatchHeader::parse(records).map_err(BrokerError::CorruptMessage)?;
    if batch.size_bytes() < records.len() {
        return Err(BrokerError::InvalidRecord(format!(
            "Produce requests with version {version} are only allowed to contain exactly one record batch per partition"
        )));
    }
    let compression = batch.compression().ok_or(BrokerError::CorruptMessage(
        RecordsError::UnknownCompression {
            id: (batch.attributes() & 0x07) as u8,
        },
    ))?;
    if compression == Compression::Zstd && version < 7 {
        return Err(BrokerError::UnsupportedCompressionType {
            codec: compression.name(),
            version,
        });
    }
    let max = rules.config.max_message_bytes;
    if batch.size_bytes() > max as usize {
        return Err(BrokerError::MessageTooLarge {
            size: batch.size_bytes(),
            max,
        });
    }
    batch.verify_crc().map_err(BrokerError::CorruptMessage)?;
    validate_batch(&batch)?;
    validate_records(records, &batch, rules)
}

/// Kafka's `LogValidator.validateBatch` for client appends.
fn validate_batch(batch: &RecordBatchHeader<'_>) -> Result<(), BrokerError> {
    let count_from_offsets = i64::from(batch.last_offset_delta()) + 1;
    if count_from_offsets <= 0 {
        return Err(BrokerError::InvalidRecord(format!(
            "Batch has an invalid offset range: lastOffsetDelta {}",
            batch.last_offset_delta()
        )));
    }
    let count = batch.records_count();
    if count <= 0 {
        return Err(BrokerError::InvalidRecord(format!(
            "Invalid reported count for record batch: {count}"
        )));
    }
    if count_from_offsets != i64::from(count) {
        return Err(BrokerError::InvalidRecord(format!(
            "Inconsistent batch offset range [0, {}] and count of records {count}",
            batch.last_offset_delta()
        )));
    }
    if batch.is_control() {
        return Err(BrokerError::InvalidRecord(
            "Clients are not allowed to write control records".into(),
        ));
    }
    if batch.has_delete_horizon() {
        // Only the log cleaner sets a delete horizon (KIP-534); a client's could make its
        // tombstones vanish before delete.retention.ms.
        return Err(BrokerError::InvalidRecord(
            "Clients are not allowed to set a record batch's delete horizon".into(),
        ));
    }
    if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
        return Err(BrokerError::InvalidRecord(format!(
            "Invalid sequence number {} in record batch with producerId {}",
            batch.base_sequence(),
            batch.producer_id()
        )));
    }
    if batch.is_transactional() && batch.producer_id() < 0 {
        return Err(BrokerError::InvalidRecord(
            "a transactional record batch needs a producer id".into(),
        ));
    }
    Ok(())
}

/// The record-level rules: keys on compacted topics and CreateTime timestamp bounds.
fn validate_records(
    records: &Bytes,
    batch: &RecordBatchHeader<'_>,
    rules: &Rules<'_>,
) -> Result<(), BrokerError> {
    let config = rules.config;
    let create_time = !config.log_append_time;
    if create_time && batch.timestamp_type() == TimestampType::LogAppendTime {
        let record_errors = (0..batch.records_count().min(RECORD_ERRORS_MAX as i32))
            .map(|batch_index| RecordError {
                batch_index,
                message: "Invalid timestamp type in user record LogAppendTime. Producer should \
                          not set timestamp type to LogAppendTime."
                    .into(),
            })
            .collect();
        return Err(BrokerError::InvalidTimestamp {
            reason: "One or more records have been rejected due to invalid timestamp".into(),
            record_errors,
        });
    }
    let lowest = config
        .timestamp_before_max_ms
        .map(|ms| rules.now_ms.saturating_sub(ms));
    let highest = config
        .timestamp_after_max_ms
        .map(|ms| rules.now_ms.saturating_add(ms));
    let check_timestamps =
        create_time && (lowest.is_some() || highest.is_some_and(|h| batch.max_timestamp() > h));
    if !config.compact && !check_timestamps {
        return Ok(());
    }
    let decoded =
        decode_batch_records(batch, records, DECOMPRESSED_BATCH_BYTES_MAX).map_err(|error| {
            match error {
                RecordsError::DecompressedTooLarge { .. } => {
                    BrokerError::InvalidRecord(error.to_string())
                }
                error => BrokerError::CorruptMessage(error),
            }
        })?;
    let mut record_errors = Vec::new();
    let mut timestamp_error = false;
    for (index, record) in decoded.enumerate() {
        let record = record.map_err(BrokerError::CorruptMessage)?;
        let batch_index = index as i32;
        if record_errors.len() >= RECORD_ERRORS_MAX {
            continue; // keep decoding: a malformed later record still fails the batch
        }
        if config.compact && record.key.is_none() {
            record_errors.push(RecordError {
                batch_index,
                message: "Compacted topic cannot accept message without key".into(),
            });
            continue;
        }
        let timestamp = batch.base_timestamp().wrapping_add(record.timestamp_delta);
        if check_timestamps
            && timestamp != NO_TIMESTAMP
            && (lowest.is_some_and(|l| timestamp < l) || highest.is_some_and(|h| timestamp > h))
        {
            timestamp_error = true;
            record_errors.push(RecordError {
                batch_index,
                message: format!(
                    "Timestamp {timestamp} of message with offset {} is out of range. The \
                     timestamp should be within [{}, {}]",
                    record.offset_delta,
                    lowest.unwrap_or(i64::MIN),
                    highest.unwrap_or(i64::MAX)
                ),
            });
        }
    }
    if record_errors.is_empty() {
        Ok(())
    } else if timestamp_error {
        Err(BrokerError::InvalidTimestamp {
            reason: "One or more records have been rejected due to invalid timestamp".into(),
            record_errors,
        })
    } else {
        Err(BrokerError::InvalidRecords {
            reason: format!(
                "One or more records have been rejected due to {} record errors",
                record_errors.len()
            ),
            record_errors,
        })
    }
}
