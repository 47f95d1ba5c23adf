//! Producer state snapshots: `<offset, 20 digits>.snapshot` holds the producer state after
//! every batch below that offset, so opening or truncating a log replays only the batches past
//! the newest usable snapshot.
//!
//! Format (big-endian): magic `RNPS`, version `u16`, CRC32C `u32` of everything after it,
//! producer count `u32`, then per producer: id `i64`, epoch `i16`, coordinator epoch `i32`
//! (version 2), open transaction's first offset `i64` (version 2; `-1` when none), last
//! timestamp `i64`, batch count `u8` (<= 5), and per batch first/last sequence `i32`, first/last
//! offset `i64`.
//!
//! Version 1 (before transactions) is still read, with no open transaction and coordinator
//! epoch -1: the brokers that wrote it refused transactional and control batches, so no
//! transaction could be open at its offset. A snapshot that fails any check (magic, version,
//! CRC, counts, an open transaction at or past the snapshot's offset, two transactions with
//! one first offset) is ignored and the state is rebuilt from an older snapshot or the log.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use super::{PRODUCER_BATCHES_RETAINED, ProducerBatch, ProducerState, ProducerStateManager};
use crate::checkpoint;
use crate::error::{Result, StorageError};

const SNAPSHOT_MAGIC: &[u8; 4] = b"RNPS";
/// The version written.
const SNAPSHOT_VERSION: u16 = 2;
/// The version before transactions, still read.
const SNAPSHOT_VERSION_NO_TXN: u16 = 1;
const SNAPSHOT_HEADER_BYTES: usize = 4 + 2 + 4 + 4;
const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Snapshots kept on disk; older ones are deleted when a new one is written.
const SNAPSHOTS_KEPT: usize = 3;
/// `-1` in the file: no open transaction.
const NO_TXN: i64 = -1;

impl ProducerStateManager {
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
            body.extend_from_slice(&state.coordinator_epoch.to_be_bytes());
            let open = state.current_txn_first_offset.unwrap_or(NO_TXN);
            body.extend_from_slice(&open.to_be_bytes());
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
        match decode_snapshot(&bytes, offset, self.producer_ids_max) {
            Some(producers) => {
                self.replace(producers);
                Ok(true)
            }
            None => {
                tracing::warn!(path = %path.display(), "malformed producer snapshot; ignoring it");
                Ok(false)
            }
        }
    }
}

fn decode_snapshot(
    bytes: &[u8],
    offset: i64,
    producer_ids_max: usize,
) -> Option<BTreeMap<i64, ProducerState>> {
    if bytes.len() < SNAPSHOT_HEADER_BYTES || &bytes[0..4] != SNAPSHOT_MAGIC {
        return None;
    }
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    if version != SNAPSHOT_VERSION && version != SNAPSHOT_VERSION_NO_TXN {
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
    let mut open_firsts = std::collections::BTreeSet::new();
    for _ in 0..count {
        let id = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let producer_epoch = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let (coordinator_epoch, open) = if version == SNAPSHOT_VERSION {
            (
                i32::from_be_bytes(take(4)?.try_into().ok()?),
                i64::from_be_bytes(take(8)?.try_into().ok()?),
            )
        } else {
            (-1, NO_TXN)
        };
        let current_txn_first_offset = match open {
            NO_TXN => None,
            first if (0..offset).contains(&first) && open_firsts.insert(first) => Some(first),
            _ => return None,
        };
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
        if id < 0 {
            return None;
        }
        producers.insert(
            id,
            ProducerState {
                producer_epoch,
                coordinator_epoch,
                current_txn_first_offset,
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

    fn state(open: Option<i64>) -> ProducerState {
        ProducerState {
            producer_epoch: 2,
            coordinator_epoch: 5,
            current_txn_first_offset: open,
            last_timestamp: 99,
            batches: VecDeque::from([ProducerBatch {
                first_sequence: 0,
                last_sequence: 4,
                first_offset: 10,
                last_offset: 14,
            }]),
        }
    }

    #[test]
    fn snapshot_round_trips_and_rejects_flipped_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut manager = ProducerStateManager::new(dir.path(), 10);
        manager.replace(BTreeMap::from([(7, state(Some(10))), (8, state(None))]));
        manager.take_snapshot(15).unwrap();
        let mut loaded = ProducerStateManager::new(dir.path(), 10);
        assert!(loaded.load_snapshot(15).unwrap());
        assert_eq!(loaded.producers, manager.producers);
        assert_eq!(
            loaded.first_unstable_offset(),
            Some(10),
            "open transaction rebuilt"
        );
        let path = manager.snapshot_path(15);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(!loaded.load_snapshot(15).unwrap());
    }

    #[test]
    fn version_1_snapshots_load_without_transactions() {
        // A snapshot written before transactions: id, epoch, last timestamp, batches.
        let mut body = Vec::new();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&7i64.to_be_bytes());
        body.extend_from_slice(&2i16.to_be_bytes());
        body.extend_from_slice(&99i64.to_be_bytes());
        body.push(1);
        for v in [0i32, 4] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        for v in [10i64, 14] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        let mut bytes = b"RNPS".to_vec();
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        bytes.extend_from_slice(&body);
        let producers = decode_snapshot(&bytes, 15, 10).expect("version 1 reads");
        let mut expected = state(None);
        expected.coordinator_epoch = -1;
        assert_eq!(producers.get(&7), Some(&expected));
    }

    #[test]
    fn an_open_transaction_at_or_past_the_snapshot_offset_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut manager = ProducerStateManager::new(dir.path(), 10);
        manager.replace(BTreeMap::from([(7, state(Some(15)))]));
        manager.take_snapshot(15).unwrap();
        assert!(!manager.load_snapshot(15).unwrap());
    }
}
