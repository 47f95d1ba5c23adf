//! Opening a partition directory: finding segments, deciding what to trust, recovering the rest,
//! and rebuilding derived state (indexes, leader-epoch cache, producer state).
//!
//! After a clean shutdown (marker present) only the active segment's tail past its last index
//! entry is re-read, and a `.txnindex` whose length differs from the one the marker lists for
//! its segment is rebuilt (an older copy passes every other check). Otherwise every segment that may hold data past the recovery-point
//! checkpoint is re-validated batch by batch (framing, CRC32C, increasing offsets); the log is
//! cut at the first damaged batch and later segments are removed: a log is a prefix, and
//! nothing after a gap may be served. A re-validated segment whose batches end before the next
//! segment's base (a power cut lost its tail after the roll) is a gap too, in logs the cleaner
//! never compacted (in a compacted one such a gap is normal and this loss is not detected). Batches before the damage are never touched.
//!
//! With `verify_on_open` (`log.verify.on.start`) the segments recovery would trust are read
//! first, batch by batch with CRC32C; the first damaged one lowers the point recovery starts
//! from to its base, so that the log is cut at the damage like any other.
//!
//! Derived state is rebuilt last: producer state (with open transactions) from the newest
//! usable snapshot plus a replay of batch headers, and the `.txnindex` of every segment that
//! recovery re-read or whose index is missing or damaged, from the same replay (which then
//! starts at a snapshot at or below the first such segment).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use crate::checkpoint::{
    self, CLEAN_SHUTDOWN_FILE, CleanShutdown, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE,
};
use crate::config::LogConfig;
use crate::epoch::LeaderEpochCache;
use crate::error::{Result, StorageError};
use crate::flush::GroupCommit;
use crate::frame::{BatchReader, Next};
use crate::log::{Clock, Log, LogState, system_clock};
use crate::producer::{BatchFacts, ProducerStateManager};
use crate::segment::{LOG_SUFFIX, Segment, remove_if_exists};
use crate::txn_index;

/// Largest base offset accepted from a file name: leaves room for relative offsets and sums.
const BASE_OFFSET_MAX: i64 = i64::MAX / 4;
/// Suffixes of files left behind by an interrupted operation; removed at open.
const STRAY_SUFFIXES: [&str; 3] = [".tmp", ".deleted", crate::cleaner::CLEANED_SUFFIX];

