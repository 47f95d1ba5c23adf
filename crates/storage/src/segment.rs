//! One segment of a partition log: `<base offset>.log` with its `.index`, `.timeindex` and
//! `.txnindex`, and everything done to a single segment: append, positional lookups, scans that
//! validate and re-index the file, truncation, and writing the indexes back at roll or shutdown.
//! The `.txnindex` format and its reads live in `txn_index.rs`.
//!
//! Not owned here: which segment is active, the LRU of open segments, checkpoints (see `log`).
//! Invariants: `[0, size_bytes)` of the file holds whole batches with increasing offsets, all in
//! `[base_offset, next_offset)`; when `open` is set, its indexes describe exactly that region.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protocol::records::RecordBatchHeader;

use crate::config::SEGMENT_BYTES_MAX;
use crate::error::{Result, StorageError};
use crate::frame::{self, BatchReader, Next};
use crate::index::{self, OFFSET_ENTRY_BYTES, OffsetIndex, TIME_ENTRY_BYTES, TimeIndex};
use crate::range::FileRange;
use crate::txn_index;

pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// `RecordBatch.NO_TIMESTAMP`.
pub(crate) const NO_TIMESTAMP: i64 = -1;
/// Offset index entries checked against the log when an index is loaded.
const INDEX_CHECK_SAMPLES: usize = 64;

/// What appending needs to know about each batch, read once from its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size_bytes: u64,
}

/// The open file handle and in-memory indexes of a segment.
pub(crate) struct OpenFiles {
    pub log: Arc<File>,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
}

/// What a scan of a segment region found.
pub(crate) struct ScanOutcome {
    /// The first damage found: its position and why.
    pub torn: Option<(u64, String)>,
}

pub(crate) struct Segment {
    pub base_offset: i64,
    pub log_path: PathBuf,
    pub size_bytes: u64,
    pub next_offset: i64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// The first batch's max timestamp, for `segment.ms` (Kafka's rolling-based timestamp).
    pub rolling_timestamp: Option<i64>,
    bytes_since_index_entry: u64,
    /// Bytes of valid entries in the `.txnindex` file; `None` while unknown or to be rebuilt
    /// (only during open: every segment of an open log has `Some`).
    pub txn_index_bytes: Option<u64>,
    /// `index.interval.bytes`: bytes between two index entries.
    index_interval_bytes: u64,
    pub open: Option<OpenFiles>,
}

pub(crate) fn segment_file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

impl Segment {
    fn index_path(&self) -> PathBuf {
        self.log_path.with_extension(&INDEX_SUFFIX[1..])
    }
    fn time_index_path(&self) -> PathBuf {
        self.log_path.with_extension(&TIME_INDEX_SUFFIX[1..])
    }

    fn new(dir: &Path, base_offset: i64, index_interval_bytes: u64) -> Self {
        Self {
            base_offset,
            log_path: dir.join(segment_file_name(base_offset, LOG_SUFFIX)),
            size_bytes: 0,
            next_offset: base_offset,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp: None,
            bytes_since_index_entry: index_interval_bytes,
            txn_index_bytes: None,
            index_interval_bytes,
            open: None,
        }
    }

    /// Creates an empty segment, replacing any leftover files with the same base offset. Its
    /// `.txnindex` exists from the start (empty), so a missing one later means damage.
    pub fn create(dir: &Path, base_offset: i64, index_interval_bytes: u64) -> Result<Self> {
        let log_path = dir.join(segment_file_name(base_offset, LOG_SUFFIX));
        let mut segment = Self::create_at(log_path, base_offset, index_interval_bytes)?;
        segment.txn_index_bytes = Some(txn_index::write(&segment.txn_index_path(), &[], false)?);
        Ok(segment)
    }

    /// Creates an empty segment whose log file is `log_path` (the cleaner writes a segment under
    /// a temporary name and renames it when it swaps it in).
    pub fn create_at(
        log_path: PathBuf,
        base_offset: i64,
        index_interval_bytes: u64,
    ) -> Result<Self> {
        let mut segment = Self {
            log_path,
            ..Self::new(Path::new(""), base_offset, index_interval_bytes)
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&segment.log_path)
            .map_err(StorageError::io("creating segment", &segment.log_path))?;
        // A file of this name deleted and created again must not keep an older synced length.
        crate::sync_journal::truncated(&segment.log_path, 0);
        for path in [segment.index_path(), segment.time_index_path()] {
            remove_if_exists(&path)?;
        }
        segment.open = Some(OpenFiles {
            log: Arc::new(file),
            offset_index: OffsetIndex::new(base_offset),
            time_index: TimeIndex::new(base_offset),
        });
        Ok(segment)
    }

