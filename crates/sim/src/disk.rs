//! A replica's partition log on a simulated disk: records with their offset and leader epoch,
//! the leader-epoch cache (the real `storage::EpochCache`), the high watermark, and how much of
//! the log is synced. Crashes apply the disk's faults: the unsynced suffix is lost in part, the
//! last write may be torn, a record may be corrupt; recovery keeps the valid prefix.
//!
//! This is a model of `storage::Log`, not the real one (a tempdir log per replica would cost
//! file I/O on every step and cannot lose its page cache on demand). Why it is faithful to the
//! real log's semantics, rule by rule (docs/internals/storage.md):
//! - Offsets are assigned from the log end; a leader append stamps its epoch and records it in
//!   the epoch cache (`Log::append_as_leader`), and refuses an epoch older than the cache's
//!   latest (`StorageError::StaleLeaderEpoch`). A follower append keeps the leader's offsets and
//!   epochs and refuses offsets below the log end (`OffsetsNotIncreasing`).
//! - `truncate_to` removes the suffix, caps the high watermark and the synced end at the new
//!   end and drops epochs that start at or past it (`Log::truncate_to` -> `after_truncation`).
//!   Truncation is durable at once, as the project's power-loss harness takes it
//!   (`storage::sync_journal`).
//! - The high watermark is clamped to `[log start, log end]` (`Log::set_high_watermark`); the log
//!   start is always 0 here (no retention or DeleteRecords).
//! - Recovery after a crash: what survives is the synced prefix plus some prefix of the unsynced
//!   records (the page cache writes back in any order, but a hole or a torn batch fails its
//!   CRC and recovery cuts the log there, so what survives is always a prefix), and a corrupt
//!   record in the region recovery re-reads (the segment holding the recovery point and later)
//!   cuts the log at that record. The epoch cache is rebuilt from the surviving records'
//!   epochs, and the high watermark restarts at the log start (`Log::open`).
//! - In fsync mode (`log.flush.on.ack=true`, `FlushPolicy::FsyncBeforeAck`) every append, leader
//!   or follower, returns synced.

use storage::EpochCache;

use crate::rng::Rng;

/// One record (a one-record batch): where it is, the epoch of the leader that wrote it, and
/// the value the client sent (unique per produce request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub epoch: i32,
    pub value: u64,
}

/// Why an append was refused (the storage errors the model reproduces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// A leader append at an epoch older than the log's latest.
    StaleLeaderEpoch { epoch: i32, latest: i32 },
    /// A follower append whose first offset is not the log end.
    OffsetsNotIncreasing { first: i64, log_end: i64 },
}

/// The disk faults a crash applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskFaults {
    /// Appends return only once synced (fsync mode); otherwise a background flush syncs.
    pub fsync_on_append: bool,
    /// Per mille: at a crash, part of the unsynced suffix (and a torn last write) is lost.
    pub lose_unsynced_per_mille: u32,
    /// Per mille: at a crash, a record in the region recovery re-reads is corrupt.
    pub corrupt_per_mille: u32,
    /// Records per segment: recovery re-reads from the segment holding the recovery point.
    pub segment_records: i64,
}

/// What a crash did to the log, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashDamage {
    pub log_end_before: i64,
    pub synced_end: i64,
    pub recovered_end: i64,
    pub corrupt_at: Option<i64>,
}

/// One replica's log.
#[derive(Debug, Clone, Default)]
pub struct ReplicaLog {
    /// Invariant: `records[i].offset == i`.
    records: Vec<Record>,
    epochs: EpochCache,
    /// Invariant: `0 <= high_watermark <= log_end`.
    high_watermark: i64,
    /// Records below are on disk. Invariant: `synced_end <= log_end`.
    synced_end: i64,
    /// The smallest offset truncated since [`ReplicaLog::take_lowest_change`] (the checker's
    /// incremental comparisons restart from there).
    lowest_change: Option<i64>,
}

impl ReplicaLog {
    pub fn log_end(&self) -> i64 {
        self.records.len() as i64
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn synced_end(&self) -> i64 {
        self.synced_end
    }

    pub fn record(&self, offset: i64) -> Option<&Record> {
        usize::try_from(offset)
            .ok()
            .and_then(|i| self.records.get(i))
    }

    /// Records from `offset`, at most `count_max`.
    pub fn read(&self, offset: i64, count_max: usize) -> Vec<Record> {
        let from = usize::try_from(offset).unwrap_or(usize::MAX);
        self.records
            .get(from..)
            .map(|tail| tail.iter().take(count_max).copied().collect())
            .unwrap_or_default()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// `Log::end_offset_for_epoch`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end())
    }

    /// `Log::append_as_leader` of one record: its offset.
    pub fn append_as_leader(
        &mut self,
        epoch: i32,
        value: u64,
        fsync: bool,
    ) -> Result<i64, AppendError> {
        if let Some(latest) = self.epochs.latest_epoch()
            && epoch < latest
        {
            return Err(AppendError::StaleLeaderEpoch { epoch, latest });
        }
        let offset = self.log_end();
        self.records.push(Record {
            offset,
            epoch,
            value,
        });
        self.epochs.assign(epoch, offset);
        if fsync {
            self.synced_end = self.log_end();
        }
        Ok(offset)
    }

    /// `Log::append_as_follower`: records keep the leader's offsets and epochs.
    pub fn append_as_follower(
        &mut self,
        records: &[Record],
        fsync: bool,
    ) -> Result<(), AppendError> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        if first.offset != self.log_end() {
            return Err(AppendError::OffsetsNotIncreasing {
                first: first.offset,
                log_end: self.log_end(),
            });
        }
        for record in records {
            assert_eq!(
                record.offset,
                self.log_end(),
                "a leader's records are contiguous"
            );
            self.epochs.assign(record.epoch, record.offset);
            self.records.push(*record);
        }
        if fsync {
            self.synced_end = self.log_end();
        }
        Ok(())
    }

