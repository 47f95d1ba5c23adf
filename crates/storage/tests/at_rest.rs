//! Damage at rest below the recovery point (the cluster suite's F16:sealed): a bit flipped in a
//! sealed segment after a clean stop. Recovery trusts such segments (as Kafka's does); with
//! `verify_on_open` (`log.verify.on.start`) the log is read at open and cut at the damage, so
//! a cluster replica re-fetches the rest instead of serving a damaged or missing batch.

mod common;

use std::path::{Path, PathBuf};

use common::{batch, open, read_all};
use storage::LogConfig;

fn config(verify_on_open: bool) -> LogConfig {
    LogConfig {
        verify_on_open,
        segment_bytes_max: 1024,
        ..LogConfig::for_tests()
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Writes 40 batches over several segments, closes the log cleanly and flips one byte in the
/// middle of the second segment. Returns the offsets of the batches written and the base
/// offset of the damaged segment.
fn damaged_after_a_clean_stop(dir: &Path) -> (Vec<i64>, i64) {
    let log = open(dir, config(false));
    let bases: Vec<i64> = (0..40)
        .map(|i| {
            let mut b = batch(2, 40, 1_000 + i);
            log.append_as_leader(&mut b, 0).unwrap().first_offset
        })
        .collect();
    log.close().unwrap();
    drop(log);
    let files = segments(dir);
    assert!(files.len() >= 4, "several segments: {files:?}");
    let victim = &files[1];
    let mut bytes = std::fs::read(victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(victim, bytes).unwrap();
    let stem = victim.file_stem().unwrap().to_str().unwrap();
    (bases, stem.parse().unwrap())
}

#[test]
fn damage_below_the_recovery_point_is_cut_when_verified_at_open() {
    let dir = common::tempdir();
    let (bases, damaged_base) = damaged_after_a_clean_stop(dir.path());
    let log = open(dir.path(), config(true));
    let log_end = log.log_end_offset().unwrap();
    // Cut at the damaged batch: inside the damaged segment, every batch before it kept.
    assert!(log_end >= damaged_base && log_end < 80, "log end {log_end}");
    let kept: Vec<i64> = read_all(&log, 0, 1 << 20).iter().map(|r| r.0).collect();
    let expected: Vec<i64> = bases.iter().copied().filter(|&b| b < log_end).collect();
    assert_eq!(kept, expected);
    assert_eq!(log_end % 2, 0, "cut at a batch boundary");
    // The log takes appends again from the cut (a follower re-fetches from there).
    let mut next = batch(1, 10, 2_000);
    assert_eq!(
        log.append_as_leader(&mut next, 0).unwrap().first_offset,
        log_end
    );
}

#[test]
fn without_verification_the_damage_stays_below_the_recovery_point() {
    // What Kafka does too, and why the option exists: the damaged batch is trusted and served.
    let dir = common::tempdir();
    damaged_after_a_clean_stop(dir.path());
    let log = open(dir.path(), config(false));
    assert_eq!(log.log_end_offset().unwrap(), 80);
}

#[test]
fn a_sealed_segment_cut_short_by_a_power_cut_leaves_no_hole() {
    // Goal: the fault harness's F12/F13 (compat/faults/repro_roll_hole.py). A roll writes the
    // rolling batch into the new segment before the sealed one is fsynced, so a power cut can
    // keep the new segment's file and lose the sealed one's tail, the recovery point still at
    // or below the sealed segment's base. Recovery re-reads the sealed segment, finds its
    // batches intact but too few, and must not keep the segments after it: the log would have a
    // hole, served as if nothing were missing (a follower rejoined the ISR with it and, once
    // leader, lost acknowledged writes).
    let dir = common::tempdir();
    let log = open(dir.path(), config(false));
    for i in 0..40 {
        log.append_as_leader(&mut batch(2, 40, 1_000 + i), 0)
            .unwrap();
    }
    drop(log); // a crash: no clean-shutdown marker
    let files = segments(dir.path());
    assert!(files.len() >= 4, "several segments: {files:?}");
    let victim = &files[files.len() - 2];
    let victim_base: i64 = victim
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The sealed segment keeps only its first batch (2 records), cut at a batch boundary.
    let bytes = std::fs::read(victim).unwrap();
    let first_batch = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    std::fs::write(victim, &bytes[..first_batch]).unwrap();
    std::fs::write(
        dir.path().join("recovery-point-offset-checkpoint"),
        format!("0\n1\n{victim_base}\n"),
    )
    .unwrap();
    let log = open(dir.path(), config(false));
    assert_eq!(log.log_end_offset().unwrap(), victim_base + 2);
    let batches = read_all(&log, 0, 1 << 20);
    for pair in batches.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "contiguous offsets");
    }
    assert_eq!(batches.last().unwrap().1, victim_base + 1);
}
