//! The coordinators' own errors: failures to read records back from `__consumer_offsets` and
//! `__transaction_state`.
//!
//! Request-level outcomes (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, ...) are not errors of this
//! crate: they are answers, written into the response the coordinator returns.

use protocol::DecodeError;

/// An error replaying a `__consumer_offsets` or `__transaction_state` record.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The key is shorter than its two-byte version prefix.
    #[error("record key of {len} bytes is too short for its version prefix")]
    KeyTooShort { len: usize },
    /// The value is shorter than its two-byte version prefix.
    #[error("record value of {len} bytes is too short for its version prefix")]
    ValueTooShort { len: usize },
    /// A key or value did not decode at the version it declares.
    #[error("cannot decode {what} at version {version}: {source}")]
    Decode {
        what: &'static str,
        version: i16,
        #[source]
        source: DecodeError,
    },
    /// Bytes were left after the struct: the record is not what its version says.
    #[error("{what} at version {version} has {trailing} trailing bytes")]
    TrailingBytes {
        what: &'static str,
        version: i16,
        trailing: usize,
    },
    /// A `__transaction_state` key of a record type other than transaction metadata.
    #[error("unknown __transaction_state record type {record_type}")]
    UnknownRecordType { record_type: i16 },
    /// A transaction state id outside Kafka's `TransactionState`.
    #[error("unknown transaction state {state}")]
    UnknownTransactionState { state: i8 },
}
