//! The leader-epoch cache (KIP-101): for each leader epoch that wrote to this log, the first
//! offset it wrote. Persisted in `leader-epoch-checkpoint`; replication uses
//! [`LeaderEpochCache::end_offset_for`] to answer `OffsetsForLeaderEpoch` and to truncate a
//! diverging follower.
//!
//! [`EpochCache`] is the entries and their rules in memory (public, for models of the log);
//! `LeaderEpochCache` adds the checkpoint file.
//!
//! Invariant: entries strictly increase in epoch and in start offset. The cache is derived data:
//! when the checkpoint is missing or malformed, recovery rebuilds it from batch headers.

use std::path::{Path, PathBuf};

use crate::checkpoint::{self, CHECKPOINT_ENTRIES_MAX};
use crate::error::Result;

/// Kafka's `UNDEFINED_EPOCH` / `UNDEFINED_EPOCH_OFFSET` answer for an epoch older than the cache.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One leader epoch and the first offset written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The cache's entries and rules, in memory: what [`LeaderEpochCache`] persists, and what a
/// model of the log (the deterministic simulator, `crates/sim`) keeps without files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset` if it is newer than every cached epoch.
    /// Returns whether the cache changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return false;
        }
        self.entries.retain(|e| e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        if self.entries.len() > CHECKPOINT_ENTRIES_MAX {
            self.entries.remove(0);
        }
        true
    }

    /// `(epoch, end offset)` for a follower at `requested` epoch: the largest cached epoch at or
    /// below it and the start offset of the next epoch (or `log_end` for the latest one). An
    /// epoch older than every cached one ends where the first cached epoch starts, as in
    /// Kafka's `LeaderEpochFileCache.endOffsetFor` (the follower then truncates to there);
    /// undefined for an undefined epoch or an empty cache.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        let after = self.entries.partition_point(|e| e.epoch <= requested);
        match after.checked_sub(1) {
            None => match self.entries.first() {
                Some(first) => (requested, first.start_offset),
                None => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
            },
            Some(i) => {
                let end = self
                    .entries
                    .get(i + 1)
                    .map_or(log_end, |next| next.start_offset);
                (self.entries[i].epoch, end)
            }
        }
    }

    /// Drops epochs that start at or after `end_offset` (log truncation). Returns whether the
    /// cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// Moves the first epoch that covers `start_offset` up to it and drops older ones (log start
    /// offset moved by retention or `DeleteRecords`). Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let covering = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        if let Some(keep) = covering.checked_sub(1)
            && (keep > 0 || self.entries[keep].start_offset != start_offset)
        {
            self.entries.drain(..keep);
            self.entries[0].start_offset = start_offset;
            return true;
        }
        false
    }
}

/// The cache of one log directory, persisted in `leader-epoch-checkpoint`.
#[derive(Debug)]
pub(crate) struct LeaderEpochCache {
    dir: PathBuf,
    cache: EpochCache,
    dirty: bool,
}

impl LeaderEpochCache {
    /// Loads the checkpoint, keeping only a valid increasing prefix; `None` entries mean the file
    /// was missing or malformed (the caller rebuilds from the log).
    pub fn load(dir: &Path) -> Result<(Self, bool)> {
        let loaded = checkpoint::read_epochs(dir)?;
        let found = loaded.is_some();
        let mut cache = Self {
            dir: dir.to_path_buf(),
            cache: EpochCache::new(),
            dirty: !found,
        };
        for (epoch, start_offset) in loaded.unwrap_or_default() {
            let increasing = cache
                .cache
                .entries
                .last()
                .is_none_or(|last| epoch > last.epoch && start_offset > last.start_offset);
            if epoch < 0 || start_offset < 0 || !increasing {
                cache.dirty = true;
                break;
            }
            cache.cache.entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        Ok((cache, found))
    }

    pub fn entries(&self) -> &[EpochEntry] {
        self.cache.entries()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.cache.latest_epoch()
    }

    /// [`EpochCache::assign`].
    pub fn assign(&mut self, epoch: i32, start_offset: i64) {
        self.dirty |= self.cache.assign(epoch, start_offset);
    }

    /// [`EpochCache::end_offset_for`].
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        self.cache.end_offset_for(requested, log_end)
    }

    /// [`EpochCache::truncate_from_end`].
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        self.dirty |= self.cache.truncate_from_end(end_offset);
    }

    /// [`EpochCache::truncate_from_start`].
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        self.dirty |= self.cache.truncate_from_start(start_offset);
    }

    /// Writes the checkpoint if the cache changed since the last write.
    pub fn persist_if_dirty(&mut self) -> Result<()> {
        if self.dirty {
            let pairs: Vec<(i32, i64)> = self
                .cache
                .entries
                .iter()
                .map(|e| (e.epoch, e.start_offset))
                .collect();
            checkpoint::write_epochs(&self.dir, &pairs)?;
            self.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_follow_kip_101() {
        let dir = tempfile::tempdir().unwrap();
        let (mut cache, found) = LeaderEpochCache::load(dir.path()).unwrap();
        assert!(!found);
        cache.assign(1, 0);
        cache.assign(3, 10);
        cache.assign(2, 20); // older epoch: ignored
        cache.assign(5, 30);
        // Older than every cached epoch: the requested epoch ends where the first cached one
        // starts (Kafka's answer; found by the simulator, seed 86: answering "undefined" let a
        // follower whose last epoch predates the leader's log keep records the leader never had).
        assert_eq!(cache.end_offset_for(0, 40), (0, 0));
        assert_eq!(
            cache.end_offset_for(UNDEFINED_EPOCH, 40),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(cache.end_offset_for(1, 40), (1, 10));
        assert_eq!(cache.end_offset_for(2, 40), (1, 10));
        assert_eq!(cache.end_offset_for(4, 40), (3, 30));
        assert_eq!(cache.end_offset_for(9, 40), (5, 40));
        cache.truncate_from_end(30);
        cache.truncate_from_start(12);
        assert_eq!(cache.end_offset_for(1, 40), (1, 12));
        assert_eq!(
            cache.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 12
            }]
        );
        cache.persist_if_dirty().unwrap();
        let (reloaded, found) = LeaderEpochCache::load(dir.path()).unwrap();
        assert!(found);
        assert_eq!(reloaded.entries(), cache.entries());
    }
}
