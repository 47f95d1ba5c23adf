//! Behaviour tests of one partition log: offsets, reads, rolls, restarts, timestamps, retention,
//! DeleteRecords, truncation, the leader-epoch cache (KIP-101), producer idempotence (KIP-98)
//! and the fsync group-commit mode. Each test builds real v2 batches and goes through `Log`.

mod common;

use std::sync::Arc;

use common::{ManualClock, batch, content, open, producer_batch, read_all};
use storage::{FlushPolicy, Log, LogConfig, StorageError};

fn small() -> LogConfig {
    LogConfig::for_tests()
}

#[test]
fn append_assigns_offsets_and_reads_return_whole_batches() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    let mut first = batch(3, 10, 1_000);
    let mut second = batch(2, 10, 2_000);
    let a = log.append_as_leader(&mut first, 0).unwrap();
    let b = log.append_as_leader(&mut second, 0).unwrap();
    assert_eq!((a.first_offset, a.last_offset), (0, 2));
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset().unwrap(), 5);
    // A fetch inside a batch starts at that batch (clients skip the earlier records).
    let data = log.read(4, 1 << 20, i64::MAX, true).unwrap();
    let bytes = data.records.unwrap().read_to_bytes().unwrap();
    assert_eq!(&bytes[..], &second[..]);
    let all = read_all(&log, 0, 1 << 20);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].2, first);
    // At the log end: nothing; past it or below the start: OffsetOutOfRange.
    assert!(
        log.read(5, 1 << 20, i64::MAX, true)
            .unwrap()
            .records
            .is_none()
    );
    assert!(matches!(
        log.read(6, 1 << 20, i64::MAX, true),
        Err(StorageError::OffsetOutOfRange {
            requested: 6,
            log_start: 0,
            log_end: 5
        })
    ));
    // max_bytes smaller than a batch still returns one batch when asked to.
    let one = log.read(0, 1, i64::MAX, true).unwrap().records.unwrap();
    assert_eq!(one.len(), first.len() as u64);
    assert!(log.read(0, 1, i64::MAX, false).unwrap().records.is_none());
    // A read bounded by the high watermark excludes batches at or above it.
    log.set_high_watermark(3).unwrap();
    let hw = log
        .read(0, 1 << 20, log.high_watermark().unwrap(), true)
        .unwrap();
    assert_eq!(hw.records.unwrap().len(), first.len() as u64);
}

