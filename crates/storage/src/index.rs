//! The sparse per-segment indexes: the offset index (`.index`: relative offset `u32`, file
//! position `u32`, big-endian) and the time index (`.timeindex`: timestamp `i64`, relative offset
//! `u32`), held in memory as sorted vectors and written whole to disk.
//!
//! Invariants: offset index entries strictly increase in both offset and position; time index
//! entries strictly increase in timestamp and never decrease in offset. Decoding checks both and
//! every bound against the segment, so a corrupt file is rejected (and rebuilt from the log by the
//! caller) instead of being trusted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StorageError};

pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

/// Maps offsets to file positions, one entry every `index.interval.bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    base_offset: i64,
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds an entry; callers only append batches at increasing offsets and positions.
    pub fn append(&mut self, offset: i64, position: u64) {
        let relative = offset - self.base_offset;
        debug_assert!((0..=i64::from(u32::MAX)).contains(&relative));
        debug_assert!(position <= u64::from(u32::MAX));
        let entry = (relative as u32, position as u32);
        if let Some(last) = self.entries.last() {
            debug_assert!(
                entry.0 > last.0 && entry.1 > last.1,
                "offset index must increase"
            );
            if entry.0 <= last.0 || entry.1 <= last.1 {
                return;
            }
        }
        self.entries.push(entry);
    }

    /// The last entry at or below `offset`: `(offset, position)`, or the segment start.
    pub fn lookup(&self, offset: i64) -> (i64, u64) {
        let relative = offset - self.base_offset;
        if relative < 0 {
            return (self.base_offset, 0);
        }
        let relative = relative.min(i64::from(u32::MAX)) as u32;
        let after = self
            .entries
            .partition_point(|&(entry, _)| entry <= relative);
        match after.checked_sub(1).map(|i| self.entries[i]) {
            Some((entry, position)) => (self.base_offset + i64::from(entry), u64::from(position)),
            None => (self.base_offset, 0),
        }
    }

    pub fn last(&self) -> Option<(i64, u64)> {
        self.entries
            .last()
            .map(|&(rel, pos)| (self.base_offset + i64::from(rel), u64::from(pos)))
    }

    /// The largest indexed position at or below `position` (0 if none): a batch boundary.
    pub fn floor_position(&self, position: u64) -> u64 {
        let position = position.min(u64::from(u32::MAX)) as u32;
        let after = self.entries.partition_point(|&(_, pos)| pos <= position);
        after
            .checked_sub(1)
            .map_or(0, |i| u64::from(self.entries[i].1))
    }

    /// Entries as `(offset, position)`, for consistency checks.
    pub fn entries(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.entries
            .iter()
            .map(|&(rel, pos)| (self.base_offset + i64::from(rel), u64::from(pos)))
    }

    /// Drops entries at or after `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let keep = self
            .entries
            .partition_point(|&(rel, _)| self.base_offset + i64::from(rel) < offset);
        self.entries.truncate(keep);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_BYTES);
        for &(rel, pos) in &self.entries {
            out.extend_from_slice(&rel.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
        }
        out
    }

    /// Decodes an index file, checking it against the segment: entries increase, positions lie
    /// inside `log_size_bytes`, offsets lie below `next_offset_max` (the next segment's base).
    pub fn decode(
        bytes: &[u8],
        base_offset: i64,
        log_size_bytes: u64,
        next_offset_max: i64,
        entries_max: usize,
    ) -> std::result::Result<Self, String> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_BYTES) {
            return Err(format!("size {} is not a multiple of 8", bytes.len()));
        }
        let count = bytes.len() / OFFSET_ENTRY_BYTES;
        if count > entries_max {
            return Err(format!("{count} entries exceed the bound {entries_max}"));
        }
        let mut index = Self::new(base_offset);
        index.entries.reserve_exact(count);
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_BYTES) {
            let rel = u32::from_be_bytes(chunk[0..4].try_into().expect("4 bytes"));
            let pos = u32::from_be_bytes(chunk[4..8].try_into().expect("4 bytes"));
            if let Some(&(last_rel, last_pos)) = index.entries.last()
                && (rel <= last_rel || pos <= last_pos)
            {
                return Err(format!("entry ({rel}, {pos}) does not increase"));
            }
            if u64::from(pos) >= log_size_bytes || base_offset + i64::from(rel) >= next_offset_max {
                return Err(format!("entry ({rel}, {pos}) lies outside the segment"));
            }
            index.entries.push((rel, pos));
        }
        Ok(index)
    }
}

