//! Small checkpoint files of a partition directory, written atomically (temporary file, fsync,
//! rename, fsync of the directory) in Kafka's text format: a version line `0`, a count line, then
//! one entry per line. Used for the recovery point, the log start offset, the leader-epoch
//! cache and the `.txnindex` lengths listed in the clean-shutdown marker.
//!
//! Reading is forgiving in one direction only: a missing or malformed checkpoint yields `None`,
//! and the caller falls back to the safe default (recover everything, derive from segments). A
//! checkpoint is never the only copy of anything that cannot be rebuilt from the log.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Result, StorageError};

pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_OFFSET_FILE: &str = "log-start-offset-checkpoint";
pub(crate) const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
const CHECKPOINT_VERSION: &str = "0";
/// Bound on the size of a checkpoint file read back.
const CHECKPOINT_BYTES_MAX: u64 = 4 << 20;
/// Bound on the entries of a checkpoint read back.
pub(crate) const CHECKPOINT_ENTRIES_MAX: usize = 100_000;

/// Makes directory entry changes (create, rename, unlink) in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("syncing directory", dir))
}

/// Replaces `dir/name` with `bytes` so that a crash leaves either the old or the new contents.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let target = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(StorageError::io("creating", &temporary))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(StorageError::io("writing", &temporary))?;
    std::fs::rename(&temporary, &target).map_err(StorageError::io("renaming to", &target))?;
    sync_dir(dir)
}

fn read_small(path: &Path) -> Result<Option<String>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("opening", path)(error)),
    };
    let size = file
        .metadata()
        .map_err(StorageError::io("reading metadata of", path))?
        .len();
    if size > CHECKPOINT_BYTES_MAX {
        tracing::warn!(path = %path.display(), size, "checkpoint too large; ignoring it");
        return Ok(None);
    }
    let mut bytes = vec![0u8; size as usize];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, 0)
        .map_err(StorageError::io("reading", path))?;
    Ok(String::from_utf8(bytes).ok())
}

/// Parses the entries of a checkpoint, each with `fields` whitespace-separated integers.
fn parse_entries(text: &str, fields: usize) -> Option<Vec<Vec<i64>>> {
    let mut lines = text.lines();
    if lines.next()? != CHECKPOINT_VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    if count > CHECKPOINT_ENTRIES_MAX {
        return None;
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let values: Vec<i64> = lines
            .next()?
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        if values.len() != fields {
            return None;
        }
        entries.push(values);
    }
    if lines.any(|line| !line.trim().is_empty()) {
        return None;
    }
    Some(entries)
}

fn encode_entries(entries: impl ExactSizeIterator<Item = String>) -> String {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for entry in entries {
        text.push_str(&entry);
        text.push('\n');
    }
    text
}

/// Writes a single-offset checkpoint (recovery point, log start offset).
pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> Result<()> {
    let text = encode_entries(std::iter::once(offset.to_string()));
    write_atomically(dir, name, text.as_bytes())
}

/// Reads a single-offset checkpoint; `None` when missing or malformed.
pub(crate) fn read_offset(dir: &Path, name: &str) -> Result<Option<i64>> {
    let path = dir.join(name);
    let Some(text) = read_small(&path)? else {
        return Ok(None);
    };
    match parse_entries(&text, 1).as_deref() {
        Some([entry]) if entry[0] >= 0 => Ok(Some(entry[0])),
        _ => {
            tracing::warn!(path = %path.display(), "malformed offset checkpoint; ignoring it");
            Ok(None)
        }
    }
}

/// Writes the leader-epoch checkpoint: one `epoch start_offset` line per entry.
pub(crate) fn write_epochs(dir: &Path, entries: &[(i32, i64)]) -> Result<()> {
    let text = encode_entries(entries.iter().map(|(e, o)| format!("{e} {o}")));
    write_atomically(dir, LEADER_EPOCH_FILE, text.as_bytes())
}

