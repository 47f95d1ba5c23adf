//! Record batches (message format v2): a zero-copy view over the 61-byte batch header, the
//! iteration over consecutive batches in a buffer, and the errors of this layer.
//!
//! The broker appends batches as produced: it validates the header (magic, length, CRC32C, count)
//! and patches the base offset and partition leader epoch in place, which the CRC does not cover.
//! Records themselves are opened only where a rule needs them.

mod batch;
mod error;

pub use batch::{
    Compression, RECORD_BATCH_HEADER_BYTES, RecordBatchHeader, RecordBatches, TimestampType,
    set_base_offset, set_partition_leader_epoch,
};
pub use error::RecordsError;