    /// `Log::set_high_watermark`: clamped to the log.
    pub fn set_high_watermark(&mut self, offset: i64) -> i64 {
        self.high_watermark = offset.clamp(0, self.log_end());
        self.high_watermark
    }

    /// `Log::truncate_to`: removes records at and after `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        if offset >= self.log_end() {
            return;
        }
        let keep = usize::try_from(offset.max(0)).unwrap_or(0);
        self.records.truncate(keep);
        let end = self.log_end();
        self.high_watermark = self.high_watermark.min(end);
        self.synced_end = self.synced_end.min(end);
        self.epochs.truncate_from_end(end);
        self.note_change(end);
    }

    /// A background flush (page-cache write-back, `flush.ms`, a segment roll).
    pub fn flush(&mut self) {
        self.synced_end = self.log_end();
    }

    /// The process dies: the disk's faults apply, then recovery keeps the valid prefix. The
    /// high watermark restarts at the log start.
    pub fn crash_and_recover(&mut self, faults: &DiskFaults, rng: &mut Rng) -> CrashDamage {
        let log_end_before = self.log_end();
        let synced_end = self.synced_end;
        let mut keep = log_end_before;
        if synced_end < log_end_before && rng.chance(faults.lose_unsynced_per_mille) {
            // Some prefix of the unsynced records reached the disk; a torn write after it
            // fails its CRC and is cut with the rest.
            keep = rng.between(synced_end, log_end_before);
        }
        let mut corrupt_at = None;
        let revalidate_from = (synced_end / faults.segment_records) * faults.segment_records;
        if keep > revalidate_from && rng.chance(faults.corrupt_per_mille) {
            let at = rng.between(revalidate_from, keep - 1);
            corrupt_at = Some(at);
            keep = at;
        }
        self.truncate_to(keep);
        // Recovery rebuilds the epoch cache from the surviving batches' headers.
        let mut epochs = EpochCache::new();
        for record in &self.records {
            epochs.assign(record.epoch, record.offset);
        }
        self.epochs = epochs;
        self.high_watermark = 0;
        // Recovered segments are fsynced (storage.md, recovery step 8).
        self.synced_end = self.log_end();
        CrashDamage {
            log_end_before,
            synced_end,
            recovered_end: self.log_end(),
            corrupt_at,
        }
    }

    fn note_change(&mut self, offset: i64) {
        self.lowest_change = Some(self.lowest_change.map_or(offset, |low| low.min(offset)));
    }

    /// The smallest offset changed by a truncation since the last call, if any.
    pub fn take_lowest_change(&mut self) -> Option<i64> {
        self.lowest_change.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_answers_epochs_as_the_storage_cache_does() {
        let mut log = ReplicaLog::default();
        log.append_as_leader(1, 10, false).unwrap();
        log.append_as_leader(1, 11, false).unwrap();
        log.append_as_leader(3, 12, false).unwrap();
        assert_eq!(log.end_offset_for_epoch(1), (1, 2));
        assert_eq!(log.end_offset_for_epoch(2), (1, 2));
        assert_eq!(log.end_offset_for_epoch(3), (3, 3));
        assert_eq!(
            log.append_as_leader(2, 13, false),
            Err(AppendError::StaleLeaderEpoch {
                epoch: 2,
                latest: 3
            })
        );
        log.set_high_watermark(3);
        log.truncate_to(2);
        assert_eq!((log.log_end(), log.high_watermark()), (2, 2));
        assert_eq!(log.latest_epoch(), Some(1));
    }

    #[test]
    fn a_crash_keeps_the_synced_prefix() {
        let faults = DiskFaults {
            fsync_on_append: false,
            lose_unsynced_per_mille: 1000,
            corrupt_per_mille: 0,
            segment_records: 4,
        };
        for seed in 0..50 {
            let mut log = ReplicaLog::default();
            for value in 0..6 {
                log.append_as_leader(1, value, false).unwrap();
            }
            log.flush();
            for value in 6..10 {
                log.append_as_leader(2, value, false).unwrap();
            }
            let damage = log.crash_and_recover(&faults, &mut Rng::new(seed));
            assert!((6..=10).contains(&damage.recovered_end));
            assert_eq!(log.high_watermark(), 0);
            let expected_latest = if log.log_end() > 6 { 2 } else { 1 };
            assert_eq!(log.latest_epoch(), Some(expected_latest));
        }
    }
}
