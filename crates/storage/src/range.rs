//! The result of a read: a byte range of a segment file holding whole batches, which the broker
//! hands to `sendfile` (or copies, for tests and copying transports).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// A byte range of a segment file holding whole batches, ready for `sendfile`.
///
/// The file handle keeps the bytes readable even if retention deletes the segment meanwhile;
/// a concurrent truncation may shorten the file, so senders must handle a short read.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub(crate) file: Arc<File>,
    pub(crate) position: u64,
    pub(crate) length: u64,
}

impl FileRange {
    pub fn file(&self) -> &File {
        &self.file
    }
    pub fn position(&self) -> u64 {
        self.position
    }
    pub fn len(&self) -> u64 {
        self.length
    }
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
    /// The range as the codec's zero-copy `records` value (sent with `sendfile`).
    pub fn file_region(&self) -> protocol::codec::FileRegion {
        protocol::codec::FileRegion {
            file: Arc::clone(&self.file),
            position: self.position,
            length: self.length as usize,
        }
    }
    /// Copies the range into memory (tests, replication over a copying transport).
    pub fn read_to_bytes(&self) -> std::io::Result<bytes::Bytes> {
        let mut buf = Vec::new();
        self.read_into(&mut buf)?;
        Ok(buf.into())
    }

    /// Copies the range into `buf` (replacing its contents), reusing its allocation.
    pub fn read_into(&self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.resize(self.length as usize, 0);
        self.file.read_exact_at(buf, self.position)
    }
}
