//! Runnel's partition log on disk: one [`Log`] per partition directory (`<topic>-<partition>/`),
//! made of segments (`<base offset>.log` + `.index` + `.timeindex`), with recovery after a
//! crash, retention, truncation, a leader-epoch cache and idempotent-producer state.
//!
//! Layering: this crate depends on `protocol` (for the record batch header view) and nothing
//! above it; it opens no sockets and decodes no records, only batch headers. It does no async
//! I/O: the broker calls it from dedicated threads (or `spawn_blocking`). It owns log compaction
//! (`cleaner/`: the broker decides when and which log to clean). It does not own transactions
//! (last stable offset, aborted-transaction index), tiered storage, or the per-log-dir files
//! Kafka shares between partitions (those live per partition here).
//! See docs/internals/storage.md for the on-disk format, recovery and retention.

mod checkpoint;
mod cleaner;
mod config;
mod epoch;
mod error;
mod flush;
mod frame;
mod index;
mod log;
mod producer;
mod range;
mod recovery;
mod retention;
mod segment;

pub use cleaner::{
    CleanableSummary, CleanerCrashPoint, CleanerOptions, CleaningOutcome, FilterStats,
};
pub use config::{CleanupPolicy, FlushPolicy, LogConfig, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN};
pub use epoch::{EpochEntry, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
pub use error::{Result, StorageError};
pub use log::{Clock, FetchData, Log, LogAppendInfo, TimestampOffset};
pub use producer::{PRODUCER_BATCHES_RETAINED, ProducerBatch, ProducerState};
pub use range::FileRange;
pub use retention::RetentionOutcome;

/// The partition directory name Kafka uses: `<topic>-<partition>`.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}
