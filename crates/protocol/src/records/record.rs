//! The records inside a v2 batch: the `Record` and `RecordHeader` values, the bounded iterator
//! over a batch's (decompressed) record bytes, and the encoding the batch builder uses.
//!
//! Record layout (Kafka's `DefaultRecord`): `length varint, attributes i8, timestampDelta
//! varlong, offsetDelta varint, keyLength varint (-1 = null), key, valueLength varint (-1 =
//! null), value, headersCount varint, then per header keyLength varint (>= 0), key,
//! valueLength varint (-1 = null), value`.
//!
//! Invariants: keys, values and header fields are `Bytes::slice`s of the input, never copies;
//! every length is checked against the bytes that remain before slicing, and a header count is
//! checked against the bytes that remain (a header takes at least 2) before anything is
//! allocated. Not owned here: decompression (see `compression.rs`) and the batch header.

use bytes::Bytes;

use super::varint::{
    read_varint, read_varlong, varint_size, varlong_size, write_varint, write_varlong,
};
use super::{Compression, RecordBatchHeader, RecordsError, decompress};

/// The fewest bytes one record header can take: an empty key and a null value.
const RECORD_HEADER_BYTES_MIN: usize = 2;

/// One header of a record. Keys may repeat within a record; order is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

/// One record of a v2 batch. Its offset is the batch's `baseOffset + offset_delta` and its
/// timestamp `baseTimestamp + timestamp_delta`. The record attributes byte is unused by Kafka
/// and not kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// Bytes the record takes in a batch, including its length varint.
    pub fn encoded_size(&self) -> Result<usize, RecordsError> {
        let body = self.body_size()?;
        Ok(varint_size(to_i32_length(body)?) + body)
    }

    /// Appends the record in the v2 format.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordsError> {
        let body = to_i32_length(self.body_size()?)?;
        write_varint(out, body);
        out.push(0); // record attributes: unused
        write_varlong(out, self.timestamp_delta);
        write_varint(out, self.offset_delta);
        write_nullable_bytes(out, self.key.as_deref())?;
        write_nullable_bytes(out, self.value.as_deref())?;
        write_varint(out, to_i32_length(self.headers.len())?);
        for header in &self.headers {
            write_varint(out, to_i32_length(header.key.len())?);
            out.extend_from_slice(&header.key);
            write_nullable_bytes(out, header.value.as_deref())?;
        }
        Ok(())
    }

    /// Bytes after the length varint.
    fn body_size(&self) -> Result<usize, RecordsError> {
        let mut size = 1
            + varlong_size(self.timestamp_delta)
            + varint_size(self.offset_delta)
            + nullable_bytes_size(self.key.as_deref())?
            + nullable_bytes_size(self.value.as_deref())?
            + varint_size(to_i32_length(self.headers.len())?);
        for header in &self.headers {
            size += nullable_bytes_size(Some(&header.key))?;
            size += nullable_bytes_size(header.value.as_deref())?;
        }
        Ok(size)
    }
}

fn to_i32_length(length: usize) -> Result<i32, RecordsError> {
    i32::try_from(length).map_err(|_| RecordsError::BatchTooLarge { size_bytes: length })
}

fn nullable_bytes_size(bytes: Option<&[u8]>) -> Result<usize, RecordsError> {
    Ok(match bytes {
        None => varint_size(-1),
        Some(bytes) => varint_size(to_i32_length(bytes.len())?) + bytes.len(),
    })
}

