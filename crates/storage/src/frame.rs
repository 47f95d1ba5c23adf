//! How batches are framed in a segment file: the 12-byte log overhead (`baseOffset i64`,
//! `batchLength i32`) that every batch starts with, and a bounded sequential reader that yields
//! whole batches as [`RecordBatchHeader`] views for recovery, index rebuilds and replay.
//!
//! This module reads only the framing itself; every other header field is read through
//! `protocol::records::RecordBatchHeader`. It never trusts a length read off disk: a frame that
//! runs past the end of the valid region, or past the caller's bound, is reported as torn.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use protocol::records::{
    ATTRIBUTE_CONTROL, ATTRIBUTE_TRANSACTIONAL, RECORD_BATCH_HEADER_BYTES, RecordBatchHeader,
};

use crate::error::{Result, StorageError};

/// `baseOffset` (8) and `batchLength` (4): the bytes before `batchLength`'s count starts.
pub(crate) const LOG_OVERHEAD_BYTES: u64 = 12;
/// Bytes read per refill of the sequential reader.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// Bytes read for a frame: the log overhead up to and including `lastOffsetDelta` (at 23).
const FRAME_READ_BYTES: usize = 27;

/// The framing of one batch in a file: its offset range and how many bytes it takes.
/// Offsets may leave gaps between batches (the log cleaner removes whole batches and keeps
/// the boundaries of the ones it rewrites), so lookups use `last_offset`, not the next base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub base_offset: i64,
    pub last_offset: i64,
    pub size_bytes: u64,
}

/// Reads the frame at `position`, or `None` when the bytes there cannot start a batch that ends
/// by `end` (a torn or corrupt tail; callers validated the region, so this is a defensive check).
pub(crate) fn read_frame(
    file: &File,
    path: &Path,
    position: u64,
    end: u64,
) -> Result<Option<Frame>> {
    if position + FRAME_READ_BYTES as u64 > end {
        return Ok(None);
    }
    let mut overhead = [0u8; FRAME_READ_BYTES];
    file.read_exact_at(&mut overhead, position)
        .map_err(StorageError::io("reading a batch frame in", path))?;
    let base_offset = i64::from_be_bytes(overhead[0..8].try_into().expect("8 bytes"));
    let batch_length = i32::from_be_bytes(overhead[8..12].try_into().expect("4 bytes"));
    let last_offset_delta = i32::from_be_bytes(overhead[23..27].try_into().expect("4 bytes"));
    let minimum = RECORD_BATCH_HEADER_BYTES as i64 - LOG_OVERHEAD_BYTES as i64;
    if i64::from(batch_length) < minimum {
        return Ok(None);
    }
    let size_bytes = LOG_OVERHEAD_BYTES + batch_length as u64;
    if position + size_bytes > end {
        return Ok(None);
    }
    // A negative delta only in a damaged batch; recovery's scan refuses it.
    let last_offset = base_offset.saturating_add(i64::from(last_offset_delta.max(0)));
    Ok(Some(Frame {
        base_offset,
        last_offset,
        size_bytes,
    }))
}

/// The fields of a batch's header that name its writer, read without the batch's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderFacts {
    pub base_offset: i64,
    pub producer_id: i64,
    pub attributes: i16,
}

impl HeaderFacts {
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTRIBUTE_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTRIBUTE_CONTROL != 0
    }
}

/// Reads the 61-byte header at `position` (a batch boundary), or `None` when it does not fit
/// before `end`. Costs one small `pread`, whatever the batch's size.
pub(crate) fn read_header_facts(
    file: &File,
    path: &Path,
    position: u64,
    end: u64,
) -> Result<Option<HeaderFacts>> {
    if position + RECORD_BATCH_HEADER_BYTES as u64 > end {
        return Ok(None);
    }
    let mut header = [0u8; RECORD_BATCH_HEADER_BYTES];
    file.read_exact_at(&mut header, position)
        .map_err(StorageError::io("reading a batch header in", path))?;
    Ok(Some(HeaderFacts {
        base_offset: i64::from_be_bytes(header[0..8].try_into().expect("8 bytes")),
        attributes: i16::from_be_bytes([header[21], header[22]]),
        producer_id: i64::from_be_bytes(header[43..51].try_into().expect("8 bytes")),
    }))
}

