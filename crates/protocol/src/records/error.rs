//! The errors of record batch handling: framing, integrity, record decoding, compression and
//! the batch builder's limits.

use super::Compression;

/// Why a record batch, or a record inside it, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    #[error("record batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("record batch length {batch_length} is invalid (minimum {minimum})")]
    InvalidBatchLength { batch_length: i32, minimum: i32 },
    #[error("unsupported record batch magic {magic} (only v2 is supported)")]
    UnsupportedMagic { magic: i8 },
    #[error("record batch CRC mismatch: header says {expected:#010x}, computed {computed:#010x}")]
    CrcMismatch { expected: u32, computed: u32 },

    // Record decoding.
    #[error("record truncated reading {field}: need {needed} bytes, have {available}")]
    RecordTruncated {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("varint for {field} is longer than {bytes_max} bytes")]
    VarintTooLong {
        field: &'static str,
        bytes_max: usize,
    },
    #[error("invalid {field} {length} in record")]
    InvalidLength { field: &'static str, length: i64 },
    #[error("record length says {declared} bytes but its fields take {consumed}")]
    RecordLengthMismatch { declared: usize, consumed: usize },
    #[error("record declares {count} headers but only {remaining_bytes} bytes remain")]
    TooManyHeaders { count: i32, remaining_bytes: usize },
    #[error("record batch declares {declared} records but holds {found}")]
    RecordsCountMismatch { declared: i32, found: usize },
    #[error("{remaining_bytes} bytes follow the {records_count} records the batch declares")]
    TrailingBytesAfterRecords {
        records_count: i32,
        remaining_bytes: usize,
    },

    // Compression.
    #[error("unknown compression codec id {id} in record batch attributes")]
    UnknownCompression { id: u8 },
    #[error("decompressed records exceed the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("{codec} decompression failed: {message}")]
    Decompression { codec: Compression, message: String },
    #[error("{codec} compression failed: {message}")]
    Compression { codec: Compression, message: String },

    // Control records.
    #[error("invalid control record: {reason}")]
    InvalidControlRecord { reason: &'static str },
    #[error("unknown control record type {id}")]
    UnknownControlRecordType { id: i16 },

    // Building batches.
    #[error("offset delta {offset_delta} does not follow the previous record's {previous}")]
    OffsetDeltaNotIncreasing { previous: i32, offset_delta: i32 },
    #[error("record batch would be {size_bytes} bytes, more than a batch can hold")]
    BatchTooLarge { size_bytes: usize },
}
