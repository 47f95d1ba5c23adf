//! Producer state: per ProducerId, its ProducerEpoch, the coordinator epoch of its last
//! transaction marker, the first offset of its open transaction, and the sequence ranges and
//! offsets of its last five batches. Enough to reject out-of-order sequences, fence old
//! epochs and zombie coordinators, answer a retried batch with the offsets it was first given
//! (KIP-98), and know which transactions are open (for the last stable offset).
//!
//! The rules are Kafka's `ProducerAppendInfo`: leader appends are checked (`check_append`)
//! against the state as each earlier batch of the same request would leave it; follower
//! appends and recovery replay only apply (`update`). The state is rebuilt from batch headers
//! (and the one record of each control batch) and snapshotted to `<offset>.snapshot` files
//! (`producer/snapshot.rs`). Not owned here: the `.txnindex` file and the LSO arithmetic
//! (`transactions.rs`, `txn_index.rs`).

mod snapshot;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use protocol::records::{NO_SEQUENCE, RecordBatchHeader, RecordsError};

use crate::error::{Result, StorageError};
use crate::transactions::{CompletedTxn, TransactionResult, TxnTracker, read_marker};

/// Batches remembered per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub const PRODUCER_BATCHES_RETAINED: usize = 5;
/// Kafka's "no coordinator epoch yet".
const NO_COORDINATOR_EPOCH: i32 = -1;

/// One remembered batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// What the log knows about one ProducerId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    pub producer_epoch: i16,
    /// The coordinator epoch of the last transaction marker (`-1` before the first).
    pub coordinator_epoch: i32,
    /// The first offset of the producer's open transaction (Kafka's `currentTxnFirstOffset`;
    /// DescribeProducers' `CurrentTxnStartOffset`).
    pub current_txn_first_offset: Option<i64>,
    pub last_timestamp: i64,
    /// Oldest first; at most [`PRODUCER_BATCHES_RETAINED`].
    pub batches: VecDeque<ProducerBatch>,
}

impl ProducerState {
    fn new(producer_epoch: i16) -> Self {
        Self {
            producer_epoch,
            coordinator_epoch: NO_COORDINATOR_EPOCH,
            current_txn_first_offset: None,
            last_timestamp: -1,
            batches: VecDeque::new(),
        }
    }
}

/// What a batch is to the producer rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchKind {
    Data,
    /// A control batch with a COMMIT or ABORT marker and its coordinator epoch.
    Marker(TransactionResult, i32),
    /// A control batch without records (the cleaner emptied it): no effect on transactions.
    EmptyControl,
}

/// What the producer rules need of one batch, read from its header (and marker).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchFacts {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub transactional: bool,
    pub kind: BatchKind,
}

impl BatchFacts {
    /// Reads a batch; a control batch whose record is not a transaction marker is an error.
    pub fn read(header: &RecordBatchHeader<'_>) -> std::result::Result<Self, RecordsError> {
        let kind = if header.is_control() {
            match read_marker(header)? {
                Some((result, coordinator_epoch)) => BatchKind::Marker(result, coordinator_epoch),
                None => BatchKind::EmptyControl,
            }
        } else {
            BatchKind::Data
        };
        Ok(Self {
            producer_id: header.producer_id(),
            producer_epoch: header.producer_epoch(),
            base_sequence: header.base_sequence(),
            base_offset: header.base_offset(),
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp(),
            transactional: header.is_transactional(),
            kind,
        })
    }

    /// For batches already in the log (follower appends, replay): a control batch that is not
    /// a readable marker is treated as an empty one, as the leader already accepted it.
    pub fn read_lenient(header: &RecordBatchHeader<'_>) -> Self {
        Self::read(header).unwrap_or_else(|error| {
            tracing::warn!(offset = header.base_offset(), %error, "control batch without a readable marker");
            Self {
                producer_id: header.producer_id(),
                producer_epoch: header.producer_epoch(),
                base_sequence: header.base_sequence(),
                base_offset: header.base_offset(),
                last_offset: header.last_offset(),
                max_timestamp: header.max_timestamp(),
                transactional: header.is_transactional(),
                kind: BatchKind::EmptyControl,
            }
        })
    }

