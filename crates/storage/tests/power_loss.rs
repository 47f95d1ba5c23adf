//! Simulated power loss through the sync journal (`storage::sync_journal`, the F12/F13 fault
//! hook): the journal records exactly what each fsync covered, and a log cut back to those
//! lengths (what a power cut leaves of a page-cache log) reopens with every synced batch and
//! nothing after it. Its own test binary: the hook reads its variable once per process.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{batch, open, read_all};
use storage::LogConfig;
use storage::sync_journal::SYNC_JOURNAL_ENV;

/// The last journaled length per path.
fn journaled(journal: &Path) -> BTreeMap<PathBuf, u64> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut lengths = BTreeMap::new();
    for line in text.lines() {
        let (length, path) = line.split_once(' ').expect("`<length> <path>`");
        lengths.insert(PathBuf::from(path), length.parse().expect("a length"));
    }
    lengths
}

/// What a power cut leaves: every segment file cut to its last journaled length (0 if never
/// synced). Returns how many bytes were dropped.
fn lose_unsynced(dir: &Path, journal: &Path) -> u64 {
    let lengths = journaled(journal);
    let mut dropped = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let size = std::fs::metadata(&path).unwrap().len();
            let kept = lengths.get(&path).copied().unwrap_or(0).min(size);
            if kept < size {
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(kept)
                    .unwrap();
                dropped += size - kept;
            }
        }
    }
    dropped
}

/// Goal: after a power cut only fsynced batches survive, and the log reopens on them, appends
/// going on from the last synced offset.
#[test]
fn a_power_cut_keeps_exactly_the_synced_batches() {
    let scratch = tempfile::tempdir().unwrap();
    let journal = scratch.path().join("sync-journal");
    // SAFETY: set before any other thread exists in this test binary (one test), and before
    // the hook first reads it.
    unsafe { std::env::set_var(SYNC_JOURNAL_ENV, &journal) };
    let dir = scratch.path().join("orders-0");
    std::fs::create_dir_all(&dir).unwrap();
    let config = LogConfig {
        segment_bytes_max: 4096,
        ..LogConfig::for_tests()
    };
    let log = open(&dir, config.clone());
    // Enough to roll segments (a roll syncs the sealed segment), then a synced tail.
    for i in 0..40 {
        log.append_as_leader(&mut batch(2, 100, 1_000 + i), 0)
            .unwrap();
    }
    log.flush().unwrap();
    let synced_end = log.log_end_offset().unwrap();
    let synced = read_all(&log, 0, 1 << 20);
    // Unsynced appends, in the page cache only: small enough to stay in the active segment
    // (a roll would sync the sealed one).
    let segments = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count()
    };
    let before = segments(&dir);
    for i in 0..3 {
        log.append_as_leader(&mut batch(1, 10, 2_000 + i), 0)
            .unwrap();
    }
    assert_eq!(segments(&dir), before, "no roll among the unsynced appends");
    assert!(log.log_end_offset().unwrap() > synced_end);
    drop(log); // a SIGKILL: no close, no flush

    let journaled = journaled(&journal);
    assert!(
        journaled.keys().any(|p| p.starts_with(&dir)),
        "the journal names the partition's segments: {journaled:?}"
    );
    let dropped = lose_unsynced(&dir, &journal);
    assert!(dropped > 0, "the unsynced appends were in the files");

    let log = open(&dir, config);
    assert_eq!(log.log_end_offset().unwrap(), synced_end);
    assert_eq!(read_all(&log, 0, 1 << 20), synced);
    let next = log.append_as_leader(&mut batch(1, 100, 3_000), 0).unwrap();
    assert_eq!(next.first_offset, synced_end);
}
