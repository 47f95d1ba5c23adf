//! Reads of a partition log: whole batches by offset (consumers, followers, read_committed
//! consumers) and offsets by timestamp (ListOffsets).
//!
//! Reads return a [`FileRange`] of one segment for `sendfile`; the caller picks the upper bound:
//! the HighWatermark for read_uncommitted consumers, the log end offset for followers, the last
//! stable offset for read_committed consumers ([`Log::read_committed`], which also lists the
//! aborted transactions the returned range overlaps).

use crate::error::{Result, StorageError};
use crate::frame;
use crate::log::{Log, LogState};
use crate::range::FileRange;
use crate::transactions::AbortedTransaction;

/// The answer to a fetch: whole batches from the one holding the requested offset, plus the
/// log's offsets at the time of the read.
#[derive(Debug, Clone)]
pub struct FetchData {
    /// `None` when there is nothing to return (the offset is the log end, or bounds excluded all).
    pub records: Option<FileRange>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    /// The last stable offset at the time of the read (the `Fetch` response's
    /// `LastStableOffset`).
    pub last_stable_offset: i64,
    /// For [`Log::read_committed`]: the aborted transactions overlapping the returned range
    /// (empty when none or when nothing was returned). `None` for other reads.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
}

/// The first batch whose max timestamp is at or after a requested timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// Base offset of that batch (or the log start offset if higher). The broker refines it to
    /// the record level by decoding that one batch when it needs to.
    pub offset: i64,
    pub timestamp: i64,
}

impl Log {
    /// Reads whole batches starting with the one that contains `offset`, at most `max_bytes`
    /// (but at least one batch when `min_one_batch`), only batches below `max_offset` (pass the
    /// HighWatermark for consumers, the log end offset for followers). Reads stay within one
    /// segment, like Kafka's.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<FetchData> {
        let mut state = self.lock()?;
        Ok(self
            .read_locked(&mut state, offset, max_bytes, max_offset, min_one_batch)?
            .0)
    }

    /// A read_committed consumer's fetch (Kafka's `FetchIsolation.TXN_COMMITTED`): as
    /// [`Log::read`] bounded by the last stable offset, plus `aborted_transactions`: the aborted
    /// transactions whose marker is at or after `offset` and whose first offset is below the
    /// end of the returned range (the offset of the batch after it). The consumer drops their
    /// batches. One lock hold, so range and list agree.
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: u64,
        min_one_batch: bool,
    ) -> Result<FetchData> {
        let mut state = self.lock()?;
        let last_stable = state.last_stable_offset();
        let (mut data, upper) =
            self.read_locked(&mut state, offset, max_bytes, last_stable, min_one_batch)?;
        let aborted = match upper {
            Some(upper) => state.collect_aborted(offset, upper, &self.dir)?,
            None => Vec::new(),
        };
        data.aborted_transactions = Some(aborted);
        Ok(data)
    }

    /// The read, and the offset just past the returned range (the next batch's base offset, or
    /// the next segment's base, or the log end) when a range is returned.
    fn read_locked(
        &self,
        state: &mut LogState,
        offset: i64,
        max_bytes: u64,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<(FetchData, Option<i64>)> {
        let log_end = state.log_end_offset();
        let mut data = FetchData {
            records: None,
            log_start_offset: state.log_start_offset,
            log_end_offset: log_end,
            high_watermark: state.high_watermark,
            last_stable_offset: state.last_stable_offset(),
            aborted_transactions: None,
        };
        if offset < state.log_start_offset || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                log_start: state.log_start_offset,
                log_end,
            });
        }
        let max_offset = max_offset.min(log_end);
        if offset >= max_offset {
            return Ok((data, None));
        }
        // The segment holding `offset`, then later ones: after compaction the rest of a segment
        // (or a whole cleaned segment) may hold no batch at or after `offset`.
        let mut next = state
            .segments
            .range(..=offset)
            .next_back()
            .or_else(|| state.segments.range(offset + 1..).next())
            .map(|(&b, _)| b);
        while let Some(base) = next {
            if base >= max_offset {
                break;
            }
            let next_base = state.next_base(base).min(log_end);
            let segment = self.open_segment(state, base)?;
            if let Some(range) = segment.read(offset, max_bytes, max_offset, min_one_batch)? {
                if range.is_empty() {
                    return Ok((data, None));
                }
                let end = range.position + range.length;
                let open = segment.open.as_ref().expect("read opened it");
                let upper =
                    frame::read_frame(&open.log, &segment.log_path, end, segment.size_bytes)?
                        .map_or(next_base, |frame| frame.base_offset);
                data.records = Some(range);
                return Ok((data, Some(upper)));
            }
            next = state.segments.range(base + 1..).next().map(|(&b, _)| b);
        }
        Ok((data, None))
    }

    /// ListOffsets by timestamp: the first batch whose max timestamp is at or after `timestamp`.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        let mut state = self.lock()?;
        let candidates: Vec<i64> = state
            .segments
            .iter()
            .filter(|(_, s)| s.max_timestamp >= timestamp)
            .map(|(&b, _)| b)
            .collect();
        for base in candidates {
            let log_start = state.log_start_offset;
            let segment = self.open_segment(&mut state, base)?;
            if let Some((offset, found)) = segment.find_by_timestamp(timestamp)?
                && segment.next_offset > log_start
            {
                return Ok(Some(TimestampOffset {
                    offset: offset.max(log_start),
                    timestamp: found,
                }));
            }
        }
        Ok(None)
    }

    /// ListOffsets `-3` (KIP-734): the batch holding the largest timestamp in the log.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>> {
        let state = self.lock()?;
        Ok(state
            .segments
            .values()
            .filter(|s| s.max_timestamp >= 0)
            .max_by_key(|s| s.max_timestamp)
            .map(|s| TimestampOffset {
                offset: s.offset_of_max_timestamp.max(state.log_start_offset),
                timestamp: s.max_timestamp,
            }))
    }
}
