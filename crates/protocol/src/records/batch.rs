//! A read-only view over a v2 record batch header, in-place patching of the fields the CRC does
//! not cover, and an iterator over consecutive batches in a buffer.
//!
//! Layout (offsets in bytes; big-endian):
//! `baseOffset i64 @0, batchLength i32 @8, partitionLeaderEpoch i32 @12, magic i8 @16,
//! crc u32 @17, attributes i16 @21, lastOffsetDelta i32 @23, baseTimestamp i64 @27,
//! maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51, baseSequence i32 @53,
//! recordsCount i32 @57`, records from @61. `batchLength` counts the bytes after itself, so a
//! batch occupies `12 + batchLength` bytes. The CRC32C covers bytes 21.. to the end.

use super::RecordsError;

/// Size of the v2 record batch header; the smallest possible batch.
pub const RECORD_BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength`'s count starts: baseOffset (8) and batchLength (4).
pub(crate) const LOG_OVERHEAD_BYTES: usize = 12;
pub(crate) const MAGIC_V2: i8 = 2;
/// Where the bytes the CRC covers start (the attributes); the CRC itself is the 4 bytes before.
pub(crate) const CRC_START: usize = 21;
/// Attribute bits above the compression codec's three.
pub(crate) const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;
pub const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
pub const ATTRIBUTE_CONTROL: i16 = 0x20;
/// KIP-534: `baseTimestamp` holds the delete horizon set by the log cleaner.
pub(crate) const ATTRIBUTE_DELETE_HORIZON: i16 = 0x40;

/// The compression codec named by the low three bits of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec id carried in the attributes, or `None` for an unknown id (5..=7).
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return None,
        })
    }

    /// The id written in the low three bits of the attributes.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` config uses for the codec.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a batch's timestamps were set by the producer or by the broker on append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A view over the header of one v2 batch at the start of `bytes`.
///
/// Invariant: `bytes.len() >= 61`, `bytes.len() >= self.size_bytes()`, magic is 2. The CRC is
/// not checked by construction; call [`RecordBatchHeader::verify_crc`] where integrity matters.
#[derive(Clone, Copy)]
pub struct RecordBatchHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordBatchHeader<'a> {
    /// Reads the header of the batch at the start of `bytes`, checking that the whole batch
    /// (`12 + batchLength` bytes) is present and that the magic is 2.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RecordsError> {
        if bytes.len() < RECORD_BATCH_HEADER_BYTES {
            return Err(RecordsError::Truncated {
                needed: RECORD_BATCH_HEADER_BYTES,
                available: bytes.len(),
            });
        }
        let batch_length = read_i32(bytes, 8);
        let minimum = (RECORD_BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
        if batch_length < minimum {
            return Err(RecordsError::InvalidBatchLength {
                batch_length,
                minimum,
            });
        }
        let magic = bytes[16] as i8;
        if magic != MAGIC_V2 {
            return Err(RecordsError::UnsupportedMagic { magic });
        }
        let size = LOG_OVERHEAD_BYTES + batch_length as usize;
        if bytes.len() < size {
            return Err(RecordsError::Truncated {
                needed: size,
                available: bytes.len(),
            });
        }
        Ok(Self {
            bytes: &bytes[..size],
        })
    }

    /// The whole batch: header and records.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The record bytes after the header (compressed when the batch is compressed).
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.bytes[RECORD_BATCH_HEADER_BYTES..]
    }

    /// Bytes the batch occupies in a log or a response: `12 + batchLength`.
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn base_offset(&self) -> i64 {
        read_i64(self.bytes, 0)
    }
    pub fn batch_length(&self) -> i32 {
        read_i32(self.bytes, 8)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.bytes, 12)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[16] as i8
    }
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(self.bytes[17..21].try_into().expect("4 bytes"))
    }
    pub fn attributes(&self) -> i16 {
        i16::from_be_bytes([self.bytes[21], self.bytes[22]])
    }
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.bytes, 23)
    }
    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.bytes, 27)
    }
    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.bytes, 35)
    }
    pub fn producer_id(&self) -> i64 {
        read_i64(self.bytes, 43)
    }
    pub fn producer_epoch(&self) -> i16 {
        i16::from_be_bytes([self.bytes[51], self.bytes[52]])
    }
    pub fn base_sequence(&self) -> i32 {
        read_i32(self.bytes, 53)
    }
    pub fn records_count(&self) -> i32 {
        read_i32(self.bytes, 57)
    }

    /// The offset of the batch's last record: `baseOffset + lastOffsetDelta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The compression codec, or `None` when the attributes name an unknown codec.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id((self.attributes() & 0x07) as u8)
    }
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & ATTRIBUTE_LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & ATTRIBUTE_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & ATTRIBUTE_CONTROL != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & ATTRIBUTE_DELETE_HORIZON != 0
    }

    /// The CRC32C of bytes 21.. as it should be stored in the header.
    pub fn computed_crc(&self) -> u32 {
        crc32c::crc32c(&self.bytes[CRC_START..])
    }

    /// Checks the stored CRC against the bytes it covers.
    pub fn verify_crc(&self) -> Result<(), RecordsError> {
        let expected = self.crc();
        let computed = self.computed_crc();
        if expected == computed {
            Ok(())
        } else {
            Err(RecordsError::CrcMismatch { expected, computed })
        }
    }
}