/// One step of a [`BatchReader`].
pub(crate) enum Next<'a> {
    /// A whole, well-framed v2 batch starting at `position` (CRC not yet checked).
    Batch {
        position: u64,
        header: RecordBatchHeader<'a>,
    },
    /// The valid region ended exactly at a batch boundary.
    End,
    /// The bytes at `position` do not frame a whole batch.
    Torn { position: u64, reason: String },
}

/// Reads consecutive batches of a file region `[start, end)` through a bounded buffer.
///
/// Invariant: `buf` holds file bytes `[buf_pos, buf_pos + buf.len())`; `cursor <= buf.len()`.
/// Memory is bounded by `max(READ_CHUNK_BYTES, batch_bytes_max)`.
pub(crate) struct BatchReader<'f> {
    file: &'f File,
    path: &'f Path,
    end: u64,
    batch_bytes_max: u64,
    buf: Vec<u8>,
    buf_pos: u64,
    cursor: usize,
}

impl<'f> BatchReader<'f> {
    pub fn new(file: &'f File, path: &'f Path, start: u64, end: u64, batch_bytes_max: u64) -> Self {
        Self {
            file,
            path,
            end,
            batch_bytes_max,
            buf: Vec::new(),
            buf_pos: start,
            cursor: 0,
        }
    }

    /// File position of the next batch.
    pub fn position(&self) -> u64 {
        self.buf_pos + self.cursor as u64
    }

    /// Makes at least `need` bytes available after the cursor, or as many as remain before `end`.
    fn fill(&mut self, need: usize) -> Result<usize> {
        let available = self.buf.len() - self.cursor;
        if available >= need {
            return Ok(available);
        }
        self.buf.drain(..self.cursor);
        self.buf_pos += self.cursor as u64;
        self.cursor = 0;
        let loaded_end = self.buf_pos + self.buf.len() as u64;
        let want = need.max(READ_CHUNK_BYTES) - self.buf.len();
        let want = want.min((self.end - loaded_end) as usize);
        let old_len = self.buf.len();
        self.buf.resize(old_len + want, 0);
        self.file
            .read_exact_at(&mut self.buf[old_len..], loaded_end)
            .map_err(StorageError::io("reading segment", self.path))?;
        Ok(self.buf.len())
    }

    /// The next batch, the clean end, or the first torn batch (after which callers stop).
    pub fn next_batch(&mut self) -> Result<Next<'_>> {
        let position = self.position();
        if position >= self.end {
            return Ok(Next::End);
        }
        if self.fill(LOG_OVERHEAD_BYTES as usize)? < LOG_OVERHEAD_BYTES as usize {
            return Ok(torn(position, "partial batch frame at the end"));
        }
        let at = self.cursor;
        let batch_length = i32::from_be_bytes(self.buf[at + 8..at + 12].try_into().expect("4"));
        let minimum = RECORD_BATCH_HEADER_BYTES as i64 - LOG_OVERHEAD_BYTES as i64;
        if i64::from(batch_length) < minimum {
            return Ok(torn(
                position,
                &format!("batch length {batch_length} is invalid"),
            ));
        }
        let size = LOG_OVERHEAD_BYTES + batch_length as u64;
        if size > self.batch_bytes_max {
            return Ok(torn(
                position,
                &format!("batch of {size} bytes exceeds the bound"),
            ));
        }
        if position + size > self.end {
            return Ok(torn(position, "batch extends past the end of the file"));
        }
        self.fill(size as usize)?;
        let bytes = &self.buf[self.cursor..self.cursor + size as usize];
        match RecordBatchHeader::parse(bytes) {
            Ok(header) => {
                self.cursor += size as usize;
                Ok(Next::Batch { position, header })
            }
            Err(error) => Ok(torn(position, &error.to_string())),
        }
    }
}

fn torn(position: u64, reason: &str) -> Next<'static> {
    Next::Torn {
        position,
        reason: reason.to_owned(),
    }
}
