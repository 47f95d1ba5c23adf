//! Transactions on the partition side (KIP-98): the markers that end them, which transactions
//! are open, the last stable offset (LSO) and the public calls the broker's transaction paths
//! use (`append_control_as_leader`, `last_stable_offset`, `first_unstable_offset`,
//! `aborted_transactions`). Reads bounded by the LSO live in `read.rs`.
//!
//! A transactional data batch from producer P starts P's transaction at its base offset (or
//! continues the open one); a control batch carrying a COMMIT or ABORT marker ends it. A
//! transaction whose marker is at or above the HighWatermark is *unreplicated*: decided, but a
//! new leader might not have the marker yet, so it still holds the LSO back until the
//! HighWatermark passes the marker (Kafka's `unreplicatedTxns`). The first unstable offset is
//! the smallest first offset of an open or unreplicated transaction, never below the log start
//! offset; `LSO = min(first unstable offset, HighWatermark)`.
//!
//! Not owned here: the per-producer rules (`producer.rs`), the `.txnindex` file
//! (`txn_index.rs`), the transaction coordinator (the broker).

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::records::{
    ControlRecordType, EndTransactionMarker, RecordBatchHeader, RecordsError, decode_batch_records,
    end_transaction_marker_batch,
};

use crate::error::{Result, StorageError};
use crate::log::{Log, LogAppendInfo, LogState};
use crate::txn_index;

/// Most aborted transactions one call of [`Log::aborted_transactions`] (or one read_committed
/// fetch) returns; more fail with [`StorageError::TooManyAbortedTransactions`].
pub const ABORTED_TRANSACTIONS_MAX: usize = 100_000;
/// Bound on the decoded records of a control batch (a marker record takes 14 bytes).
const CONTROL_RECORDS_BYTES_MAX: usize = 4096;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionResult {
    Commit,
    Abort,
}

/// A COMMIT or ABORT marker for one producer's transaction on this partition, as the
/// transaction coordinator sends it in `WriteTxnMarkers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionMarker {
    pub producer_id: i64,
    /// The producer epoch of the transaction (or the bumped one, when the coordinator fences);
    /// at least the epoch the log knows, else [`StorageError::InvalidProducerEpoch`].
    pub producer_epoch: i16,
    pub result: TransactionResult,
    /// The coordinator's epoch; never below one seen in an earlier marker of this producer,
    /// else [`StorageError::TransactionCoordinatorFenced`].
    pub coordinator_epoch: i32,
}

/// An aborted transaction overlapping a fetched range: a read_committed consumer drops this
/// producer's transactional batches from `first_offset` up to the ABORT marker. The `Fetch`
/// response's `AbortedTransaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// A transaction a marker just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
    /// The LSO the `.txnindex` entry records (see `txn_index.rs`).
    pub last_stable_offset: i64,
}

impl CompletedTxn {
    pub fn index_entry(&self) -> txn_index::AbortedTxnEntry {
        txn_index::AbortedTxnEntry {
            producer_id: self.producer_id,
            first_offset: self.first_offset,
            last_offset: self.last_offset,
            last_stable_offset: self.last_stable_offset,
        }
    }
}

/// The marker a control batch carries: `Ok(None)` for an empty control batch (the cleaner
/// emptied it), `Err` when its record is not a COMMIT or ABORT marker.
pub(crate) fn read_marker(
    header: &RecordBatchHeader<'_>,
) -> std::result::Result<Option<(TransactionResult, i32)>, RecordsError> {
    if header.records_count() == 0 {
        return Ok(None);
    }
    let mut records = decode_batch_records(header, &Bytes::new(), CONTROL_RECORDS_BYTES_MAX)?;
    let record = records.next().ok_or(RecordsError::InvalidControlRecord {
        reason: "control batch without its record",
    })??;
    let (Some(key), Some(value)) = (&record.key, &record.value) else {
        return Err(RecordsError::InvalidControlRecord {
            reason: "control record without key or value",
        });
    };
    let marker = EndTransactionMarker::parse(key, value)?;
    let result = match marker.control_type {
        ControlRecordType::Commit => TransactionResult::Commit,
        _ => TransactionResult::Abort,
    };
    Ok(Some((result, marker.coordinator_epoch)))
}

/// Open and unreplicated transactions, by first offset (Kafka's `ongoingTxns` and
/// `unreplicatedTxns`). Invariant: `ongoing` holds exactly the producers whose state has a
/// `current_txn_first_offset`, keyed by it. Both maps are bounded: `ongoing` by the producer
/// map, `unreplicated` by `unreplicated_max` (the newest entries are dropped past it, which
/// only lets the LSO pass a decided transaction before its marker is replicated).
#[derive(Debug, Default)]
pub(crate) struct TxnTracker {
    pub ongoing: BTreeMap<i64, i64>,
    unreplicated: BTreeMap<i64, CompletedTxn>,
    unreplicated_max: usize,
}

