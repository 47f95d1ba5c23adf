//! The one error type of the storage crate: what can go wrong appending to, reading from,
//! recovering or maintaining a partition log.
//!
//! Operating errors (I/O, bad input, out-of-range requests) are values of [`StorageError`];
//! programmer errors are assertions. Mapping to Kafka error codes happens in the broker, not here.

use std::path::PathBuf;

use protocol::records::RecordsError;

/// Everything the partition log can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed; `context` names the operation and `path` the file.
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An earlier fsync or write failed: the page cache may have dropped the dirty pages, so the
    /// log refuses all further writes until it is reopened (and recovered) from disk.
    #[error("log directory {path} failed earlier ({reason}); the log is offline until reopened")]
    LogDirOffline { path: PathBuf, reason: String },
    /// A fetch or lookup named an offset outside `[log_start, log_end]`.
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// The records handed to append are not a sequence of whole, well-formed v2 batches.
    #[error("invalid record batch at byte {position} of the appended records: {source}")]
    InvalidBatch {
        position: usize,
        #[source]
        source: RecordsError,
    },
    /// A batch or a set of batches is larger than a segment can hold.
    #[error("record batch of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    BatchTooLarge { size_bytes: u64, limit_bytes: u64 },
    /// A follower append carried offsets that do not continue from the log end offset.
    #[error("appended offsets must start past the log end offset {log_end}: got {first}")]
    OffsetsNotIncreasing { first: i64, log_end: i64 },
    /// A batch's offsets are malformed (negative delta, overflow past `i64::MAX`).
    #[error(
        "record batch offsets are invalid: base {base_offset}, lastOffsetDelta {last_offset_delta}"
    )]
    InvalidOffsets {
        base_offset: i64,
        last_offset_delta: i32,
    },
    /// An idempotent batch carried a producer epoch older than the one the log knows.
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current_epoch}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current_epoch: i16,
    },
    /// An idempotent batch's first sequence does not follow the producer's last sequence.
    #[error(
        "producer {producer_id} epoch {epoch}: sequence {first_sequence} does not follow {last_sequence}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
    },
    /// A transaction marker came from a coordinator epoch older than one a previous marker of
    /// this producer carried (Kafka's `TRANSACTION_COORDINATOR_FENCED`): a zombie coordinator.
    #[error(
        "producer {producer_id}: transaction marker from coordinator epoch {coordinator_epoch} is older than {current_coordinator_epoch}"
    )]
    TransactionCoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current_coordinator_epoch: i32,
    },
    /// A batch does not fit the producer's transaction state (Kafka's `INVALID_TXN_STATE`): a
    /// non-transactional batch from a producer whose transaction is open.
    #[error("producer {producer_id}: {reason}")]
    InvalidTxnState {
        producer_id: i64,
        reason: &'static str,
    },
    /// Every producer id the log may track has an open transaction, so a new producer cannot be
    /// admitted without forgetting one (which would let the last stable offset pass it).
    #[error("{limit} producers with open transactions: no room for another producer")]
    TooManyOngoingTransactions { limit: usize },
    /// More aborted transactions overlap a fetched range than one answer may carry.
    #[error("more than {limit} aborted transactions overlap offsets [{start}, {upper}) of {path}")]
    TooManyAbortedTransactions {
        path: PathBuf,
        start: i64,
        upper: i64,
        limit: usize,
    },
    /// A leader append carried a leader epoch lower than one already in the log.
    #[error("leader epoch {epoch} is older than the latest epoch {latest} in the log")]
    StaleLeaderEpoch { epoch: i32, latest: i32 },
    /// A file of the log (checkpoint, snapshot, index) is malformed and cannot be rebuilt.
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A configuration value is out of its allowed range.
    #[error("invalid log config: {0}")]
    InvalidConfig(String),
    /// The log was closed; no further operations are accepted.
    #[error("the log at {path} is closed")]
    Closed { path: PathBuf },

    /// A cleaning stopped with the log unchanged: the broker is shutting down, or a segment it
    /// was reading was removed meanwhile (retention, truncation). Not a failure of the log.
    #[error("cleaning of {path} was aborted")]
    CleaningAborted { path: PathBuf },
}

impl StorageError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            context,
            path,
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
