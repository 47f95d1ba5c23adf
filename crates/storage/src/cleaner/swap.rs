//! Putting a cleaned segment in place of the segments it replaces, crash-safely, and finishing
//! an interrupted swap when the log is opened (Kafka's `.cleaned` / `.swap` steps).
//!
//! Steps for a group of source segments `[B, E)` (B the first source's base, E the next
//! segment's base after the last source):
//! 1. the cleaner writes `<B>-<E>.cleaned` and fsyncs it (outside the log lock). A crash here
//!    leaves a stray `.cleaned` file that the next open deletes: the old segments are intact;
//! 2. under the log lock, after checking the sources are still there unchanged, it renames the
//!    file to `<B>-<E>.swap` and fsyncs the directory. This rename is the commit point;
//! 3. it unlinks the sources' index files (`.txnindex` too) and every source `.log` except
//!    `<B>.log`, renames the swap file over `<B>.log`, writes the new indexes (the
//!    `.txnindex` fsynced: it cannot be rebuilt from the segment alone), fsyncs the directory,
//!    and deletes producer snapshots below E (see below).
//!
//! A crash after step 2 leaves a `.swap` file: the next open deletes every segment file with a
//! base offset in `[B, E)` and renames the swap file to `<B>.log` (indexes are rebuilt on first
//! use; a missing `.txnindex` is rebuilt from a producer-state replay). The old `<B>.log` is
//! only ever replaced by the rename, and the other sources are removed before it, so at no
//! point do old and new data of the same offsets both look live.
//!
//! Snapshots below E go because the cleaning may have removed markers: a replay from a
//! snapshot taken while such a transaction was open would never see it end. A replay from a
//! later snapshot, or from the first segment, sees a removed transaction not at all (its
//! marker goes only once its batches are gone).

use std::path::{Path, PathBuf};

use super::CleanerCrashPoint;
use crate::checkpoint;
use crate::error::{Result, StorageError};
use crate::log::Log;
use crate::segment::{LOG_SUFFIX, Segment, remove_if_exists, segment_file_name};
use crate::txn_index::{self, AbortedTxnEntry};

pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
const SWAP_SUFFIX: &str = ".swap";

/// One source segment as the cleaner saw it when it planned the cleaning.
#[derive(Debug, Clone)]
pub(crate) struct SourceSegment {
    pub base_offset: i64,
    pub next_base: i64,
    pub log_path: PathBuf,
    pub size_bytes: u64,
}

/// `<B>-<E><suffix>` in `dir`.
pub(crate) fn group_file(dir: &Path, base: i64, end: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}-{end:020}{suffix}"))
}

fn parse_group_name(name: &str, suffix: &str) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(suffix)?;
    let (base, end) = stem.split_once('-')?;
    if base.len() != 20 || end.len() != 20 {
        return None;
    }
    Some((base.parse().ok()?, end.parse().ok()?))
}

impl Log {
    /// Step 2 and 3 for one group, under the lock. Returns `false` (and deletes the cleaned
    /// file) when the log changed since the cleaning was planned: retention, `DeleteRecords`
    /// or a truncation removed or replaced a source.
    pub(crate) fn swap_in_cleaned(
        &self,
        sources: &[SourceSegment],
        mut cleaned: Segment,
        aborted: &[AbortedTxnEntry],
        truncations: u64,
        crash_at: Option<CleanerCrashPoint>,
    ) -> Result<bool> {
        let first = sources.first().expect("a group has a segment");
        let end = sources.last().expect("a group has a segment").next_base;
        let mut state = self.lock()?;
        let unchanged = state.truncations == truncations
            && state.offline.is_none()
            && sources.iter().all(|source| {
                state
                    .segments
                    .get(&source.base_offset)
                    .is_some_and(|segment| {
                        segment.size_bytes == source.size_bytes
                            && state.next_base(source.base_offset) == source.next_base
                    })
            });
        if !unchanged {
            drop(state);
            let path = cleaned.log_path.clone();
            drop(cleaned);
            remove_if_exists(&path)?;
            return Ok(false);
        }
        let result = self
            .replace_files(
                sources,
                &mut cleaned,
                aborted,
                first.base_offset,
                end,
                crash_at,
            )
            .and_then(|()| {
                for offset in state.producers.snapshot_offsets()? {
                    if offset < end {
                        state.producers.remove_snapshot(offset)?;
                    }
                }
                Ok(())
            });
        if let Err(error) = result {
            // The directory may now hold the swap file: the next open finishes the swap.
            state.offline = Some(error.to_string());
            return Err(error);
        }
        for source in sources {
            state.segments.remove(&source.base_offset);
            state.open_lru.retain(|&b| b != source.base_offset);
        }
        cleaned.next_offset = end;
        state.segments.insert(first.base_offset, cleaned);
        self.touch_lru(&mut state, first.base_offset);
        Ok(true)
    }

