//! The partition log: an ordered set of segments behind one lock, with the offsets Kafka names
//! (LogStartOffset, LogEndOffset, HighWatermark, recovery point), leader and follower appends,
//! rolling, and the open-segment LRU.
//!
//! Split across files by concern: reads (`read.rs`), opening and recovery (`recovery.rs`),
//! retention and truncation (`retention.rs`), flushing, group commit and clean shutdown
//! (`flush.rs`), transactions and the last stable offset (`transactions.rs`).
//! Concurrency: every method takes `&self`; the state lock is held for in-memory work and short
//! file calls (one `pwrite` per append, small `pread`s on lookups), never across an `fsync` of
//! the active segment or the deletion of retained segments.
//! Invariants: `log_start_offset <= last_stable_offset <= high_watermark <= log_end_offset`;
//! `recovery_point <= log_end_offset`; the last segment is the active one and is always open.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use protocol::records::{RecordBatches, set_base_offset, set_partition_leader_epoch};

use crate::config::{FlushPolicy, LogConfig};
use crate::epoch::{EpochEntry, LeaderEpochCache};
use crate::error::{Result, StorageError};
use crate::flush::GroupCommit;
use crate::producer::{BatchFacts, ProducerState, ProducerStateManager, SequenceCheck};
use crate::segment::{BatchInfo, Segment};

/// Milliseconds since the Unix epoch; injectable so tests control `segment.ms` and retention.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub(crate) fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppendInfo {
    /// Offset of the first record appended (or of the original batch, for a duplicate).
    pub first_offset: i64,
    pub last_offset: i64,
    /// Largest batch max timestamp appended (`-1` for a duplicate).
    pub max_timestamp: i64,
    /// The batches were a retry of batches already in the log; nothing was written.
    pub duplicate: bool,
    pub log_start_offset: i64,
}

pub(crate) struct LogState {
    pub segments: BTreeMap<i64, Segment>,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub recovery_point: i64,
    pub last_flush_ms: i64,
    pub epochs: LeaderEpochCache,
    pub producers: ProducerStateManager,
    /// Closed segments with open files, least recently used first. Never holds the active one.
    pub open_lru: VecDeque<i64>,
    /// Why the log went offline (failed write or fsync); all writes refused after that.
    pub offline: Option<String>,
    /// Segments rolled but not yet fsynced, oldest first. Invariant: every closed segment below
    /// the recovery point is synced, so the recovery point never passes the first of these.
    pub rolled_unflushed: Vec<RolledSegment>,
    /// Bumped by every truncation, so a sync that raced one does not advance the recovery point.
    pub truncations: u64,
    /// The cleaner checkpoint (`cleaner-offset-checkpoint`): below it the log was compacted.
    /// Lowered by truncations; moved by a cleaning only if no truncation happened meanwhile.
    pub cleaner_checkpoint: Option<i64>,
    pub closed: bool,
}

impl LogState {
    pub fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has a segment")
    }
    pub fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has a segment")
    }
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size_bytes).sum()
    }
    /// Base offset of the segment after `base`, or `i64::MAX` for the active one.
    pub fn next_base(&self, base: i64) -> i64 {
        self.segments
            .range(base + 1..)
            .next()
            .map_or(i64::MAX, |(&b, _)| b)
    }
}

/// A rolled segment whose files still have to reach the disk.
#[derive(Debug, Clone)]
pub(crate) struct RolledSegment {
    pub base_offset: i64,
    /// The next segment's base: every offset below it is covered once this segment is synced.
    pub end_offset: i64,
    pub log: Arc<std::fs::File>,
    pub log_path: PathBuf,
    /// Offset index, time index and transaction index.
    pub index_paths: [PathBuf; 3],
}

impl RolledSegment {
    pub fn sync(&self) -> Result<()> {
        crate::sync_journal::sync_data(&self.log, &self.log_path)
            .map_err(StorageError::io("syncing", &self.log_path))?;
        for path in &self.index_paths {
            match std::fs::File::open(path) {
                Ok(file) => file.sync_all().map_err(StorageError::io("syncing", path))?,
                // Deleted by retention meanwhile: nothing left to make durable.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StorageError::io("opening", path)(error)),
            }
        }
        Ok(())
    }
}

