//! What the cleaner keeps of one batch: Kafka's retention rules for a compacted log, applied to
//! a single v2 batch read from a closed segment.
//!
//! Rules (Kafka's `LogCleaner`, KIP-98 and KIP-534):
//! - records at or past the cleaning's end offset are kept untouched;
//! - a record is kept when it is the latest of its key (no later offset for its key in the
//!   offset map); records without a key are dropped, as Kafka's cleaner drops them. Records
//!   of committed transactions follow the same rule;
//! - a tombstone (null value) that is the latest of its key is kept until the batch's delete
//!   horizon passes. A batch holding tombstones gets its horizon (`now + delete.retention.ms`)
//!   the first time it is cleaned, stored in `baseTimestamp` with attribute bit 6 (KIP-534);
//! - a batch of an aborted transaction is dropped whole, whatever its keys (see
//!   `transactions.rs` for how the walk knows);
//! - a COMMIT or ABORT marker whose transaction has no batch left gets a delete horizon the
//!   first time a cleaning sees it so (KIP-534's `containsMarkerForEmptyTxn`) and is dropped by
//!   a cleaning at or past that horizon; until then it is kept as it is;
//! - a batch left without records is dropped, unless it is the last batch its producer id wrote
//!   (or, when the producer's last write was a marker with a new epoch, that marker): it is kept
//!   empty, so the producer keeps its sequence and epoch state after a restart;
//! - a rewritten batch keeps its base offset, `lastOffsetDelta`, producer fields, sequence,
//!   leader epoch, timestamp type, codec and transactional/control attributes: batch
//!   boundaries do not move, only records leave.

use std::collections::HashMap;

use bytes::Bytes;
use protocol::records::{
    Record, RecordBatchBuilder, RecordBatchHeader, TimestampType, decode_batch_records,
};

use super::offset_map::OffsetMap;
use super::transactions::CleanedTransactions;
use crate::error::{Result, StorageError};
use crate::producer::LastRecord;
use crate::transactions::read_marker;

/// Largest decompressed record payload of one batch the cleaner will rewrite.
pub(crate) const DECOMPRESSED_BATCH_BYTES_MAX: usize = 64 << 20;

/// What the cleaner knows when it filters batches.
pub(crate) struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    /// Where the map's coverage ends (the cleaning's end): records at or past it are kept as
    /// they are, tombstones too, and give their batch no delete horizon.
    pub end_offset: i64,
    /// Per producer id, the batch it must keep (from the log's producer state).
    pub producer_last_records: &'a HashMap<i64, LastRecord>,
    pub now: i64,
    pub delete_retention_ms: u64,
}

impl FilterContext<'_> {
    /// Whether `header` is the batch that carries its producer's state (see the module docs).
    fn last_of_producer(&self, header: &RecordBatchHeader<'_>) -> bool {
        header.producer_id() >= 0
            && self
                .producer_last_records
                .get(&header.producer_id())
                .is_some_and(|last| match last.last_data_offset {
                    Some(offset) => !header.is_control() && header.last_offset() == offset,
                    None => header.is_control() && header.producer_epoch() == last.producer_epoch,
                })
    }

    fn horizon(&self) -> i64 {
        self.now
            .saturating_add(i64::try_from(self.delete_retention_ms).unwrap_or(i64::MAX))
    }
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
    /// Records of aborted transactions removed.
    pub aborted_records_removed: u64,
    /// COMMIT and ABORT markers removed (their delete horizon passed).
    pub markers_removed: u64,
    /// The earliest delete horizon among batches that still hold tombstones or markers: the
    /// log needs another cleaning then, dirty or not.
    pub earliest_delete_horizon: Option<i64>,
}

impl FilterStats {
    fn note_horizon(&mut self, horizon: i64) {
        self.earliest_delete_horizon = Some(
            self.earliest_delete_horizon
                .map_or(horizon, |h| h.min(horizon)),
        );
    }
}

fn invalid(source: protocol::records::RecordsError) -> StorageError {
    StorageError::InvalidBatch {
        position: 0,
        source,
    }
}