impl Log {
    /// Opens (creating if needed) the partition directory `dir`, recovering it if the last
    /// shutdown was not clean.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Log> {
        Self::open_with_clock(dir, config, system_clock())
    }

    /// [`Log::open`] with an injected clock (milliseconds since the epoch).
    pub fn open_with_clock(dir: &Path, config: LogConfig, clock: Clock) -> Result<Log> {
        config.validate()?;
        std::fs::create_dir_all(dir).map_err(StorageError::io("creating", dir))?;
        crate::cleaner::complete_interrupted_swaps(dir)?;
        let bases = list_segments(dir)?;
        let marker = checkpoint::read_clean_shutdown(dir)?;
        let clean = marker != CleanShutdown::Absent;
        let (mut epochs, epochs_found) = LeaderEpochCache::load(dir)?;
        let checkpointed_recovery = checkpoint::read_offset(dir, RECOVERY_POINT_FILE)?;
        let mut recovery_from = match (clean, epochs_found, checkpointed_recovery) {
            (true, true, _) => i64::MAX,
            (false, true, Some(point)) => point,
            _ => 0,
        };
        let interval = config.index_interval_bytes;
        // A compacted log's segments may end before the next one begins (their last batches
        // compacted away, here or on the leader a follower copied), and so may those below
        // the cleaner's checkpoint of a log compacted once; no other segment may.
        let cleaner_checkpoint =
            checkpoint::read_offset(dir, crate::cleaner::CLEANER_CHECKPOINT_FILE)?;
        let cleaned_below = cleaner_checkpoint.unwrap_or(0);
        if config.verify_on_open
            && let Some(damaged) = first_damaged_trusted(dir, &bases, recovery_from, interval)?
        {
            recovery_from = damaged; // recovered from there on: cut at the damage
        }
        let mut segments = BTreeMap::new();
        let mut damaged_at: Option<i64> = None;
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let mut segment = Segment::existing(dir, base, interval)?;
            let is_last = i + 1 == bases.len();
            if next_base > recovery_from {
                segment.open_for_scan()?;
                let outcome = segment.scan(0, next_base, true, &mut |batch| {
                    epochs.assign(batch.partition_leader_epoch(), batch.base_offset());
                })?;
                if let Some((position, reason)) = outcome.torn {
                    tracing::warn!(segment = %segment.log_path.display(), position, reason,
                        "damaged batch found in recovery; truncating the log there");
                    segment.cut_at(position)?;
                    damaged_at = Some(base);
                } else if !is_last
                    && segment.next_offset < next_base
                    && !config.cleanup_policy.compact
                    && base >= cleaned_below
                {
                    // Intact but short, and never cleaned: its tail was lost (a power cut after
                    // the roll wrote into the next segment, before this one's fsync). Keeping
                    // the next segments would serve a hole; the replica fetches the rest again.
                    tracing::warn!(segment = %segment.log_path.display(),
                        end = segment.next_offset, next_base,
                        "segment ends before the next one begins; truncating the log there");
                    damaged_at = Some(base);
                }
                // What recovery read may still sit only in the page cache (a process crash keeps
                // it there); make it durable so the recovery point can move past it.
                segment.sync_log()?;
                segment.write_indexes(true)?;
                if !is_last && damaged_at.is_none() {
                    segment.seal(false)?;
                }
                // Rebuilt from the replay below: entries for markers past the recovery point may
                // be missing (never written back) or name cut batches.
                segment.txn_index_bytes = None;
            } else if is_last {
                segment.ensure_open(next_base, config.index_entries_max)?;
                let outcome = segment.rescan_from_last_entry(next_base, true)?;
                if let Some((position, reason)) = outcome.torn {
                    tracing::warn!(segment = %segment.log_path.display(), position, reason,
                        "damaged tail in a cleanly closed segment; truncating");
                    segment.cut_at(position)?;
                } else {
                    segment.load_txn_index(next_base, config.index_entries_max)?;
                    distrust_unlike_closed(&mut segment, &marker);
                }
            } else {
                segment.next_offset = next_base;
                if !segment.read_sealed_max_timestamp()? {
                    segment.ensure_open(next_base, config.index_entries_max)?;
                    segment.seal(false)?;
                }
                segment.load_txn_index(next_base, config.index_entries_max)?;
                distrust_unlike_closed(&mut segment, &marker);
            }
            segments.insert(base, segment);
            if damaged_at.is_some() {
                break;
            }
        }
        if damaged_at.is_some() {
            for &base in bases.iter().filter(|&&b| !segments.contains_key(&b)) {
                tracing::warn!(dir = %dir.display(), base, "removing segment after damaged batch");
                remove_segment_files(dir, base)?;
            }
            checkpoint::sync_dir(dir)?;
        }
        let checkpointed_start = checkpoint::read_offset(dir, LOG_START_OFFSET_FILE)?;
        if segments.is_empty() {
            let base = checkpointed_start.unwrap_or(0);
            segments.insert(base, Segment::create(dir, base, interval)?);
            checkpoint::sync_dir(dir)?;
        }
        // Only the active segment stays open; closed ones open on demand through the LRU.
        let last_base = *segments.keys().next_back().expect("at least one segment");
        for (base, segment) in segments.iter_mut() {
            if *base != last_base {
                segment.open = None;
            }
        }
        let next_base_max = i64::MAX;
        let active = segments.get_mut(&last_base).expect("present");
        active.ensure_open(next_base_max, config.index_entries_max)?;
        let log_end = active.next_offset;
        let first_base = *segments.keys().next().expect("at least one segment");
        let log_start = checkpointed_start
            .unwrap_or(first_base)
            .max(first_base)
            .min(log_end);
        // Clean: everything was synced at close. Otherwise every segment recovery did not trust
        // was validated and synced above.
        let recovery_point = log_end;
        epochs.truncate_from_end(log_end);
        epochs.truncate_from_start(log_start);
        epochs.persist_if_dirty()?;

        let mut state = LogState {
            segments,
            log_start_offset: log_start,
            high_watermark: log_start,
            recovery_point,
            last_flush_ms: clock(),
            epochs,
            producers: ProducerStateManager::new(dir, config.producer_ids_max),
            open_lru: VecDeque::new(),
            offline: None,
            rolled_unflushed: Vec::new(),
            truncations: 0,
            cleaner_checkpoint,
            closed: false,
        };
        rebuild_producer_state(&mut state, config.segment_bytes_max)?;
        checkpoint::write_offset(dir, RECOVERY_POINT_FILE, recovery_point)?;
        checkpoint::write_offset(dir, LOG_START_OFFSET_FILE, log_start)?;
        if clean {
            remove_if_exists(&dir.join(CLEAN_SHUTDOWN_FILE))?;
            checkpoint::sync_dir(dir)?;
        }
        tracing::info!(dir = %dir.display(), clean, log_start, log_end, recovery_point, "log opened");
        Ok(Log {
            dir: dir.to_path_buf(),
            config: std::sync::RwLock::new(std::sync::Arc::new(config)),
            clock,
            state: Mutex::new(state),
            group_commit: GroupCommit::new(recovery_point),
            checkpoint_lock: Mutex::new(()),
            cleaner_lock: Mutex::new(()),
            delete_horizon: std::sync::atomic::AtomicI64::new(i64::MAX),
        })
    }
}

