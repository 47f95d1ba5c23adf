//! The log cleaner: compaction of a partition log (`cleanup.policy=compact`), Kafka's semantics.
//!
//! One cleaning of a log ([`Log::clean`]):
//! 1. plans under the log lock: the dirty section runs from the cleaner checkpoint (Kafka's
//!    `cleaner-offset-checkpoint`, kept per partition here) to the first uncleanable offset,
//!    the smallest of the active segment's base, the last stable offset (so every transaction
//!    the cleaning sees is decided), the HighWatermark, the recovery point and the first
//!    segment younger than `min.compaction.lag.ms`; only whole closed segments below it are
//!    touched, so the active segment is never cleaned;
//! 2. builds the offset map (latest offset of each key) over the dirty section, outside the
//!    lock, leaving out aborted transactions' records; when the map is full
//!    (`log.cleaner.dedupe.buffer.size`) it stops at a batch boundary and this cleaning ends
//!    there: the rest waits for the next pass;
//! 3. rewrites every segment from the log start to that point in groups of consecutive segments
//!    that fit one segment (`segment.bytes`), keeping what `filter.rs` says, with the
//!    transaction state of the walk (`transactions.rs`) carried from group to group;
//! 4. swaps each group in (`swap.rs`) with the `.txnindex` entries its retained ABORT markers
//!    keep, then moves the checkpoint.
//!
//! Offsets never change: kept batches keep their offsets and boundaries, so readers and
//! followers see gaps, never renumbered records. Reads, appends and retention go on meanwhile;
//! a swap whose sources changed is abandoned.

mod filter;
mod offset_map;
mod swap;
mod throttle;
mod transactions;

use std::collections::HashMap;
use std::fs::File;

use bytes::Bytes;

pub use filter::FilterStats;
pub(crate) use swap::{CLEANED_SUFFIX, complete_interrupted_swaps};

use crate::checkpoint;
use crate::error::{Result, StorageError};
use crate::frame::{BatchReader, Next};
use crate::log::{Log, LogState};
use crate::producer::LastRecord;
use crate::segment::{BatchInfo, Segment};
use crate::transactions::read_marker;
use filter::{FilterContext, Filtered, filter_batch};
use offset_map::OffsetMap;
use swap::{SourceSegment, group_file};
use throttle::Throttle;
use transactions::{CleanedTransactions, TxnIndexFile, collect_aborted};

