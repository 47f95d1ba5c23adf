//! The rules of the transaction APIs on the coordinator (Kafka's `TransactionCoordinator` and
//! `TransactionMetadata` transitions): InitProducerId with a transactional id (epoch bumps,
//! fencing, KIP-360 recovery), AddPartitionsToTxn (and its verify-only form, KIP-890 part 1),
//! AddOffsetsToTxn (through the group's `__consumer_offsets` partition), EndTxn (v1, and v2's
//! epoch bump per transaction, KIP-890 part 2), the end of marker writing, timeouts and
//! expiration.
//!
//! Every answer that changes state comes with the record to append first; an answer without a
//! record (a retry, a refusal) changed nothing.

use protocol::ErrorCode;

use super::state::{NO_PRODUCER_EPOCH, TransactionMetadata, TxnState};
use super::{MarkerJob, TransactionCoordinator, TxnEffects, records::record_for};

/// A producer id and epoch handed to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// AddPartitionsToTxn's answer: one code for every partition of the request.
pub type AddPartitionsResult = Result<(), ErrorCode>;

/// Transactions v2 (KIP-890 part 2) as the client's request versions show it.
const TRANSACTION_VERSION_2: i16 = 2;

impl TransactionCoordinator {
    /// InitProducerId for `transactional_id`. `expected` is the client's current producer id and
    /// epoch (KIP-360, InitProducerId v3+), `None` for a fresh producer. `new_producer_id`
    /// allocates an id when one is needed.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        now_ms: i64,
        new_producer_id: &mut dyn FnMut() -> Result<i64, ErrorCode>,
    ) -> (Result<ProducerIdAndEpoch, ErrorCode>, TxnEffects) {
        let refuse = |code| (Err(code), TxnEffects::default());
        if timeout_ms <= 0 || timeout_ms > self.config.transaction_max_timeout_ms {
            return refuse(ErrorCode::InvalidTransactionTimeout);
        }
        let Some(current) = self.transactions.get(transactional_id).cloned() else {
            let producer_id = match new_producer_id() {
                Ok(id) => id,
                Err(code) => return refuse(code),
            };
            let mut metadata =
                TransactionMetadata::new(transactional_id, producer_id, timeout_ms, now_ms);
            metadata.producer_epoch = 0;
            return self.store(metadata, None);
        };
        if current.state.is_preparing() {
            return refuse(ErrorCode::ConcurrentTransactions);
        }
        if let Some(expected) = expected
            && !(current.producer_epoch == NO_PRODUCER_EPOCH
                || expected.producer_id == current.producer_id
                || (expected.producer_id == current.previous_producer_id
                    && TransactionMetadata::epoch_exhausted(expected.producer_epoch)))
        {
            return refuse(ErrorCode::ProducerFenced);
        }
        if current.state == TxnState::Ongoing {
            // A new producer instance: fence the old one and abort its transaction; the client
            // retries on CONCURRENT_TRANSACTIONS until the abort completed.
            let (_, effects) = self.abort_with_fence(current, now_ms);
            return (Err(ErrorCode::ConcurrentTransactions), effects);
        }
        let mut next = current.clone();
        if let Some(expected) = expected
            && expected.producer_id == current.producer_id
            && current.producer_epoch != NO_PRODUCER_EPOCH
        {
            if expected.producer_epoch == current.last_producer_epoch
                && expected.producer_epoch != current.producer_epoch
            {
                // A retry of the bump that answered already: the same answer again.
                return (Ok(id_and_epoch(&current)), TxnEffects::default());
            }
            if expected.producer_epoch != current.producer_epoch {
                return refuse(ErrorCode::ProducerFenced);
            }
        }
        if TransactionMetadata::epoch_exhausted(current.producer_epoch) {
            let producer_id = match new_producer_id() {
                Ok(id) => id,
                Err(code) => return refuse(code),
            };
            next.previous_producer_id = current.producer_id;
            next.producer_id = producer_id;
            next.producer_epoch = 0;
            next.last_producer_epoch = NO_PRODUCER_EPOCH;
        } else {
            next.last_producer_epoch = current.producer_epoch;
            next.producer_epoch = current.producer_epoch.saturating_add(1).max(0);
        }
        next.timeout_ms = timeout_ms;
        next.state = TxnState::Empty;
        next.partitions.clear();
        next.start_timestamp_ms = -1;
        next.last_update_timestamp_ms = now_ms;
        self.store(next, None)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): the partitions join the transaction, which becomes Ongoing.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> (AddPartitionsResult, TxnEffects) {
        let current = match self.check_producer(transactional_id, producer) {
            Ok(current) => current,
            Err(code) => return (Err(code), TxnEffects::default()),
        };
        if current.state.is_preparing() {
            return (
                Err(ErrorCode::ConcurrentTransactions),
                TxnEffects::default(),
            );
        }
        if current.state == TxnState::Dead {
            return (
                Err(ErrorCode::InvalidProducerIdMapping),
                TxnEffects::default(),
            );
        }
        if current.state == TxnState::Ongoing
            && partitions.iter().all(|p| current.partitions.contains(p))
        {
            return (Ok(()), TxnEffects::default());
        }
        let mut next = current;
        if next.state != TxnState::Ongoing {
            next.start_timestamp_ms = now_ms;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_timestamp_ms = now_ms;
        let (_, effects) = self.store(next, None);
        (Ok(()), effects)
    }

    /// AddPartitionsToTxn v4+ with `VerifyOnly` (KIP-890 part 1, sent by partition leaders
    /// before they accept a transactional batch): whether each partition is in the producer's
    /// ongoing transaction. Changes nothing.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: &[(String, i32)],
    ) -> Vec<ErrorCode> {
        let current = match self.check_producer(transactional_id, producer) {
            Ok(current) => current,
            Err(code) => return vec![code; partitions.len()],
        };
        partitions
            .iter()
            .map(|p| {
                if current.state == TxnState::Ongoing && current.partitions.contains(p) {
                    ErrorCode::None
                } else {
                    ErrorCode::TransactionAbortable
                }
            })
            .collect()
    }

    /// EndTxn: commit or abort the ongoing transaction. `client_version` is 2 for transactions
    /// v2 (EndTxn v5+), which bumps the epoch at every end and answers the new epoch.
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        commit: bool,
        client_version: i16,
        now_ms: i64,
    ) -> (Result<ProducerIdAndEpoch, ErrorCode>, TxnEffects) {
        let refuse = |code| (Err(code), TxnEffects::default());
        let v2 = client_version >= TRANSACTION_VERSION_2;
        let Some(current) = self.transactions.get(transactional_id).cloned() else {
            return refuse(ErrorCode::InvalidProducerIdMapping);
        };
        if current.producer_id != producer.producer_id {
            return refuse(ErrorCode::InvalidProducerIdMapping);
        }
        // Transactions v2: a retry after the bump carries the epoch before it.
        let retry_of_v2 = v2
            && producer.producer_epoch == current.last_producer_epoch
            && producer.producer_epoch.checked_add(1) == Some(current.producer_epoch);
        if producer.producer_epoch != current.producer_epoch && !retry_of_v2 {
            return refuse(ErrorCode::ProducerFenced);
        }
        if v2 && !retry_of_v2 && current.state.is_preparing() {
            // The client already holds the epoch the previous end bumped to, so this ends the
            // next (empty) transaction while the previous one's markers are still being
            // written: retriable. (Kafka answers PRODUCER_FENCED here, which is fatal for a
            // client that only aborted right after a commit, as franz-go's group sessions do on
            // a rebalance.)
            return refuse(ErrorCode::ConcurrentTransactions);
        }
        match (current.state, commit) {
            (TxnState::Ongoing, _) if !retry_of_v2 => {
                let mut next = current;
                next.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                if v2 {
                    next.client_transaction_version = client_version;
                    next.last_producer_epoch = next.producer_epoch;
                    next.producer_epoch = next.producer_epoch.saturating_add(1);
                }
                next.last_update_timestamp_ms = now_ms;
                let job = self.marker_job(&next, commit);
                let answer = id_and_epoch(&next);
                let (_, effects) = self.store(next, Some(job));
                (Ok(answer), effects)
            }
            (state, false) if v2 && !retry_of_v2 && state.is_idle() => {
                // Transactions v2 may abort with nothing in progress: the epoch still moves on.
                let mut next = current;
                next.last_producer_epoch = next.producer_epoch;
                next.producer_epoch = next.producer_epoch.saturating_add(1);
                next.state = TxnState::CompleteAbort;
                next.last_update_timestamp_ms = now_ms;
                self.store(next, None)
            }
            // A retry of the end that completed (v2: only at the epoch before the bump; at the
            // current epoch a v2 commit names a transaction that never started, and answering
            // it without a bump would make the client restart its sequences at the same epoch).
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false)
                if !v2 || retry_of_v2 =>
            {
                (Ok(id_and_epoch(&current)), TxnEffects::default())
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                refuse(ErrorCode::ConcurrentTransactions)
            }
            (TxnState::PrepareEpochFence, _) => refuse(ErrorCode::ConcurrentTransactions),
            _ => refuse(ErrorCode::InvalidTxnState),
        }
    }

    /// Every marker of `job` is written: the transaction completes (its record is returned).
    /// A job that no longer matches the state (the id moved on meanwhile) changes nothing.
    pub fn markers_written(&mut self, job: &MarkerJob, now_ms: i64) -> TxnEffects {
        let Some(current) = self.transactions.get(&job.transactional_id).cloned() else {
            return TxnEffects::default();
        };
        let expected = if job.commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        if current.state != expected
            || current.producer_id != job.producer_id
            || current.producer_epoch != job.producer_epoch
        {
            return TxnEffects::default();
        }
        let mut next = current;
        next.state = if job.commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        next.partitions.clear();
        next.last_update_timestamp_ms = now_ms;
        self.store(next, None).1
    }

    /// Timeouts and expiration at `now_ms`: ongoing transactions older than their timeout are
    /// aborted with a bumped epoch (the producer is fenced, as Kafka does); idle ids past
    /// `transactional.id.expiration.ms` are removed (a tombstone each).
    pub fn expire(&mut self, now_ms: i64) -> Vec<TxnEffects> {
        let mut ids: Vec<String> = self.transactions.keys().cloned().collect();
        ids.sort();
        let mut effects = Vec::new();
        for id in ids {
            let current = self.transactions[&id].clone();
            let timed_out = current.state == TxnState::Ongoing
                && current.start_timestamp_ms >= 0
                && now_ms.saturating_sub(current.start_timestamp_ms)
                    > i64::from(current.timeout_ms);
            let expired = current.state.is_idle()
                && now_ms.saturating_sub(current.last_update_timestamp_ms)
                    > self.config.transactional_id_expiration_ms;
            if timed_out {
                effects.push(self.abort_with_fence(current, now_ms).1);
            } else if expired {
                let mut dead = current;
                dead.state = TxnState::Dead;
                let record = record_for(&dead);
                self.transactions.remove(&id);
                effects.push(TxnEffects {
                    record: Some(record),
                    markers: None,
                });
            }
        }
        effects
    }

    /// When `expire` next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<i64> {
        self.transactions
            .values()
            .filter_map(|m| match m.state {
                TxnState::Ongoing if m.start_timestamp_ms >= 0 => {
                    Some(m.start_timestamp_ms.saturating_add(i64::from(m.timeout_ms)) + 1)
                }
                state if state.is_idle() => Some(
                    m.last_update_timestamp_ms
                        .saturating_add(self.config.transactional_id_expiration_ms)
                        + 1,
                ),
                _ => None,
            })
            .min()
    }

    /// Aborts `current`'s ongoing transaction with the epoch bumped, so its producer is fenced.
    fn abort_with_fence(
        &mut self,
        current: TransactionMetadata,
        now_ms: i64,
    ) -> (Result<ProducerIdAndEpoch, ErrorCode>, TxnEffects) {
        let mut next = current;
        if !TransactionMetadata::epoch_exhausted(next.producer_epoch) {
            next.last_producer_epoch = next.producer_epoch;
            next.producer_epoch += 1;
        }
        next.state = TxnState::PrepareAbort;
        next.last_update_timestamp_ms = now_ms;
        let job = self.marker_job(&next, false);
        self.store(next, Some(job))
    }

    fn check_producer(
        &self,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
    ) -> Result<TransactionMetadata, ErrorCode> {
        let current = self
            .transactions
            .get(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if current.producer_id != producer.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if current.producer_epoch != producer.producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(current.clone())
    }

    /// Makes `next` current and returns its record (and `markers`).
    fn store(
        &mut self,
        next: TransactionMetadata,
        markers: Option<MarkerJob>,
    ) -> (Result<ProducerIdAndEpoch, ErrorCode>, TxnEffects) {
        let record = record_for(&next);
        let answer = id_and_epoch(&next);
        self.transactions
            .insert(next.transactional_id.clone(), next);
        (
            Ok(answer),
            TxnEffects {
                record: Some(record),
                markers,
            },
        )
    }
}

fn id_and_epoch(metadata: &TransactionMetadata) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id: metadata.producer_id,
        producer_epoch: metadata.producer_epoch,
    }
}
