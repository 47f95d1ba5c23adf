//! The errors of record batch handling: framing, integrity, record decoding, decompression.

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
}