#[test]
fn rejects_malformed_and_corrupt_batches() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    let mut flipped = batch(2, 10, 0);
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(matches!(
        log.append_as_leader(&mut flipped, 0),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert!(matches!(
        log.append_as_leader(&mut [0u8; 10], 0),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert_eq!(log.log_end_offset().unwrap(), 0);
    let mut big = batch(40, 1000, 0);
    assert!(matches!(
        log.append_as_leader(&mut big, 0),
        Err(StorageError::BatchTooLarge { .. })
    ));
}

#[test]
fn rolls_segments_and_restarts_cleanly_and_after_a_crash() {
    let dir = common::tempdir();
    let mut written = Vec::new();
    {
        let log = open(dir.path(), small());
        for i in 0..150 {
            let mut b = batch(4, 100, 1_000 + i);
            log.append_as_leader(&mut b, 1).unwrap();
            written.push(b);
        }
        assert!(log.segment_count().unwrap() > 3);
        log.verify_consistency().unwrap();
        log.close().unwrap();
        assert!(matches!(
            log.log_end_offset(),
            Err(StorageError::Closed { .. })
        ));
    }
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
    let log = open(dir.path(), small());
    assert!(!dir.path().join(".kafka_cleanshutdown").exists());
    assert_eq!(log.log_end_offset().unwrap(), 600);
    log.verify_consistency().unwrap();
    let all = read_all(&log, 0, 3000);
    assert_eq!(all.len(), 150);
    for (got, want) in all.iter().zip(&written) {
        assert_eq!(&got.2, want);
    }
    let mut more = batch(1, 10, 5_000);
    assert_eq!(
        log.append_as_leader(&mut more, 1).unwrap().first_offset,
        600
    );
    drop(log); // crash: no clean shutdown
    let log = open(dir.path(), small());
    assert_eq!(log.log_end_offset().unwrap(), 601);
    log.verify_consistency().unwrap();
    assert_eq!(read_all(&log, 0, 3000).len(), 151);
}

#[test]
fn corrupt_or_missing_indexes_are_rebuilt_without_losing_data() {
    let dir = common::tempdir();
    {
        let log = open(dir.path(), small());
        for i in 0..40 {
            log.append_as_leader(&mut batch(4, 100, i), 0).unwrap();
        }
        log.close().unwrap();
    }
    for (damaged, entry) in std::fs::read_dir(dir.path()).unwrap().enumerate() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".index") && damaged % 2 == 0 {
            std::fs::write(&path, [0xffu8; 16]).unwrap();
        } else if name.ends_with(".timeindex") && damaged % 3 == 0 {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let log = open(dir.path(), small());
    assert_eq!(log.log_end_offset().unwrap(), 160);
    log.verify_consistency().unwrap();
    assert_eq!(read_all(&log, 0, 2000).len(), 40);
}

#[test]
fn offset_for_timestamp_uses_the_time_index() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    for i in 0..50i64 {
        log.append_as_leader(&mut batch(2, 200, 10_000 + i * 100), 0)
            .unwrap();
    }
    // Batch i holds timestamps 10_000 + 100 i and +1; its max is 10_001 + 100 i.
    let found = log.offset_for_timestamp(12_050).unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp), (42, 12_101));
    let first = log.offset_for_timestamp(0).unwrap().unwrap();
    assert_eq!(first.offset, 0);
    assert!(log.offset_for_timestamp(20_000).unwrap().is_none());
    let max = log.max_timestamp_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (98, 14_901));
}

#[test]
fn retention_by_size_and_time_deletes_whole_closed_segments() {
    let dir = common::tempdir();
    let clock = ManualClock::new(1_000_000);
    let config = LogConfig {
        retention_bytes: Some(40_000),
        retention_ms: Some(60_000),
        ..small()
    };
    let log = Log::open_with_clock(dir.path(), config, clock.clock()).unwrap();
    for i in 0..200 {
        log.append_as_leader(&mut batch(2, 400, 1_000_000 + i), 0)
            .unwrap();
    }
    let before = log.size_bytes().unwrap();
    let outcome = log.delete_retained_segments().unwrap();
    assert!(outcome.segments_deleted > 0);
    assert!(log.size_bytes().unwrap() <= 40_000 + 16 * 1024);
    assert_eq!(before - outcome.bytes_deleted, log.size_bytes().unwrap());
    let start = log.log_start_offset().unwrap();
    assert_eq!(start, outcome.log_start_offset);
    assert_eq!(log.segment_base_offsets().unwrap()[0], start);
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log, start, 5000).first().unwrap().0, start);
    // Time: everything but the active segment expires.
    clock.set(1_000_000 + 200 + 60_001);
    log.delete_retained_segments().unwrap();
    assert_eq!(log.segment_count().unwrap(), 1);
    log.verify_consistency().unwrap();
    drop(log);
    let log = open(dir.path(), small());
    assert_eq!(log.segment_count().unwrap(), 1);
    assert_eq!(log.log_end_offset().unwrap(), 400);
}

#[test]
fn delete_records_moves_the_log_start_offset() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    for i in 0..100 {
        log.append_as_leader(&mut batch(2, 300, i), 0).unwrap();
    }
    assert!(log.delete_records(50).is_err(), "above the high watermark");
    log.set_high_watermark(200).unwrap();
    assert_eq!(log.delete_records(151).unwrap(), 151);
    // The batch holding 151 starts at 150: a fetch at 151 still returns it.
    let data = log.read(151, 100, i64::MAX, true).unwrap();
    assert_eq!(data.log_start_offset, 151);
    assert!(log.read(150, 100, i64::MAX, true).is_err());
    let outcome = log.delete_retained_segments().unwrap();
    assert!(outcome.segments_deleted > 0);
    assert_eq!(log.log_start_offset().unwrap(), 151);
    drop(log);
    let log = open(dir.path(), small());
    assert_eq!(log.log_start_offset().unwrap(), 151);
}

