//! What the transaction APIs share: a request's producer, and the error conversions Kafka
//! makes for older request versions (KIP-588: PRODUCER_FENCED only from the versions that know
//! it, INVALID_PRODUCER_EPOCH before; KIP-890: TRANSACTION_ABORTABLE likewise, INVALID_TXN_STATE
//! before).

use coordinator::txn::ProducerIdAndEpoch;
use protocol::ErrorCode;

pub fn producer(producer_id: i64, producer_epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id,
        producer_epoch,
    }
}

/// `code` as a client of `version` understands it: PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
/// below `fenced_from`, TRANSACTION_ABORTABLE is INVALID_TXN_STATE below `abortable_from`.
pub fn for_version(
    code: ErrorCode,
    version: i16,
    fenced_from: i16,
    abortable_from: i16,
) -> ErrorCode {
    match code {
        ErrorCode::ProducerFenced if version < fenced_from => ErrorCode::InvalidProducerEpoch,
        ErrorCode::TransactionAbortable if version < abortable_from => ErrorCode::InvalidTxnState,
        code => code,
    }
}
