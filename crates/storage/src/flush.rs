//! Getting appends onto the disk: group commit (one `fdatasync` covers every append that
//! finished writing before it started), the page-cache flush policy (`flush.ms`), checkpoint
//! writes and clean shutdown.
//!
//! Group commit needs no thread: the first waiter that finds no sync in flight becomes the
//! syncer; everyone else waits on a condvar for `flushed_offset` to pass their offset. An fsync
//! failure is sticky (after a failed fsync the kernel may have dropped the dirty pages, so
//! retrying could report success for lost data): the log goes offline until reopened.
//! Before syncing, the syncer lingers (yielding, at most `GROUP_COMMIT_LINGER`) while other
//! appends are between entering `append_*` and finishing their write, so one fsync covers them
//! too instead of leaving them for the next one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::checkpoint::{self, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE};
use crate::config::FlushPolicy;
use crate::error::{Result, StorageError};
use crate::log::Log;

#[derive(Debug, Default)]
struct GroupCommitState {
    /// Every offset below this is on disk.
    flushed_offset: i64,
    /// A waiter is inside `fdatasync` now.
    syncing: bool,
    /// Set after a failed sync; all later waits fail.
    failed: Option<String>,
}

/// Longest a syncer waits for in-flight appends to finish writing before it syncs.
const GROUP_COMMIT_LINGER: Duration = Duration::from_micros(500);

#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<GroupCommitState>,
    flushed: Condvar,
    /// Appends that entered `append_*` and have not finished writing.
    appends_in_flight: AtomicUsize,
}

/// Marks an append as in flight until dropped (after its write, before it waits for fsync).
pub(crate) struct AppendInFlight<'a>(&'a AtomicUsize);

impl Drop for AppendInFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl GroupCommit {
    pub fn new(flushed_offset: i64) -> Self {
        Self {
            state: Mutex::new(GroupCommitState {
                flushed_offset,
                ..GroupCommitState::default()
            }),
            flushed: Condvar::new(),
            appends_in_flight: AtomicUsize::new(0),
        }
    }

    pub fn enter_append(&self) -> AppendInFlight<'_> {
        self.appends_in_flight.fetch_add(1, Ordering::AcqRel);
        AppendInFlight(&self.appends_in_flight)
    }

    /// Lets appends that are about to finish writing join the coming sync (bounded wait).
    fn linger(&self) {
        let deadline = Instant::now() + GROUP_COMMIT_LINGER;
        while self.appends_in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// Lowers the flushed offset after a truncation below it.
    pub fn reset(&self, flushed_offset: i64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.flushed_offset = state.flushed_offset.min(flushed_offset);
    }
}

impl Log {
    /// Returns once every offset below `offset` is on disk, sharing one `fdatasync` among all
    /// concurrent callers.
    pub fn flush_to(&self, offset: i64) -> Result<()> {
        let gc = &self.group_commit;
        let mut state = gc.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(reason) = &state.failed {
                return Err(self.offline_error(reason));
            }
            if state.flushed_offset >= offset {
                return Ok(());
            }
            if state.syncing {
                state = gc.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.syncing = true;
            drop(state);
            gc.linger();
            let synced = self.sync_active();
            state = gc.state.lock().unwrap_or_else(|p| p.into_inner());
            state.syncing = false;
            match synced {
                Ok(Some(synced)) => state.flushed_offset = state.flushed_offset.max(synced),
                Ok(None) => {} // raced a truncation: the next round syncs again
                Err(error) => state.failed = Some(error.to_string()),
            }
            gc.flushed.notify_all();
        }
    }

    /// Syncs the active segment (and any rolled segments not yet synced) outside the state
    /// lock; returns the offset the sync covers, or `None` if a truncation raced it.
    fn sync_active(&self) -> Result<Option<i64>> {
        self.sync_and_advance(true)
    }

    /// Syncs the segments rolled but not yet synced, then advances and checkpoints the recovery
    /// point. Appenders call it after a roll; the broker may call it from a background thread.
    pub fn flush_rolled_segments(&self) -> Result<()> {
        if self.sync_and_advance(false)?.is_some() {
            self.write_checkpoints()?;
        }
        Ok(())
    }

