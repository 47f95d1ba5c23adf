//! Idempotent-producer state: per ProducerId, its ProducerEpoch and the sequence ranges and
//! offsets of its last five batches, enough to reject out-of-order sequences, fence old epochs
//! and answer a retried batch with the offsets it was first given (KIP-98).
//!
//! The state is rebuilt from batch headers alone (no record decoding) and snapshotted to
//! `<offset>.snapshot` files: a snapshot at offset N holds the state after every batch below N.
//! Snapshot format (big-endian): magic `RNPS`, version `u16` = 1, CRC32C `u32` of everything after
//! it, count `u32`, then per producer: id `i64`, epoch `i16`, last timestamp `i64`, batch count
//! `u8` (<= 5), and per batch first/last sequence `i32`, first/last offset `i64`.
//! Not owned here: transactions (ongoing transactions, the last stable offset, aborted index).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use protocol::records::RecordBatchHeader;

use crate::checkpoint;
use crate::error::{Result, StorageError};

/// Batches remembered per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub const PRODUCER_BATCHES_RETAINED: usize = 5;
/// `RecordBatch.NO_PRODUCER_ID`.
const NO_PRODUCER_ID: i64 = -1;
const SNAPSHOT_MAGIC: &[u8; 4] = b"RNPS";
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_HEADER_BYTES: usize = 4 + 2 + 4 + 4;
const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Snapshots kept on disk; older ones are deleted when a new one is written.
const SNAPSHOTS_KEPT: usize = 3;

/// One remembered batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// What the log knows about one ProducerId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    pub producer_epoch: i16,
    pub last_timestamp: i64,
    /// Oldest first; at most [`PRODUCER_BATCHES_RETAINED`].
    pub batches: VecDeque<ProducerBatch>,
}

/// The verdict on an idempotent batch before append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Not idempotent, or in sequence: append it.
    Append,
    /// A retry of a batch already in the log at these offsets: answer without appending.
    Duplicate(ProducerBatch),
}

/// The sequence of the batch's last record, wrapping past `i32::MAX` like Kafka.
pub(crate) fn last_sequence(base_sequence: i32, last_offset_delta: i32) -> i32 {
    if base_sequence > i32::MAX - last_offset_delta {
        last_offset_delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + last_offset_delta
    }
}

pub(crate) fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

#[derive(Debug)]
pub(crate) struct ProducerStateManager {
    dir: PathBuf,
    producers: BTreeMap<i64, ProducerState>,
    producer_ids_max: usize,
}

impl ProducerStateManager {
    pub fn new(dir: &Path, producer_ids_max: usize) -> Self {
        Self {
            dir: dir.to_path_buf(),
            producers: BTreeMap::new(),
            producer_ids_max,
        }
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerState> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Kafka's leader-side sequence rules for a batch not yet in the log.
    pub fn check(&self, batch: &RecordBatchHeader<'_>) -> Result<SequenceCheck> {
        let producer_id = batch.producer_id();
        if producer_id == NO_PRODUCER_ID || batch.is_control() {
            return Ok(SequenceCheck::Append);
        }
        let Some(state) = self.producers.get(&producer_id) else {
            // Unknown producer (new, or its state was removed with old segments): accept.
            return Ok(SequenceCheck::Append);
        };
        let epoch = batch.producer_epoch();
        let first = batch.base_sequence();
        let last = last_sequence(first, batch.last_offset_delta());
        if epoch < state.producer_epoch {
            return Err(StorageError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current_epoch: state.producer_epoch,
            });
        }
        let last_known = state.batches.back().map_or(-1, |b| b.last_sequence);
        if epoch > state.producer_epoch {
            if first != 0 {
                return Err(StorageError::OutOfOrderSequence {
                    producer_id,
                    epoch,
                    first_sequence: first,
                    last_sequence: last_known,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        if let Some(duplicate) = state
            .batches
            .iter()
            .find(|b| b.first_sequence == first && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate(*duplicate));
        }
        if state.batches.is_empty() || first == next_sequence(last_known) {
            Ok(SequenceCheck::Append)
        } else {
            Err(StorageError::OutOfOrderSequence {
                producer_id,
                epoch,
                first_sequence: first,
                last_sequence: last_known,
            })
        }
    }

    /// Records a batch that is now in the log (its offsets assigned).
    pub fn update(&mut self, batch: &RecordBatchHeader<'_>) {
        let producer_id = batch.producer_id();
        if producer_id < 0 {
            return;
        }
        let epoch = batch.producer_epoch();
        if !self.producers.contains_key(&producer_id)
            && self.producers.len() >= self.producer_ids_max
        {
            self.evict_oldest();
        }
        let state = self.producers.entry(producer_id).or_insert(ProducerState {
            producer_epoch: epoch,
            last_timestamp: -1,
            batches: VecDeque::new(),
        });
        if epoch != state.producer_epoch {
            state.producer_epoch = epoch;
            state.batches.clear();
        }
        state.last_timestamp = state.last_timestamp.max(batch.max_timestamp());
        if batch.is_control() {
            return;
        }
        if state.batches.len() == PRODUCER_BATCHES_RETAINED {
            state.batches.pop_front();
        }
        state.batches.push_back(ProducerBatch {
            first_sequence: batch.base_sequence(),
            last_sequence: last_sequence(batch.base_sequence(), batch.last_offset_delta()),
            first_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
        });
    }

    fn evict_oldest(&mut self) {
        if let Some((&id, _)) = self.producers.iter().min_by_key(|(_, s)| s.last_timestamp) {
            self.producers.remove(&id);
        }
    }

    /// Forgets producers whose last batch lies below the log start offset.
    pub fn truncate_head(&mut self, log_start: i64) {
        self.producers
            .retain(|_, s| s.batches.back().is_none_or(|b| b.last_offset >= log_start));
    }

    /// Producer id -> last offset of the last batch it wrote: the batches the cleaner keeps
    /// (empty if need be) so a producer's sequence state survives compaction.
    pub fn last_batch_offsets(&self) -> std::collections::HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(&id, state)| state.batches.back().map(|b| (id, b.last_offset)))
            .collect()
    }

    pub fn clear(&mut self) {
        self.producers.clear();
    }

    fn snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
    }

