//! What the cleaner knows about transactions while it walks a log (Kafka's
//! `CleanedTransactionMetadata`): which aborted transaction each producer's batches belong
//! to, whether a transaction still has batches, and which `.txnindex` entries the cleaned
//! segment keeps.
//!
//! The aborted transactions come from the `.txnindex` files (captured at plan time, so files
//! the active segment grows later are read only up to their planned length). A cleaning walks
//! batches in offset order; an aborted transaction becomes current for its producer when the
//! walk reaches its first offset. Rules:
//! - a transactional data batch of a producer with a current aborted transaction is aborted
//!   data: removed whatever its keys (and never put in the offset map);
//! - an ABORT marker may go once no batch of its transaction was seen in this walk (its data is
//!   gone); while one was, the marker stays and its entry is copied to the cleaned index;
//! - a COMMIT marker may go once no batch of its transaction was seen in this walk;
//! - a marker that may go still waits for its delete horizon (KIP-534, see `filter.rs`).
//!
//! Every transaction with data below the cleaning's end is decided: the cleaning stops at the
//! first unstable offset.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::PathBuf;

use protocol::records::RecordBatchHeader;

use crate::error::{Result, StorageError};
use crate::transactions::{ABORTED_TRANSACTIONS_MAX, TransactionResult};
use crate::txn_index::{self, AbortedTxnEntry};

/// One segment's `.txnindex` as the plan saw it.
#[derive(Debug, Clone)]
pub(crate) struct TxnIndexFile {
    pub base_offset: i64,
    pub path: PathBuf,
    pub len: u64,
}

/// Kafka's `collectAbortedTransactions` over the planned index files: entries whose marker is
/// at or after `start` and whose first offset is below `upper`, from the segment holding
/// `start` on, until an entry's last stable offset shows the rest cannot overlap.
pub(crate) fn collect_aborted(
    files: &[TxnIndexFile],
    start: i64,
    upper: i64,
    found: &mut dyn FnMut(AbortedTxnEntry) -> Result<()>,
) -> Result<()> {
    let from = files
        .iter()
        .rposition(|f| f.base_offset <= start)
        .unwrap_or(0);
    for file in &files[from..] {
        if file.len > 0 && txn_index::collect(&file.path, file.len, start, upper, found)? {
            break;
        }
    }
    Ok(())
}

/// The walk's transaction state; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct CleanedTransactions {
    /// Aborted transactions the walk has not reached, smallest first offset first.
    pending: BinaryHeap<Reverse<(i64, i64, i64, i64)>>,
    /// Per producer: its current aborted transaction and whether a batch of it was seen.
    aborted: HashMap<i64, (AbortedTxnEntry, bool)>,
    /// Producers with a batch of their current (committed) transaction seen.
    committed: HashSet<i64>,
    /// Entries the cleaned segment's `.txnindex` keeps, in marker order.
    retained: Vec<AbortedTxnEntry>,
}

impl CleanedTransactions {
    /// Adds aborted transactions the walk will reach; at most [`ABORTED_TRANSACTIONS_MAX`]
    /// may wait at once.
    pub fn add(&mut self, entry: AbortedTxnEntry, path: &std::path::Path) -> Result<()> {
        if self.pending.len() >= ABORTED_TRANSACTIONS_MAX {
            return Err(StorageError::TooManyAbortedTransactions {
                path: path.to_path_buf(),
                start: entry.first_offset,
                upper: entry.last_offset,
                limit: ABORTED_TRANSACTIONS_MAX,
            });
        }
        self.pending.push(Reverse((
            entry.first_offset,
            entry.producer_id,
            entry.last_offset,
            entry.last_stable_offset,
        )));
        Ok(())
    }

    fn reach(&mut self, offset: i64) {
        while let Some(&Reverse((first, producer_id, last, lso))) = self.pending.peek() {
            if first > offset {
                break;
            }
            self.pending.pop();
            let entry = AbortedTxnEntry {
                producer_id,
                first_offset: first,
                last_offset: last,
                last_stable_offset: lso,
            };
            self.aborted.entry(producer_id).or_insert((entry, false));
        }
    }

    /// A data batch: `true` when it belongs to an aborted transaction.
    pub fn on_data_batch(&mut self, header: &RecordBatchHeader<'_>) -> bool {
        self.reach(header.last_offset());
        if !header.is_transactional() {
            return false;
        }
        match self.aborted.get_mut(&header.producer_id()) {
            Some((_, seen)) => {
                *seen = true;
                true
            }
            None => {
                self.committed.insert(header.producer_id());
                false
            }
        }
    }

    /// A control batch with its marker (`None`: empty or not a marker): `true` when the
    /// marker's transaction left no batch in this walk, so the marker may go after its delete
    /// horizon. An ABORT marker that stays keeps its `.txnindex` entry.
    pub fn on_control_batch(
        &mut self,
        header: &RecordBatchHeader<'_>,
        marker: Option<TransactionResult>,
    ) -> bool {
        self.reach(header.last_offset());
        let producer_id = header.producer_id();
        match marker {
            None => header.records_count() == 0,
            Some(TransactionResult::Abort) => match self.aborted.remove(&producer_id) {
                Some((entry, true)) => {
                    self.retained.push(entry);
                    false
                }
                _ => true,
            },
            Some(TransactionResult::Commit) => !self.committed.remove(&producer_id),
        }
    }

    /// The entries kept for the segment written since the last call.
    pub fn take_retained(&mut self) -> Vec<AbortedTxnEntry> {
        std::mem::take(&mut self.retained)
    }
}
