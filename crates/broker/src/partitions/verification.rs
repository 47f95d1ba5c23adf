//! The partition's side of produce verification (KIP-890; Kafka's `VerificationStateEntry`):
//! while a producer's first transactional batches for this partition wait for the coordinator,
//! the lowest sequence seen is remembered, and a batch with a higher sequence is refused with
//! OUT_OF_ORDER_SEQUENCE_NUMBER (retriable) until the lowest one is appended. Without it, a
//! refused first batch (the coordinator busy or moving) lets the batches in flight behind it
//! land first, on a partition with no state for the producer, and the retried first batch is
//! then out of order for good: the transaction can never commit.
//!
//! Bounds: at most [`ENTRIES_MAX`] producers per partition, each for [`ENTRY_LIFETIME`]; past
//! either the guard is lost for those producers, never the data.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::ErrorCode;

use super::Partition;
use crate::error::BrokerError;

/// Producers with a verification in progress remembered per partition.
const ENTRIES_MAX: usize = 1024;
/// An entry older than this is forgotten (its lowest batch was given up, say by an abort).
const ENTRY_LIFETIME: Duration = Duration::from_secs(60);

/// A producer's verification in progress: its epoch and the lowest sequence seen.
#[derive(Debug, Clone, Copy)]
pub(super) struct Verifying {
    epoch: i16,
    lowest_sequence: i32,
    started: Instant,
}

/// The verification entries of one partition.
pub(super) type VerificationState = std::sync::Mutex<HashMap<i64, Verifying>>;

impl Partition {
    /// A transactional batch of `producer_id` at `epoch` starting at `sequence` is about to be
    /// verified: remembers the lowest sequence seen for it.
    pub fn start_verification(&self, producer_id: i64, epoch: i16, sequence: i32) {
        let mut entries = self.verifying.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= ENTRIES_MAX && !entries.contains_key(&producer_id) {
            entries.clear();
        }
        let fresh = Verifying {
            epoch,
            lowest_sequence: sequence,
            started: Instant::now(),
        };
        let entry = entries.entry(producer_id).or_insert(fresh);
        if entry.epoch != epoch || entry.started.elapsed() > ENTRY_LIFETIME {
            *entry = fresh;
        }
        entry.lowest_sequence = entry.lowest_sequence.min(sequence);
    }

    /// After a successful verification: a batch above the lowest sequence seen waits for the
    /// lower one (OUT_OF_ORDER_SEQUENCE_NUMBER, which clients retry).
    pub fn check_verified_sequence(
        &self,
        producer_id: i64,
        epoch: i16,
        sequence: i32,
    ) -> Result<(), BrokerError> {
        let entries = self.verifying.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&producer_id) {
            Some(entry)
                if entry.epoch == epoch
                    && sequence > entry.lowest_sequence
                    && entry.started.elapsed() <= ENTRY_LIFETIME =>
            {
                Err(BrokerError::TransactionRefused {
                    code: ErrorCode::OutOfOrderSequenceNumber,
                    reason: Some(format!(
                        "producer {producer_id} epoch {epoch}: sequence {sequence} before the earlier sequence {} of its transaction",
                        entry.lowest_sequence
                    )),
                })
            }
            _ => Ok(()),
        }
    }

    /// The producer's transaction is open here now: its verification is over.
    pub fn end_verification(&self, producer_id: i64) {
        self.verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&producer_id);
    }
}