    /// Syncs what is unsynced (rolled segments, and the active one with `include_active`)
    /// without holding the state lock, then advances the recovery point to what is now covered.
    fn sync_and_advance(&self, include_active: bool) -> Result<Option<i64>> {
        let (rolled, active, covered, truncations) = {
            let state = self.lock()?;
            if let Some(reason) = &state.offline {
                return Err(self.offline_error(reason));
            }
            let rolled = state.rolled_unflushed.clone();
            if rolled.is_empty() && !include_active {
                return Ok(None);
            }
            let active = include_active.then(|| {
                let active = state.active();
                let open = active.open.as_ref().expect("the active segment is open");
                (std::sync::Arc::clone(&open.log), active.log_path.clone())
            });
            let covered = if include_active {
                state.log_end_offset()
            } else {
                rolled.last().map_or(state.recovery_point, |r| r.end_offset)
            };
            (rolled, active, covered, state.truncations)
        };
        let synced = (|| {
            for segment in &rolled {
                segment.sync()?;
            }
            if let Some((file, path)) = &active {
                crate::sync_journal::sync_data(file, path)
                    .map_err(StorageError::io("syncing", path))?;
            }
            Ok::<_, StorageError>(())
        })();
        if let Err(error) = synced {
            if let Ok(mut state) = self.lock() {
                state.offline = Some(error.to_string());
            }
            return Err(error);
        }
        let now = (self.clock)();
        let mut state = self.lock()?;
        state.last_flush_ms = now;
        if state.truncations != truncations {
            return Ok(None);
        }
        if let Some(last) = rolled.last() {
            state
                .rolled_unflushed
                .retain(|r| r.end_offset > last.end_offset);
        }
        let log_end = state.log_end_offset();
        state.recovery_point = state.recovery_point.max(covered.min(log_end));
        Ok(Some(covered))
    }

    /// Flushes everything appended so far.
    pub fn flush(&self) -> Result<()> {
        let log_end = self.lock()?.log_end_offset();
        self.flush_to(log_end)
    }

    /// For the broker's scheduler: flushes when `flush.ms` has passed since the last flush and
    /// there is unflushed data. Returns whether it flushed.
    pub fn flush_if_due(&self) -> Result<bool> {
        let FlushPolicy::PageCache {
            flush_ms: Some(flush_ms),
            ..
        } = self.config().flush_policy
        else {
            return Ok(false);
        };
        let due = {
            let state = self.lock()?;
            state.recovery_point < state.log_end_offset()
                && (self.clock)().saturating_sub(state.last_flush_ms) >= flush_ms as i64
        };
        if due {
            self.flush()?;
        }
        Ok(due)
    }

    /// Writes the recovery point, log start offset and leader-epoch checkpoints (Kafka does this
    /// every `log.flush.offset.checkpoint.interval.ms`; the broker's scheduler calls this).
    pub fn write_checkpoints(&self) -> Result<()> {
        let _serial = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (recovery_point, log_start) = {
            let mut state = self.lock()?;
            state.epochs.persist_if_dirty()?;
            (state.recovery_point, state.log_start_offset)
        };
        checkpoint::write_offset(&self.dir, RECOVERY_POINT_FILE, recovery_point)?;
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET_FILE, log_start)
    }

    /// Clean shutdown: flushes segments and indexes, writes every checkpoint and a producer
    /// snapshot, then the clean-shutdown marker so the next open skips recovery. Further calls
    /// on this log fail with [`StorageError::Closed`].
    pub fn close(&self) -> Result<()> {
        let _serial = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut state = self.lock()?;
        if let Some(reason) = &state.offline {
            return Err(self.offline_error(reason));
        }
        let log_end = state.log_end_offset();
        for segment in std::mem::take(&mut state.rolled_unflushed) {
            segment.sync()?;
        }
        state.active_mut().seal(true)?;
        for segment in state.segments.values() {
            if segment.open.is_some() {
                segment.write_indexes(true)?;
            }
        }
        state.producers.take_snapshot(log_end)?;
        state.epochs.persist_if_dirty()?;
        state.recovery_point = log_end;
        checkpoint::write_offset(&self.dir, RECOVERY_POINT_FILE, log_end)?;
        checkpoint::write_offset(&self.dir, LOG_START_OFFSET_FILE, state.log_start_offset)?;
        let txn_index_lengths: Vec<(i64, u64)> = state
            .segments
            .iter()
            .filter_map(|(&base, s)| Some((base, s.txn_index_bytes?)))
            .collect();
        checkpoint::write_clean_shutdown(&self.dir, &txn_index_lengths)?;
        state.closed = true;
        for segment in state.segments.values_mut() {
            segment.open = None;
        }
        tracing::info!(dir = %self.dir.display(), log_end, "log closed cleanly");
        Ok(())
    }
}
