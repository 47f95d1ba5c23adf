//! Removing data from either end of the log: retention by time and size and `DeleteRecords`
//! at the head; truncation at the tail (replication's KIP-101 truncation). Also the consistency
//! check that tests and operators use to confirm indexes agree with the log.
//!
//! Retention never blocks appends for file I/O: segments leave the in-memory list under the
//! lock, and their files are unlinked after it is released (open readers keep their handles).
//! Only closed segments are deleted; the active segment is never removed by retention.

use std::collections::HashMap;

use crate::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use crate::error::{Result, StorageError};
use crate::frame::{self, BatchReader, Next};
use crate::log::{Log, LogState};
use crate::recovery::rebuild_producer_state;
use crate::segment::{Segment, remove_if_exists};
use crate::transactions::{TransactionResult, read_marker};
use crate::txn_index;

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub log_start_offset: i64,
}

impl Log {
    /// One retention pass (the broker runs it from a background thread): deletes closed
    /// segments entirely below the log start offset, older than `retention.ms` (by their largest
    /// timestamp) or beyond `retention.bytes`, oldest first.
    pub fn delete_retained_segments(&self) -> Result<RetentionOutcome> {
        let now = (self.clock)();
        let (removed, outcome) = {
            let mut state = self.lock()?;
            let mut total = state.size_bytes();
            let active_base = state.active().base_offset;
            let mut doomed = Vec::new();
            for (&base, segment) in &state.segments {
                if base == active_base {
                    break;
                }
                let next_base = state.next_base(base);
                let below_start = next_base <= state.log_start_offset;
                let delete = self.config().cleanup_policy.delete;
                // An empty closed segment (the cleaner removed everything in it) holds nothing
                // to keep and has no timestamp: it goes with time retention.
                let expired = delete
                    && self.config().retention_ms.is_some_and(|ms| {
                        segment.size_bytes == 0
                            || (segment.max_timestamp >= 0
                                && now.saturating_sub(segment.max_timestamp) > ms as i64)
                    });
                let oversized = delete
                    && self
                        .config()
                        .retention_bytes
                        .is_some_and(|limit| total.saturating_sub(segment.size_bytes) >= limit);
                if !(below_start || expired || oversized) {
                    break;
                }
                total -= segment.size_bytes;
                doomed.push(base);
            }
            let mut removed = Vec::with_capacity(doomed.len());
            for base in &doomed {
                removed.push(state.segments.remove(base).expect("listed above"));
                state.open_lru.retain(|b| b != base);
            }
            let first_base = *state.segments.keys().next().expect("active remains");
            if first_base > state.log_start_offset {
                state.log_start_offset = first_base;
                let high_watermark = state.high_watermark.max(first_base);
                state.update_high_watermark(high_watermark);
                state.epochs.truncate_from_start(first_base);
                state.producers.truncate_head(first_base);
            }
            let outcome = RetentionOutcome {
                segments_deleted: removed.len(),
                bytes_deleted: removed.iter().map(|s| s.size_bytes).sum(),
                log_start_offset: state.log_start_offset,
            };
            (removed, outcome)
        };
        if removed.is_empty() {
            return Ok(outcome);
        }
        // Outside the lock: record the new start first, so a crash mid-deletion leaves a log
        // start offset that is already past the files being removed.
        self.write_checkpoints()?;
        for segment in removed {
            delete_segment(segment)?;
        }
        checkpoint::sync_dir(&self.dir)?;
        tracing::info!(dir = %self.dir.display(), ?outcome, "retention deleted segments");
        Ok(outcome)
    }

    /// `DeleteRecords`: moves the log start offset up to `offset` (at most the HighWatermark).
    /// Whole segments below it are deleted by the next retention pass. Returns the new start.
    pub fn delete_records(&self, offset: i64) -> Result<i64> {
        let log_start = {
            let mut state = self.lock()?;
            if offset > state.high_watermark || offset < 0 {
                return Err(StorageError::OffsetOutOfRange {
                    requested: offset,
                    log_start: state.log_start_offset,
                    log_end: state.high_watermark,
                });
            }
            if offset > state.log_start_offset {
                state.log_start_offset = offset;
                state.epochs.truncate_from_start(offset);
                state.producers.truncate_head(offset);
            }
            state.log_start_offset
        };
        self.write_checkpoints()?;
        Ok(log_start)
    }

