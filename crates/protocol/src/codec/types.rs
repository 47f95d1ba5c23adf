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