    /// Steps 2 and 3 on the files; called with the log lock held.
    fn replace_files(
        &self,
        sources: &[SourceSegment],
        cleaned: &mut Segment,
        aborted: &[AbortedTxnEntry],
        base: i64,
        end: i64,
        crash_at: Option<CleanerCrashPoint>,
    ) -> Result<()> {
        let crash = |step| match crash_at == Some(step) {
            true => Err(self.offline_error(&format!("crash injected at {step:?}"))),
            false => Ok(()),
        };
        let swap = group_file(&self.dir, base, end, SWAP_SUFFIX);
        std::fs::rename(&cleaned.log_path, &swap)
            .map_err(StorageError::io("renaming to", &swap))?;
        checkpoint::sync_dir(&self.dir)?;
        crash(CleanerCrashPoint::SwapCommitted)?;
        for source in sources {
            let [log, index, time_index, txn_index] =
                Segment::existing_paths(&self.dir, source.base_offset);
            remove_if_exists(&index)?;
            remove_if_exists(&time_index)?;
            remove_if_exists(&txn_index)?;
            if source.base_offset != base {
                remove_if_exists(&log)?;
            }
        }
        // The unlinks reach the disk before the rename, on any filesystem's ordering.
        checkpoint::sync_dir(&self.dir)?;
        crash(CleanerCrashPoint::SourcesRemoved)?;
        let target = self.dir.join(segment_file_name(base, LOG_SUFFIX));
        std::fs::rename(&swap, &target).map_err(StorageError::io("renaming to", &target))?;
        cleaned.log_path = target;
        crash(CleanerCrashPoint::SwapRenamed)?;
        // Synced: recovery trusts a closed segment's time index below the recovery point.
        cleaned.write_indexes(true)?;
        cleaned.txn_index_bytes = Some(txn_index::write(&cleaned.txn_index_path(), aborted, true)?);
        checkpoint::sync_dir(&self.dir)
    }
}

/// At open, before segments are listed: finishes every swap a crash interrupted (see the
/// module docs). Stray `.cleaned` files are removed with the other temporary files.
pub(crate) fn complete_interrupted_swaps(dir: &Path) -> Result<()> {
    let mut swaps = Vec::new();
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StorageError::io("listing", dir))? {
        let entry = entry.map_err(StorageError::io("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(group) = parse_group_name(name, SWAP_SUFFIX) {
            swaps.push(group);
        } else if let Some(stem) = name.strip_suffix(LOG_SUFFIX)
            && stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            logs.push(base);
        }
    }
    if swaps.is_empty() {
        return Ok(());
    }
    swaps.sort_unstable();
    for (base, end) in swaps {
        tracing::warn!(dir = %dir.display(), base, end, "finishing a cleaner swap interrupted by a crash");
        for &old in logs.iter().filter(|&&b| (base..end).contains(&b)) {
            let [log, index, time_index, txn_index] = Segment::existing_paths(dir, old);
            remove_if_exists(&index)?;
            remove_if_exists(&time_index)?;
            remove_if_exists(&txn_index)?;
            if old != base {
                remove_if_exists(&log)?;
            }
        }
        checkpoint::sync_dir(dir)?;
        let swap = group_file(dir, base, end, SWAP_SUFFIX);
        let target = dir.join(segment_file_name(base, LOG_SUFFIX));
        std::fs::rename(&swap, &target).map_err(StorageError::io("renaming to", &target))?;
    }
    checkpoint::sync_dir(dir)
}