    /// Removes every batch at or after the one containing `offset` (a follower truncating a
    /// divergent suffix). The log end offset becomes the base offset of the first removed batch.
    /// `.txnindex` entries of removed ABORT markers go with them; producer state is replayed,
    /// so a transaction whose marker was removed is open again and one whose first batch was
    /// removed is gone.
    pub fn truncate_to(&self, offset: i64) -> Result<i64> {
        let mut state = self.lock()?;
        if offset >= state.log_end_offset() {
            return Ok(state.log_end_offset());
        }
        if offset <= state.log_start_offset {
            drop(state);
            self.truncate_fully_and_start_at(offset)?;
            return self.log_end_offset();
        }
        let doomed: Vec<i64> = state
            .segments
            .range(offset + 1..)
            .map(|(&b, _)| b)
            .collect();
        let floor = *state
            .segments
            .range(..=offset)
            .next_back()
            .expect("offset > log start")
            .0;
        for base in doomed {
            let segment = state.segments.remove(&base).expect("listed above");
            state.open_lru.retain(|&b| b != base);
            delete_segment(segment)?;
        }
        state.open_lru.retain(|&b| b != floor);
        let segment = self.open_segment(&mut state, floor)?;
        let removed = segment.truncate_to(offset)?;
        tracing::info!(dir = %self.dir.display(), offset, removed, "truncated log");
        if state.log_end_offset() < state.log_start_offset {
            // The removed batch straddled the log start: nothing readable is left. Restart empty
            // at the log start so offsets below it are never handed out again.
            let log_start = state.log_start_offset;
            drop(state);
            self.truncate_fully_and_start_at(log_start)?;
            return self.log_end_offset();
        }
        self.after_truncation(&mut state)?;
        Ok(state.log_end_offset())
    }

