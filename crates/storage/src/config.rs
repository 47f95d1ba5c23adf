//! The resolved configuration of one partition log: segment sizes, index density, flush policy,
//! retention and the bounds on memory and open files. Kafka's config names are given on each
//! field; the broker's config layer resolves topic overrides into one `LogConfig`.

use crate::error::{Result, StorageError};

/// When the log calls `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Kafka's default: appends go to the page cache; the log flushes on segment roll, on clean
    /// shutdown, after `flush_messages` unflushed messages (`flush.messages`) and when
    /// [`crate::Log::flush_if_due`] finds `flush_ms` elapsed (`flush.ms`). `None` means never.
    PageCache {
        flush_messages: Option<u64>,
        flush_ms: Option<u64>,
    },
    /// Every append returns only once its bytes are on disk. Concurrent appenders share fsyncs
    /// (group commit): one `fdatasync` covers every append that finished writing before it.
    FsyncBeforeAck,
}

/// `cleanup.policy`: how old data leaves the log. Kafka's values are `delete`, `compact` and
/// `compact,delete` (both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Retention by time and size deletes old segments.
    pub delete: bool,
    /// The log cleaner keeps the latest record of each key.
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: Self = Self {
        delete: true,
        compact: false,
    };
    pub const COMPACT: Self = Self {
        delete: false,
        compact: true,
    };

    /// Parses Kafka's list syntax (`delete`, `compact`, `compact,delete`, any order, spaces
    /// allowed). An empty list is Kafka's "no cleanup" and keeps everything.
    pub fn parse(value: &str) -> std::result::Result<Self, String> {
        let mut policy = Self {
            delete: false,
            compact: false,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                other => return Err(format!("unknown cleanup.policy {other:?}")),
            }
        }
        Ok(policy)
    }
}

/// Configuration of one partition log. Build with [`LogConfig::default`] and override fields.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before one would exceed this size.
    pub segment_bytes_max: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: Option<u64>,
    /// `index.interval.bytes`: bytes appended between two offset/time index entries.
    pub index_interval_bytes: u64,
    /// `segment.index.bytes` as an entry count: roll when an index of the active segment fills.
    pub index_entries_max: usize,
    /// `retention.ms`: delete closed segments whose largest timestamp is older. `None` = forever.
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: delete the oldest closed segments while the log is larger. `None` = no
    /// size limit.
    pub retention_bytes: Option<u64>,
    /// When appends reach the disk.
    pub flush_policy: FlushPolicy,
    /// Closed segments whose file handle and indexes are kept open (an LRU); the active segment is
    /// always open. Bounds file descriptors and index memory per partition.
    pub open_segments_max: usize,
    /// Producer ids whose idempotence state is kept; the least recently written is evicted.
    pub producer_ids_max: usize,
    /// Verify each batch's CRC32C again when appending: a pair assertion with the broker's
    /// produce validation, which already verified it. Off by default because it costs a second
    /// pass over every byte (measured in docs/BENCHMARKS.md); on in the test preset. Recovery
    /// always verifies.
    pub append_verifies_crc: bool,
    /// Runnel's `log.verify.on.start`: at open, verify every batch (framing, CRC32C, offsets)
    /// of the segments recovery would trust (all of them after a clean shutdown, those below the
    /// recovery point otherwise), and cut the log at the first damaged one as recovery does.
    /// Damage at rest below the recovery point is otherwise never looked for (as in Kafka). Costs
    /// a read of the whole log at every open; in a cluster the cut replica re-fetches what it
    /// lost from the leader, on a single node what follows the damage is gone.
    pub verify_on_open: bool,
    /// `cleanup.policy`: retention applies only with `delete`, the cleaner only with `compact`.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: the cleaner picks a log once this share of it is dirty.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this stay uncompacted.
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`: a log with dirty records older than this is cleaned whatever its
    /// dirty ratio. `None` = Kafka's default (`Long.MAX_VALUE`).
    pub max_compaction_lag_ms: Option<u64>,
    /// `delete.retention.ms`: how long a tombstone stays readable after the cleaner first saw it.
    pub delete_retention_ms: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes_max: 1 << 30,
            segment_ms: Some(7 * 24 * 3600 * 1000),
            index_interval_bytes: 4096,
            index_entries_max: (10 << 20) / 8,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            flush_policy: FlushPolicy::PageCache {
                flush_messages: None,
                flush_ms: None,
            },
            open_segments_max: 16,
            producer_ids_max: 100_000,
            append_verifies_crc: false,
            verify_on_open: false,
            cleanup_policy: CleanupPolicy::DELETE,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: None,
            delete_retention_ms: 24 * 3600 * 1000,
        }
    }
}

/// Smallest segment a log may use: one maximal header plus room to append.
pub const SEGMENT_BYTES_MIN: u64 = 1024;
/// Largest segment: positions in the offset index are `u32`.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

impl LogConfig {
    /// A preset for tests: tiny segments and dense indexes so rolls, retention and index lookups
    /// happen within a few appends; no time-based roll or retention unless a test sets them.
    pub fn for_tests() -> Self {
        Self {
            segment_bytes_max: 16 * 1024,
            segment_ms: None,
            retention_ms: None,
            index_interval_bytes: 512,
            open_segments_max: 4,
            producer_ids_max: 64,
            append_verifies_crc: true,
            ..Self::default()
        }
    }

    /// Checks every bound once, at open.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(StorageError::InvalidConfig(message));
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes_max) {
            return fail(format!(
                "segment.bytes {} outside [{SEGMENT_BYTES_MIN}, {SEGMENT_BYTES_MAX}]",
                self.segment_bytes_max
            ));
        }
        if self.index_interval_bytes == 0 {
            return fail("index.interval.bytes must be positive".into());
        }
        if self.index_entries_max < 4 {
            return fail("the index must hold at least 4 entries".into());
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return fail(format!(
                "min.cleanable.dirty.ratio {} outside [0, 1]",
                self.min_cleanable_dirty_ratio
            ));
        }
        if self.open_segments_max == 0 {
            return fail("open_segments_max must be positive".into());
        }
        if self.producer_ids_max == 0 {
            return fail("producer_ids_max must be positive".into());
        }
        if let FlushPolicy::PageCache {
            flush_messages: Some(0),
            ..
        } = self.flush_policy
        {
            return fail("flush.messages must be positive".into());
        }
        Ok(())
    }
}