/// Leaves a trusted `.txnindex` to be rebuilt when its length is not the one the clean-shutdown
/// marker lists for the segment (or the marker lists none): the file is not the one the log
/// closed with, e.g. an older copy put back, which lacks the latest aborted transactions.
fn distrust_unlike_closed(segment: &mut Segment, marker: &CleanShutdown) {
    let CleanShutdown::Listed(lengths) = marker else {
        return;
    };
    let closed = lengths.get(&segment.base_offset).copied();
    if let Some(found) = segment.txn_index_bytes
        && closed != Some(found)
    {
        tracing::warn!(path = %segment.txn_index_path().display(), found, ?closed,
            "transaction index differs from the one the log closed with; rebuilding it");
        segment.txn_index_bytes = None;
    }
}

/// With `verify_on_open`: the base offset of the first segment recovery would trust (it ends at
/// or below `recovery_from`) that holds a damaged batch (framing, CRC32C, offsets), read
/// without changing anything.
fn first_damaged_trusted(
    dir: &Path,
    bases: &[i64],
    recovery_from: i64,
    interval: u64,
) -> Result<Option<i64>> {
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
        if next_base > recovery_from {
            break; // recovery re-validates this one and those after it
        }
        let mut probe = Segment::existing(dir, base, interval)?;
        probe.open_for_scan()?;
        if let Some((position, reason)) = probe.scan(0, next_base, true, &mut |_| {})?.torn {
            tracing::warn!(segment = %probe.log_path.display(), position, reason,
                "damaged batch found below the recovery point; the log is recovered from this segment");
            return Ok(Some(base));
        }
    }
    Ok(None)
}