    fn last_sequence(&self) -> i32 {
        let delta = i32::try_from(self.last_offset - self.base_offset).unwrap_or(i32::MAX);
        last_sequence(self.base_sequence, delta)
    }
}

/// The verdict on a leader append before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Valid: append it.
    Append,
    /// A retry of a batch already in the log at these offsets: answer without appending.
    Duplicate(ProducerBatch),
}

/// The sequence of the batch's last record, wrapping past `i32::MAX` like Kafka.
pub(crate) fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    if base_sequence > i32::MAX - last_offset_delta {
        last_offset_delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + last_offset_delta
    }
}

pub(crate) fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

/// Kafka's leader-side checks of one batch against the producer's state (`None`: unknown).
fn validate(producer_id: i64, state: Option<&ProducerState>, batch: &BatchFacts) -> Result<()> {
    let Some(state) = state else {
        // Unknown producer (new, or its state left with old segments): accept.
        return Ok(());
    };
    let epoch = batch.producer_epoch;
    if epoch < state.producer_epoch {
        return Err(StorageError::InvalidProducerEpoch {
            producer_id,
            epoch,
            current_epoch: state.producer_epoch,
        });
    }
    match batch.kind {
        BatchKind::Marker(_, coordinator_epoch) if coordinator_epoch < state.coordinator_epoch => {
            Err(StorageError::TransactionCoordinatorFenced {
                producer_id,
                coordinator_epoch,
                current_coordinator_epoch: state.coordinator_epoch,
            })
        }
        BatchKind::Marker(..) | BatchKind::EmptyControl => Ok(()),
        // A transactional batch the group coordinator writes for a producer (TxnOffsetCommit,
        // Kafka's `AppendOrigin.COORDINATOR`) carries no sequence: nothing to check. Clients
        // cannot send one (the broker's validator refuses a producer id without a sequence).
        BatchKind::Data if batch.base_sequence == NO_SEQUENCE => {
            if state.current_txn_first_offset.is_some() && !batch.transactional {
                return Err(StorageError::InvalidTxnState {
                    producer_id,
                    reason: "non-transactional batch while the producer's transaction is open",
                });
            }
            Ok(())
        }
        BatchKind::Data => {
            let first = batch.base_sequence;
            let last_known = state.batches.back().map_or(-1, |b| b.last_sequence);
            let out_of_order = Err(StorageError::OutOfOrderSequence {
                producer_id,
                epoch,
                first_sequence: first,
                last_sequence: last_known,
            });
            if epoch > state.producer_epoch {
                if first != 0 {
                    return out_of_order;
                }
            } else if !state.batches.is_empty() && first != next_sequence(last_known) {
                return out_of_order;
            }
            if state.current_txn_first_offset.is_some() && !batch.transactional {
                return Err(StorageError::InvalidTxnState {
                    producer_id,
                    reason: "non-transactional batch while the producer's transaction is open",
                });
            }
            Ok(())
        }
    }
}

/// Applies a batch now in the log to its producer's state. Returns the ended transaction's
/// first offset and whether it aborted, when the batch is a marker of an open transaction.
fn apply(state: &mut ProducerState, batch: &BatchFacts) -> Option<(i64, bool)> {
    if batch.producer_epoch != state.producer_epoch {
        state.producer_epoch = batch.producer_epoch;
        state.batches.clear();
    }
    state.last_timestamp = state.last_timestamp.max(batch.max_timestamp);
    match batch.kind {
        BatchKind::Data => {
            if state.batches.len() == PRODUCER_BATCHES_RETAINED {
                state.batches.pop_front();
            }
            state.batches.push_back(ProducerBatch {
                first_sequence: batch.base_sequence,
                last_sequence: batch.last_sequence(),
                first_offset: batch.base_offset,
                last_offset: batch.last_offset,
            });
            if batch.transactional && state.current_txn_first_offset.is_none() {
                state.current_txn_first_offset = Some(batch.base_offset);
            }
            None
        }
        BatchKind::Marker(result, coordinator_epoch) => {
            state.coordinator_epoch = coordinator_epoch;
            state
                .current_txn_first_offset
                .take()
                .map(|first| (first, result == TransactionResult::Abort))
        }
        BatchKind::EmptyControl => None,
    }
}

