//! What the cleaner keeps of one batch: Kafka's retention rules for a compacted log, applied to
//! a single v2 batch read from a closed segment.
//!
//! Rules (Kafka's `LogCleaner` and KIP-534):
//! - records at or past the cleaning's end offset are kept untouched;
//! - a record is kept when it is the latest of its key (no later offset for its key in the
//!   offset map); records without a key are dropped, as Kafka's cleaner drops them;
//! - a tombstone (null value) that is the latest of its key is kept until the batch's delete
//!   horizon passes. A batch holding tombstones gets its horizon (`now + delete.retention.ms`)
//!   the first time it is cleaned, stored in `baseTimestamp` with attribute bit 6 (KIP-534);
//! - a batch left without records is dropped, unless it is the last batch its producer id wrote
//!   (kept empty, so an idempotent producer keeps its sequence state after a restart);
//! - control batches and transactional batches are kept as they are (the log does not yet know
//!   which transactions committed; see docs/internals/storage.md);
//! - a rewritten batch keeps its base offset, `lastOffsetDelta`, producer fields, sequence,
//!   leader epoch, timestamp type and codec: batch boundaries do not move, only records leave.

use std::collections::HashMap;

use bytes::Bytes;
use protocol::records::{
    RecordBatchBuilder, RecordBatchHeader, TimestampType, decode_batch_records,
};

use super::offset_map::OffsetMap;
use crate::error::{Result, StorageError};

/// Largest decompressed record payload of one batch the cleaner will rewrite.
pub(crate) const DECOMPRESSED_BATCH_BYTES_MAX: usize = 64 << 20;

/// What the cleaner knows when it filters batches.
pub(crate) struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    /// Where the map's coverage ends (the cleaning's end): records at or past it are kept as
    /// they are, tombstones too, and give their batch no delete horizon.
    pub end_offset: i64,
    /// Producer id -> last offset of the last batch it wrote (from the log's producer state).
    pub producer_last_offsets: &'a HashMap<i64, i64>,
    pub now: i64,
    pub delete_retention_ms: u64,
}

/// The verdict on one batch.
#[derive(Debug)]
pub(crate) enum Filtered {
    /// Copy the batch's bytes unchanged.
    Keep,
    /// Leave the batch out.
    Drop,
    /// Write these bytes instead.
    Rewrite(Bytes),
}

/// Counters of one cleaning, for the outcome and the logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FilterStats {
    pub records_read: u64,
    pub records_kept: u64,
    pub tombstones_removed: u64,
    /// The earliest delete horizon among batches that still hold tombstones: the log needs
    /// another cleaning then, dirty or not.
    pub earliest_delete_horizon: Option<i64>,
}

/// Decides what to keep of the batch in `bytes` (exactly one whole batch, parsed as `header`).
pub(crate) fn filter_batch(
    bytes: &Bytes,
    header: &RecordBatchHeader<'_>,
    context: &FilterContext<'_>,
    stats: &mut FilterStats,
) -> Result<Filtered> {
    let invalid = |source| StorageError::InvalidBatch {
        position: 0,
        source,
    };
    let count = u64::try_from(header.records_count()).unwrap_or(0);
    if header.is_control() || header.is_transactional() {
        stats.records_read += count;
        stats.records_kept += count;
        return Ok(Filtered::Keep);
    }
    let horizon_passed = header.has_delete_horizon() && context.now >= header.base_timestamp();
    let mut kept = Vec::new();
    let mut removed_any = false;
    let mut kept_tombstone = false;
    for record in
        decode_batch_records(header, bytes, DECOMPRESSED_BATCH_BYTES_MAX).map_err(invalid)?
    {
        let record = record.map_err(invalid)?;
        stats.records_read += 1;
        let offset = header.base_offset() + i64::from(record.offset_delta);
        if offset >= context.end_offset {
            kept.push(record);
            continue;
        }
        let latest = record.key.as_ref().is_some_and(|key| {
            context
                .map
                .get(OffsetMap::hash(key))
                .is_none_or(|latest| offset >= latest)
        });
        let keep = latest && (record.value.is_some() || !horizon_passed);
        if latest && record.value.is_none() && !horizon_passed {
            kept_tombstone = true;
        } else if latest && record.value.is_none() {
            stats.tombstones_removed += 1;
        }
        if keep {
            kept.push(record);
        } else {
            removed_any = true;
        }
    }
    stats.records_kept += kept.len() as u64;
    let set_horizon = kept_tombstone && !header.has_delete_horizon();
    let last_of_producer = header.producer_id() >= 0
        && context.producer_last_offsets.get(&header.producer_id()) == Some(&header.last_offset());
    if kept.is_empty() && !last_of_producer {
        return Ok(Filtered::Drop);
    }
    let base_timestamp = if set_horizon {
        context
            .now
            .saturating_add(i64::try_from(context.delete_retention_ms).unwrap_or(i64::MAX))
    } else {
        header.base_timestamp()
    };
    if kept_tombstone {
        stats.earliest_delete_horizon = Some(
            stats
                .earliest_delete_horizon
                .map_or(base_timestamp, |h| h.min(base_timestamp)),
        );
    }
    if !removed_any && !set_horizon {
        return Ok(Filtered::Keep);
    }
    let timestamp_type = header.timestamp_type();
    let mut builder = RecordBatchBuilder::new()
        .base_offset(header.base_offset())
        .partition_leader_epoch(header.partition_leader_epoch())
        .producer(
            header.producer_id(),
            header.producer_epoch(),
            header.base_sequence(),
        )
        .base_timestamp(base_timestamp)
        .timestamp_type(timestamp_type)
        .compression(header.compression().ok_or_else(|| {
            invalid(protocol::records::RecordsError::UnknownCompression {
                id: (header.attributes() & 0x07) as u8,
            })
        })?)
        .last_offset_delta(header.last_offset_delta())
        .delete_horizon(set_horizon || header.has_delete_horizon());
    if timestamp_type == TimestampType::LogAppendTime || kept.is_empty() {
        builder = builder.max_timestamp(header.max_timestamp());
    }
    for mut record in kept {
        let timestamp = header
            .base_timestamp()
            .saturating_add(record.timestamp_delta);
        record.timestamp_delta = timestamp.saturating_sub(base_timestamp);
        builder.push(record).map_err(invalid)?;
    }
    Ok(Filtered::Rewrite(builder.build().map_err(invalid)?))
}
