//! The encoder: writers for Kafka's primitive types, and the output as a list of chunks so
//! record bytes (in memory or in a log file) go to the socket without being copied into it.

use bytes::{BufMut, Bytes, BytesMut};

use super::{EncodeError, FileRegion, RawTaggedField, Records, Uuid};

/// One piece of an encoded frame, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameChunk {
    Bytes(Bytes),
    File(FileRegion),
}

impl FrameChunk {
    pub fn len(&self) -> usize {
        match self {
            FrameChunk::Bytes(bytes) => bytes.len(),
            FrameChunk::File(region) => region.length,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes a message. In contiguous mode record bytes are copied into the buffer (file regions
/// are refused); in zero-copy mode they become chunks of their own and are never copied.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: BytesMut,
    chunks: Vec<FrameChunk>,
    zero_copy: bool,
    /// Bytes in `chunks`.
    chunks_len: usize,
}

impl Encoder {
    /// An encoder writing everything into one contiguous buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder that keeps record data out of its buffer (see [`Encoder::finish_chunks`]).
    pub fn zero_copy() -> Self {
        Self {
            zero_copy: true,
            ..Self::default()
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.chunks_len + self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The contiguous buffer; fails if file regions were written.
    pub fn finish(mut self) -> Result<Bytes, EncodeError> {
        if self.chunks.is_empty() {
            return Ok(self.buf.freeze());
        }
        let mut out = BytesMut::with_capacity(self.len());
        for chunk in self.chunks.drain(..) {
            match chunk {
                FrameChunk::Bytes(bytes) => out.extend_from_slice(&bytes),
                FrameChunk::File(_) => return Err(EncodeError::FileRecordsInContiguousBuffer),
            }
        }
        out.extend_from_slice(&self.buf);
        Ok(out.freeze())
    }

    /// The output as chunks, in order, for a vectored write or `sendfile`.
    pub fn finish_chunks(mut self) -> Vec<FrameChunk> {
        self.flush_buf();
        self.chunks
    }

    fn flush_buf(&mut self) {
        if !self.buf.is_empty() {
            let bytes = self.buf.split().freeze();
            self.chunks_len += bytes.len();
            self.chunks.push(FrameChunk::Bytes(bytes));
        }
    }

    #[inline]
    pub fn put_i8(&mut self, value: i8) {
        self.buf.put_i8(value);
    }
    #[inline]
    pub fn put_bool(&mut self, value: bool) {
        self.buf.put_u8(u8::from(value));
    }
    #[inline]
    pub fn put_i16(&mut self, value: i16) {
        self.buf.put_i16(value);
    }
    #[inline]
    pub fn put_u16(&mut self, value: u16) {
        self.buf.put_u16(value);
    }
    #[inline]
    pub fn put_i32(&mut self, value: i32) {
        self.buf.put_i32(value);
    }
    #[inline]
    pub fn put_u32(&mut self, value: u32) {
        self.buf.put_u32(value);
    }
    #[inline]
    pub fn put_i64(&mut self, value: i64) {
        self.buf.put_i64(value);
    }
    #[inline]
    pub fn put_f64(&mut self, value: f64) {
        self.buf.put_f64(value);
    }
    #[inline]
    pub fn put_uuid(&mut self, value: &Uuid) {
        self.buf.put_slice(&value.0);
    }
    #[inline]
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
    }

    /// Writes an unsigned varint (LEB128).
    #[inline]
    pub fn put_unsigned_varint(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.buf.put_u8((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.put_u8(value as u8);
    }

    /// Writes a zig-zag signed varint.
    pub fn put_varint(&mut self, value: i32) {
        self.put_unsigned_varint(((value << 1) ^ (value >> 31)) as u32);
    }

    /// Writes a zig-zag signed varlong.
    pub fn put_varlong(&mut self, value: i64) {
        let mut raw = ((value << 1) ^ (value >> 63)) as u64;
        while raw >= 0x80 {
            self.buf.put_u8((raw as u8) | 0x80);
            raw >>= 7;
        }
        self.buf.put_u8(raw as u8);
    }

    /// Writes a length prefix, or null when `length` is `None`.
    fn put_length(
        &mut self,
        length: Option<usize>,
        compact: bool,
        wide: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        let max = if compact {
            u32::MAX as usize - 1
        } else if wide {
            i32::MAX as usize
        } else {
            i16::MAX as usize
        };
        match length {
            Some(length) if length > max => Err(EncodeError::TooLong { what, length, max }),
            Some(length) if compact => {
                self.put_unsigned_varint(length as u32 + 1);
                Ok(())
            }
            Some(length) if wide => {
                self.put_i32(length as i32);
                Ok(())
            }
            Some(length) => {
                self.put_i16(length as i16);
                Ok(())
            }
            None if compact => {
                self.put_unsigned_varint(0);
                Ok(())
            }
            None if wide => {
                self.put_i32(-1);
                Ok(())
            }
            None => {
                self.put_i16(-1);
                Ok(())
            }
        }
    }

    pub fn put_string(
        &mut self,
        value: &str,
        compact: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        self.put_length(Some(value.len()), compact, false, what)?;
        self.buf.put_slice(value.as_bytes());
        Ok(())
    }

    pub fn put_nullable_string(
        &mut self,
        value: Option<&str>,
        compact: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        match value {
            Some(value) => self.put_string(value, compact, what),
            None => self.put_length(None, compact, false, what),
        }
    }

    pub fn put_bytes(
        &mut self,
        value: &[u8],
        compact: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        self.put_length(Some(value.len()), compact, true, what)?;
        self.buf.put_slice(value);
        Ok(())
    }

    pub fn put_nullable_bytes(
        &mut self,
        value: Option<&[u8]>,
        compact: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        match value {
            Some(value) => self.put_bytes(value, compact, what),
            None => self.put_length(None, compact, true, what),
        }
    }

    /// Writes a `records` field: its length, then the record bytes as their own chunk (zero-copy
    /// mode) or copied (contiguous mode).
    pub fn put_records(
        &mut self,
        value: Option<&Records>,
        compact: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        let Some(records) = value else {
            return self.put_length(None, compact, true, what);
        };
        self.put_length(Some(records.len()), compact, true, what)?;
        if records.is_empty() {
            return Ok(());
        }
        match records {
            Records::Bytes(bytes) if !self.zero_copy => {
                self.buf.put_slice(bytes);
            }
            Records::Bytes(bytes) => {
                self.flush_buf();
                self.chunks_len += bytes.len();
                self.chunks.push(FrameChunk::Bytes(bytes.clone()));
            }
            Records::File(region) => {
                self.flush_buf();
                self.chunks_len += region.length;
                self.chunks.push(FrameChunk::File(region.clone()));
            }
        }
        Ok(())
    }

    /// Writes an array's element count, or null.
    pub fn put_array_length(
        &mut self,
        count: Option<usize>,
        compact: bool,
        what: &'static str,
    ) -> Result<(), EncodeError> {
        self.put_length(count, compact, true, what)
    }

    /// Writes a nullable struct's presence marker (1 present, -1 null).
    pub fn put_struct_presence(&mut self, present: bool) {
        self.put_i8(if present { 1 } else { -1 });
    }

    /// Writes one tagged field whose payload `write` encodes.
    pub fn put_tagged_field(
        &mut self,
        tag: u32,
        write: impl FnOnce(&mut Encoder) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut payload = Encoder::new();
        write(&mut payload)?;
        let payload = payload.finish()?;
        let size = u32::try_from(payload.len()).map_err(|_| EncodeError::TooLong {
            what: "tagged field",
            length: payload.len(),
            max: u32::MAX as usize,
        })?;
        self.put_unsigned_varint(tag);
        self.put_unsigned_varint(size);
        self.buf.put_slice(&payload);
        Ok(())
    }

    /// Writes an unknown tagged field back as it was received.
    pub fn put_raw_tagged_field(&mut self, field: &RawTaggedField) {
        self.put_unsigned_varint(field.tag);
        self.put_unsigned_varint(field.data.len() as u32);
        self.buf.put_slice(&field.data);
    }
}

/// Bytes an unsigned varint of `value` takes.
pub fn varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}
