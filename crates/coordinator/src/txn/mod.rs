//! Runnel's transaction coordinator: the transactional ids of one `__transaction_state`
//! partition, Kafka's transaction state machine, as a sans-I/O value driven by explicit time.
//!
//! The broker owns one [`TransactionCoordinator`] per `__transaction_state` partition it leads
//! (its `coordinator_epoch` is that partition's leader epoch), serialises calls on it, and for
//! each call: appends the returned [`TxnRecord`] to the partition and waits until it is
//! committed before answering; then writes the returned [`MarkerJob`]'s COMMIT or ABORT
//! markers to every partition of the transaction (retrying to their current leaders) and calls
//! [`TransactionCoordinator::markers_written`], whose record completes the transaction. On
//! start it replays the partition with [`TransactionCoordinator::replay`] and resumes the
//! marker jobs [`TransactionCoordinator::finish_loading`] returns. Time comes in as `now_ms`;
//! [`TransactionCoordinator::expire`] aborts transactions past their timeout and removes ids
//! idle past `transactional.id.expiration.ms`.
//!
//! Not here: producer id allocation (the caller passes a source), produce verification and
//! markers on partitions (the broker and storage), transactional offset commits (the group
//! coordinator). Files: `state.rs` (states and metadata), `ops.rs` (the APIs' rules),
//! `records.rs` (the record format), `tests.rs`.

mod ops;
mod records;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use ops::{AddPartitionsResult, ProducerIdAndEpoch};
pub use records::{
    TRANSACTION_LOG_KEY_TYPE, TRANSACTION_LOG_VALUE_VERSION, TxnRecord, decode_txn_record,
    record_for,
};
pub use state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TransactionMetadata, TxnState};

use crate::error::CoordinatorError;

/// Kafka's internal topic for transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The coordinator's settings (Kafka's names).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest timeout a producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an idle id is removed after this long.
    pub transactional_id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        Self {
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
        }
    }
}

/// COMMIT or ABORT markers to write for one transaction, to every partition listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    pub partitions: Vec<(String, i32)>,
}

/// What a call asks the broker to do besides answering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnEffects {
    /// Append to `__transaction_state` (and wait for it to commit) before answering.
    pub record: Option<TxnRecord>,
    /// Then write these markers and call `markers_written`.
    pub markers: Option<MarkerJob>,
}

/// The transactional ids of one `__transaction_state` partition.
#[derive(Debug, Clone)]
pub struct TransactionCoordinator {
    config: TxnConfig,
    coordinator_epoch: i32,
    transactions: HashMap<String, TransactionMetadata>,
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig, coordinator_epoch: i32) -> Self {
        Self {
            config,
            coordinator_epoch,
            transactions: HashMap::new(),
        }
    }

    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch
    }

    /// Applies one `__transaction_state` record read back from the log.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), CoordinatorError> {
        let (transactional_id, metadata) = decode_txn_record(key, value)?;
        match metadata {
            Some(metadata) if metadata.state != TxnState::Dead => {
                self.transactions.insert(transactional_id, metadata);
            }
            _ => {
                self.transactions.remove(&transactional_id);
            }
        }
        Ok(())
    }

    /// After a replay: the marker jobs of transactions a previous coordinator left preparing
    /// (their markers may not all be written), to run again as new.
    pub fn finish_loading(&mut self) -> Vec<MarkerJob> {
        let mut jobs: Vec<MarkerJob> = self
            .transactions
            .values()
            .filter(|m| matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(|m| self.marker_job(m, m.state == TxnState::PrepareCommit))
            .collect();
        jobs.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        jobs
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TransactionMetadata> {
        self.transactions.get(transactional_id)
    }

    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// ListTransactions: ids in one of `states` (all when empty), of one of `producer_ids` (all
    /// when empty), running for at least `min_duration_ms` (-1: any), sorted by id.
    pub fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
        now_ms: i64,
    ) -> Vec<&TransactionMetadata> {
        let mut listed: Vec<&TransactionMetadata> = self
            .transactions
            .values()
            .filter(|m| states.is_empty() || states.iter().any(|s| s == m.state.name()))
            .filter(|m| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|m| {
                min_duration_ms < 0
                    || (m.start_timestamp_ms >= 0
                        && now_ms.saturating_sub(m.start_timestamp_ms) >= min_duration_ms)
            })
            .collect();
        listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        listed
    }

    pub(crate) fn marker_job(&self, metadata: &TransactionMetadata, commit: bool) -> MarkerJob {
        MarkerJob {
            transactional_id: metadata.transactional_id.clone(),
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
            coordinator_epoch: self.coordinator_epoch,
            commit,
            partitions: metadata.partitions.iter().cloned().collect(),
        }
    }
}
