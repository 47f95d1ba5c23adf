//! Length-prefixed, CRC32C-checked records on disk, and small files replaced durably.
//!
//! A record is `[payload length: u32 LE][crc32c(payload): u32 LE][payload]`. Scanning stops at a
//! torn tail (a short header or body, or a bad checksum on the last record: a write the crash
//! interrupted) and reports how many bytes are valid so the caller cuts the file there. A bad
//! checksum with more bytes after it is corruption in the middle and an error: nothing after it
//! can be trusted, and openraft treats storage errors as fatal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

const HEADER_BYTES: usize = 8;
/// The largest payload a record may have; bounds what a corrupt length makes us allocate.
pub(crate) const RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Appends one framed record to `out`.
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    assert!(
        payload.len() <= RECORD_BYTES_MAX,
        "record of {} bytes",
        payload.len()
    );
    out.extend_from_slice(&u32::try_from(payload.len()).expect("bounded").to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What [`scan`] found: each record's start offset and payload, and the valid prefix's length.
pub(crate) type Scanned<'a> = (Vec<(u64, &'a [u8])>, u64);

/// The records of `bytes` with their start offsets, and the length of the valid prefix.
pub(crate) fn scan(bytes: &[u8]) -> io::Result<Scanned<'_>> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER_BYTES {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let end = at + HEADER_BYTES + len;
        if len > RECORD_BYTES_MAX || end > bytes.len() {
            break; // torn tail: the length was never completed or is garbage from a torn write
        }
        let payload = &bytes[at + HEADER_BYTES..end];
        if crc32c::crc32c(payload) != crc {
            if end == bytes.len() {
                break; // the last record was torn
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "record at byte {at} fails its CRC check with {} bytes after it",
                    bytes.len() - end
                ),
            ));
        }
        records.push((at as u64, payload));
        at = end;
    }
    Ok((records, at as u64))
}

/// Replaces `dir/name` with one record holding `payload`: write a temporary file, fsync it,
/// rename it over the old one, fsync the directory. A crash leaves the old or the new file.
pub(crate) fn replace_durably(dir: &Path, name: &str, payload: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut framed = Vec::with_capacity(payload.len() + HEADER_BYTES);
    encode(payload, &mut framed);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(&framed)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Reads a file written by [`replace_durably`]; `None` if it does not exist.
pub(crate) fn read_single(dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let bytes = match fs::read(dir.join(name)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (records, valid) = scan(&bytes)?;
    match records.as_slice() {
        [(_, payload)] if valid == bytes.len() as u64 => Ok(Some(payload.to_vec())),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{name} is corrupt"),
        )),
    }
}

/// Makes a rename or a file creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_and_corruption_in_the_middle_is_an_error() {
        let mut bytes = Vec::new();
        encode(b"one", &mut bytes);
        encode(b"two", &mut bytes);
        let whole = bytes.len() as u64;
        let (records, valid) = scan(&bytes).unwrap();
        assert_eq!((records.len(), valid), (2, whole));
        // Short body at the end.
        let (records, valid) = scan(&bytes[..bytes.len() - 1]).unwrap();
        assert_eq!((records.len(), valid), (1, 11));
        // Bad checksum on the last record.
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(scan(&flipped).unwrap().1, 11);
        // Bad checksum on the first record, with a good one after it.
        let mut flipped = bytes.clone();
        flipped[8] ^= 1;
        assert_eq!(
            scan(&flipped).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