/// Maps timestamps to offsets: an entry when a batch raises the segment's largest timestamp, at
/// most one every `index.interval.bytes`, plus a final entry when the segment is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    base_offset: i64,
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds `(timestamp, offset)` if it raises the largest timestamp indexed so far.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) {
        let relative = offset - self.base_offset;
        if !(0..=i64::from(u32::MAX)).contains(&relative) {
            return;
        }
        if let Some(&(last_ts, last_rel)) = self.entries.last()
            && (timestamp <= last_ts || (relative as u32) < last_rel)
        {
            return;
        }
        self.entries.push((timestamp, relative as u32));
    }

    /// The last entry whose timestamp is at or below `timestamp`: `(timestamp, offset)`.
    pub fn lookup(&self, timestamp: i64) -> Option<(i64, i64)> {
        let after = self.entries.partition_point(|&(ts, _)| ts <= timestamp);
        after
            .checked_sub(1)
            .map(|i| self.entries[i])
            .map(|(ts, rel)| (ts, self.base_offset + i64::from(rel)))
    }

    pub fn last(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|&(ts, rel)| (ts, self.base_offset + i64::from(rel)))
    }

    pub fn truncate_to(&mut self, offset: i64) {
        let keep = self
            .entries
            .partition_point(|&(_, rel)| self.base_offset + i64::from(rel) < offset);
        self.entries.truncate(keep);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY_BYTES);
        for &(ts, rel) in &self.entries {
            out.extend_from_slice(&ts.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
        out
    }

    pub fn decode(
        bytes: &[u8],
        base_offset: i64,
        next_offset_max: i64,
        entries_max: usize,
    ) -> std::result::Result<Self, String> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_BYTES) {
            return Err(format!("size {} is not a multiple of 12", bytes.len()));
        }
        let count = bytes.len() / TIME_ENTRY_BYTES;
        if count > entries_max {
            return Err(format!("{count} entries exceed the bound {entries_max}"));
        }
        let mut index = Self::new(base_offset);
        index.entries.reserve_exact(count);
        for chunk in bytes.chunks_exact(TIME_ENTRY_BYTES) {
            let ts = i64::from_be_bytes(chunk[0..8].try_into().expect("8 bytes"));
            let rel = u32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes"));
            if let Some(&(last_ts, last_rel)) = index.entries.last()
                && (ts <= last_ts || rel < last_rel)
            {
                return Err(format!("entry ({ts}, {rel}) does not increase"));
            }
            if base_offset + i64::from(rel) >= next_offset_max {
                return Err(format!("entry ({ts}, {rel}) lies outside the segment"));
            }
            index.entries.push((ts, rel));
        }
        Ok(index)
    }
}

/// Reads a whole index file if it exists and is no larger than `bytes_max`.
pub(crate) fn read_index_file(path: &Path, bytes_max: u64) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("opening index", path)(error)),
    };
    let size = file
        .metadata()
        .map_err(StorageError::io("reading metadata of", path))?
        .len();
    if size > bytes_max {
        return Ok(None);
    }
    let mut bytes = vec![0u8; size as usize];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, 0)
        .map_err(StorageError::io("reading index", path))?;
    Ok(Some(bytes))
}

/// Replaces an index file's contents; with `sync`, the bytes are on disk when this returns.
pub(crate) fn write_index_file(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(StorageError::io("creating index", path))?;
    file.write_all(bytes)
        .map_err(StorageError::io("writing index", path))?;
    if sync {
        file.sync_data()
            .map_err(StorageError::io("syncing index", path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_finds_the_floor_entry() {
        let mut index = OffsetIndex::new(100);
        index.append(100, 0);
        index.append(110, 500);
        index.append(130, 1200);
        assert_eq!(index.lookup(99), (100, 0));
        assert_eq!(index.lookup(100), (100, 0));
        assert_eq!(index.lookup(129), (110, 500));
        assert_eq!(index.lookup(5000), (130, 1200));
        let decoded = OffsetIndex::decode(&index.encode(), 100, 2000, 200, 10).unwrap();
        assert_eq!(decoded, index);
        index.truncate_to(110);
        assert_eq!(index.last(), Some((100, 0)));
    }

    #[test]
    fn offset_index_decode_rejects_entries_outside_the_segment() {
        let mut index = OffsetIndex::new(0);
        index.append(0, 0);
        index.append(10, 900);
        assert!(OffsetIndex::decode(&index.encode(), 0, 900, 100, 10).is_err());
        assert!(OffsetIndex::decode(&index.encode(), 0, 1000, 10, 10).is_err());
        assert!(OffsetIndex::decode(&[0; 7], 0, 1000, 10, 10).is_err());
        let mut swapped = index.encode();
        swapped.rotate_left(8);
        assert!(OffsetIndex::decode(&swapped, 0, 1000, 100, 10).is_err());
    }

    #[test]
    fn time_index_keeps_only_increasing_timestamps() {
        let mut index = TimeIndex::new(0);
        index.maybe_append(10, 0);
        index.maybe_append(5, 3);
        index.maybe_append(20, 7);
        assert_eq!(index.len(), 2);
        assert_eq!(index.lookup(9), None);
        assert_eq!(index.lookup(15), Some((10, 0)));
        assert_eq!(index.lookup(25), Some((20, 7)));
        let decoded = TimeIndex::decode(&index.encode(), 0, 8, 10).unwrap();
        assert_eq!(decoded, index);
        assert!(TimeIndex::decode(&index.encode(), 0, 7, 10).is_err());
    }
}