    /// Offsets of the snapshot files in the directory, ascending.
    pub fn snapshot_offsets(&self) -> Result<Vec<i64>> {
        let mut offsets = Vec::new();
        let entries =
            std::fs::read_dir(&self.dir).map_err(StorageError::io("listing", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(StorageError::io("listing", &self.dir))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX)) else {
                continue;
            };
            if stem.len() == 20
                && let Ok(offset) = stem.parse::<i64>()
            {
                offsets.push(offset);
            }
        }
        offsets.sort_unstable();
        Ok(offsets)
    }

    /// Writes the state as the snapshot at `offset` and keeps only the newest few snapshots.
    pub fn take_snapshot(&self, offset: i64) -> Result<()> {
        let mut body = Vec::with_capacity(64 * self.producers.len());
        body.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        for (id, state) in &self.producers {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&state.producer_epoch.to_be_bytes());
            body.extend_from_slice(&state.last_timestamp.to_be_bytes());
            body.push(state.batches.len() as u8);
            for b in &state.batches {
                body.extend_from_slice(&b.first_sequence.to_be_bytes());
                body.extend_from_slice(&b.last_sequence.to_be_bytes());
                body.extend_from_slice(&b.first_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let mut bytes = Vec::with_capacity(body.len() + 10);
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        bytes.extend_from_slice(&body);
        let name = format!("{offset:020}{SNAPSHOT_SUFFIX}");
        checkpoint::write_atomically(&self.dir, &name, &bytes)?;
        let offsets = self.snapshot_offsets()?;
        let excess = offsets.len().saturating_sub(SNAPSHOTS_KEPT);
        for old in &offsets[..excess] {
            self.remove_snapshot(*old)?;
        }
        Ok(())
    }

    pub fn remove_snapshot(&self, offset: i64) -> Result<()> {
        let path = self.snapshot_path(offset);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(StorageError::io("removing snapshot", &path)(error))
            }
            _ => Ok(()),
        }
    }

    /// Replaces the state with the snapshot at `offset`; `Ok(false)` if it is malformed.
    pub fn load_snapshot(&mut self, offset: i64) -> Result<bool> {
        let path = self.snapshot_path(offset);
        let bytes = std::fs::read(&path).map_err(StorageError::io("reading snapshot", &path))?;
        match decode_snapshot(&bytes, self.producer_ids_max) {
            Some(producers) => {
                self.producers = producers;
                Ok(true)
            }
            None => {
                tracing::warn!(path = %path.display(), "malformed producer snapshot; ignoring it");
                Ok(false)
            }
        }
    }
}

fn decode_snapshot(bytes: &[u8], producer_ids_max: usize) -> Option<BTreeMap<i64, ProducerState>> {
    if bytes.len() < SNAPSHOT_HEADER_BYTES || &bytes[0..4] != SNAPSHOT_MAGIC {
        return None;
    }
    if u16::from_be_bytes([bytes[4], bytes[5]]) != SNAPSHOT_VERSION {
        return None;
    }
    let crc = u32::from_be_bytes(bytes[6..10].try_into().ok()?);
    let body = &bytes[10..];
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let mut reader = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = reader.split_at_checked(n)?;
        reader = tail;
        Some(head)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
    if count > producer_ids_max {
        return None;
    }
    let mut producers = BTreeMap::new();
    for _ in 0..count {
        let id = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let producer_epoch = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let last_timestamp = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let batch_count = take(1)?[0] as usize;
        if batch_count > PRODUCER_BATCHES_RETAINED {
            return None;
        }
        let mut batches = VecDeque::with_capacity(batch_count);
        for _ in 0..batch_count {
            batches.push_back(ProducerBatch {
                first_sequence: i32::from_be_bytes(take(4)?.try_into().ok()?),
                last_sequence: i32::from_be_bytes(take(4)?.try_into().ok()?),
                first_offset: i64::from_be_bytes(take(8)?.try_into().ok()?),
                last_offset: i64::from_be_bytes(take(8)?.try_into().ok()?),
            });
        }
        producers.insert(
            id,
            ProducerState {
                producer_epoch,
                last_timestamp,
                batches,
            },
        );
    }
    take(1).is_none().then_some(producers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_like_kafka() {
        assert_eq!(last_sequence(0, 4), 4);
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(next_sequence(i32::MAX), 0);
    }

    #[test]
    fn snapshot_round_trips_and_rejects_flipped_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut manager = ProducerStateManager::new(dir.path(), 10);
        manager.producers.insert(
            7,
            ProducerState {
                producer_epoch: 2,
                last_timestamp: 99,
                batches: VecDeque::from([ProducerBatch {
                    first_sequence: 0,
                    last_sequence: 4,
                    first_offset: 10,
                    last_offset: 14,
                }]),
            },
        );
        manager.take_snapshot(15).unwrap();
        let mut loaded = ProducerStateManager::new(dir.path(), 10);
        assert!(loaded.load_snapshot(15).unwrap());
        assert_eq!(loaded.producers, manager.producers);
        let path = manager.snapshot_path(15);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(!loaded.load_snapshot(15).unwrap());
    }
}
