//! Runnel's partition log on disk: one [`Log`] per partition directory (`<topic>-<partition>/`),
//! made of segments (`<base offset>.log` + `.index` + `.timeindex` + `.txnindex`), with
//! recovery after a crash, retention, truncation, a leader-epoch cache, idempotent-producer
//! state and the partition side of transactions.
//!
//! Transactions (KIP-98): producer state tracks each producer's open transaction; markers
//! ([`Log::append_control_as_leader`], or a follower's replicated control batches) end them;
//! ABORTs of transactions with data are recorded in the segment's `.txnindex`. The broker
//! reads the last stable offset ([`Log::last_stable_offset`]), serves read_committed fetches
//! with [`Log::read_committed`] (records below the LSO and the aborted transactions they
//! overlap), and the cleaner drops aborted data and, after `delete.retention.ms`, markers.
//!
//! Layering: this crate depends on `protocol` (for the record batch header view) and nothing
//! above it; it opens no sockets and decodes no records except the cleaner's keys and the one
//! record of a control batch. It does no async I/O: the broker calls it from dedicated threads
//! (or `spawn_blocking`). It owns log compaction (`cleaner/`: the broker decides when and which
//! log to clean). It does not own the transaction coordinator, tiered storage, or the
//! per-log-dir files Kafka shares between partitions (those live per partition here).
//! See docs/internals/storage.md for the on-disk format, recovery, retention and transactions.

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
mod read;
mod recovery;
mod retention;
mod segment;
pub mod sync_journal;
mod transactions;
mod txn_index;

pub use cleaner::{
    CleanableSummary, CleanerCrashPoint, CleanerOptions, CleaningOutcome, FilterStats,
};
pub use config::{CleanupPolicy, FlushPolicy, LogConfig, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN};
pub use epoch::{EpochCache, EpochEntry, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
pub use error::{Result, StorageError};
pub use log::{Clock, Log, LogAppendInfo};
pub use producer::{PRODUCER_BATCHES_RETAINED, ProducerBatch, ProducerState};
pub use range::FileRange;
pub use read::{FetchData, TimestampOffset};
pub use retention::RetentionOutcome;
pub use transactions::{
    ABORTED_TRANSACTIONS_MAX, AbortedTransaction, TransactionMarker, TransactionResult,
};

/// The partition directory name Kafka uses: `<topic>-<partition>`.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}