    /// Deletes every segment and restarts the log empty at `offset` (a follower whose leader's
    /// log start is past this log's end). Producer snapshots go too (Kafka's
    /// `truncateFullyAndStartAt`): they describe batches that are gone, open transactions
    /// included.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<()> {
        let mut state = self.lock()?;
        let bases: Vec<i64> = state.segments.keys().copied().collect();
        for base in bases {
            let segment = state.segments.remove(&base).expect("listed above");
            delete_segment(segment)?;
        }
        for snapshot in state.producers.snapshot_offsets()? {
            state.producers.remove_snapshot(snapshot)?;
        }
        state.open_lru.clear();
        state.segments.insert(
            offset,
            Segment::create(&self.dir, offset, self.config().index_interval_bytes)?,
        );
        state.log_start_offset = offset;
        self.after_truncation(&mut state)?;
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET_FILE, offset)
    }

    fn after_truncation(&self, state: &mut LogState) -> Result<()> {
        checkpoint::sync_dir(&self.dir)?;
        state.truncations += 1;
        // Keep the unsynced closed segments that still exist; the active one is synced with the
        // active segment from now on.
        let active_base = state.active().base_offset;
        let segments = &state.segments;
        state
            .rolled_unflushed
            .retain(|r| r.base_offset != active_base && segments.contains_key(&r.base_offset));
        let log_end = state.log_end_offset();
        let high_watermark = state
            .high_watermark
            .min(log_end)
            .max(state.log_start_offset);
        state.update_high_watermark(high_watermark);
        state.recovery_point = state.recovery_point.min(log_end);
        self.group_commit.reset(log_end);
        state.epochs.truncate_from_end(log_end);
        state.epochs.persist_if_dirty()?;
        rebuild_producer_state(state, self.config().segment_bytes_max)?;
        // Offsets at or past the new end are new data: the cleaner must see them as dirty
        // (Kafka's `maybeTruncateCheckpoint`).
        if let Some(cleaned) = state.cleaner_checkpoint
            && cleaned > log_end
        {
            state.cleaner_checkpoint = Some(log_end);
            checkpoint::write_offset(&self.dir, crate::cleaner::CLEANER_CHECKPOINT_FILE, log_end)?;
        }
        checkpoint::write_offset(&self.dir, RECOVERY_POINT_FILE, state.recovery_point)
    }

    /// Checks that every segment's indexes agree with its batches: each offset index entry
    /// points at a batch with that base offset, offsets increase across the log, and the active
    /// segment ends at the log end offset. Reads every batch; meant for tests and tooling.
    pub fn verify_consistency(&self) -> Result<()> {
        let mut state = self.lock()?;
        let bases: Vec<i64> = state.segments.keys().copied().collect();
        let active_base = *bases.last().expect("a log always has a segment");
        let mut expected_next = i64::MIN;
        for base in bases {
            let segment = self.open_segment(&mut state, base)?;
            let corrupt = |reason: String| StorageError::Corrupt {
                path: segment.log_path.clone(),
                reason,
            };
            let open = segment.open.as_ref().expect("opened");
            for (offset, position) in open.offset_index.entries() {
                let frame =
                    frame::read_frame(&open.log, &segment.log_path, position, segment.size_bytes)?;
                if frame.is_none_or(|f| f.base_offset != offset) {
                    return Err(corrupt(format!(
                        "index entry ({offset}, {position}) misses"
                    )));
                }
            }
            let mut reader = BatchReader::new(
                &open.log,
                &segment.log_path,
                0,
                segment.size_bytes,
                segment.size_bytes,
            );
            let mut last_next = segment.base_offset;
            // ABORT markers of the segment, by offset, to check the `.txnindex` against.
            let mut aborts = std::collections::HashMap::new();
            loop {
                match reader.next_batch()? {
                    Next::End => break,
                    Next::Torn { position, reason } => {
                        return Err(corrupt(format!("torn batch at {position}: {reason}")));
                    }
                    Next::Batch { position, header } => {
                        header
                            .verify_crc()
                            .map_err(|e| corrupt(format!("at {position}: {e}")))?;
                        if header.base_offset() < expected_next || header.base_offset() < last_next
                        {
                            return Err(corrupt(format!(
                                "offset {} does not increase",
                                header.base_offset()
                            )));
                        }
                        last_next = header.last_offset() + 1;
                        expected_next = last_next;
                        if header.is_control()
                            && let Ok(Some((TransactionResult::Abort, _))) = read_marker(&header)
                        {
                            aborts.insert(header.base_offset(), header.producer_id());
                        }
                    }
                }
            }
            let ends_wrong = if base == active_base {
                last_next != segment.next_offset
            } else {
                last_next > segment.next_offset
            };
            if ends_wrong {
                return Err(corrupt(format!(
                    "batches end at {last_next}, segment says {}",
                    segment.next_offset
                )));
            }
            verify_txn_index(segment, &aborts)?;
        }
        Ok(())
    }
}

/// Checks a segment's `.txnindex` against its ABORT markers (offset -> producer id): every
/// entry names one, in marker order, with a first offset at or below it.
fn verify_txn_index(segment: &Segment, aborts: &HashMap<i64, i64>) -> Result<()> {
    let path = segment.txn_index_path();
    let len = segment.txn_index_bytes.unwrap_or(0);
    let on_disk = std::fs::metadata(&path).map_or(0, |m| m.len());
    if on_disk != len {
        return Err(StorageError::Corrupt {
            path,
            reason: format!("{on_disk} bytes on disk, {len} known"),
        });
    }
    let mut previous = i64::MIN;
    let mut wrong = None;
    txn_index::for_each_entry(&path, len, &mut |entry| {
        let matches = aborts.get(&entry.last_offset) == Some(&entry.producer_id)
            && entry.first_offset <= entry.last_offset
            && entry.last_offset > previous;
        previous = entry.last_offset;
        if !matches {
            wrong = Some(entry);
        }
        Ok(matches)
    })?;
    match wrong {
        Some(entry) => Err(StorageError::Corrupt {
            path,
            reason: format!("entry {entry:?} names no ABORT marker of its producer"),
        }),
        None => Ok(()),
    }
}

/// Unlinks a segment's files. Readers holding its file handle keep reading until they drop it.
fn delete_segment(segment: Segment) -> Result<()> {
    for path in segment.file_paths() {
        remove_if_exists(&path)?;
    }
    Ok(())
}
