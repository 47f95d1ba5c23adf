//! Value types of the wire format that Rust lacks: Kafka's UUID, raw (unknown) tagged fields,
//! and record data that is either bytes in memory or a region of a log file.

use std::fmt;
use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;

/// Kafka's 128-bit UUID (topic ids, directory ids, member ids). Shown as Kafka shows it:
/// URL-safe base64 without padding (22 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, Kafka's `Uuid.ZERO_UUID`: "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Parses Kafka's 22-character base64 form.
    pub fn parse(text: &str) -> Option<Uuid> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        Some(Uuid(bytes.try_into().ok()?))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// A tagged field this codec does not know (a newer peer's), kept to be re-encoded unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    pub tag: u32,
    pub data: Bytes,
}

/// The unknown tagged fields of one struct, in the order received, kept as their wire encoding
/// (tag varint, size varint, data) in one buffer: memory stays within twice the bytes they took
/// on the wire however many there are, where a `Vec<RawTaggedField>` would cost 40 bytes for
/// each 2-byte empty field.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct UnknownTaggedFields {
    raw: Vec<u8>,
    count: usize,
}

impl UnknownTaggedFields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a field (its encoding is copied).
    pub fn push(&mut self, field: RawTaggedField) {
        push_unsigned_varint(&mut self.raw, field.tag);
        push_unsigned_varint(&mut self.raw, field.data.len() as u32);
        self.raw.extend_from_slice(&field.data);
        self.count += 1;
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = RawTaggedField> + '_ {
        let mut rest: &[u8] = &self.raw;
        (0..self.count).map(move |_| {
            let tag = take_unsigned_varint(&mut rest);
            let size = take_unsigned_varint(&mut rest) as usize;
            let (data, tail) = rest.split_at(size);
            rest = tail;
            RawTaggedField {
                tag,
                data: Bytes::copy_from_slice(data),
            }
        })
    }
}

impl FromIterator<RawTaggedField> for UnknownTaggedFields {
    fn from_iter<I: IntoIterator<Item = RawTaggedField>>(iter: I) -> Self {
        let mut fields = Self::new();
        for field in iter {
            fields.push(field);
        }
        fields
    }
}

impl fmt::Debug for UnknownTaggedFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn push_unsigned_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint this type wrote itself (so it is well formed and present).
fn take_unsigned_varint(rest: &mut &[u8]) -> u32 {
    let mut value = 0u32;
    let mut shift = 0;
    while let Some((&byte, tail)) = rest.split_first() {
        *rest = tail;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    value
}

/// A byte range of an open log file, sent to the socket with `sendfile` rather than copied.
///
/// Invariant: `position + length` lies within the file as it was when the region was made; log
/// files are append-only, so bytes once written there do not change.
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub position: u64,
    pub length: usize,
}

impl PartialEq for FileRegion {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.position == other.position
            && self.length == other.length
    }
}

/// The content of a `records` field: record batches, never opened by the codec.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// Bytes in memory, usually a slice of a received frame.
    Bytes(Bytes),
    /// A region of a log file.
    File(FileRegion),
}

impl Records {
    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(bytes) => bytes.len(),
            Records::File(region) => region.length,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when the records are in memory.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Records::Bytes(bytes) => Some(bytes),
            Records::File(_) => None,
        }
    }
}

impl Default for Records {
    fn default() -> Self {
        Records::Bytes(Bytes::new())
    }
}

impl From<Bytes> for Records {
    fn from(bytes: Bytes) -> Self {
        Records::Bytes(bytes)
    }
}
