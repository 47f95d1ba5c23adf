//! Tests of the log's upkeep and bounds: retention running beside appends, the bound on open
//! segment files, derived state rebuilt when its files are lost (leader-epoch checkpoint,
//! producer snapshots), and reads at segment boundaries.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{batch, open, producer_batch, read_all};
use storage::LogConfig;

/// File descriptors of this process that point into `dir`.
fn open_files_in(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

#[test]
fn retention_runs_beside_appends_without_losing_or_blocking_them() {
    let dir = common::tempdir();
    let config = LogConfig {
        retention_bytes: Some(32 * 1024),
        ..LogConfig::for_tests()
    };
    let log = Arc::new(open(dir.path(), config));
    let appender = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 0..2000 {
                let info = log.append_as_leader(&mut batch(2, 100, i), 0).unwrap();
                assert_eq!(info.first_offset, 2 * i);
            }
        })
    };
    let mut deleted = 0;
    while !appender.is_finished() {
        deleted += log.delete_retained_segments().unwrap().segments_deleted;
    }
    appender.join().unwrap();
    deleted += log.delete_retained_segments().unwrap().segments_deleted;
    assert!(deleted > 10, "retention deleted {deleted} segments");
    assert_eq!(log.log_end_offset().unwrap(), 4000);
    assert!(log.size_bytes().unwrap() < 32 * 1024 + LogConfig::for_tests().segment_bytes_max);
    log.verify_consistency().unwrap();
    let start = log.log_start_offset().unwrap();
    let served = read_all(&log, start, 4096);
    assert_eq!(served.first().unwrap().0, start);
    assert_eq!(served.last().unwrap().1, 3999);
}

#[test]
fn open_segment_files_stay_within_the_bound() {
    let dir = common::tempdir();
    let config = LogConfig::for_tests();
    let bound = config.open_segments_max + 1; // + the active segment
    let log = open(dir.path(), config);
    for i in 0..400 {
        log.append_as_leader(&mut batch(4, 100, i), 0).unwrap();
    }
    assert!(log.segment_count().unwrap() > 2 * bound);
    // Reading the whole log opens every segment once; the LRU closes all but the bound.
    read_all(&log, 0, 1 << 20);
    for offset in (0..1600).step_by(97) {
        log.read(offset, 100, i64::MAX, true).unwrap();
        assert!(
            open_files_in(dir.path()) <= bound,
            "{} open",
            open_files_in(dir.path())
        );
    }
    assert!(log.offset_for_timestamp(0).unwrap().is_some());
    assert!(open_files_in(dir.path()) <= bound);
}

#[test]
fn a_lost_leader_epoch_checkpoint_is_rebuilt_from_batch_headers() {
    let dir = common::tempdir();
    let log = open(dir.path(), LogConfig::for_tests());
    for (i, epoch) in [0, 0, 2, 2, 7].into_iter().enumerate() {
        for _ in 0..20 {
            log.append_as_leader(&mut batch(3, 100, i as i64), epoch)
                .unwrap();
        }
    }
    let epochs = log.leader_epochs().unwrap();
    assert_eq!(epochs.len(), 3);
    log.close().unwrap();
    drop(log);
    std::fs::remove_file(dir.path().join("leader-epoch-checkpoint")).unwrap();
    let log = open(dir.path(), LogConfig::for_tests());
    assert_eq!(log.leader_epochs().unwrap(), epochs);
    assert_eq!(log.end_offset_for_epoch(3).unwrap(), (2, 240));
}