fn write_nullable_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) -> Result<(), RecordsError> {
    match bytes {
        None => write_varint(out, -1),
        Some(bytes) => {
            write_varint(out, to_i32_length(bytes.len())?);
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

/// Iterates over the records of one batch, given its uncompressed record bytes and the batch's
/// `recordsCount`.
///
/// Yields each record, then ends; yields one `Err` and ends at the first malformed record, at a
/// count that does not match the bytes (too few records, or bytes left after the last one).
pub struct Records {
    bytes: Bytes,
    position: usize,
    records_count: i32,
    found: usize,
    done: bool,
}

impl Records {
    /// Iterates over `bytes`, which must hold exactly `records_count` records.
    pub fn new(bytes: Bytes, records_count: i32) -> Self {
        Self {
            bytes,
            position: 0,
            records_count,
            found: 0,
            done: false,
        }
    }

    /// The record count the batch declares.
    pub fn records_count(&self) -> i32 {
        self.records_count
    }

    /// Records yielded so far.
    pub fn found(&self) -> usize {
        self.found
    }

    fn next_record(&mut self) -> Result<Option<Record>, RecordsError> {
        let Ok(declared) = usize::try_from(self.records_count) else {
            return Err(RecordsError::InvalidLength {
                field: "records count",
                length: i64::from(self.records_count),
            });
        };
        let remaining_bytes = self.bytes.len() - self.position;
        if self.found == declared {
            if remaining_bytes > 0 {
                return Err(RecordsError::TrailingBytesAfterRecords {
                    records_count: self.records_count,
                    remaining_bytes,
                });
            }
            return Ok(None);
        }
        if remaining_bytes == 0 {
            return Err(RecordsError::RecordsCountMismatch {
                declared: self.records_count,
                found: self.found,
            });
        }
        let (record, end) = decode_record(&self.bytes, self.position)?;
        self.position = end;
        self.found += 1;
        Ok(Some(record))
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
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

/// Iterates over the records of the batch `header` views, decompressing them first when the
/// batch is compressed; decompressed output past `max_output_bytes` is an error.
///
/// `batch` is the buffer `header` was parsed from (or any buffer holding it): the records of an
/// uncompressed batch are then slices of it, not copies. Given another buffer, they are copied.
pub fn decode_batch_records(
    header: &RecordBatchHeader<'_>,
    batch: &Bytes,
    max_output_bytes: usize,
) -> Result<Records, RecordsError> {
    let records_bytes = header.records_bytes();
    let codec = header
        .compression()
        .ok_or(RecordsError::UnknownCompression {
            id: (header.attributes() & 0x07) as u8,
        })?;
    let bytes = match codec {
        Compression::None => slice_within(batch, records_bytes),
        codec => Bytes::from(decompress(codec, records_bytes, max_output_bytes)?),
    };
    Ok(Records::new(bytes, header.records_count()))
}

/// `part` as a slice of `buffer` when it lies inside it, else a copy.
fn slice_within(buffer: &Bytes, part: &[u8]) -> Bytes {
    let buffer_start = buffer.as_ptr() as usize;
    let part_start = part.as_ptr() as usize;
    if part.is_empty() {
        return Bytes::new();
    }
    match part_start.checked_sub(buffer_start) {
        Some(offset) if offset + part.len() <= buffer.len() => {
            buffer.slice(offset..offset + part.len())
        }
        _ => Bytes::copy_from_slice(part),
    }
}

/// Decodes the record at `start`, returning it and the position after it.
fn decode_record(bytes: &Bytes, start: usize) -> Result<(Record, usize), RecordsError> {
    let mut position = start;
    let length = read_varint(bytes, &mut position, "record length")?;
    let length = usize::try_from(length).map_err(|_| RecordsError::InvalidLength {
        field: "record length",
        length: i64::from(length),
    })?;
    let available = bytes.len() - position;
    if length > available {
        return Err(RecordsError::RecordTruncated {
            field: "record",
            needed: length,
            available,
        });
    }
    let body_start = position;
    let mut body = Cursor {
        bytes,
        position,
        end: body_start + length,
    };
    let _attributes = body.byte("record attributes")?;
    let timestamp_delta = body.varlong("timestamp delta")?;
    let offset_delta = body.varint("offset delta")?;
    let key = body.nullable_bytes("key length")?;
    let value = body.nullable_bytes("value length")?;
    let headers_count = body.varint("headers count")?;
    let headers_len = usize::try_from(headers_count).map_err(|_| RecordsError::InvalidLength {
        field: "headers count",
        length: i64::from(headers_count),
    })?;
    if headers_len > body.remaining() / RECORD_HEADER_BYTES_MIN {
        return Err(RecordsError::TooManyHeaders {
            count: headers_count,
            remaining_bytes: body.remaining(),
        });
    }
    let mut headers = Vec::with_capacity(headers_len);
    for _ in 0..headers_len {
        let key_length = body.varint("header key length")?;
        let key_length = usize::try_from(key_length).map_err(|_| RecordsError::InvalidLength {
            field: "header key length",
            length: i64::from(key_length),
        })?;
        let key = body.slice(key_length, "header key")?;
        let value = body.nullable_bytes("header value length")?;
        headers.push(RecordHeader { key, value });
    }
    let consumed = body.position - body_start;
    if consumed != length {
        return Err(RecordsError::RecordLengthMismatch {
            declared: length,
            consumed,
        });
    }
    let record = Record {
        offset_delta,
        timestamp_delta,
        key,
        value,
        headers,
    };
    Ok((record, body.end))
}

/// A read position inside one record's body; never reads past `end`.
struct Cursor<'a> {
    bytes: &'a Bytes,
    position: usize,
    /// Invariant: `position <= end <= bytes.len()`.
    end: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.end - self.position
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, RecordsError> {
        match self.bytes[..self.end].get(self.position) {
            Some(&byte) => {
                self.position += 1;
                Ok(byte)
            }
            None => Err(RecordsError::RecordTruncated {
                field,
                needed: 1,
                available: 0,
            }),
        }
    }

    fn varint(&mut self, field: &'static str) -> Result<i32, RecordsError> {
        read_varint(&self.bytes[..self.end], &mut self.position, field)
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordsError> {
        read_varlong(&self.bytes[..self.end], &mut self.position, field)
    }

    fn slice(&mut self, length: usize, field: &'static str) -> Result<Bytes, RecordsError> {
        if length > self.remaining() {
            return Err(RecordsError::RecordTruncated {
                field,
                needed: length,
                available: self.remaining(),
            });
        }
        let slice = self.bytes.slice(self.position..self.position + length);
        self.position += length;
        Ok(slice)
    }

    /// A length varint (-1 for null) and the bytes it counts.
    fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, RecordsError> {
        let length = self.varint(field)?;
        if length == -1 {
            return Ok(None);
        }
        let length = usize::try_from(length).map_err(|_| RecordsError::InvalidLength {
            field,
            length: i64::from(length),
        })?;
        self.slice(length, field).map(Some)
    }
}

#[cfg(test)]
mod tests;
