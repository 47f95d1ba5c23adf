//! The state of one transactional id (Kafka's `TransactionMetadata`) and the states a
//! transaction moves through (Kafka's `TransactionState`, with its ids as stored in
//! `__transaction_state`).
//!
//! ```text
//! Empty ──AddPartitions──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//!   ▲                        │   └──EndTxn/timeout/fence──▶ PrepareAbort ──markers──▶ CompleteAbort
//!   └──InitProducerId────────┴─────────────────────────────────────────────── (from Complete*)
//! Empty / Complete* ──transactional.id.expiration.ms──▶ Dead (a tombstone)
//! ```

use std::collections::BTreeSet;

/// Kafka's `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Where a transaction is (Kafka's `TransactionState`, ids as in `TransactionLogValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// No transaction in progress (after InitProducerId).
    Empty,
    /// Partitions were added; data may be written.
    Ongoing,
    /// EndTxn(commit) accepted; markers being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId; abort markers being written.
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// Expired: removed from `__transaction_state` with a tombstone.
    Dead,
    /// The epoch was bumped to fence a producer before aborting (Kafka's intermediate state).
    PrepareEpochFence,
}

impl TxnState {
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions give (Kafka's `stateName`).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Markers are being written: requests other than retries get CONCURRENT_TRANSACTIONS.
    pub fn is_preparing(self) -> bool {
        matches!(
            self,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        )
    }

    /// No transaction in progress: the id may start one, or expire.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last epoch exhaustion (KIP-360 retries), or -1.
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (a retried InitProducerId is answered, not fenced).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions of the transaction in progress, sorted.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the transaction in progress started (its first AddPartitions), or -1.
    pub start_timestamp_ms: i64,
    pub last_update_timestamp_ms: i64,
    /// Transactions v2 (KIP-890 part 2) when 2: EndTxn bumps the epoch every time.
    pub client_transaction_version: i16,
}

impl TransactionMetadata {
    pub(crate) fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_timestamp_ms: -1,
            last_update_timestamp_ms: now,
            client_transaction_version: 0,
        }
    }

    /// Kafka's `isEpochExhausted`: the next bump must move to a new producer id.
    pub fn epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }

    /// The partitions, grouped by topic, as the APIs list them.
    pub fn partitions_by_topic(&self) -> Vec<(String, Vec<i32>)> {
        let mut grouped: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, partition) in &self.partitions {
            match grouped.last_mut() {
                Some((last, ids)) if last == topic => ids.push(*partition),
                _ => grouped.push((topic.clone(), vec![*partition])),
            }
        }
        grouped
    }
}