/// Base offsets of the `.log` files in `dir`, ascending; removes stray temporary files.
fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(StorageError::io("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(StorageError::io("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if STRAY_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            remove_if_exists(&entry.path())?;
            continue;
        }
        if let Some(stem) = name.strip_suffix(LOG_SUFFIX)
            && stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            if base > BASE_OFFSET_MAX {
                tracing::warn!(dir = %dir.display(), name, "ignoring segment with an impossible base offset");
                continue;
            }
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

pub(crate) fn remove_segment_files(dir: &Path, base: i64) -> Result<()> {
    let segment = Segment::existing(dir, base, 1).ok();
    let paths = match segment {
        Some(segment) => segment.file_paths().to_vec(),
        None => vec![dir.join(crate::segment::segment_file_name(base, LOG_SUFFIX))],
    };
    for path in paths {
        remove_if_exists(&path)?;
    }
    Ok(())
}

/// Loads the newest valid producer snapshot at or below the log end offset and replays batch
/// headers from there; snapshots past the log end (from a truncated future) are removed.
///
/// Segments whose `.txnindex` is unknown (`txn_index_bytes == None`: re-read by recovery,
/// missing or damaged) get it rebuilt from the replay: it then starts at the newest snapshot at
/// or below the first such segment (or at the first segment), so every ABORT marker in them is
/// replayed with the producer state it was written with. Other segments' indexes are kept.
pub(crate) fn rebuild_producer_state(state: &mut LogState, batch_bytes_max: u64) -> Result<()> {
    let log_end = state.log_end_offset();
    let log_start = state.log_start_offset;
    state.producers.clear();
    let rebuild: Vec<i64> = state
        .segments
        .iter()
        .filter(|(_, s)| s.txn_index_bytes.is_none())
        .map(|(&b, _)| b)
        .collect();
    let rebuild_from = rebuild.first().copied().unwrap_or(i64::MAX);
    let mut replay_from = state.segments.keys().next().copied().unwrap_or(0);
    for offset in state.producers.snapshot_offsets()?.into_iter().rev() {
        if offset > log_end {
            state.producers.remove_snapshot(offset)?;
            continue;
        }
        if offset > rebuild_from {
            continue; // valid, but past a segment whose index needs the replay
        }
        if state.producers.load_snapshot(offset)? {
            replay_from = offset;
            break;
        }
        state.producers.remove_snapshot(offset)?;
    }
    for &base in &rebuild {
        let segment = &state.segments[&base];
        tracing::info!(segment = %segment.log_path.display(), "rebuilding the transaction index");
        txn_index::write(&segment.txn_index_path(), &[], false)?;
    }
    let bases: Vec<i64> = state.segments.keys().copied().collect();
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
        let segment = &state.segments[&base];
        let rebuilding = segment.txn_index_bytes.is_none();
        if next_base <= replay_from || segment.next_offset <= replay_from {
            continue;
        }
        let file = std::fs::File::open(&segment.log_path)
            .map_err(StorageError::io("opening segment", &segment.log_path))?;
        let mut reader = BatchReader::new(
            &file,
            &segment.log_path,
            0,
            segment.size_bytes,
            batch_bytes_max,
        );
        let txn_path = segment.txn_index_path();
        let mut txn_len = 0;
        while let Next::Batch { header, .. } = reader.next_batch()? {
            if header.base_offset() < replay_from {
                continue;
            }
            let completed = state.producers.update(&BatchFacts::read_lenient(&header));
            if rebuilding && let Some(completed) = completed.filter(|c| c.aborted) {
                txn_len = txn_index::append(&txn_path, txn_len, &completed.index_entry())?;
            }
        }
        if rebuilding {
            txn_index::sync(&txn_path)?;
            if let Some(segment) = state.segments.get_mut(&base) {
                segment.txn_index_bytes = Some(txn_len);
            }
        }
    }
    for base in rebuild {
        // Skipped above because empty (the replay starts at or before every segment rebuilt):
        // the empty index written above is the right one.
        if let Some(segment) = state.segments.get_mut(&base)
            && segment.txn_index_bytes.is_none()
        {
            segment.txn_index_bytes = Some(0);
        }
    }
    state.producers.truncate_head(log_start);
    let high_watermark = state.high_watermark;
    state.producers.on_high_watermark(high_watermark);
    Ok(())
}
