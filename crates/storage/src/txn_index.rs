//! The aborted-transaction index of one segment, `<base offset>.txnindex` (Kafka's
//! `TransactionIndex`): one entry per ABORT marker of a transaction that had data, in the
//! segment that holds the marker, in marker order.
//!
//! Entry format (34 bytes, big-endian, Kafka's `AbortedTxn`): version `i16` = 0, producer id
//! `i64`, first offset `i64` (the transaction's first batch), last offset `i64` (the marker),
//! last stable offset `i64` (the LSO when the marker was appended: the first offset of the
//! earliest transaction of another producer still open then, or the marker's offset + 1).
//!
//! Invariants of a trusted file: its length is a multiple of 34 and at most the segment's size
//! (each entry stands for a marker batch of at least 61 bytes); entries have version 0, a
//! producer id >= 0, `0 <= first <= last`, `last` inside the segment's offsets and strictly
//! increasing, `0 <= lso <= last + 1`; and each entry's marker (and first batch, when in the
//! segment) is in the log as the entry says. A file that fails any of these is rebuilt at open
//! from batch headers and producer state (`recovery.rs`); it never causes data to be dropped.
//!
//! Memory: entries are never held in memory as a whole; readers stream the file through a
//! bounded buffer. Not owned here: which segment is active, when entries are written
//! (`log.rs`), how they are rebuilt (`recovery.rs`), what the cleaner keeps (`cleaner/`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};
use crate::frame::{BatchReader, Next, read_header_facts};
use crate::segment::Segment;
use crate::transactions::{TransactionResult, read_marker};

pub(crate) const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Bytes of one entry.
pub(crate) const ENTRY_BYTES: u64 = 34;
const ENTRY_VERSION: i16 = 0;
/// Entries read per `pread` (68 KiB).
const READ_CHUNK_ENTRIES: u64 = 2048;
/// Largest batch taken for a marker when checking an entry (a marker batch is ~80 bytes).
const MARKER_BYTES_MAX: u64 = 4096;

/// One aborted transaction, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxnEntry {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxnEntry {
    pub fn encode(&self) -> [u8; ENTRY_BYTES as usize] {
        let mut bytes = [0u8; ENTRY_BYTES as usize];
        bytes[0..2].copy_from_slice(&ENTRY_VERSION.to_be_bytes());
        bytes[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        bytes[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        bytes[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        bytes[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        bytes
    }

    /// Decodes one entry; `Err` names what is wrong (an unknown version).
    pub fn decode(bytes: &[u8; ENTRY_BYTES as usize]) -> std::result::Result<Self, String> {
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        if version != ENTRY_VERSION {
            return Err(format!(
                "unknown aborted transaction entry version {version}"
            ));
        }
        let field = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(raw)
        };
        Ok(Self {
            producer_id: field(2),
            first_offset: field(10),
            last_offset: field(18),
            last_stable_offset: field(26),
        })
    }

    /// Whether the entry can stand in the index of a segment covering `[base, next_base)`
    /// after an entry whose marker was at `previous_last`.
    fn plausible(&self, base: i64, next_base: i64, previous_last: Option<i64>) -> bool {
        self.producer_id >= 0
            && self.first_offset >= 0
            && self.first_offset <= self.last_offset
            && (base..next_base).contains(&self.last_offset)
            && previous_last.is_none_or(|p| self.last_offset > p)
            && self.last_stable_offset >= 0
            && self.last_stable_offset <= self.last_offset.saturating_add(1)
    }
}

/// The index path of the segment whose log file is `log_path`.
pub(crate) fn path_for(log_path: &Path) -> PathBuf {
    log_path.with_extension(&TXN_INDEX_SUFFIX[1..])
}

fn open_read(path: &Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StorageError::io("opening transaction index", path)(error)),
    }
}

/// Calls `visit` with each entry of the first `len` bytes of `path`, in order, until it returns
/// `false`. A missing file reads as empty (its segment was deleted meanwhile). Reads through a
/// buffer of at most `READ_CHUNK_ENTRIES` entries.
pub(crate) fn for_each_entry(
    path: &Path,
    len: u64,
    visit: &mut dyn FnMut(AbortedTxnEntry) -> Result<bool>,
) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let Some(file) = open_read(path)? else {
        return Ok(());
    };
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let entries = len / ENTRY_BYTES;
    let mut buffer = vec![0u8; (READ_CHUNK_ENTRIES.min(entries) * ENTRY_BYTES) as usize];
    let mut read = 0u64;
    while read < entries {
        let count = READ_CHUNK_ENTRIES.min(entries - read);
        let chunk = &mut buffer[..(count * ENTRY_BYTES) as usize];
        file.read_exact_at(chunk, read * ENTRY_BYTES)
            .map_err(StorageError::io("reading transaction index", path))?;
        for raw in chunk.chunks_exact(ENTRY_BYTES as usize) {
            let mut entry = [0u8; ENTRY_BYTES as usize];
            entry.copy_from_slice(raw);
            if !visit(AbortedTxnEntry::decode(&entry).map_err(corrupt)?)? {
                return Ok(());
            }
        }
        read += count;
    }
    Ok(())
}