impl std::fmt::Debug for RecordBatchHeader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatchHeader")
            .field("base_offset", &self.base_offset())
            .field("batch_length", &self.batch_length())
            .field("partition_leader_epoch", &self.partition_leader_epoch())
            .field("attributes", &self.attributes())
            .field("last_offset_delta", &self.last_offset_delta())
            .field("max_timestamp", &self.max_timestamp())
            .field("producer_id", &self.producer_id())
            .field("producer_epoch", &self.producer_epoch())
            .field("base_sequence", &self.base_sequence())
            .field("records_count", &self.records_count())
            .finish()
    }
}

/// Writes `base_offset` into the batch at the start of `batch`. The CRC does not cover it.
///
/// Panics if `batch` is shorter than a header: callers pass a batch [`RecordBatchHeader::parse`]
/// accepted.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch into the batch at the start of `batch`. The CRC does not
/// cover it.
///
/// Panics if `batch` is shorter than a header (see [`set_base_offset`]).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[12..16].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks a batch as LogAppendTime stamped at `now_ms` (Kafka's in-place
/// `setMaxTimestamp(LOG_APPEND_TIME, now)`): the timestamp-type bit and maxTimestamp change, the
/// base timestamp stays as produced (readers take every record's timestamp from maxTimestamp),
/// and the CRC, which covers both fields, is recomputed.
///
/// Panics if `batch` does not start with a whole batch: callers pass a batch
/// [`RecordBatchHeader::parse`] accepted.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let end = RecordBatchHeader::parse(batch)
        .expect("a parsed batch")
        .size_bytes();
    let batch = &mut batch[..end];
    let attributes = i16::from_be_bytes([batch[CRC_START], batch[CRC_START + 1]]);
    let attributes = attributes | ATTRIBUTE_LOG_APPEND_TIME;
    batch[CRC_START..CRC_START + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[CRC_START - 4..CRC_START].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over the consecutive batches of a buffer (a produce request's records, a log
/// segment's bytes, a fetch response's records).
///
/// Yields `Err` once for the first malformed batch and then stops. A buffer ending in a partial
/// batch (as a fetch response may) ends the iteration without an error when `allow_partial_tail`
/// is set; [`RecordBatches::remaining`] then tells how many bytes were left.
pub struct RecordBatches<'a> {
    bytes: &'a [u8],
    position: usize,
    allow_partial_tail: bool,
    done: bool,
}

impl<'a> RecordBatches<'a> {
    /// Iterates over `bytes`, which must hold only whole batches.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            position: 0,
            allow_partial_tail: false,
            done: false,
        }
    }

    /// Iterates over `bytes`, stopping quietly at a partial batch at the end.
    pub fn allowing_partial_tail(bytes: &'a [u8]) -> Self {
        Self {
            allow_partial_tail: true,
            ..Self::new(bytes)
        }
    }

    /// Byte position of the next batch in the buffer: after a clean end, the bytes consumed.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes not yet yielded.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }
}

impl<'a> Iterator for RecordBatches<'a> {
    type Item = Result<RecordBatchHeader<'a>, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.position >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.position..];
        match RecordBatchHeader::parse(rest) {
            Ok(batch) => {
                self.position += batch.size_bytes();
                Some(Ok(batch))
            }
            Err(RecordsError::Truncated { .. }) if self.allow_partial_tail => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}