/// What the cleaner must keep of a producer: the batch holding its last sequence, or (when
/// its last write was a marker that bumped the epoch) its last marker (Kafka's `LastRecord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastRecord {
    pub last_data_offset: Option<i64>,
    pub producer_epoch: i16,
}

#[derive(Debug)]
pub(crate) struct ProducerStateManager {
    dir: PathBuf,
    producers: BTreeMap<i64, ProducerState>,
    producer_ids_max: usize,
    txns: TxnTracker,
}

impl ProducerStateManager {
    pub fn new(dir: &Path, producer_ids_max: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            producers: BTreeMap::new(),
            producer_ids_max,
            txns: TxnTracker::new(producer_ids_max),
        }
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerState> {
        self.producers.get(&producer_id)
    }

    /// Every producer's state, by producer id (DescribeProducers).
    pub fn all(&self) -> impl Iterator<Item = (i64, &ProducerState)> {
        self.producers.iter().map(|(&id, state)| (id, state))
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Kafka's leader checks for the batches of one request, in order: a batch that repeats
    /// one of its producer's remembered batches makes the whole request a duplicate; every
    /// other batch must pass [`validate`] against the state the earlier batches leave.
    pub fn check_append(&self, batches: &[BatchFacts]) -> Result<SequenceCheck> {
        let mut updated: HashMap<i64, ProducerState> = HashMap::new();
        let mut new_producers = 0usize;
        for batch in batches {
            let producer_id = batch.producer_id;
            if producer_id < 0 {
                if batch.kind != BatchKind::Data {
                    return Err(StorageError::InvalidBatch {
                        position: 0,
                        source: RecordsError::InvalidControlRecord {
                            reason: "control batch without a producer id",
                        },
                    });
                }
                continue;
            }
            let stored = self.producers.get(&producer_id);
            if batch.kind == BatchKind::Data
                && let Some(duplicate) = stored.and_then(|s| find_duplicate(s, batch))
            {
                return Ok(SequenceCheck::Duplicate(duplicate));
            }
            let current = updated.get(&producer_id).or(stored);
            validate(producer_id, current, batch)?;
            if current.is_none() {
                new_producers += 1;
            }
            let mut next = current
                .cloned()
                .unwrap_or_else(|| ProducerState::new(batch.producer_epoch));
            apply(&mut next, batch);
            updated.insert(producer_id, next);
        }
        if self.txns.ongoing.len() + new_producers > self.producer_ids_max {
            return Err(StorageError::TooManyOngoingTransactions {
                limit: self.producer_ids_max,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that is now in the log (offsets assigned). Returns the transaction it
    /// ended, already moved from open to unreplicated, with the LSO its index entry records.
    pub fn update(&mut self, batch: &BatchFacts) -> Option<CompletedTxn> {
        let producer_id = batch.producer_id;
        if producer_id < 0 {
            return None;
        }
        if !self.producers.contains_key(&producer_id)
            && self.producers.len() >= self.producer_ids_max
        {
            self.evict_oldest();
        }
        let state = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerState::new(batch.producer_epoch));
        let open_before = state.current_txn_first_offset;
        let ended = apply(state, batch);
        if let (None, Some(first)) = (open_before, state.current_txn_first_offset) {
            self.txns.ongoing.insert(first, producer_id);
        }
        let (first_offset, aborted) = ended?;
        let completed = CompletedTxn {
            producer_id,
            first_offset,
            last_offset: batch.base_offset,
            aborted,
            last_stable_offset: self
                .txns
                .last_stable_offset_at(producer_id, batch.base_offset),
        };
        self.txns.complete(completed);
        Some(completed)
    }

    /// Evicts the producer with the oldest last timestamp among those without an open
    /// transaction. When every producer has one (a leader refuses that case up front), the
    /// oldest goes anyway and its transaction no longer holds the LSO.
    fn evict_oldest(&mut self) {
        let idle = self
            .producers
            .iter()
            .filter(|(_, s)| s.current_txn_first_offset.is_none())
            .min_by_key(|(_, s)| s.last_timestamp)
            .map(|(&id, _)| id);
        let victim = idle.or_else(|| {
            self.producers
                .iter()
                .min_by_key(|(_, s)| s.last_timestamp)
                .map(|(&id, _)| id)
        });
        if let Some(state) = victim.and_then(|id| self.producers.remove(&id))
            && let Some(first) = state.current_txn_first_offset
        {
            tracing::warn!(
                first,
                "producer state full of open transactions; forgetting one"
            );
            self.txns.ongoing.remove(&first);
        }
    }

    /// Forgets producers whose last batch lies below the log start offset, unless their
    /// transaction is open (Kafka never expires those), and unreplicated transactions whose
    /// marker lies below it.
    pub fn truncate_head(&mut self, log_start: i64) {
        self.producers.retain(|_, s| {
            s.current_txn_first_offset.is_some()
                || s.batches.back().is_none_or(|b| b.last_offset >= log_start)
        });
        self.txns.remove_unreplicated_below(log_start);
    }

    /// The HighWatermark moved: decided transactions whose marker is below it are stable.
    pub fn on_high_watermark(&mut self, high_watermark: i64) {
        self.txns.remove_unreplicated_below(high_watermark);
    }

    /// The smallest first offset of an open or unreplicated transaction (not clamped).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.txns.first_unstable_offset()
    }

    /// Per producer, what the cleaner keeps so its state survives compaction.
    pub fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .iter()
            .map(|(&id, state)| {
                let record = LastRecord {
                    last_data_offset: state.batches.back().map(|b| b.last_offset),
                    producer_epoch: state.producer_epoch,
                };
                (id, record)
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.producers.clear();
        self.txns.clear();
    }

    /// Replaces the producers (a loaded snapshot) and rebuilds the open transactions.
    fn replace(&mut self, producers: BTreeMap<i64, ProducerState>) {
        self.txns.clear();
        for (&id, state) in &producers {
            if let Some(first) = state.current_txn_first_offset {
                self.txns.ongoing.insert(first, id);
            }
        }
        self.producers = producers;
    }
}

fn find_duplicate(state: &ProducerState, batch: &BatchFacts) -> Option<ProducerBatch> {
    // A coordinator's batch (no sequence) is never a retry of an earlier one.
    if batch.producer_epoch != state.producer_epoch || batch.base_sequence == NO_SEQUENCE {
        return None;
    }
    let (first, last) = (batch.base_sequence, batch.last_sequence());
    state
        .batches
        .iter()
        .find(|b| b.first_sequence == first && b.last_sequence == last)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(producer_id: i64, epoch: i16, sequence: i32, offset: i64, txn: bool) -> BatchFacts {
        BatchFacts {
            producer_id,
            producer_epoch: epoch,
            base_sequence: sequence,
            base_offset: offset,
            last_offset: offset + 1,
            max_timestamp: offset,
            transactional: txn,
            kind: BatchKind::Data,
        }
    }

    fn marker(producer_id: i64, epoch: i16, offset: i64, abort: bool, coord: i32) -> BatchFacts {
        let result = if abort {
            TransactionResult::Abort
        } else {
            TransactionResult::Commit
        };
        BatchFacts {
            producer_id,
            producer_epoch: epoch,
            base_sequence: -1,
            base_offset: offset,
            last_offset: offset,
            max_timestamp: offset,
            transactional: true,
            kind: BatchKind::Marker(result, coord),
        }
    }

    #[test]
    fn coordinator_batches_without_sequence_are_neither_checked_nor_duplicates() {
        // The group coordinator writes a producer's transactional offset commits with no
        // sequence; two in one transaction are two appends, not a retry and not out of order.
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(dir.path(), 10);
        let first = data(7, 0, NO_SEQUENCE, 0, true);
        assert_eq!(m.check_append(&[first]).unwrap(), SequenceCheck::Append);
        m.update(&first);
        let second = data(7, 0, NO_SEQUENCE, 2, true);
        assert_eq!(m.check_append(&[second]).unwrap(), SequenceCheck::Append);
        m.update(&second);
        assert_eq!(m.get(7).unwrap().current_txn_first_offset, Some(0));
        // A sequenced client batch of the same producer is still checked.
        assert!(m.check_append(&[data(7, 0, 5, 4, true)]).is_err());
    }

    #[test]
    fn sequence_wraps_like_kafka() {
        assert_eq!(last_sequence(0, 4), 4);
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(next_sequence(i32::MAX), 0);
    }

    #[test]
    fn markers_end_transactions_and_fence_old_epochs_and_coordinators() {
        // Kafka's ProducerAppendInfo: a transactional batch opens the transaction at its first
        // offset; the marker ends it; older producer or coordinator epochs are refused.
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(dir.path(), 10);
        let check = |m: &ProducerStateManager, b: BatchFacts| m.check_append(&[b]);
        assert_eq!(
            check(&m, data(1, 0, 0, 10, true)).unwrap(),
            SequenceCheck::Append
        );
        assert_eq!(m.update(&data(1, 0, 0, 10, true)), None);
        m.update(&data(1, 0, 2, 12, true));
        assert_eq!(m.get(1).unwrap().current_txn_first_offset, Some(10));
        assert!(matches!(
            check(&m, data(1, 0, 4, 14, false)),
            Err(StorageError::InvalidTxnState { .. })
        ));
        let ended = m.update(&marker(1, 0, 14, true, 3)).unwrap();
        assert_eq!(
            (ended.first_offset, ended.last_offset, ended.aborted),
            (10, 14, true)
        );
        assert_eq!(ended.last_stable_offset, 15, "no other transaction open");
        assert_eq!(m.get(1).unwrap().current_txn_first_offset, None);
        assert_eq!(
            m.first_unstable_offset(),
            Some(10),
            "unreplicated until the HW passes"
        );
        m.on_high_watermark(15);
        assert_eq!(m.first_unstable_offset(), None);
        assert!(matches!(
            check(&m, marker(1, 0, 15, false, 2)),
            Err(StorageError::TransactionCoordinatorFenced {
                current_coordinator_epoch: 3,
                ..
            })
        ));
        // A marker with a bumped epoch (the coordinator fencing the producer) is accepted and
        // fences the old epoch, for data and markers alike.
        assert_eq!(
            check(&m, marker(1, 1, 15, true, 3)).unwrap(),
            SequenceCheck::Append
        );
        assert_eq!(
            m.update(&marker(1, 1, 15, true, 3)),
            None,
            "nothing was open"
        );
        assert!(matches!(
            check(&m, data(1, 0, 4, 16, true)),
            Err(StorageError::InvalidProducerEpoch { .. })
        ));
        assert!(matches!(
            check(&m, marker(1, 0, 16, true, 3)),
            Err(StorageError::InvalidProducerEpoch { .. })
        ));
    }

    #[test]
    fn a_request_is_checked_against_the_state_its_earlier_batches_leave() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerStateManager::new(dir.path(), 10);
        let request = [data(1, 0, 0, 0, true), data(1, 0, 2, 2, false)];
        assert!(matches!(
            m.check_append(&request),
            Err(StorageError::InvalidTxnState { .. })
        ));
        let request = [data(1, 0, 0, 0, false), data(1, 0, 5, 2, false)];
        assert!(matches!(
            m.check_append(&request),
            Err(StorageError::OutOfOrderSequence {
                first_sequence: 5,
                ..
            })
        ));
    }

    #[test]
    fn open_transactions_are_never_evicted_while_idle_producers_remain() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = ProducerStateManager::new(dir.path(), 2);
        m.update(&data(1, 0, 0, 0, true));
        m.update(&data(2, 0, 0, 2, false));
        m.update(&data(3, 0, 0, 4, true));
        assert!(m.get(1).is_some() && m.get(2).is_none() && m.get(3).is_some());
        assert_eq!(m.first_unstable_offset(), Some(0));
        // Both tracked producers have open transactions: a new producer is refused.
        assert!(matches!(
            m.check_append(&[data(4, 0, 0, 6, false)]),
            Err(StorageError::TooManyOngoingTransactions { limit: 2 })
        ));
        assert_eq!(
            m.check_append(&[data(1, 0, 2, 6, true)]).unwrap(),
            SequenceCheck::Append
        );
        // Retention keeps a producer whose transaction is open, whatever its offsets.
        m.truncate_head(100);
        assert!(m.get(1).is_some() && m.get(3).is_some());
    }
}