#[test]
fn producer_state_survives_the_loss_of_every_snapshot() {
    let dir = common::tempdir();
    let log = open(dir.path(), LogConfig::for_tests());
    for sequence in 0..200 {
        log.append_as_leader(&mut producer_batch(1, 9, 3, sequence), 0)
            .unwrap();
        log.append_as_leader(&mut batch(1, 300, 0), 0).unwrap();
    }
    log.close().unwrap();
    drop(log);
    let snapshots: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .collect();
    assert!(
        !snapshots.is_empty() && snapshots.len() <= 3,
        "{snapshots:?}"
    );
    for path in &snapshots {
        std::fs::write(path, b"garbage").unwrap();
    }
    let log = open(dir.path(), LogConfig::for_tests());
    let retry = log
        .append_as_leader(&mut producer_batch(1, 9, 3, 199), 0)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.first_offset, 398);
    assert!(
        log.append_as_leader(&mut producer_batch(1, 9, 2, 200), 0)
            .is_err(),
        "old epoch"
    );
}

#[test]
fn reads_at_segment_boundaries_start_in_the_next_segment() {
    let dir = common::tempdir();
    let log = open(dir.path(), LogConfig::for_tests());
    for i in 0..100 {
        log.append_as_leader(&mut batch(2, 300, i), 0).unwrap();
    }
    let bases = log.segment_base_offsets().unwrap();
    assert!(bases.len() > 3);
    for &base in &bases[1..] {
        let data = log.read(base, 1 << 20, i64::MAX, true).unwrap();
        let bytes = data.records.unwrap().read_to_bytes().unwrap();
        let first = protocol::records::RecordBatchHeader::parse(&bytes).unwrap();
        assert_eq!(first.base_offset(), base);
        // The batch before the boundary is served from the previous segment, alone.
        let before = log.read(base - 1, 1 << 20, i64::MAX, true).unwrap();
        let bytes = before.records.unwrap().read_to_bytes().unwrap();
        let last = protocol::records::RecordBatches::new(&bytes)
            .last()
            .unwrap()
            .unwrap();
        assert_eq!(last.last_offset(), base - 1);
    }
}

#[test]
fn a_roll_syncs_the_sealed_segment_and_moves_the_recovery_point() {
    let dir = common::tempdir();
    let log = open(dir.path(), LogConfig::for_tests());
    assert_eq!(log.recovery_point().unwrap(), 0);
    while log.segment_count().unwrap() < 3 {
        log.append_as_leader(&mut batch(2, 300, 0), 0).unwrap();
    }
    let active_base = *log.segment_base_offsets().unwrap().last().unwrap();
    assert_eq!(log.recovery_point().unwrap(), active_base);
    let checkpoint =
        std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert_eq!(checkpoint, format!("0\n1\n{active_base}\n"));
    log.append_as_leader(&mut batch(2, 300, 0), 0).unwrap();
    assert_eq!(
        log.recovery_point().unwrap(),
        active_base,
        "no fsync per append by default"
    );
    log.flush().unwrap();
    assert_eq!(log.recovery_point().unwrap(), log.log_end_offset().unwrap());
}

#[test]
fn segment_ms_and_a_full_index_roll_the_active_segment() {
    let dir = common::tempdir();
    let clock = common::ManualClock::new(10_000);
    let config = LogConfig {
        segment_ms: Some(1_000),
        ..LogConfig::for_tests()
    };
    let log = storage::Log::open_with_clock(dir.path(), config, clock.clock()).unwrap();
    // Kafka's rule: the first batch's max timestamp dates the segment.
    log.append_as_leader(&mut batch(1, 10, 9_500), 0).unwrap();
    clock.set(10_400);
    log.append_as_leader(&mut batch(1, 10, 10_400), 0).unwrap();
    assert_eq!(log.segment_count().unwrap(), 1);
    clock.set(10_600);
    log.append_as_leader(&mut batch(1, 10, 10_600), 0).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), vec![0, 2]);

    let dir = common::tempdir();
    let config = LogConfig {
        index_entries_max: 4,
        index_interval_bytes: 1,
        ..LogConfig::for_tests()
    };
    let log = open(dir.path(), config);
    for _ in 0..12 {
        log.append_as_leader(&mut batch(1, 10, 0), 0).unwrap();
    }
    assert!(
        log.segment_count().unwrap() >= 3,
        "{:?}",
        log.segment_base_offsets().unwrap()
    );
    log.verify_consistency().unwrap();
}