    /// Describes an existing segment file without opening it (sizes from metadata only).
    pub fn existing(dir: &Path, base_offset: i64, index_interval_bytes: u64) -> Result<Self> {
        let mut segment = Self::new(dir, base_offset, index_interval_bytes);
        segment.size_bytes = std::fs::metadata(&segment.log_path)
            .map_err(StorageError::io("reading metadata of", &segment.log_path))?
            .len();
        Ok(segment)
    }

    fn open_log_file(&self) -> Result<Arc<File>> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log_path)
            .map(Arc::new)
            .map_err(StorageError::io("opening segment", &self.log_path))
    }

    /// Opens the file and loads the indexes, rebuilding them from the log when they are missing
    /// or do not match it. `next_base` bounds the segment's offsets (next segment's base).
    pub fn ensure_open(&mut self, next_base: i64, entries_max: usize) -> Result<&mut OpenFiles> {
        if self.open.is_none() {
            let log = self.open_log_file()?;
            let loaded = self.load_indexes(&log, next_base, entries_max)?;
            self.open = Some(match loaded {
                Some((offset_index, time_index)) => OpenFiles {
                    log,
                    offset_index,
                    time_index,
                },
                None => {
                    tracing::info!(segment = %self.log_path.display(), "rebuilding indexes");
                    self.open = Some(OpenFiles {
                        log,
                        offset_index: OffsetIndex::new(self.base_offset),
                        time_index: TimeIndex::new(self.base_offset),
                    });
                    self.scan(0, next_base, false, &mut |_| {})?;
                    self.write_indexes(false)?;
                    return Ok(self.open.as_mut().expect("just opened"));
                }
            });
        }
        Ok(self.open.as_mut().expect("opened above"))
    }

    fn load_indexes(
        &self,
        log: &File,
        next_base: i64,
        entries_max: usize,
    ) -> Result<Option<(OffsetIndex, TimeIndex)>> {
        let offset_bytes_max = (entries_max * OFFSET_ENTRY_BYTES) as u64;
        let time_bytes_max = (entries_max * TIME_ENTRY_BYTES) as u64;
        let (Some(offset_bytes), Some(time_bytes)) = (
            index::read_index_file(&self.index_path(), offset_bytes_max)?,
            index::read_index_file(&self.time_index_path(), time_bytes_max)?,
        ) else {
            return Ok(None);
        };
        let next_max = next_base;
        let decoded = OffsetIndex::decode(
            &offset_bytes,
            self.base_offset,
            self.size_bytes,
            next_max,
            entries_max,
        )
        .and_then(|o| {
            Ok((
                o,
                TimeIndex::decode(&time_bytes, self.base_offset, next_max, entries_max)?,
            ))
        });
        let (offset_index, time_index) = match decoded {
            Ok(pair) => pair,
            Err(reason) => {
                tracing::warn!(segment = %self.log_path.display(), reason, "index does not match the log");
                return Ok(None);
            }
        };
        // Pair check: sampled offset index entries (first, last and up to 64 spread between)
        // must point at a batch frame with that base offset.
        let stride = (offset_index.len() / INDEX_CHECK_SAMPLES).max(1);
        let count = offset_index.len();
        let sampled = offset_index
            .entries()
            .enumerate()
            .filter(|(i, _)| i % stride == 0 || i + 1 == count)
            .map(|(_, entry)| entry);
        for (offset, position) in sampled {
            let frame = frame::read_frame(log, &self.log_path, position, self.size_bytes)?;
            if frame.is_none_or(|f| f.base_offset != offset) {
                tracing::warn!(segment = %self.log_path.display(), offset, position, "index entry does not match the log");
                return Ok(None);
            }
        }
        Ok(Some((offset_index, time_index)))
    }

    /// Reads batches from `start` (a batch boundary) to the end of the file, indexing them and
    /// updating the segment's end, timestamps and size. Stops at the first torn batch, at the
    /// first batch whose offsets do not increase past the previous batch's (gaps are normal in a
    /// compacted log) or leave `[base_offset, next_base)`, or, with `verify`, at the first batch
    /// whose CRC fails. The caller decides whether to truncate at the damage.
    pub fn scan(
        &mut self,
        start: u64,
        next_base: i64,
        verify: bool,
        on_batch: &mut dyn FnMut(&RecordBatchHeader<'_>),
    ) -> Result<ScanOutcome> {
        let actual_len = std::fs::metadata(&self.log_path)
            .map_err(StorageError::io("reading metadata of", &self.log_path))?
            .len();
        // Index positions are u32: bytes past the largest allowed segment are never served.
        let file_len = actual_len.min(SEGMENT_BYTES_MAX);
        let open = self.open.as_mut().expect("scan needs an open segment");
        let log = Arc::clone(&open.log);
        if start == 0 {
            open.offset_index = OffsetIndex::new(self.base_offset);
            open.time_index = TimeIndex::new(self.base_offset);
            self.next_offset = self.base_offset;
            self.max_timestamp = NO_TIMESTAMP;
            self.offset_of_max_timestamp = self.base_offset;
            self.rolling_timestamp = None;
            self.bytes_since_index_entry = self.index_interval_bytes;
        }
        let path = self.log_path.clone();
        let mut reader = BatchReader::new(
            &log,
            &path,
            start,
            file_len,
            file_len.min(u64::from(u32::MAX)),
        );
        let torn = loop {
            let (position, header) = match reader.next_batch()? {
                Next::End if actual_len > file_len => {
                    break Some((file_len, "segment exceeds the maximum segment size".into()));
                }
                Next::End => break None,
                Next::Torn { position, reason } => break Some((position, reason)),
                Next::Batch { position, header } => (position, header),
            };
            let base = header.base_offset();
            let delta = header.last_offset_delta();
            let offsets_ok = base >= self.next_offset
                && delta >= 0
                && base
                    .checked_add(i64::from(delta))
                    .is_some_and(|last| last < next_base)
                && base - self.base_offset <= i64::from(u32::MAX) - i64::from(delta);
            if !offsets_ok {
                break Some((
                    position,
                    format!("offsets {base}+{delta} do not follow {}", self.next_offset),
                ));
            }
            if verify && let Err(error) = header.verify_crc() {
                break Some((position, error.to_string()));
            }
            let info = BatchInfo {
                base_offset: base,
                last_offset: header.last_offset(),
                max_timestamp: header.max_timestamp(),
                size_bytes: header.size_bytes() as u64,
            };
            self.index_batch(position, &info);
            on_batch(&header);
        };
        self.size_bytes = reader.position();
        Ok(ScanOutcome { torn })
    }

    /// Updates end offset, timestamps and (every `interval` bytes) the indexes for a batch
    /// written at `position`.
    fn index_batch(&mut self, position: u64, info: &BatchInfo) {
        let open = self.open.as_mut().expect("indexing needs an open segment");
        if info.max_timestamp > self.max_timestamp {
            self.max_timestamp = info.max_timestamp;
            self.offset_of_max_timestamp = info.base_offset;
        }
        if self.rolling_timestamp.is_none() {
            self.rolling_timestamp = Some(info.max_timestamp);
        }
        if self.bytes_since_index_entry >= self.index_interval_bytes {
            open.offset_index.append(info.base_offset, position);
            open.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += info.size_bytes;
        self.next_offset = info.last_offset + 1;
    }

    /// Writes `bytes` (whole batches described by `batches`) at the end of the segment.
    pub fn append(&mut self, bytes: &[u8], batches: &[BatchInfo]) -> Result<()> {
        let open = self
            .open
            .as_ref()
            .expect("append needs the active segment open");
        open.log
            .write_all_at(bytes, self.size_bytes)
            .map_err(StorageError::io("appending to", &self.log_path))?;
        let mut position = self.size_bytes;
        for info in batches {
            self.index_batch(position, info);
            position += info.size_bytes;
        }
        self.size_bytes = position;
        Ok(())
    }

    /// Whether the active segment's indexes have room for another entry.
    pub fn index_full(&self, entries_max: usize) -> bool {
        self.open.as_ref().is_some_and(|o| {
            o.offset_index.len() + 1 >= entries_max || o.time_index.len() + 2 >= entries_max
        })
    }

    /// Position of the batch containing `offset`, or the first batch after it, or `None` if the
    /// segment holds nothing at or after `offset`. The segment must be open. Offsets may have
    /// gaps (compaction): the answer is the first batch whose last offset reaches `offset`.
    pub fn position_of(&self, offset: i64) -> Result<Option<u64>> {
        let open = self.open.as_ref().expect("lookups need an open segment");
        let (indexed, mut position) = open.offset_index.lookup(offset);
        if indexed == offset && position < self.size_bytes {
            return Ok(Some(position)); // an index entry points at exactly this batch
        }
        while let Some(frame) =
            frame::read_frame(&open.log, &self.log_path, position, self.size_bytes)?
        {
            if frame.last_offset >= offset {
                return Ok(Some(position));
            }
            position += frame.size_bytes;
        }
        Ok(None)
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes` (at least one batch when
    /// `min_one_batch`) and only batches that end before `max_offset`.
    ///
    /// The end is found from the offset index where possible (its entries are batch boundaries
    /// sorted by position too), walking batch frames only past the last entry in range.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Option<FileRange>> {
        let Some(start) = self.position_of(offset)? else {
            return Ok(None);
        };
        let open = self.open.as_ref().expect("reads need an open segment");
        // A batch boundary no batch past `max_offset` crosses.
        let offset_bound = if max_offset >= self.next_offset {
            self.size_bytes
        } else {
            self.position_of(max_offset)?.unwrap_or(self.size_bytes)
        };
        let bound = offset_bound.min(start.saturating_add(max_bytes));
        let mut end = if self.size_bytes <= bound {
            self.size_bytes
        } else {
            let mut end = open.offset_index.floor_position(bound).max(start);
            while let Some(frame) =
                frame::read_frame(&open.log, &self.log_path, end, self.size_bytes)?
            {
                if end + frame.size_bytes > bound {
                    break;
                }
                end += frame.size_bytes;
            }
            end
        };
        if end == start
            && min_one_batch
            && start < offset_bound
            && let Some(frame) =
                frame::read_frame(&open.log, &self.log_path, start, self.size_bytes)?
        {
            end = start + frame.size_bytes;
        }
        Ok(Some(FileRange {
            file: Arc::clone(&open.log),
            position: start,
            length: end - start,
        }))
    }

    /// The base offset and max timestamp of the first batch whose max timestamp is at or after
    /// `timestamp`, scanning from the time index's floor entry.
    pub fn find_by_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let open = self.open.as_ref().expect("lookups need an open segment");
        let from_offset = open
            .time_index
            .lookup(timestamp)
            .map_or(self.base_offset, |(_, o)| o);
        let (_, start) = open.offset_index.lookup(from_offset);
        let mut reader = BatchReader::new(
            &open.log,
            &self.log_path,
            start,
            self.size_bytes,
            self.size_bytes,
        );
        while let Next::Batch { header, .. } = reader.next_batch()? {
            if header.max_timestamp() >= timestamp {
                return Ok(Some((header.base_offset(), header.max_timestamp())));
            }
        }
        Ok(None)
    }

    /// Removes every batch at or after the one containing `offset`. Returns bytes removed.
    /// When `offset` falls in a gap past the last batch (a compacted segment), nothing is
    /// removed but the segment's end becomes `offset`, as Kafka's log end becomes the target.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64> {
        let Some(position) = self.position_of(offset)? else {
            self.next_offset = self.next_offset.min(offset);
            return Ok(0);
        };
        let open = self
            .open
            .as_mut()
            .expect("truncation needs an open segment");
        let Some(cut) = frame::read_frame(&open.log, &self.log_path, position, self.size_bytes)?
        else {
            return Ok(0);
        };
        let removed = self.size_bytes - position;
        open.log
            .set_len(position)
            .map_err(StorageError::io("truncating", &self.log_path))?;
        crate::sync_journal::truncated(&self.log_path, position);
        self.size_bytes = position;
        open.offset_index.truncate_to(cut.base_offset);
        open.time_index.truncate_to(cut.base_offset);
        self.truncate_txn_index(cut.base_offset)?;
        self.rescan_from_last_entry(i64::MAX, false)?;
        Ok(removed)
    }

    /// Re-derives the end offset, timestamps and index state by scanning from the last offset
    /// index entry to the end of the file (at most `index.interval.bytes` plus one batch).
    pub fn rescan_from_last_entry(&mut self, next_base: i64, verify: bool) -> Result<ScanOutcome> {
        let open = self.open.as_mut().expect("rescan needs an open segment");
        match open.offset_index.last() {
            None => self.scan(0, next_base, verify, &mut |_| {}),
            Some((last_offset, last_position)) => {
                (self.max_timestamp, self.offset_of_max_timestamp) = open
                    .time_index
                    .last()
                    .unwrap_or((NO_TIMESTAMP, self.base_offset));
                self.next_offset = last_offset;
                self.rolling_timestamp = Some(self.max_timestamp);
                self.bytes_since_index_entry = 0;
                self.scan(last_position, next_base, verify, &mut |_| {})
            }
        }
    }

    /// At roll: indexes record the final max timestamp; the log and indexes reach the disk.
    pub fn seal(&mut self, sync: bool) -> Result<()> {
        self.finish_time_index();
        if sync {
            self.sync_log()?;
            txn_index::sync(&self.txn_index_path())?;
        }
        self.write_indexes(sync)
    }

    /// Appends the final time index entry (the segment's max timestamp), in memory.
    pub fn finish_time_index(&mut self) {
        if let Some(open) = self.open.as_mut()
            && self.max_timestamp != NO_TIMESTAMP
        {
            open.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
    }

    pub fn sync_log(&self) -> Result<()> {
        if let Some(open) = &self.open {
            crate::sync_journal::sync_data(&open.log, &self.log_path)
                .map_err(StorageError::io("syncing", &self.log_path))?;
        }
        Ok(())
    }

    pub fn write_indexes(&self, sync: bool) -> Result<()> {
        let Some(open) = &self.open else {
            return Ok(());
        };
        index::write_index_file(&self.index_path(), &open.offset_index.encode(), sync)?;
        index::write_index_file(&self.time_index_path(), &open.time_index.encode(), sync)
    }

    /// Reads the last time index entry from disk (no full load): the segment's max timestamp
    /// as recorded when it was sealed.
    pub fn read_sealed_max_timestamp(&mut self) -> Result<bool> {
        let path = self.time_index_path();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(StorageError::io("opening", &path)(error)),
        };
        let len = file
            .metadata()
            .map_err(StorageError::io("reading metadata of", &path))?
            .len();
        let entry = TIME_ENTRY_BYTES as u64;
        if len < entry || !len.is_multiple_of(entry) {
            return Ok(false);
        }
        let mut last = [0u8; TIME_ENTRY_BYTES];
        file.read_exact_at(&mut last, len - entry)
            .map_err(StorageError::io("reading", &path))?;
        self.max_timestamp = i64::from_be_bytes(last[0..8].try_into().expect("8 bytes"));
        let rel = u32::from_be_bytes(last[8..12].try_into().expect("4 bytes"));
        self.offset_of_max_timestamp = self.base_offset + i64::from(rel);
        Ok(true)
    }

    /// Paths of the files of the segment at `base` in `dir`: log, offset index, time index,
    /// transaction index.
    pub fn existing_paths(dir: &Path, base: i64) -> [PathBuf; 4] {
        Self::new(dir, base, 1).file_paths()
    }

    /// Paths of the segment's files, for deletion: log, offset, time and transaction index.
    pub fn file_paths(&self) -> [PathBuf; 4] {
        [
            self.log_path.clone(),
            self.index_path(),
            self.time_index_path(),
            self.txn_index_path(),
        ]
    }

    /// Opens the log file only (no indexes), for scans that rebuild everything.
    pub fn open_for_scan(&mut self) -> Result<()> {
        if self.open.is_none() {
            self.open = Some(OpenFiles {
                log: self.open_log_file()?,
                offset_index: OffsetIndex::new(self.base_offset),
                time_index: TimeIndex::new(self.base_offset),
            });
        }
        Ok(())
    }

    /// Cuts the file at `position` (recovery found damage there).
    pub fn cut_at(&mut self, position: u64) -> Result<()> {
        let open = self.open.as_ref().expect("cut needs an open segment");
        open.log
            .set_len(position)
            .and_then(|()| crate::sync_journal::sync_data(&open.log, &self.log_path))
            .map_err(StorageError::io("truncating", &self.log_path))?;
        self.size_bytes = position;
        Ok(())
    }
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("removing", path)(error))
        }
        _ => Ok(()),
    }
}
