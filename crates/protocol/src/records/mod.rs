//! Record batches (message format v2): a zero-copy view over the 61-byte batch header, the
//! iteration over consecutive batches in a buffer, and the errors of this layer.
//!
//! The broker appends batches as produced: it validates the header (magic, length, CRC32C, count)
//! and patches the base offset and partition leader epoch in place, which the CRC does not cover.
//! Records themselves are opened only where a rule needs them: `decode_batch_records`
//! decompresses (with an output cap) and iterates them. The broker's own batches (transaction
//! markers, internal topics) are written by `RecordBatchBuilder`.

mod batch;
mod builder;
mod compression;
mod control;
mod error;
mod record;
mod varint;

pub use batch::{
    ATTRIBUTE_CONTROL, ATTRIBUTE_TRANSACTIONAL, Compression, RECORD_BATCH_HEADER_BYTES,
    RecordBatchHeader, RecordBatches, TimestampType, set_base_offset, set_log_append_time,
    set_partition_leader_epoch,
};
pub use builder::{
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
    RecordBatchBuilder,
};
pub use compression::{compress, decompress};
pub use control::{ControlRecordType, EndTransactionMarker, end_transaction_marker_batch};
pub use error::RecordsError;
pub use record::{Record, RecordHeader, Records, decode_batch_records};