/// Kafka's file name, kept per partition directory.
pub(crate) const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Bytes of cleaned batches gathered before one write to the cleaned segment.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Broker-wide cleaner settings for one cleaning.
#[derive(Debug, Clone)]
pub struct CleanerOptions {
    /// `log.cleaner.dedupe.buffer.size` divided among `log.cleaner.threads`: bounds the offset
    /// map of one cleaning.
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.max.bytes.per.second`: bytes read plus written per second, `None` for
    /// no limit.
    pub io_max_bytes_per_second: Option<u64>,
    /// Set to stop a running cleaning at the next batch (broker shutdown): it ends with
    /// [`StorageError::CleaningAborted`] and leaves the log as it was.
    pub abort: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Tests only: stop the cleaning at this step of this group (0-based) as a crash would,
    /// leaving the files as they are and the log offline (drop it and reopen to recover).
    #[doc(hidden)]
    pub crash_at: Option<(usize, CleanerCrashPoint)>,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        Self {
            dedupe_buffer_bytes: 128 << 20,
            io_max_bytes_per_second: None,
            abort: None,
            crash_at: None,
        }
    }
}

/// The steps of a cleaning a crash can interrupt (see `swap.rs`), for crash-injection tests.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanerCrashPoint {
    /// The group's `.cleaned` file is written and synced; nothing else changed.
    CleanedWritten,
    /// Renamed to `.swap` (the commit point).
    SwapCommitted,
    /// The sources' index files and logs (all but the first) are unlinked.
    SourcesRemoved,
    /// The swap file is renamed over the first source's log; indexes not written yet.
    SwapRenamed,
    /// Every group is swapped in; the cleaner checkpoint is not written yet.
    BeforeCheckpoint,
}

/// How dirty a compacted log is: what the broker's cleaner compares to pick a log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableSummary {
    pub first_dirty_offset: i64,
    /// Where the cleanable closed segments end (a segment base).
    pub cleanable_end_offset: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// `dirty / (clean + dirty)`, compared with `min.cleanable.dirty.ratio`.
    pub dirty_ratio: f64,
    /// A dirty segment is older than `max.compaction.lag.ms`: clean whatever the ratio.
    pub compaction_overdue: bool,
    /// Tombstones kept by an earlier cleaning reached their delete horizon: clean even with
    /// nothing dirty (KIP-534). Known only for cleanings since the log was opened.
    pub delete_horizon_passed: bool,
}

impl CleanableSummary {
    /// Whether the log should be cleaned now under its `min.cleanable.dirty.ratio`.
    pub fn due(&self, min_cleanable_dirty_ratio: f64) -> bool {
        self.delete_horizon_passed
            || (self.dirty_bytes > 0
                && (self.compaction_overdue || self.dirty_ratio >= min_cleanable_dirty_ratio))
    }
}

/// What one cleaning did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleaningOutcome {
    pub first_dirty_offset: i64,
    /// The new cleaner checkpoint: everything below it has been compacted.
    pub end_offset: i64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub segments_before: usize,
    pub segments_after: usize,
    /// Keys in the offset map.
    pub keys: usize,
    pub stats: FilterStats,
    /// The log changed under the cleaner (retention, truncation): it stopped early and the
    /// checkpoint did not move past what was swapped in.
    pub interrupted: bool,
}

/// Everything a cleaning needs, read under the lock.
struct Plan {
    summary: CleanableSummary,
    sources: Vec<SourceSegment>,
    producer_last_records: HashMap<i64, LastRecord>,
    /// Every segment's `.txnindex` as of the plan (the active one's may grow meanwhile; entries
    /// past the planned length are for transactions above the cleaning).
    txn_indexes: Vec<TxnIndexFile>,
    truncations: u64,
    now: i64,
}

impl Log {
    /// The cleaner checkpoint: offsets below it were compacted by an earlier cleaning.
    pub fn cleaner_checkpoint(&self) -> Result<Option<i64>> {
        Ok(self.lock()?.cleaner_checkpoint)
    }

    /// How much of the log the cleaner could compact now, or `None` when nothing is cleanable
    /// (not a compacted log, or no closed segment below the first uncleanable offset).
    pub fn cleanable_summary(&self) -> Result<Option<CleanableSummary>> {
        if !self.config().cleanup_policy.compact {
            return Ok(None);
        }
        let state = self.lock()?;
        if state.offline.is_some() {
            return Ok(None);
        }
        Ok(self.summarise(&state, state.cleaner_checkpoint, (self.clock)()))
    }

    fn summarise(
        &self,
        state: &LogState,
        checkpoint: Option<i64>,
        now: i64,
    ) -> Option<CleanableSummary> {
        let config = self.config();
        let active_base = state.active().base_offset;
        let mut uncleanable = active_base
            .min(state.last_stable_offset())
            .min(state.high_watermark)
            .min(state.recovery_point);
        let lag = i64::try_from(config.min_compaction_lag_ms).unwrap_or(i64::MAX);
        if lag > 0
            && let Some((&base, _)) = state
                .segments
                .iter()
                .find(|(_, s)| s.max_timestamp > now.saturating_sub(lag))
        {
            uncleanable = uncleanable.min(base);
        }
        let log_start = state.log_start_offset;
        let first_dirty = checkpoint
            .filter(|&c| c >= log_start && c <= state.log_end_offset())
            .unwrap_or(log_start);
        let (mut clean_bytes, mut dirty_bytes, mut end) = (0u64, 0u64, None);
        let mut overdue = false;
        for (&base, segment) in &state.segments {
            let next_base = state.next_base(base);
            if next_base > uncleanable {
                break;
            }
            end = Some(next_base);
            if next_base <= first_dirty {
                clean_bytes += segment.size_bytes;
            } else {
                dirty_bytes += segment.size_bytes;
                overdue |= config.max_compaction_lag_ms.is_some_and(|max| {
                    segment.max_timestamp >= 0
                        && now.saturating_sub(segment.max_timestamp)
                            > i64::try_from(max).unwrap_or(i64::MAX)
                });
            }
        }
        let end = end?;
        let horizon_passed = self
            .delete_horizon
            .load(std::sync::atomic::Ordering::Relaxed)
            <= now;
        if first_dirty >= end && !horizon_passed {
            return None;
        }
        let first_dirty = first_dirty.min(end);
        let total = clean_bytes + dirty_bytes;
        Some(CleanableSummary {
            first_dirty_offset: first_dirty,
            cleanable_end_offset: end,
            clean_bytes,
            dirty_bytes,
            dirty_ratio: if total == 0 {
                0.0
            } else {
                dirty_bytes as f64 / total as f64
            },
            compaction_overdue: overdue,
            delete_horizon_passed: horizon_passed,
        })
    }

    fn plan_cleaning(&self) -> Result<Option<Plan>> {
        let now = (self.clock)();
        let state = self.lock()?;
        if state.offline.is_some() {
            return Ok(None);
        }
        let Some(summary) = self.summarise(&state, state.cleaner_checkpoint, now) else {
            return Ok(None);
        };
        let sources = state
            .segments
            .iter()
            .map(|(&base, segment)| SourceSegment {
                base_offset: base,
                next_base: state.next_base(base),
                log_path: segment.log_path.clone(),
                size_bytes: segment.size_bytes,
            })
            .take_while(|s| s.next_base <= summary.cleanable_end_offset)
            .collect();
        Ok(Some(Plan {
            summary,
            sources,
            producer_last_records: state.producers.last_records(),
            txn_indexes: state
                .segments
                .iter()
                .map(|(&base, segment)| TxnIndexFile {
                    base_offset: base,
                    path: segment.txn_index_path(),
                    len: segment.txn_index_bytes.unwrap_or(0),
                })
                .collect(),
            truncations: state.truncations,
            now,
        }))
    }

    /// One cleaning (see the module docs). `Ok(None)` when there was nothing to clean. Runs on
    /// the caller's thread for as long as the cleaning takes; only one runs at a time per log.
    pub fn clean(&self, options: &CleanerOptions) -> Result<Option<CleaningOutcome>> {
        let _one_at_a_time = self.cleaner_lock.lock().unwrap_or_else(|p| p.into_inner());
        let config = self.config();
        if !config.cleanup_policy.compact {
            return Ok(None);
        }
        let Some(plan) = self.plan_cleaning()? else {
            return Ok(None);
        };
        let mut throttle = Throttle::new(options.io_max_bytes_per_second, options.abort.clone());
        let mut map = OffsetMap::with_buffer_bytes(options.dedupe_buffer_bytes);
        let end = self.build_offset_map(&plan, &mut map, &mut throttle)?;
        let context = FilterContext {
            map: &map,
            end_offset: end,
            producer_last_records: &plan.producer_last_records,
            now: plan.now,
            delete_retention_ms: config.delete_retention_ms,
        };
        let segments_before = self.segment_count()?;
        let mut outcome = CleaningOutcome {
            first_dirty_offset: plan.summary.first_dirty_offset,
            end_offset: end,
            bytes_read: 0,
            bytes_written: 0,
            segments_before,
            segments_after: segments_before,
            keys: map.len(),
            stats: FilterStats::default(),
            interrupted: false,
        };
        let sources: Vec<SourceSegment> = plan
            .sources
            .iter()
            .filter(|s| s.base_offset < end)
            .cloned()
            .collect();
        let mut walk = Walk {
            transactions: CleanedTransactions::default(),
            txn_indexes: &plan.txn_indexes,
            first_base: sources.first().map_or(0, |s| s.base_offset),
        };
        let groups = group_segments(
            &sources,
            config.segment_bytes_max,
            config.index_interval_bytes,
            config.index_entries_max,
        );
        for (i, group) in groups.into_iter().enumerate() {
            let cleaned =
                match self.write_cleaned(group, &context, &mut walk, &mut outcome, &mut throttle) {
                    Ok(cleaned) => cleaned,
                    Err(error) => {
                        let base = group[0].base_offset;
                        let end = group[group.len() - 1].next_base;
                        let path = group_file(&self.dir, base, end, CLEANED_SUFFIX);
                        crate::segment::remove_if_exists(&path)?;
                        return Err(error);
                    }
                };
            let retained = walk.transactions.take_retained();
            let crash_at = options
                .crash_at
                .filter(|(g, _)| *g == i)
                .map(|(_, step)| step);
            self.injected_crash(crash_at, CleanerCrashPoint::CleanedWritten)?;
            if !self.swap_in_cleaned(group, cleaned, &retained, plan.truncations, crash_at)? {
                outcome.interrupted = true;
                break;
            }
        }
        if let Some((_, step)) = options.crash_at {
            self.injected_crash(Some(step), CleanerCrashPoint::BeforeCheckpoint)?;
        }
        outcome.segments_after = self.segment_count()?;
        if !outcome.interrupted {
            // Only if no truncation came between the last swap and now: offsets it removed and
            // rewrote must stay dirty. Written under the lock, so truncation's lowering of the
            // checkpoint is never overwritten by an older value.
            let mut state = self.lock()?;
            if state.truncations != plan.truncations {
                outcome.interrupted = true;
            } else {
                state.cleaner_checkpoint = Some(end);
                checkpoint::write_offset(&self.dir, CLEANER_CHECKPOINT_FILE, end)?;
            }
        }
        if !outcome.interrupted {
            let horizon = outcome.stats.earliest_delete_horizon.unwrap_or(i64::MAX);
            self.delete_horizon
                .store(horizon, std::sync::atomic::Ordering::Relaxed);
        }
        tracing::info!(dir = %self.dir.display(), ?outcome, "cleaned log");
        Ok(Some(outcome))
    }

    /// Tests' crash injection: at `at == step`, takes the log offline and fails.
    pub(crate) fn injected_crash(
        &self,
        at: Option<CleanerCrashPoint>,
        step: CleanerCrashPoint,
    ) -> Result<()> {
        if at != Some(step) {
            return Ok(());
        }
        let reason = format!("crash injected at {step:?}");
        if let Ok(mut state) = self.lock() {
            state.offline = Some(reason.clone());
        }
        Err(self.offline_error(&reason))
    }

    /// Fills `map` with the latest offset of each key in the dirty section and returns where
    /// the map's coverage ends: the cleanable end, or the base of the first batch that did not
    /// fit.
    fn build_offset_map(
        &self,
        plan: &Plan,
        map: &mut OffsetMap,
        throttle: &mut Throttle,
    ) -> Result<i64> {
        let first_dirty = plan.summary.first_dirty_offset;
        // Aborted transactions' records never enter the map: a later aborted write of a key
        // must not remove its committed value.
        let mut transactions = CleanedTransactions::default();
        collect_aborted(
            &plan.txn_indexes,
            first_dirty,
            plan.summary.cleanable_end_offset,
            &mut |entry| transactions.add(entry, &self.dir),
        )?;
        for source in plan.sources.iter().filter(|s| s.next_base > first_dirty) {
            let mut full_at = None;
            self.for_each_batch(source, throttle, &mut |bytes, header| {
                if header.is_control() {
                    let marker = read_marker(header).ok().flatten().map(|(result, _)| result);
                    transactions.on_control_batch(header, marker);
                    return Ok(true);
                }
                if transactions.on_data_batch(header) || header.last_offset() < first_dirty {
                    return Ok(true);
                }
                // A corrupt batch must fail the cleaning before any group is swapped in: its
                // keys would otherwise decide what earlier groups keep.
                header
                    .verify_crc()
                    .map_err(|source| StorageError::InvalidBatch { position: 0, source })?;
                let count = usize::try_from(header.records_count()).unwrap_or(0);
                if !map.has_room_for(count) {
                    if map.len() == 0 {
                        return Err(StorageError::InvalidConfig(format!(
                            "log.cleaner.dedupe.buffer.size holds {} keys, fewer than one batch's {count}",
                            map.capacity()
                        )));
                    }
                    full_at = Some(header.base_offset());
                    return Ok(false);
                }
                let invalid = |source| StorageError::InvalidBatch { position: 0, source };
                let records = protocol::records::decode_batch_records(
                    header,
                    bytes,
                    filter::DECOMPRESSED_BATCH_BYTES_MAX,
                )
                .map_err(invalid)?;
                for record in records {
                    let record = record.map_err(invalid)?;
                    let offset = header.base_offset() + i64::from(record.offset_delta);
                    if let Some(key) = &record.key
                        && offset >= first_dirty
                    {
                        map.put(OffsetMap::hash(key), offset);
                    }
                }
                Ok(true)
            })?;
            if let Some(at) = full_at {
                return Ok(at.max(first_dirty));
            }
        }
        Ok(plan.summary.cleanable_end_offset)
    }

    /// Writes the cleaned form of `group` to `<B>-<E>.cleaned`, fsynced, as a segment whose
    /// indexes are in memory.
    fn write_cleaned(
        &self,
        group: &[SourceSegment],
        context: &FilterContext<'_>,
        walk: &mut Walk<'_>,
        outcome: &mut CleaningOutcome,
        throttle: &mut Throttle,
    ) -> Result<Segment> {
        let base = group[0].base_offset;
        let end = group[group.len() - 1].next_base;
        let path = group_file(&self.dir, base, end, CLEANED_SUFFIX);
        let mut cleaned = Segment::create_at(path, base, self.config().index_interval_bytes)?;
        let mut buffer = Vec::with_capacity(WRITE_BUFFER_BYTES);
        let mut infos: Vec<BatchInfo> = Vec::new();
        for source in group {
            walk.add_aborted(source, &self.dir)?;
            let transactions = &mut walk.transactions;
            let mut written = 0u64;
            self.for_each_batch(source, throttle, &mut |bytes, header| {
                header
                    .verify_crc()
                    .map_err(|source| StorageError::InvalidBatch {
                        position: 0,
                        source,
                    })?;
                let verdict =
                    filter_batch(bytes, header, context, transactions, &mut outcome.stats)?;
                let rewritten;
                let (kept, header): (&[u8], &protocol::records::RecordBatchHeader<'_>) =
                    match &verdict {
                        Filtered::Drop => return Ok(true),
                        Filtered::Keep => (bytes, header),
                        Filtered::Rewrite(bytes) => {
                            rewritten = protocol::records::RecordBatchHeader::parse(bytes)
                                .map_err(|source| StorageError::InvalidBatch {
                                    position: 0,
                                    source,
                                })?;
                            (bytes, &rewritten)
                        }
                    };
                infos.push(BatchInfo {
                    base_offset: header.base_offset(),
                    last_offset: header.last_offset(),
                    max_timestamp: header.max_timestamp(),
                    size_bytes: kept.len() as u64,
                });
                buffer.extend_from_slice(kept);
                if buffer.len() >= WRITE_BUFFER_BYTES {
                    cleaned.append(&buffer, &infos)?;
                    written += buffer.len() as u64;
                    buffer.clear();
                    infos.clear();
                }
                Ok(true)
            })?;
            throttle.account(written);
            outcome.bytes_written += written;
            outcome.bytes_read += source.size_bytes;
        }
        if !buffer.is_empty() {
            cleaned.append(&buffer, &infos)?;
            throttle.account(buffer.len() as u64);
            outcome.bytes_written += buffer.len() as u64;
        }
        cleaned.finish_time_index();
        cleaned.sync_log()?;
        Ok(cleaned)
    }

    /// Calls `on_batch` with each whole batch of a closed source segment (a copy of its bytes
    /// and its header) until it returns `false`. The file is opened by path: a segment deleted
    /// meanwhile ends the cleaning with an error the caller logs.
    fn for_each_batch(
        &self,
        source: &SourceSegment,
        throttle: &mut Throttle,
        on_batch: &mut dyn FnMut(&Bytes, &protocol::records::RecordBatchHeader<'_>) -> Result<bool>,
    ) -> Result<()> {
        let file = match File::open(&source.log_path) {
            Ok(file) => file,
            // Retention or a truncation removed it meanwhile: stop, the log stays as it is.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::CleaningAborted {
                    path: self.dir.clone(),
                });
            }
            Err(error) => return Err(StorageError::io("opening segment", &source.log_path)(error)),
        };
        // Batches written under a larger `segment.bytes` than today's stay readable.
        let bound = crate::config::SEGMENT_BYTES_MAX;
        let mut reader = BatchReader::new(&file, &source.log_path, 0, source.size_bytes, bound);
        loop {
            match reader.next_batch()? {
                Next::End => return Ok(()),
                Next::Torn { position, reason } => {
                    return Err(StorageError::Corrupt {
                        path: source.log_path.clone(),
                        reason: format!("torn batch at {position}: {reason}"),
                    });
                }
                Next::Batch { header, .. } => {
                    if throttle.aborted() {
                        return Err(StorageError::CleaningAborted {
                            path: self.dir.clone(),
                        });
                    }
                    let bytes = Bytes::copy_from_slice(header.as_bytes());
                    throttle.account(bytes.len() as u64);
                    let header =
                        protocol::records::RecordBatchHeader::parse(&bytes).map_err(|source| {
                            StorageError::InvalidBatch {
                                position: 0,
                                source,
                            }
                        })?;
                    if !on_batch(&bytes, &header)? {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The rewrite's walk over the log, carried from group to group: its transaction state and
/// where the aborted transactions come from.
struct Walk<'a> {
    transactions: CleanedTransactions,
    txn_indexes: &'a [TxnIndexFile],
    /// The first source's base: aborted transactions that start before it join there.
    first_base: i64,
}

impl Walk<'_> {
    /// Adds the aborted transactions overlapping `source` that start in it (or before it, for
    /// the first source), so each joins the walk once.
    fn add_aborted(&mut self, source: &SourceSegment, dir: &std::path::Path) -> Result<()> {
        let (base, first) = (source.base_offset, source.base_offset == self.first_base);
        let transactions = &mut self.transactions;
        collect_aborted(self.txn_indexes, base, source.next_base, &mut |entry| {
            if first || entry.first_offset >= base {
                transactions.add(entry, dir)?;
            }
            Ok(())
        })
    }
}

/// Consecutive segments whose total size fits one segment (`segment.bytes`), whose offsets fit
/// a segment's relative `u32` index offsets, and whose index entries fit one index (at most one
/// entry per `index.interval.bytes`, plus one per source; Kafka's `groupSegmentsBySize`).
fn group_segments(
    sources: &[SourceSegment],
    segment_bytes_max: u64,
    index_interval_bytes: u64,
    index_entries_max: usize,
) -> Vec<&[SourceSegment]> {
    let entries_max = index_entries_max.saturating_sub(2) as u64;
    let entries = |size: u64, count: usize| size / index_interval_bytes.max(1) + count as u64;
    let mut groups = Vec::new();
    let mut start = 0;
    while start < sources.len() {
        let mut end = start + 1;
        let mut size = sources[start].size_bytes;
        while end < sources.len()
            && size + sources[end].size_bytes <= segment_bytes_max
            && sources[end].next_base - sources[start].base_offset <= i64::from(i32::MAX)
            && entries(size + sources[end].size_bytes, end + 1 - start) <= entries_max
        {
            size += sources[end].size_bytes;
            end += 1;
        }
        groups.push(&sources[start..end]);
        start = end;
    }
    groups
}