/// Reads the leader-epoch checkpoint; `None` when missing or malformed.
pub(crate) fn read_epochs(dir: &Path) -> Result<Option<Vec<(i32, i64)>>> {
    let path = dir.join(LEADER_EPOCH_FILE);
    let Some(text) = read_small(&path)? else {
        return Ok(None);
    };
    let parsed = parse_entries(&text, 2).and_then(|entries| {
        entries
            .into_iter()
            .map(|e| Some((i32::try_from(e[0]).ok()?, e[1])))
            .collect::<Option<Vec<_>>>()
    });
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "malformed leader-epoch checkpoint; rebuilding it");
    }
    Ok(parsed)
}

/// What the clean-shutdown marker says. The log writes it last when it closes, listing the
/// length of every segment's `.txnindex` at that moment (a checkpoint of `base length`
/// entries). Its presence means the next open may skip recovery; the lengths let that open
/// tell the index files the log closed with from other copies (an older copy lacks the latest
/// aborted transactions yet passes every other check: an index is append-only).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CleanShutdown {
    /// No marker: the last shutdown was not clean.
    Absent,
    /// An empty marker, as an older Runnel (and Kafka) writes it: no lengths to compare.
    Unlisted,
    /// The `.txnindex` length of each segment, by base offset. A malformed list reads as an
    /// empty one, so that every index is rebuilt.
    Listed(BTreeMap<i64, u64>),
}

/// Writes the clean-shutdown marker with the `.txnindex` length of each segment.
pub(crate) fn write_clean_shutdown(dir: &Path, txn_index_lengths: &[(i64, u64)]) -> Result<()> {
    let text = encode_entries(txn_index_lengths.iter().map(|(b, l)| format!("{b} {l}")));
    write_atomically(dir, CLEAN_SHUTDOWN_FILE, text.as_bytes())
}

/// Reads the clean-shutdown marker.
pub(crate) fn read_clean_shutdown(dir: &Path) -> Result<CleanShutdown> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    if !path.exists() {
        return Ok(CleanShutdown::Absent);
    }
    let text = read_small(&path)?.unwrap_or_else(|| "malformed".into());
    if text.is_empty() {
        return Ok(CleanShutdown::Unlisted);
    }
    let lengths = parse_entries(&text, 2).and_then(|entries| {
        entries
            .into_iter()
            .map(|e| Some((e[0], u64::try_from(e[1]).ok()?)))
            .collect::<Option<BTreeMap<_, _>>>()
    });
    Ok(CleanShutdown::Listed(lengths.unwrap_or_else(|| {
        tracing::warn!(path = %path.display(),
            "malformed clean-shutdown marker; rebuilding every transaction index");
        BTreeMap::new()
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_epochs_round_trip_and_garbage_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_offset(dir.path(), RECOVERY_POINT_FILE).unwrap(), None);
        write_offset(dir.path(), RECOVERY_POINT_FILE, 42).unwrap();
        assert_eq!(
            read_offset(dir.path(), RECOVERY_POINT_FILE).unwrap(),
            Some(42)
        );
        write_epochs(dir.path(), &[(0, 0), (3, 17)]).unwrap();
        assert_eq!(
            read_epochs(dir.path()).unwrap(),
            Some(vec![(0, 0), (3, 17)])
        );
        assert_eq!(
            read_clean_shutdown(dir.path()).unwrap(),
            CleanShutdown::Absent
        );
        std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), "").unwrap();
        assert_eq!(
            read_clean_shutdown(dir.path()).unwrap(),
            CleanShutdown::Unlisted
        );
        write_clean_shutdown(dir.path(), &[(0, 68), (40, 0)]).unwrap();
        assert_eq!(
            read_clean_shutdown(dir.path()).unwrap(),
            CleanShutdown::Listed(BTreeMap::from([(0, 68), (40, 0)]))
        );
        for garbage in ["x", "0\n1\n0 -1\n", "0\n1\n0\n"] {
            std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), garbage).unwrap();
            let marker = read_clean_shutdown(dir.path()).unwrap();
            assert_eq!(
                marker,
                CleanShutdown::Listed(BTreeMap::new()),
                "{garbage:?}"
            );
        }
        for garbage in ["", "0\n2\n1 2\n", "1\n1\n5\n", "0\n1\nx\n", "0\n99999999\n"] {
            std::fs::write(dir.path().join(RECOVERY_POINT_FILE), garbage).unwrap();
            assert_eq!(read_offset(dir.path(), RECOVERY_POINT_FILE).unwrap(), None);
        }
    }
}
