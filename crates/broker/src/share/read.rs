//! The log reads behind a ShareFetch: whole batches from the share-partition's next fetch
//! offset below the high watermark, copied into memory (the acquired ranges decide which
//! batches are kept, so they cannot be sent with `sendfile` untouched), with each batch's
//! bounds for [`super::partition::SharePartition::acquire`].

use bytes::Bytes;
use protocol::records::RecordBatchHeader;

use super::partition::BatchBounds;
use crate::error::BrokerError;
use crate::partitions::Partition;

/// The most bytes one share-partition read copies into memory.
pub const SHARE_READ_BYTES_MAX: u64 = 8 << 20;

/// Batches read for a share fetch.
#[derive(Debug, Default)]
pub struct ShareRead {
    pub bytes: Bytes,
    /// One entry per batch in `bytes`, with its end position in `bytes`.
    pub batches: Vec<(BatchBounds, usize)>,
}

impl ShareRead {
    pub fn bounds(&self) -> Vec<BatchBounds> {
        self.batches.iter().map(|(b, _)| *b).collect()
    }

    /// The bytes of the batches up to the last one holding an offset at or below
    /// `last_offset` (what the consumer needs for the records it acquired).
    pub fn through(&self, last_offset: i64) -> Bytes {
        let end = self
            .batches
            .iter()
            .take_while(|(b, _)| b.base_offset <= last_offset)
            .map(|(_, end)| *end)
            .last()
            .unwrap_or(0);
        self.bytes.slice(..end)
    }
}

/// Reads whole batches from `offset` below the high watermark, at most `max_bytes` (at least
/// one batch).
pub fn read(partition: &Partition, offset: i64, max_bytes: u64) -> Result<ShareRead, BrokerError> {
    let high_watermark = partition.high_watermark()?;
    if offset >= high_watermark {
        return Ok(ShareRead::default());
    }
    let data = partition.read(
        offset,
        max_bytes.min(SHARE_READ_BYTES_MAX),
        high_watermark,
        true,
    )?;
    let Some(range) = data.records else {
        return Ok(ShareRead::default());
    };
    let bytes = range
        .read_to_bytes()
        .map_err(|e| BrokerError::io("reading a segment for a share fetch", e))?;
    let mut batches = Vec::new();
    let mut position = 0usize;
    // A short read (a concurrent truncation) ends the walk at the last whole batch.
    while let Ok(header) = RecordBatchHeader::parse(&bytes[position..]) {
        position += header.size_bytes();
        batches.push((
            BatchBounds {
                base_offset: header.base_offset(),
                last_offset: header.last_offset(),
                is_control: header.is_control(),
            },
            position,
        ));
    }
    Ok(ShareRead {
        bytes: bytes.slice(..position),
        batches,
    })
}
