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