/// One partition's log on disk. See the module docs for the concurrency rules.
pub struct Log {
    pub(crate) dir: PathBuf,
    /// Swapped whole by [`Log::set_config`]; readers take a cheap `Arc` clone.
    pub(crate) config: std::sync::RwLock<Arc<LogConfig>>,
    pub(crate) clock: Clock,
    pub(crate) state: Mutex<LogState>,
    pub(crate) group_commit: GroupCommit,
    /// Serialises checkpoint file writes (which happen outside the state lock).
    pub(crate) checkpoint_lock: Mutex<()>,
    /// One cleaning at a time per log.
    pub(crate) cleaner_lock: Mutex<()>,
    /// Earliest delete horizon of tombstones the last cleaning kept (`i64::MAX`: none known).
    pub(crate) delete_horizon: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Log {
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, LogState>> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.closed {
            return Err(StorageError::Closed {
                path: self.dir.clone(),
            });
        }
        Ok(state)
    }

    pub(crate) fn offline_error(&self, reason: &str) -> StorageError {
        StorageError::LogDirOffline {
            path: self.dir.clone(),
            reason: reason.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The settings in force.
    pub fn config(&self) -> Arc<LogConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings (AlterConfigs): segment size and age, index interval, retention
    /// and flush policy apply from the next append or retention pass. `producer_ids_max` and
    /// `open_segments_max` keep the values the log was opened with until it is reopened.
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }
    pub fn log_start_offset(&self) -> Result<i64> {
        Ok(self.lock()?.log_start_offset)
    }
    pub fn log_end_offset(&self) -> Result<i64> {
        Ok(self.lock()?.log_end_offset())
    }
    pub fn high_watermark(&self) -> Result<i64> {
        Ok(self.lock()?.high_watermark)
    }
    /// Why the log went offline (a write or sync failed), if it did: it refuses every write
    /// until reopened.
    pub fn offline_reason(&self) -> Option<String> {
        self.lock().ok().and_then(|state| state.offline.clone())
    }
    /// Offset below which every batch is known to be on disk.
    pub fn recovery_point(&self) -> Result<i64> {
        Ok(self.lock()?.recovery_point)
    }
    pub fn size_bytes(&self) -> Result<u64> {
        Ok(self.lock()?.size_bytes())
    }
    pub fn segment_count(&self) -> Result<usize> {
        Ok(self.lock()?.segments.len())
    }
    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Result<Vec<i64>> {
        Ok(self.lock()?.segments.keys().copied().collect())
    }

    /// Sets the HighWatermark (replication decides it), clamped to `[log_start, log_end]`.
    /// Transactions whose marker it passes stop holding the last stable offset back.
    pub fn set_high_watermark(&self, offset: i64) -> Result<i64> {
        let mut state = self.lock()?;
        let clamped = offset.clamp(state.log_start_offset, state.log_end_offset());
        state.update_high_watermark(clamped);
        Ok(clamped)
    }

    pub fn leader_epochs(&self) -> Result<Vec<EpochEntry>> {
        Ok(self.lock()?.epochs.entries().to_vec())
    }
    pub fn latest_epoch(&self) -> Result<Option<i32>> {
        Ok(self.lock()?.epochs.latest_epoch())
    }
    /// `OffsetsForLeaderEpoch`: the largest epoch at or below `epoch` and where it ended.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64)> {
        let state = self.lock()?;
        Ok(state.epochs.end_offset_for(epoch, state.log_end_offset()))
    }
    pub fn producer_state(&self, producer_id: i64) -> Result<Option<ProducerState>> {
        Ok(self.lock()?.producers.get(producer_id).cloned())
    }
    /// Whether `producer_id` at `producer_epoch` has an open transaction here (a produce path
    /// check: no copy of the producer's state).
    pub fn has_open_transaction(&self, producer_id: i64, producer_epoch: i16) -> Result<bool> {
        Ok(self
            .lock()?
            .producers
            .get(producer_id)
            .is_some_and(|state| {
                state.producer_epoch == producer_epoch && state.current_txn_first_offset.is_some()
            }))
    }

    /// Every producer the log tracks, by producer id (DescribeProducers); bounded by the
    /// producer map's limit.
    pub fn producer_states(&self) -> Result<Vec<(i64, ProducerState)>> {
        Ok(self
            .lock()?
            .producers
            .all()
            .map(|(id, state)| (id, state.clone()))
            .collect())
    }
    pub fn producer_count(&self) -> Result<usize> {
        Ok(self.lock()?.producers.len())
    }

