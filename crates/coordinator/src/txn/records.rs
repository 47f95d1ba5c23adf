//! The `__transaction_state` record format (Kafka's `TransactionLogKey` / `TransactionLogValue`)
//! and reading it back.
//!
//! A key is the int16 record type 0 then `TransactionLogKey` (the transactional id); a value is
//! the int16 value version then `TransactionLogValue`. Runnel writes value version 1 (flexible,
//! with the tagged previous producer id and client transaction version, as Kafka 4 writes it)
//! and reads versions 0 and 1. A tombstone removes an expired transactional id.

use protocol::generated::transaction_log_value::PartitionsSchema;
use protocol::generated::{TransactionLogKey, TransactionLogValue};

use super::state::{TransactionMetadata, TxnState};
use crate::error::CoordinatorError;
use crate::records::{decode, decode_key, encode, encode_key};

/// The record type of transaction records in `__transaction_state`.
pub const TRANSACTION_LOG_KEY_TYPE: i16 = 0;
/// The value version Runnel writes.
pub const TRANSACTION_LOG_VALUE_VERSION: i16 = 1;

/// One record for `__transaction_state`: append to partition
/// `partition_for(transactional_id, transaction.state.log.num.partitions)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    pub transactional_id: String,
    pub key: bytes::Bytes,
    /// `None` is a tombstone (the id expired).
    pub value: Option<bytes::Bytes>,
}

/// The record that stores `metadata` (a tombstone when it is dead).
pub fn record_for(metadata: &TransactionMetadata) -> TxnRecord {
    let key = encode_key(
        TRANSACTION_LOG_KEY_TYPE,
        &TransactionLogKey {
            transactional_id: metadata.transactional_id.clone(),
            ..Default::default()
        },
    );
    let value = (metadata.state != TxnState::Dead).then(|| {
        let partitions = metadata
            .partitions_by_topic()
            .into_iter()
            .map(|(topic, partition_ids)| PartitionsSchema {
                topic,
                partition_ids,
                ..Default::default()
            })
            .collect();
        encode(
            TRANSACTION_LOG_VALUE_VERSION,
            &TransactionLogValue {
                producer_id: metadata.producer_id,
                previous_producer_id: metadata.previous_producer_id,
                next_producer_id: -1,
                producer_epoch: metadata.producer_epoch,
                next_producer_epoch: -1,
                transaction_timeout_ms: metadata.timeout_ms,
                transaction_status: metadata.state.id(),
                transaction_partitions: Some(partitions),
                transaction_last_update_timestamp_ms: metadata.last_update_timestamp_ms,
                transaction_start_timestamp_ms: metadata.start_timestamp_ms,
                client_transaction_version: metadata.client_transaction_version,
                ..Default::default()
            },
        )
    });
    TxnRecord {
        transactional_id: metadata.transactional_id.clone(),
        key,
        value,
    }
}

/// A decoded record: the transactional id and its metadata (`None` for a tombstone).
pub fn decode_txn_record(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(String, Option<TransactionMetadata>), CoordinatorError> {
    let (record_type, key_body) = split(key, CoordinatorError::KeyTooShort { len: key.len() })?;
    if record_type != TRANSACTION_LOG_KEY_TYPE {
        return Err(CoordinatorError::UnknownRecordType { record_type });
    }
    let key: TransactionLogKey = decode_key(key_body, "TransactionLogKey")?;
    let Some(value) = value else {
        return Ok((key.transactional_id, None));
    };
    let (version, body) = split(value, CoordinatorError::ValueTooShort { len: value.len() })?;
    let value: TransactionLogValue = decode(body, version, "TransactionLogValue")?;
    let state = TxnState::from_id(value.transaction_status).ok_or(
        CoordinatorError::UnknownTransactionState {
            state: value.transaction_status,
        },
    )?;
    let partitions = value
        .transaction_partitions
        .unwrap_or_default()
        .into_iter()
        .flat_map(|p| {
            let topic = p.topic;
            p.partition_ids
                .into_iter()
                .map(move |id| (topic.clone(), id))
        })
        .collect();
    let metadata = TransactionMetadata {
        transactional_id: key.transactional_id.clone(),
        producer_id: value.producer_id,
        previous_producer_id: value.previous_producer_id,
        producer_epoch: value.producer_epoch,
        last_producer_epoch: super::state::NO_PRODUCER_EPOCH,
        timeout_ms: value.transaction_timeout_ms,
        state,
        partitions,
        start_timestamp_ms: value.transaction_start_timestamp_ms,
        last_update_timestamp_ms: value.transaction_last_update_timestamp_ms,
        client_transaction_version: value.client_transaction_version,
    };
    Ok((key.transactional_id, Some(metadata)))
}

fn split(bytes: &[u8], too_short: CoordinatorError) -> Result<(i16, &[u8]), CoordinatorError> {
    if bytes.len() < 2 {
        return Err(too_short);
    }
    Ok((i16::from_be_bytes([bytes[0], bytes[1]]), &bytes[2..]))
}