impl TxnTracker {
    pub fn new(unreplicated_max: usize) -> Self {
        Self {
            ongoing: BTreeMap::new(),
            unreplicated: BTreeMap::new(),
            unreplicated_max,
        }
    }

    pub fn clear(&mut self) {
        self.ongoing.clear();
        self.unreplicated.clear();
    }

    /// Kafka's `lastStableOffset(completedTxn)`: the first offset of the earliest transaction
    /// of another producer still open, or the marker's offset + 1.
    pub fn last_stable_offset_at(&self, producer_id: i64, marker_offset: i64) -> i64 {
        self.ongoing
            .iter()
            .find(|&(_, &id)| id != producer_id)
            .map_or(marker_offset.saturating_add(1), |(&first, _)| first)
    }

    /// Moves an ended transaction from open to unreplicated.
    pub fn complete(&mut self, completed: CompletedTxn) {
        self.ongoing.remove(&completed.first_offset);
        self.unreplicated.insert(completed.first_offset, completed);
        while self.unreplicated.len() > self.unreplicated_max {
            self.unreplicated.pop_last();
        }
    }

    /// Forgets unreplicated transactions whose marker is below `offset` (the HighWatermark or
    /// the log start offset moved past it).
    pub fn remove_unreplicated_below(&mut self, offset: i64) {
        self.unreplicated.retain(|_, txn| txn.last_offset >= offset);
    }

    /// The smallest first offset of an open or unreplicated transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl LogState {
    /// The first unstable offset, at least the log start offset.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .first_unstable_offset()
            .map(|offset| offset.max(self.log_start_offset))
    }

    /// `min(first unstable offset, HighWatermark)`.
    pub fn last_stable_offset(&self) -> i64 {
        self.first_unstable_offset()
            .map_or(self.high_watermark, |offset| {
                offset.min(self.high_watermark)
            })
    }

    /// Sets the HighWatermark and lets decided transactions below it stop holding the LSO.
    pub fn update_high_watermark(&mut self, offset: i64) {
        self.high_watermark = offset;
        self.producers.on_high_watermark(offset);
    }

    /// Aborted transactions overlapping `[start, upper)` (Kafka's `collectAbortedTransactions`):
    /// reads the `.txnindex` files from the segment holding `start` on, until an entry's last
    /// stable offset shows no later entry can overlap.
    pub fn collect_aborted(
        &self,
        start: i64,
        upper: i64,
        path: &std::path::Path,
    ) -> Result<Vec<AbortedTransaction>> {
        let mut found = Vec::new();
        let from = self
            .segments
            .range(..=start)
            .next_back()
            .map_or(i64::MIN, |(&b, _)| b);
        for segment in self.segments.range(from..).map(|(_, s)| s) {
            let len = segment.txn_index_bytes.unwrap_or(0);
            if len == 0 {
                continue;
            }
            let complete = txn_index::collect(
                &txn_index::path_for(&segment.log_path),
                len,
                start,
                upper,
                &mut |entry| {
                    if found.len() == ABORTED_TRANSACTIONS_MAX {
                        return Err(StorageError::TooManyAbortedTransactions {
                            path: path.to_path_buf(),
                            start,
                            upper,
                            limit: ABORTED_TRANSACTIONS_MAX,
                        });
                    }
                    found.push(AbortedTransaction {
                        producer_id: entry.producer_id,
                        first_offset: entry.first_offset,
                    });
                    Ok(())
                },
            )?;
            if complete {
                break;
            }
        }
        Ok(found)
    }
}

impl Log {
    /// Appends a transaction marker (`WriteTxnMarkers`, as leader): builds the control batch
    /// Kafka's `MemoryRecords.withEndTransactionMarker` writes (one record, no sequence,
    /// `timestamp_ms`), checks it against the producer's state like any leader append and
    /// writes it at the log end offset. Returns the marker's offset as `first_offset`.
    ///
    /// Refused with [`StorageError::InvalidProducerEpoch`] when `marker.producer_epoch` is
    /// older than the producer's, [`StorageError::TransactionCoordinatorFenced`] when the
    /// coordinator epoch is older than one seen before, [`StorageError::StaleLeaderEpoch`] as
    /// other leader appends. A marker for a producer with no open transaction is written
    /// anyway (Kafka does the same; a retried `WriteTxnMarkers` lands here) and changes nothing
    /// but the producer's epochs. An ABORT marker of a transaction with data adds a
    /// `.txnindex` entry to the active segment.
    pub fn append_control_as_leader(
        &self,
        marker: &TransactionMarker,
        leader_epoch: i32,
        timestamp_ms: i64,
    ) -> Result<LogAppendInfo> {
        let control_type = match marker.result {
            TransactionResult::Commit => ControlRecordType::Commit,
            TransactionResult::Abort => ControlRecordType::Abort,
        };
        let batch = end_transaction_marker_batch(
            0,
            timestamp_ms,
            leader_epoch,
            marker.producer_id,
            marker.producer_epoch,
            EndTransactionMarker {
                control_type,
                coordinator_epoch: marker.coordinator_epoch,
            },
        )
        .map_err(|source| StorageError::InvalidBatch {
            position: 0,
            source,
        })?;
        let mut bytes = batch.to_vec();
        self.append_as_leader(&mut bytes, leader_epoch)
    }