    /// Appends batches produced to this leader: assigns offsets from the log end offset and
    /// stamps `leader_epoch` into each batch header, in place, then writes them. Retries of
    /// batches already in the log are answered from producer state without writing. In
    /// [`FlushPolicy::FsyncBeforeAck`] mode, returns once the batches are on disk.
    pub fn append_as_leader(&self, records: &mut [u8], leader_epoch: i32) -> Result<LogAppendInfo> {
        let infos = self.parse_batches(records)?;
        let in_flight = self.group_commit.enter_append();
        let mut state = self.lock()?;
        if let Some(reason) = &state.offline {
            return Err(self.offline_error(reason));
        }
        if let Some(latest) = state.epochs.latest_epoch()
            && leader_epoch < latest
        {
            return Err(StorageError::StaleLeaderEpoch {
                epoch: leader_epoch,
                latest,
            });
        }
        // The offsets the batches will get, then Kafka's producer checks (idempotence,
        // transactions, markers) on every batch before anything is written.
        let mut next = state.log_end_offset();
        let first_offset = next;
        let mut assigned = Vec::with_capacity(infos.len());
        let mut facts = Vec::with_capacity(infos.len());
        let mut position = 0usize;
        for (info, batch) in infos.iter().zip(RecordBatches::new(records)) {
            let invalid = |source| StorageError::InvalidBatch { position, source };
            let mut batch_facts = BatchFacts::read(&batch.map_err(invalid)?).map_err(invalid)?;
            let delta = info.last_offset - info.base_offset;
            batch_facts.base_offset = next;
            batch_facts.last_offset = next + delta;
            facts.push(batch_facts);
            assigned.push(BatchInfo {
                base_offset: next,
                last_offset: next + delta,
                ..*info
            });
            next += delta + 1;
            position += info.size_bytes as usize;
        }
        if let SequenceCheck::Duplicate(original) = state.producers.check_append(&facts)? {
            return Ok(LogAppendInfo {
                first_offset: original.first_offset,
                last_offset: original.last_offset,
                max_timestamp: -1,
                duplicate: true,
                log_start_offset: state.log_start_offset,
            });
        }
        let mut position = 0usize;
        for info in &assigned {
            let bytes = &mut records[position..position + info.size_bytes as usize];
            set_base_offset(bytes, info.base_offset);
            set_partition_leader_epoch(bytes, leader_epoch);
            position += info.size_bytes as usize;
        }
        let info = self.write_batches(&mut state, records, &assigned)?;
        state.epochs.assign(leader_epoch, first_offset);
        state.epochs.persist_if_dirty()?;
        let (target, rolled) = self.after_append(state);
        drop(in_flight);
        self.finish_append(target, rolled)?;
        Ok(info)
    }

    /// Appends batches replicated from the leader, keeping their offsets and leader epochs.
    /// Offsets must increase from the log end offset; gaps are allowed, since the leader's log
    /// may have been compacted (as Kafka's follower append allows).
    pub fn append_as_follower(&self, records: &[u8]) -> Result<LogAppendInfo> {
        let infos = self.parse_batches(records)?;
        let in_flight = self.group_commit.enter_append();
        let mut state = self.lock()?;
        if let Some(reason) = &state.offline {
            return Err(self.offline_error(reason));
        }
        let mut expected = state.log_end_offset();
        for info in &infos {
            if info.base_offset < expected {
                return Err(StorageError::OffsetsNotIncreasing {
                    first: info.base_offset,
                    log_end: expected,
                });
            }
            expected = info.last_offset + 1;
        }
        for batch in RecordBatches::new(records).flatten() {
            state
                .epochs
                .assign(batch.partition_leader_epoch(), batch.base_offset());
        }
        let info = self.write_batches(&mut state, records, &infos)?;
        state.epochs.persist_if_dirty()?;
        let (target, rolled) = self.after_append(state);
        drop(in_flight);
        self.finish_append(target, rolled)?;
        Ok(info)
    }

    /// Validates the framing of every batch and reads what append needs from each header.
    fn parse_batches(&self, records: &[u8]) -> Result<Vec<BatchInfo>> {
        let mut infos = Vec::new();
        let mut position = 0usize;
        for batch in RecordBatches::new(records) {
            let batch = batch.map_err(|source| StorageError::InvalidBatch { position, source })?;
            if self.config().append_verifies_crc {
                batch
                    .verify_crc()
                    .map_err(|source| StorageError::InvalidBatch { position, source })?;
            }
            let delta = batch.last_offset_delta();
            if delta < 0 || batch.base_offset().checked_add(i64::from(delta)).is_none() {
                return Err(StorageError::InvalidOffsets {
                    base_offset: batch.base_offset(),
                    last_offset_delta: delta,
                });
            }
            infos.push(BatchInfo {
                base_offset: batch.base_offset(),
                last_offset: batch.last_offset(),
                max_timestamp: batch.max_timestamp(),
                size_bytes: batch.size_bytes() as u64,
            });
            position += batch.size_bytes();
        }
        if infos.is_empty() {
            return Err(StorageError::InvalidBatch {
                position: 0,
                source: protocol::records::RecordsError::Truncated {
                    needed: protocol::records::RECORD_BATCH_HEADER_BYTES,
                    available: records.len(),
                },
            });
        }
        let limit = self.config().segment_bytes_max;
        if records.len() as u64 > limit {
            return Err(StorageError::BatchTooLarge {
                size_bytes: records.len() as u64,
                limit_bytes: limit,
            });
        }
        Ok(infos)
    }