#[test]
fn truncation_and_the_leader_epoch_cache_follow_kip_101() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    for epoch in [1, 1, 3, 3, 3, 5] {
        for _ in 0..10 {
            log.append_as_leader(&mut batch(2, 200, 0), epoch).unwrap();
        }
    }
    assert!(matches!(
        log.append_as_leader(&mut batch(1, 1, 0), 4),
        Err(StorageError::StaleLeaderEpoch { .. })
    ));
    assert_eq!(log.end_offset_for_epoch(2).unwrap(), (1, 40));
    assert_eq!(log.end_offset_for_epoch(4).unwrap(), (3, 100));
    assert_eq!(log.end_offset_for_epoch(5).unwrap(), (5, 120));
    // Older than the first epoch: it ends where the first one starts (Kafka's answer).
    assert_eq!(log.end_offset_for_epoch(0).unwrap(), (0, 0));
    assert_eq!(log.end_offset_for_epoch(-1).unwrap(), (-1, -1));
    log.set_high_watermark(120).unwrap();
    // Truncating inside a batch removes the whole batch.
    assert_eq!(log.truncate_to(61).unwrap(), 60);
    assert_eq!(log.high_watermark().unwrap(), 60);
    assert_eq!(log.latest_epoch().unwrap(), Some(3));
    log.verify_consistency().unwrap();
    let info = log.append_as_leader(&mut batch(2, 200, 0), 6).unwrap();
    assert_eq!(info.first_offset, 60);
    assert_eq!(log.end_offset_for_epoch(3).unwrap(), (3, 60));
    drop(log);
    let log = open(dir.path(), small());
    assert_eq!(log.log_end_offset().unwrap(), 62);
    assert_eq!(log.end_offset_for_epoch(5).unwrap(), (3, 60));
    log.truncate_fully_and_start_at(1000).unwrap();
    assert_eq!(
        (
            log.log_start_offset().unwrap(),
            log.log_end_offset().unwrap()
        ),
        (1000, 1000)
    );
    assert_eq!(
        log.append_as_leader(&mut batch(1, 1, 0), 7)
            .unwrap()
            .first_offset,
        1000
    );
}

#[test]
fn follower_appends_keep_offsets_and_epochs() {
    let dir = common::tempdir();
    let leader = open(&dir.path().join("leader"), small());
    let follower = open(&dir.path().join("follower"), small());
    for epoch in [2, 2, 4] {
        leader
            .append_as_leader(&mut batch(3, 50, 0), epoch)
            .unwrap();
    }
    let fetched = leader
        .read(0, 1 << 20, i64::MAX, true)
        .unwrap()
        .records
        .unwrap();
    let bytes = fetched.read_to_bytes().unwrap();
    follower.append_as_follower(&bytes).unwrap();
    assert_eq!(follower.log_end_offset().unwrap(), 9);
    assert_eq!(
        follower.leader_epochs().unwrap(),
        leader.leader_epochs().unwrap()
    );
    assert!(matches!(
        follower.append_as_follower(&bytes),
        Err(StorageError::OffsetsNotIncreasing { .. })
    ));
    assert_eq!(
        read_all(&follower, 0, 1 << 20),
        read_all(&leader, 0, 1 << 20)
    );
}