    /// The last stable offset: `min(first unstable offset, HighWatermark)`. A read_committed
    /// consumer reads below it; ListOffsets LATEST under read_committed answers it.
    pub fn last_stable_offset(&self) -> Result<i64> {
        Ok(self.lock()?.last_stable_offset())
    }

    /// The first offset of the earliest open or unreplicated transaction (at least the log
    /// start offset), or `None` when every transaction is decided and replicated.
    pub fn first_unstable_offset(&self) -> Result<Option<i64>> {
        Ok(self.lock()?.first_unstable_offset())
    }

    /// Aborted transactions overlapping `[start_offset, end_offset)`: every ABORT recorded in a
    /// `.txnindex` whose marker is at or after `start_offset` and whose first offset is below
    /// `end_offset` (Kafka's `collectAbortedTransactions`). Pass the fetch offset and the end of
    /// the data returned; [`Log::read_committed`] does this itself. At most
    /// [`ABORTED_TRANSACTIONS_MAX`] entries, else [`StorageError::TooManyAbortedTransactions`].
    pub fn aborted_transactions(
        &self,
        start_offset: i64,
        end_offset: i64,
    ) -> Result<Vec<AbortedTransaction>> {
        self.lock()?
            .collect_aborted(start_offset, end_offset, &self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(producer_id: i64, first: i64, marker: i64) -> CompletedTxn {
        CompletedTxn {
            producer_id,
            first_offset: first,
            last_offset: marker,
            aborted: true,
            last_stable_offset: marker + 1,
        }
    }

    #[test]
    fn unreplicated_transactions_hold_the_first_unstable_offset_until_the_hw_passes() {
        let mut tracker = TxnTracker::new(8);
        tracker.ongoing.insert(10, 1);
        tracker.ongoing.insert(20, 2);
        assert_eq!(tracker.first_unstable_offset(), Some(10));
        // Producer 1's entry would name producer 2's transaction as the LSO, and vice versa.
        assert_eq!(tracker.last_stable_offset_at(1, 30), 20);
        assert_eq!(tracker.last_stable_offset_at(2, 30), 10);
        tracker.complete(completed(1, 10, 30));
        assert_eq!(
            tracker.first_unstable_offset(),
            Some(10),
            "marker not replicated"
        );
        tracker.remove_unreplicated_below(30);
        assert_eq!(
            tracker.first_unstable_offset(),
            Some(10),
            "HW at the marker"
        );
        tracker.remove_unreplicated_below(31);
        assert_eq!(tracker.first_unstable_offset(), Some(20));
        assert_eq!(tracker.last_stable_offset_at(2, 40), 41);
    }

    #[test]
    fn the_unreplicated_set_is_bounded() {
        let mut tracker = TxnTracker::new(2);
        for first in [30, 10, 20] {
            tracker.ongoing.insert(first, first);
            tracker.complete(completed(first, first, first + 5));
        }
        assert_eq!(tracker.unreplicated.len(), 2);
        assert_eq!(tracker.first_unstable_offset(), Some(10));
    }

    #[test]
    fn markers_are_read_from_control_batches() {
        let marker = EndTransactionMarker {
            control_type: ControlRecordType::Abort,
            coordinator_epoch: 4,
        };
        let batch = end_transaction_marker_batch(5, 1, 0, 9, 2, marker).unwrap();
        let header = RecordBatchHeader::parse(&batch).unwrap();
        assert_eq!(
            read_marker(&header),
            Ok(Some((TransactionResult::Abort, 4)))
        );
        let empty = protocol::records::RecordBatchBuilder::new()
            .control(true)
            .transactional(true)
            .build()
            .unwrap();
        let header = RecordBatchHeader::parse(&empty).unwrap();
        assert_eq!(read_marker(&header), Ok(None));
    }
}