    /// Rolls if needed, writes, and updates producer state. Batches carry final offsets.
    fn write_batches(
        &self,
        state: &mut LogState,
        records: &[u8],
        infos: &[BatchInfo],
    ) -> Result<LogAppendInfo> {
        let first = infos.first().expect("at least one batch");
        let last = infos.last().expect("at least one batch");
        self.maybe_roll(
            state,
            records.len() as u64,
            first.base_offset,
            last.last_offset,
        )?;
        let active = state.active_mut();
        if let Err(error) = active.append(records, infos) {
            state.offline = Some(error.to_string());
            return Err(error);
        }
        // Producer state, and the aborted-transaction index of the segment holding each ABORT
        // marker (Kafka writes it to the active segment, after the records).
        for batch in RecordBatches::new(records).flatten() {
            let completed = state.producers.update(&BatchFacts::read_lenient(&batch));
            if let Some(completed) = completed.filter(|c| c.aborted)
                && let Err(error) = state
                    .active_mut()
                    .append_txn_entry(&completed.index_entry())
            {
                state.offline = Some(error.to_string());
                return Err(error);
            }
        }
        Ok(LogAppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset,
            max_timestamp: infos.iter().map(|i| i.max_timestamp).max().unwrap_or(-1),
            duplicate: false,
            log_start_offset: state.log_start_offset,
        })
    }

    /// Rolls to a new segment when the append would not fit, the segment is too old, its index
    /// is full, or the appended offsets would not fit the index's relative `u32`.
    fn maybe_roll(
        &self,
        state: &mut LogState,
        bytes: u64,
        first_offset: i64,
        last_offset: i64,
    ) -> Result<()> {
        if self.roll_due(state, bytes, last_offset) {
            self.roll(state, first_offset)?;
        }
        Ok(())
    }

    /// Whether appending `bytes` ending at `last_offset` rolls the active segment: the append
    /// would not fit, the segment is too old, its index is full, or the offsets would not fit
    /// the index's relative `u32`. An empty segment never rolls.
    fn roll_due(&self, state: &LogState, bytes: u64, last_offset: i64) -> bool {
        let config = self.config();
        let active = state.active();
        if active.size_bytes == 0 {
            return false;
        }
        let now = (self.clock)();
        let too_big = active.size_bytes + bytes > config.segment_bytes_max;
        // A compacted log also rolls by `max.compaction.lag.ms`, so the active segment's records
        // become cleanable in time (Kafka's `maxSegmentMs`).
        let roll_ms = match (config.segment_ms, config.max_compaction_lag_ms) {
            (Some(ms), Some(lag)) if config.cleanup_policy.compact => Some(ms.min(lag)),
            (None, Some(lag)) if config.cleanup_policy.compact => Some(lag),
            (ms, _) => ms,
        };
        let too_old = roll_ms.is_some_and(|ms| {
            active
                .rolling_timestamp
                .is_some_and(|ts| now.saturating_sub(ts) > ms as i64)
        });
        let index_full = active.index_full(config.index_entries_max);
        let offsets_overflow = last_offset - active.base_offset > i64::from(i32::MAX);
        too_big || too_old || index_full || offsets_overflow
    }

    /// Whether a leader append of `bytes` at `leader_epoch` may wait on the disk rather than
    /// only write to the page cache: it would roll the active segment (indexes, a producer
    /// snapshot and a directory fsync under the lock, then the sealed segment's fsync), a rolled
    /// segment still waits for its fsync, the epoch is new (its checkpoint is written), or the
    /// flush policy may fsync. The caller (the broker's partition layer) runs such appends
    /// where blocking is allowed. The answer holds for this moment: a concurrent append can
    /// fill the segment meanwhile, so the size check keeps `headroom_bytes` in reserve.
    pub fn append_may_block(&self, bytes: u64, leader_epoch: i32, headroom_bytes: u64) -> bool {
        let may_fsync = !matches!(
            self.config().flush_policy,
            FlushPolicy::PageCache {
                flush_messages: None,
                ..
            }
        );
        if may_fsync {
            return true;
        }
        let Ok(state) = self.lock() else {
            // Offline or poisoned: the append fails at once wherever it runs.
            return false;
        };
        !state.rolled_unflushed.is_empty()
            || state.epochs.latest_epoch() != Some(leader_epoch)
            || self.roll_due(
                &state,
                bytes.saturating_add(headroom_bytes),
                state.log_end_offset(),
            )
    }

    /// Seals the active segment (final time index entry, indexes written), snapshots producer
    /// state and opens a new active segment at `new_base`. The sealed segment is queued in
    /// `rolled_unflushed`; the appender that rolled fsyncs it after releasing the lock (Kafka's
    /// flush on roll, done asynchronously as Kafka does), so a roll never stalls other appends
    /// behind the write-back of a whole segment.
    pub(crate) fn roll(&self, state: &mut LogState, new_base: i64) -> Result<()> {
        let sealed = (|| {
            let active = state.active_mut();
            active.seal(false)?;
            let [log_path, index, time_index, txn_index] = active.file_paths();
            let open = active.open.as_ref().expect("the active segment is open");
            let rolled = RolledSegment {
                base_offset: active.base_offset,
                end_offset: new_base,
                log: Arc::clone(&open.log),
                log_path,
                index_paths: [index, time_index, txn_index],
            };
            state.producers.take_snapshot(new_base)?;
            let segment = Segment::create(&self.dir, new_base, self.config().index_interval_bytes)?;
            crate::checkpoint::sync_dir(&self.dir)?;
            Ok::<_, StorageError>((rolled, segment))
        })();
        let (rolled, segment) = match sealed {
            Ok(pair) => pair,
            Err(error) => {
                state.offline = Some(error.to_string());
                return Err(error);
            }
        };
        let sealed_base = rolled.base_offset;
        state.rolled_unflushed.push(rolled);
        state.segments.insert(new_base, segment);
        self.touch_lru(state, sealed_base);
        tracing::debug!(dir = %self.dir.display(), new_base, "rolled segment");
        Ok(())
    }

    /// Marks a closed segment as recently used, closing the least recently used beyond the bound.
    pub(crate) fn touch_lru(&self, state: &mut LogState, base: i64) {
        if state.segments.keys().next_back() == Some(&base) {
            return;
        }
        state.open_lru.retain(|&b| b != base);
        state.open_lru.push_back(base);
        while state.open_lru.len() > self.config().open_segments_max {
            let evicted = state.open_lru.pop_front().expect("non-empty");
            if let Some(segment) = state.segments.get_mut(&evicted) {
                segment.open = None;
            }
        }
    }

    /// Opens a segment's files through the LRU and returns it.
    pub(crate) fn open_segment<'s>(
        &self,
        state: &'s mut LogState,
        base: i64,
    ) -> Result<&'s mut Segment> {
        let next_base = state.next_base(base);
        self.touch_lru(state, base);
        let segment = state
            .segments
            .get_mut(&base)
            .expect("caller found the segment");
        segment.ensure_open(next_base, self.config().index_entries_max)?;
        Ok(segment)
    }

    /// After a successful write: applies `flush.messages`, says what to wait for in fsync
    /// mode and whether rolled segments wait to be synced. Consumes the guard so syncing and
    /// waiting happen outside the lock.
    fn after_append(&self, state: MutexGuard<'_, LogState>) -> (Option<i64>, bool) {
        let log_end = state.log_end_offset();
        let rolled = !state.rolled_unflushed.is_empty();
        let target = match self.config().flush_policy {
            FlushPolicy::FsyncBeforeAck => Some(log_end),
            FlushPolicy::PageCache {
                flush_messages: Some(n),
                ..
            } if (log_end - state.recovery_point) as u64 >= n => Some(log_end),
            _ => None,
        };
        drop(state);
        (target, rolled)
    }

    /// The end of an append, outside the lock: syncs segments this or a concurrent append
    /// rolled, then waits for the flush the policy asks for.
    fn finish_append(&self, target: Option<i64>, rolled: bool) -> Result<()> {
        if rolled {
            self.flush_rolled_segments()?;
        }
        if let Some(target) = target {
            self.flush_to(target)?;
        }
        Ok(())
    }
}