/// Writes `entry` at byte `at` of `path` (the end of its valid entries), creating the file if
/// needed. Returns the new length.
pub(crate) fn append(path: &Path, at: u64, entry: &AbortedTxnEntry) -> Result<u64> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StorageError::io("opening transaction index", path))?;
    file.write_all_at(&entry.encode(), at)
        .map_err(StorageError::io("appending to transaction index", path))?;
    Ok(at + ENTRY_BYTES)
}

/// Replaces `path` with exactly `entries`, optionally fsynced. Returns the length.
pub(crate) fn write(path: &Path, entries: &[AbortedTxnEntry], sync: bool) -> Result<u64> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES as usize);
    for entry in entries {
        bytes.extend_from_slice(&entry.encode());
    }
    crate::index::write_index_file(path, &bytes, sync)?;
    Ok(bytes.len() as u64)
}

/// Fsyncs the file if it exists.
pub(crate) fn sync(path: &Path) -> Result<()> {
    if let Some(file) = open_read(path)? {
        file.sync_data()
            .map_err(StorageError::io("syncing transaction index", path))?;
    }
    Ok(())
}

/// Checks the index of the segment `[base, next_base)` whose log holds `segment_bytes`:
/// `Some(length)` when it can be trusted, `None` when it is missing or breaks an invariant
/// (see the module docs) and must be rebuilt.
pub(crate) fn load(
    path: &Path,
    base: i64,
    next_base: i64,
    segment_bytes: u64,
) -> Result<Option<u64>> {
    let Some(file) = open_read(path)? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .map_err(StorageError::io("reading metadata of", path))?
        .len();
    drop(file);
    if !len.is_multiple_of(ENTRY_BYTES) || len > segment_bytes {
        tracing::warn!(path = %path.display(), len, "transaction index has an impossible size");
        return Ok(None);
    }
    let mut previous = None;
    let mut valid = true;
    let checked = for_each_entry(path, len, &mut |entry| {
        valid = entry.plausible(base, next_base, previous);
        previous = Some(entry.last_offset);
        Ok(valid)
    });
    match checked {
        Ok(()) if valid => Ok(Some(len)),
        Ok(()) | Err(StorageError::Corrupt { .. }) => {
            tracing::warn!(path = %path.display(), "transaction index does not match its segment");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Drops the entries whose marker is at or after `offset` (a truncation removed those
/// markers). Returns the new length.
pub(crate) fn truncate_to(path: &Path, len: u64, offset: i64) -> Result<u64> {
    let mut kept = 0u64;
    for_each_entry(path, len, &mut |entry| {
        if entry.last_offset >= offset {
            return Ok(false);
        }
        kept += ENTRY_BYTES;
        Ok(true)
    })?;
    if kept < len {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(StorageError::io("opening transaction index", path))?;
        file.set_len(kept)
            .map_err(StorageError::io("truncating transaction index", path))?;
    }
    Ok(kept)
}

/// Kafka's `collectAbortedTxns` on one segment's index: passes to `found` every entry whose
/// marker is at or after `start` and whose first offset is below `upper`. Returns `true` when
/// the search is complete: an entry's last stable offset reached `upper`, so no later entry
/// (in this or a later segment) can start below `upper`.
pub(crate) fn collect(
    path: &Path,
    len: u64,
    start: i64,
    upper: i64,
    found: &mut dyn FnMut(AbortedTxnEntry) -> Result<()>,
) -> Result<bool> {
    let mut complete = false;
    for_each_entry(path, len, &mut |entry| {
        if entry.last_offset >= start && entry.first_offset < upper {
            found(entry)?;
        }
        complete = entry.last_stable_offset >= upper;
        Ok(!complete)
    })?;
    Ok(complete)
}

impl Segment {
    pub fn txn_index_path(&self) -> PathBuf {
        path_for(&self.log_path)
    }

    /// Appends an aborted transaction whose marker this segment holds.
    pub fn append_txn_entry(&mut self, entry: &AbortedTxnEntry) -> Result<()> {
        let len = self.txn_index_bytes.unwrap_or(0);
        self.txn_index_bytes = Some(append(&self.txn_index_path(), len, entry)?);
        Ok(())
    }

    /// Drops the entries whose marker is at or after `offset`.
    pub fn truncate_txn_index(&mut self, offset: i64) -> Result<()> {
        if let Some(len) = self.txn_index_bytes {
            self.txn_index_bytes = Some(truncate_to(&self.txn_index_path(), len, offset)?);
        }
        Ok(())
    }

    /// Checks the segment's index at open (`next_base` bounds its offsets); leaves
    /// `txn_index_bytes` at `None` when it must be rebuilt: when it breaks an invariant, or
    /// when an entry names a marker or a first batch the log does not hold
    /// ([`Segment::txn_entries_match_log`]). Opens the segment (its offset index finds the
    /// batches) when the index has entries.
    pub fn load_txn_index(&mut self, next_base: i64, entries_max: usize) -> Result<()> {
        let len = load(
            &self.txn_index_path(),
            self.base_offset,
            next_base,
            self.size_bytes,
        )?;
        self.txn_index_bytes = match len {
            Some(len) if len > 0 => {
                self.ensure_open(next_base, entries_max)?;
                if self.txn_entries_match_log(len)? {
                    Some(len)
                } else {
                    tracing::warn!(path = %self.txn_index_path().display(),
                        "transaction index names a batch the log does not hold");
                    None
                }
            }
            other => other,
        };
        Ok(())
    }

    /// Whether every entry agrees with the (open) log: at `last_offset` a control batch of the
    /// entry's producer starts, holding an ABORT marker (or emptied by the cleaner); and when
    /// `first_offset` lies in this segment, the batch holding it is a transactional data batch
    /// of that producer starting there (a batch the cleaner removed leaves no batch holding
    /// it, which passes). The index has no checksum (nor has Kafka's): this catches an entry
    /// damaged at rest whose fields still look plausible. The last stable offset is not
    /// checked. Costs two batch lookups per entry.
    fn txn_entries_match_log(&self, len: u64) -> Result<bool> {
        let open = self.open.as_ref().expect("opened by the caller");
        let log = &open.log;
        let mut matches = true;
        let path = self.txn_index_path();
        for_each_entry(&path, len, &mut |entry| {
            matches = self.marker_matches(log, &entry)? && self.first_batch_matches(log, &entry)?;
            Ok(matches)
        })?;
        Ok(matches)
    }

    fn marker_matches(&self, log: &File, entry: &AbortedTxnEntry) -> Result<bool> {
        let Some(position) = self.position_of(entry.last_offset)? else {
            return Ok(false);
        };
        let mut reader = BatchReader::new(
            log,
            &self.log_path,
            position,
            self.size_bytes,
            MARKER_BYTES_MAX,
        );
        let Next::Batch { header, .. } = reader.next_batch()? else {
            return Ok(false);
        };
        if header.base_offset() != entry.last_offset
            || !header.is_control()
            || header.producer_id() != entry.producer_id
        {
            return Ok(false);
        }
        Ok(match read_marker(&header) {
            Ok(Some((result, _))) => result == TransactionResult::Abort,
            Ok(None) => true,
            Err(_) => false,
        })
    }

    fn first_batch_matches(&self, log: &File, entry: &AbortedTxnEntry) -> Result<bool> {
        if entry.first_offset < self.base_offset {
            return Ok(true); // in an earlier segment: not checked
        }
        let Some(position) = self.position_of(entry.first_offset)? else {
            return Ok(false);
        };
        let Some(header) = read_header_facts(log, &self.log_path, position, self.size_bytes)?
        else {
            return Ok(false);
        };
        if header.base_offset > entry.first_offset {
            return Ok(true); // no batch holds it: the cleaner removed that batch
        }
        Ok(header.base_offset == entry.first_offset
            && header.producer_id == entry.producer_id
            && header.is_transactional()
            && !header.is_control())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(first: i64, last: i64, lso: i64) -> AbortedTxnEntry {
        AbortedTxnEntry {
            producer_id: 7,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_use_kafkas_34_byte_layout() {
        // Goal: the bytes Kafka's AbortedTxn writes (version 0, then four big-endian longs).
        let bytes = entry(10, 20, 21).encode();
        let mut expected = vec![0u8, 0];
        for value in [7i64, 10, 20, 21] {
            expected.extend_from_slice(&value.to_be_bytes());
        }
        assert_eq!(bytes.to_vec(), expected);
        assert_eq!(AbortedTxnEntry::decode(&bytes), Ok(entry(10, 20, 21)));
        let mut future = bytes;
        future[1] = 1;
        assert!(AbortedTxnEntry::decode(&future).is_err());
    }

    #[test]
    fn load_truncate_and_collect_follow_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.txnindex");
        assert_eq!(load(&path, 100, 200, 10_000).unwrap(), None, "missing");
        let entries = [
            entry(90, 110, 111),
            entry(105, 120, 95),
            entry(130, 150, 151),
        ];
        let mut len = 0;
        for e in &entries {
            len = append(&path, len, e).unwrap();
        }
        assert_eq!(
            load(&path, 100, 200, 10_000).unwrap(),
            Some(3 * ENTRY_BYTES)
        );
        // A marker outside the segment, or a size not a multiple of 34, is damage.
        assert_eq!(load(&path, 100, 140, 10_000).unwrap(), None);
        assert_eq!(load(&path, 100, 200, 60).unwrap(), None);
        let mut found = Vec::new();
        let complete = collect(&path, len, 112, 125, &mut |e| {
            found.push(e.first_offset);
            Ok(())
        })
        .unwrap();
        // 110 ends before 112; 105..120 overlaps; 130 starts at the bound; the third entry's
        // LSO (151) reaches the bound, so the search is complete.
        assert_eq!((found, complete), (vec![105], true));
        assert_eq!(truncate_to(&path, len, 120).unwrap(), ENTRY_BYTES);
        assert_eq!(load(&path, 100, 200, 10_000).unwrap(), Some(ENTRY_BYTES));
        std::fs::write(&path, [0u8; 33]).unwrap();
        assert_eq!(load(&path, 100, 200, 10_000).unwrap(), None);
    }
}