#[test]
fn idempotent_producers_are_deduplicated_across_restarts() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    let mut b0 = producer_batch(5, 7, 0, 0);
    let mut b1 = producer_batch(5, 7, 0, 5);
    assert_eq!(log.append_as_leader(&mut b0, 0).unwrap().first_offset, 0);
    assert_eq!(log.append_as_leader(&mut b1, 0).unwrap().first_offset, 5);
    let retry = log
        .append_as_leader(&mut producer_batch(5, 7, 0, 0), 0)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.first_offset, retry.last_offset), (0, 4));
    assert!(matches!(
        log.append_as_leader(&mut producer_batch(1, 7, 0, 20), 0),
        Err(StorageError::OutOfOrderSequence { .. })
    ));
    // A new epoch must restart at sequence 0; then the old epoch is fenced.
    log.append_as_leader(&mut producer_batch(1, 7, 1, 0), 0)
        .unwrap();
    assert!(matches!(
        log.append_as_leader(&mut producer_batch(1, 7, 0, 10), 0),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log.log_end_offset().unwrap(), 11);
    drop(log); // crash: state rebuilt from batch headers
    let log = open(dir.path(), small());
    assert!(
        log.append_as_leader(&mut producer_batch(1, 7, 1, 0), 0)
            .unwrap()
            .duplicate
    );
    for i in 0..100 {
        log.append_as_leader(&mut producer_batch(1, 8, 0, i), 0)
            .unwrap();
        log.append_as_leader(&mut batch(1, 500, 0), 0).unwrap();
    }
    log.close().unwrap();
    let log = open(dir.path(), small());
    assert_eq!(
        log.producer_state(8)
            .unwrap()
            .unwrap()
            .batches
            .back()
            .unwrap()
            .last_sequence,
        99
    );
    assert!(
        log.append_as_leader(&mut producer_batch(1, 8, 0, 99), 0)
            .unwrap()
            .duplicate
    );
    assert_eq!(
        log.append_as_leader(&mut producer_batch(1, 8, 0, 100), 0)
            .unwrap()
            .first_offset,
        211
    );
}

#[test]
fn one_request_may_carry_several_batches_of_one_producer() {
    let dir = common::tempdir();
    let log = open(dir.path(), small());
    let mut request = producer_batch(2, 5, 0, 0);
    request.extend(producer_batch(2, 5, 0, 2));
    let info = log.append_as_leader(&mut request, 0).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 3));
    let mut gap = producer_batch(1, 5, 0, 4);
    gap.extend(producer_batch(1, 5, 0, 9));
    assert!(matches!(
        log.append_as_leader(&mut gap, 0),
        Err(StorageError::OutOfOrderSequence {
            first_sequence: 9,
            ..
        })
    ));
    assert_eq!(
        log.log_end_offset().unwrap(),
        4,
        "a refused request writes nothing"
    );
    assert_eq!(log.producer_state(5).unwrap().unwrap().batches.len(), 2);
}

#[test]
fn fsync_mode_group_commits_concurrent_appends() {
    let dir = common::tempdir();
    let config = LogConfig {
        flush_policy: FlushPolicy::FsyncBeforeAck,
        ..small()
    };
    let log = Arc::new(open(dir.path(), config));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let info = log.append_as_leader(&mut batch(2, 100, 0), 0).unwrap();
                    assert!(log.recovery_point().unwrap() > info.last_offset);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.log_end_offset().unwrap(), 400);
    assert_eq!(log.recovery_point().unwrap(), 400);
    let all = read_all(&log, 0, 1 << 20);
    assert_eq!(all.len(), 200);
    assert!(
        all.iter()
            .all(|(_, _, b)| content(b) == content(&batch(2, 100, 0)))
    );
}

#[test]
fn flush_messages_and_flush_ms_advance_the_recovery_point() {
    let dir = common::tempdir();
    let clock = ManualClock::new(0);
    let config = LogConfig {
        flush_policy: FlushPolicy::PageCache {
            flush_messages: Some(10),
            flush_ms: Some(1000),
        },
        ..small()
    };
    let log = Log::open_with_clock(dir.path(), config, clock.clock()).unwrap();
    log.append_as_leader(&mut batch(4, 10, 0), 0).unwrap();
    assert_eq!(log.recovery_point().unwrap(), 0);
    log.append_as_leader(&mut batch(6, 10, 0), 0).unwrap();
    assert_eq!(log.recovery_point().unwrap(), 10);
    log.append_as_leader(&mut batch(1, 10, 0), 0).unwrap();
    assert!(!log.flush_if_due().unwrap());
    clock.set(1000);
    assert!(log.flush_if_due().unwrap());
    assert_eq!(log.recovery_point().unwrap(), 11);
}