/// Decides what to keep of the batch in `bytes` (exactly one whole batch, parsed as `header`).
/// `transactions`
/// follows the walk: every batch of the cleaned segments passes here in offset order.
pub(crate) fn filter_batch(
    bytes: &Bytes,
    header: &RecordBatchHeader<'_>,
    context: &FilterContext<'_>,
    transactions: &mut CleanedTransactions,
    stats: &mut FilterStats,
) -> Result<Filtered> {
    let count = u64::try_from(header.records_count()).unwrap_or(0);
    stats.records_read += count;
    if header.is_control() {
        let marker = read_marker(header).ok().flatten().map(|(result, _)| result);
        let empty_transaction = transactions.on_control_batch(header, marker);
        let verdict = filter_marker(header, empty_transaction, context, stats)?;
        stats.records_kept += match &verdict {
            Filtered::Keep => count,
            Filtered::Drop => 0,
            Filtered::Rewrite(bytes) => RecordBatchHeader::parse(bytes)
                .map_or(0, |h| u64::try_from(h.records_count()).unwrap_or(0)),
        };
        return Ok(verdict);
    }
    if transactions.on_data_batch(header) {
        stats.aborted_records_removed += count;
        return if context.last_of_producer(header) && count > 0 {
            let horizon = header.has_delete_horizon();
            Ok(Filtered::Rewrite(rebuild(
                header,
                Vec::new(),
                header.base_timestamp(),
                horizon,
            )?))
        } else if context.last_of_producer(header) {
            Ok(Filtered::Keep)
        } else {
            Ok(Filtered::Drop)
        };
    }
    filter_records(bytes, header, context, stats)
}

/// A control batch: kept until its transaction is empty and then its delete horizon passed.
fn filter_marker(
    header: &RecordBatchHeader<'_>,
    empty_transaction: bool,
    context: &FilterContext<'_>,
    stats: &mut FilterStats,
) -> Result<Filtered> {
    if !empty_transaction || header.records_count() == 0 && context.last_of_producer(header) {
        return Ok(Filtered::Keep);
    }
    if !header.has_delete_horizon() {
        // First cleaning to see the transaction empty: the marker stays readable for
        // `delete.retention.ms` from now, like a tombstone.
        let horizon = context.horizon();
        stats.note_horizon(horizon);
        let records = decode(header)?;
        return Ok(Filtered::Rewrite(rebuild(header, records, horizon, true)?));
    }
    if context.now < header.base_timestamp() {
        stats.note_horizon(header.base_timestamp());
        return Ok(Filtered::Keep);
    }
    stats.markers_removed += u64::from(header.records_count() > 0);
    if context.last_of_producer(header) {
        let horizon = header.base_timestamp();
        return Ok(Filtered::Rewrite(rebuild(
            header,
            Vec::new(),
            horizon,
            true,
        )?));
    }
    Ok(Filtered::Drop)
}

fn decode(header: &RecordBatchHeader<'_>) -> Result<Vec<Record>> {
    decode_batch_records(header, &Bytes::new(), DECOMPRESSED_BATCH_BYTES_MAX)
        .map_err(invalid)?
        .map(|record| record.map_err(invalid))
        .collect()
}

/// A data batch (non-transactional or committed): key-based compaction and tombstones.
fn filter_records(
    bytes: &Bytes,
    header: &RecordBatchHeader<'_>,
    context: &FilterContext<'_>,
    stats: &mut FilterStats,
) -> Result<Filtered> {
    let horizon_passed = header.has_delete_horizon() && context.now >= header.base_timestamp();
    let mut kept = Vec::new();
    let mut removed_any = false;
    let mut kept_tombstone = false;
    for record in
        decode_batch_records(header, bytes, DECOMPRESSED_BATCH_BYTES_MAX).map_err(invalid)?
    {
        let record = record.map_err(invalid)?;
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
    if kept.is_empty() && !context.last_of_producer(header) {
        return Ok(Filtered::Drop);
    }
    let base_timestamp = if set_horizon {
        context.horizon()
    } else {
        header.base_timestamp()
    };
    if kept_tombstone {
        stats.note_horizon(base_timestamp);
    }
    if !removed_any && !set_horizon {
        return Ok(Filtered::Keep);
    }
    let delete_horizon = set_horizon || header.has_delete_horizon();
    Ok(Filtered::Rewrite(rebuild(
        header,
        kept,
        base_timestamp,
        delete_horizon,
    )?))
}

/// The batch `header` rewritten with only `kept` (same boundaries, producer fields, leader
/// epoch, timestamp type, codec and attributes), its records' timestamps unchanged relative to
/// `base_timestamp`.
fn rebuild(
    header: &RecordBatchHeader<'_>,
    kept: Vec<Record>,
    base_timestamp: i64,
    delete_horizon: bool,
) -> Result<Bytes> {
    let timestamp_type = header.timestamp_type();
    let compression = header.compression().ok_or_else(|| {
        invalid(protocol::records::RecordsError::UnknownCompression {
            id: (header.attributes() & 0x07) as u8,
        })
    })?;
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
        .compression(compression)
        .transactional(header.is_transactional())
        .control(header.is_control())
        .last_offset_delta(header.last_offset_delta())
        .delete_horizon(delete_horizon);
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
    builder.build().map_err(invalid)
}
