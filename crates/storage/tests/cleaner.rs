//! The log cleaner (compaction) against a model: keyed writes, tombstones, rolls, cleanings,
//! restarts and crashes injected at every step of a cleaning.
//!
//! After every cleaning: each key's latest record is readable with its value (a tombstone may be
//! gone only once `delete.retention.ms` passed since it was written); every record the log
//! serves is one that was written at that offset; nothing at or past the cleaner's new
//! checkpoint changed; offsets only grow; the indexes agree with the log.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use proptest::prelude::*;
use protocol::records::{
    Compression, Record, RecordBatchBuilder, RecordBatchHeader, RecordBatches, decode_batch_records,
};
use storage::{CleanerCrashPoint, CleanerOptions, CleanupPolicy, Log, LogConfig};

use common::{ManualClock, tempdir};

const START_MS: i64 = 1_700_000_000_000;
const DELETE_RETENTION_MS: u64 = 60_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 4096,
        index_interval_bytes: 256,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: DELETE_RETENTION_MS,
        ..LogConfig::for_tests()
    }
}

fn options(dedupe_buffer_bytes: usize) -> CleanerOptions {
    CleanerOptions {
        dedupe_buffer_bytes,
        ..CleanerOptions::default()
    }
}

/// One record as written: key, value (`None` = tombstone), write time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Written {
    key: u32,
    value: Option<Vec<u8>>,
    at_ms: i64,
}

/// What a reader sees of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

fn key_bytes(key: u32) -> Vec<u8> {
    format!("key-{key}").into_bytes()
}

/// A batch of keyed records (offset deltas 0..n), optionally idempotent and compressed.
fn keyed_batch(
    records: &[(u32, Option<Vec<u8>>)],
    timestamp: i64,
    producer: Option<(i64, i16, i32)>,
    compression: Compression,
) -> Vec<u8> {
    let mut builder = RecordBatchBuilder::new()
        .base_timestamp(timestamp)
        .compression(compression);
    if let Some((id, epoch, sequence)) = producer {
        builder = builder.producer(id, epoch, sequence);
    }
    for (i, (key, value)) in records.iter().enumerate() {
        builder
            .push(Record {
                offset_delta: i as i32,
                timestamp_delta: i as i64,
                key: Some(Bytes::from(key_bytes(*key))),
                value: value.clone().map(Bytes::from),
                headers: Vec::new(),
            })
            .unwrap();
    }
    builder.build().unwrap().to_vec()
}

/// Every record the log serves, in order, read through `Log::read` with small reads.
fn read_records(log: &Log) -> Vec<Seen> {
    let log_end = log.log_end_offset().unwrap();
    let mut offset = log.log_start_offset().unwrap();
    let mut seen = Vec::new();
    while offset < log_end {
        let data = log.read(offset, 700, i64::MAX, true).unwrap();
        let Some(range) = data.records else {
            panic!("read at {offset} below the log end {log_end} returned nothing");
        };
        let bytes = range.read_to_bytes().unwrap();
        let mut progressed = false;
        for batch in RecordBatches::new(&bytes) {
            let header: RecordBatchHeader<'_> = batch.unwrap();
            header.verify_crc().unwrap();
            if header.last_offset() < offset {
                continue;
            }
            let batch_bytes = Bytes::copy_from_slice(header.as_bytes());
            for record in decode_batch_records(&header, &batch_bytes, 1 << 24).unwrap() {
                let record = record.unwrap();
                let at = header.base_offset() + i64::from(record.offset_delta);
                assert!(
                    at <= header.last_offset(),
                    "record past its batch's last offset"
                );
                if at >= offset {
                    seen.push(Seen {
                        offset: at,
                        key: record.key.map(|k| k.to_vec()),
                        value: record.value.map(|v| v.to_vec()),
                        timestamp: header.base_timestamp() + record.timestamp_delta,
                    });
                }
            }
            offset = header.last_offset() + 1;
            progressed = true;
        }
        assert!(progressed, "read at {offset} made no progress");
    }
    seen
}

/// The model: every record ever written, by offset.
#[derive(Default)]
struct Model {
    written: BTreeMap<i64, Written>,
}

impl Model {
    fn append(&mut self, log: &Log, records: &[(u32, Option<Vec<u8>>)], now: i64) {
        let mut batch = keyed_batch(records, now, None, Compression::None);
        let info = log.append_as_leader(&mut batch, 0).unwrap();
        log.set_high_watermark(info.last_offset + 1).unwrap();
        for (i, (key, value)) in records.iter().enumerate() {
            self.written.insert(
                info.first_offset + i as i64,
                Written {
                    key: *key,
                    value: value.clone(),
                    at_ms: now + i as i64,
                },
            );
        }
    }

    /// Offset of the latest write of each key.
    fn latest(&self) -> BTreeMap<u32, i64> {
        let mut latest = BTreeMap::new();
        for (&offset, written) in &self.written {
            latest.insert(written.key, offset);
        }
        latest
    }

    /// Checks what the log serves against the model (see the module docs). `untouched_from`:
    /// records at or past it must all still be there.
    fn check(&self, log: &Log, now: i64, untouched_from: i64) {
        let seen = read_records(log);
        let mut previous = -1;
        for record in &seen {
            assert!(
                record.offset > previous,
                "offsets do not grow at {}",
                record.offset
            );
            previous = record.offset;
            let written = self
                .written
                .get(&record.offset)
                .unwrap_or_else(|| panic!("offset {} was never written", record.offset));
            assert_eq!(record.key.as_deref(), Some(&key_bytes(written.key)[..]));
            assert_eq!(record.value, written.value, "value at {}", record.offset);
            assert_eq!(
                record.timestamp, written.at_ms,
                "timestamp at {}",
                record.offset
            );
        }
        let served: BTreeMap<i64, &Seen> = seen.iter().map(|s| (s.offset, s)).collect();
        for (key, offset) in self.latest() {
            let written = &self.written[&offset];
            let present = served.contains_key(&offset);
            let may_be_gone =
                written.value.is_none() && now >= written.at_ms + DELETE_RETENTION_MS as i64;
            assert!(
                present || may_be_gone,
                "the latest record of key {key} (offset {offset}) is gone"
            );
        }
        for &offset in self.written.range(untouched_from..).map(|(o, _)| o) {
            assert!(
                served.contains_key(&offset),
                "record {offset} past the cleaner's end was touched"
            );
        }
        log.verify_consistency().unwrap();
    }
}

fn value(key: u32, n: usize) -> Option<Vec<u8>> {
    Some(format!("value-{key}-{n}-{}", "x".repeat(n % 40)).into_bytes())
}

/// Writes `batches` batches of 5 records over 12 keys, with a tombstone every 7th record.
fn fill(log: &Log, model: &mut Model, batches: usize, now: i64) {
    for b in 0..batches {
        let records: Vec<_> = (0..5)
            .map(|i| {
                let n = b * 5 + i;
                let key = (n * 7 % 12) as u32;
                (key, if n % 7 == 6 { None } else { value(key, n) })
            })
            .collect();
        model.append(log, &records, now);
    }
}

#[test]
fn cleaning_keeps_the_latest_record_of_every_key_and_shrinks_the_log() {
    let dir = tempdir();
    let clock = ManualClock::new(START_MS);
    let log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
    let mut model = Model::default();
    fill(&log, &mut model, 120, START_MS);
    let (size_before, segments_before) = (log.size_bytes().unwrap(), log.segment_count().unwrap());
    let outcome = log.clean(&options(1 << 20)).unwrap().expect("a cleaning");
    assert!(!outcome.interrupted);
    assert!(outcome.stats.records_kept < outcome.stats.records_read);
    assert!(
        log.size_bytes().unwrap() < size_before / 2,
        "the log did not shrink"
    );
    // Groups are made by source size (as Kafka's): the second cleaning merges the small
    // segments the first one left.
    model.check(&log, START_MS, outcome.end_offset);
    fill(&log, &mut model, 10, START_MS);
    let outcome = log
        .clean(&options(1 << 20))
        .unwrap()
        .expect("a second cleaning");
    assert!(
        log.segment_count().unwrap() < segments_before / 2,
        "small cleaned segments are grouped"
    );
    assert_eq!(log.cleaner_checkpoint().unwrap(), Some(outcome.end_offset));
    model.check(&log, START_MS, outcome.end_offset);
    // Every key's latest record is in the clean part or the active segment, each once.
    let keys: Vec<_> = read_records(&log)
        .into_iter()
        .filter(|s| s.offset < outcome.end_offset)
        .map(|s| s.key)
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        keys.len(),
        unique.len(),
        "a key appears twice in the cleaned part"
    );
    // Reads at any offset, gaps included, return the first batch at or after it.
    for offset in log.log_start_offset().unwrap()..log.log_end_offset().unwrap() {
        let range = log
            .read(offset, 1, i64::MAX, true)
            .unwrap()
            .records
            .unwrap();
        let bytes = range.read_to_bytes().unwrap();
        let header = RecordBatchHeader::parse(&bytes).unwrap();
        assert!(
            header.last_offset() >= offset,
            "read at {offset} returned a batch below it"
        );
    }
    // A reopen (clean and crashed) serves the same.
    log.close().unwrap();
    let log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
    model.check(&log, START_MS, outcome.end_offset);
    drop(log);
    let log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
    model.check(&log, START_MS, outcome.end_offset);
}

#[test]
fn tombstones_stay_for_delete_retention_after_the_first_cleaning() {
    let dir = tempdir();
    let clock = ManualClock::new(START_MS);
    let log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
    let mut model = Model::default();
    model.append(&log, &[(99, value(99, 0))], START_MS);
    model.append(&log, &[(99, None)], START_MS);
    let tombstone = *model.latest().get(&99).unwrap();
    fill(&log, &mut model, 40, START_MS);
    let later = START_MS + 10_000;
    clock.set(later);
    let first = log.clean(&options(1 << 20)).unwrap().expect("a cleaning");
    assert!(first.end_offset > tombstone);
    let seen = |log: &Log| read_records(log).iter().any(|s| s.offset == tombstone);
    assert!(seen(&log), "the tombstone left at the first cleaning");
    // Not yet past the horizon (set at this cleaning: now + delete.retention.ms).
    clock.set(later + DELETE_RETENTION_MS as i64 - 1);
    fill(&log, &mut model, 30, later);
    log.clean(&options(1 << 20)).unwrap().expect("a cleaning");
    assert!(seen(&log), "the tombstone left before delete.retention.ms");
    let checkpoint = log.cleaner_checkpoint().unwrap().unwrap();
    model.check(&log, later + DELETE_RETENTION_MS as i64 - 1, checkpoint);
    // Past it: the next cleaning removes it even with nothing new to clean.
    clock.set(later + DELETE_RETENTION_MS as i64);
    let summary = log.cleanable_summary().unwrap().expect("cleanable");
    assert!(
        summary.due(0.99),
        "a passed delete horizon makes the log due"
    );
    let last = log.clean(&options(1 << 20)).unwrap().expect("a cleaning");
    assert!(last.stats.tombstones_removed >= 1);
    assert!(!seen(&log), "the tombstone outlived delete.retention.ms");
    model.check(&log, later + DELETE_RETENTION_MS as i64, last.end_offset);
}

#[test]
fn an_idempotent_producer_keeps_its_last_batch_and_its_sequence() {
    let dir = tempdir();
    let log = Log::open(dir.path(), config()).unwrap();
    let mut batch = keyed_batch(
        &[(1, value(1, 0))],
        START_MS,
        Some((7, 0, 0)),
        Compression::None,
    );
    log.append_as_leader(&mut batch, 0).unwrap();
    for n in 0..80 {
        // Another writer supersedes key 1 and fills segments.
        let mut batch = keyed_batch(
            &[(1, value(1, n)), (2, value(2, n))],
            START_MS,
            None,
            Compression::None,
        );
        log.append_as_leader(&mut batch, 0).unwrap();
    }
    log.set_high_watermark(i64::MAX).unwrap();
    log.clean(&options(1 << 20)).unwrap().expect("a cleaning");
    let first = log
        .read(0, 1 << 20, i64::MAX, true)
        .unwrap()
        .records
        .unwrap();
    let bytes = first.read_to_bytes().unwrap();
    let header = RecordBatchHeader::parse(&bytes).unwrap();
    assert_eq!((header.producer_id(), header.base_offset()), (7, 0));
    assert_eq!(
        header.records_count(),
        0,
        "the producer's batch is kept, empty"
    );
    drop(log);
    let log = Log::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.producer_state(7)
            .unwrap()
            .unwrap()
            .batches
            .back()
            .unwrap()
            .last_sequence,
        0
    );
    let mut retry = keyed_batch(
        &[(1, value(1, 0))],
        START_MS,
        Some((7, 0, 0)),
        Compression::None,
    );
    assert!(log.append_as_leader(&mut retry, 0).unwrap().duplicate);
    let mut next = keyed_batch(
        &[(3, value(3, 0))],
        START_MS,
        Some((7, 0, 1)),
        Compression::None,
    );
    assert!(!log.append_as_leader(&mut next, 0).unwrap().duplicate);
}

#[test]
fn compressed_batches_are_rewritten_with_their_codec() {
    let dir = tempdir();
    let log = Log::open(dir.path(), config()).unwrap();
    let codecs = [
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
    ];
    for n in 0..60 {
        let records: Vec<_> = (0..4)
            .map(|i| ((n * 4 + i) % 10, value(i, n as usize)))
            .collect();
        let mut batch = keyed_batch(&records, START_MS, None, codecs[n as usize % 4]);
        log.append_as_leader(&mut batch, 0).unwrap();
    }
    log.set_high_watermark(i64::MAX).unwrap();
    let outcome = log.clean(&options(1 << 20)).unwrap().unwrap();
    let mut offset = 0;
    let mut rewritten = 0;
    while offset < outcome.end_offset {
        let range = log
            .read(offset, 1, i64::MAX, true)
            .unwrap()
            .records
            .unwrap();
        let bytes = range.read_to_bytes().unwrap();
        let header = RecordBatchHeader::parse(&bytes).unwrap();
        let original = codecs[(header.base_offset() / 4) as usize % 4];
        assert_eq!(header.compression(), Some(original));
        rewritten += usize::from(header.records_count() < 4);
        offset = header.last_offset() + 1;
    }
    assert!(rewritten > 0, "no batch was rewritten");
    let keys: std::collections::BTreeSet<_> =
        read_records(&log).into_iter().map(|s| s.key).collect();
    assert_eq!(keys.len(), 10);
}

#[test]
fn a_small_dedupe_buffer_cleans_in_several_passes() {
    let dir = tempdir();
    let clock = ManualClock::new(START_MS);
    let log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
    let mut model = Model::default();
    for b in 0..100u32 {
        let records: Vec<_> = (0..5)
            .map(|i| ((b * 5 + i) % 40, value(i, b as usize)))
            .collect();
        model.append(&log, &records, START_MS);
    }
    // 24 bytes per key at 90%: room for 9 keys, under two batches.
    let small = options(24 * 10);
    let mut passes = 0;
    let mut last_end = 0;
    while let Some(outcome) = log.clean(&small).unwrap() {
        passes += 1;
        assert!(outcome.end_offset > last_end, "a pass made no progress");
        last_end = outcome.end_offset;
        model.check(&log, START_MS, outcome.end_offset);
        assert!(passes < 200, "cleaning does not converge");
    }
    assert!(passes > 3, "expected several passes, got {passes}");
}

#[test]
fn retention_leaves_a_compact_only_log_alone_and_applies_with_compact_delete() {
    let dir = tempdir();
    let clock = ManualClock::new(START_MS);
    let compact_only = LogConfig {
        retention_ms: Some(1_000),
        ..config()
    };
    let log = Log::open_with_clock(dir.path(), compact_only.clone(), clock.clock()).unwrap();
    let mut model = Model::default();
    fill(&log, &mut model, 40, START_MS);
    clock.set(START_MS + 10_000);
    assert_eq!(log.delete_retained_segments().unwrap().segments_deleted, 0);
    log.set_config(LogConfig {
        cleanup_policy: CleanupPolicy::parse("compact, delete").unwrap(),
        ..compact_only
    })
    .unwrap();
    assert!(log.delete_retained_segments().unwrap().segments_deleted > 0);
    assert!(CleanupPolicy::parse("compact,bogus").is_err());
}

#[test]
fn a_follower_accepts_the_gaps_of_a_compacted_leader() {
    let leader_dir = tempdir();
    let follower_dir = tempdir();
    let leader = Log::open(leader_dir.path(), config()).unwrap();
    let mut model = Model::default();
    fill(&leader, &mut model, 60, START_MS);
    leader.clean(&options(1 << 20)).unwrap().unwrap();
    let follower = Log::open(follower_dir.path(), config()).unwrap();
    let end = leader.log_end_offset().unwrap();
    let mut offset = 0;
    while offset < end {
        let range = leader
            .read(offset, 2000, i64::MAX, true)
            .unwrap()
            .records
            .unwrap();
        let bytes = range.read_to_bytes().unwrap();
        follower.append_as_follower(&bytes).unwrap();
        offset = follower.log_end_offset().unwrap();
    }
    assert_eq!(read_records(&follower), read_records(&leader));
    follower.verify_consistency().unwrap();
    // Offsets below the follower's end are refused.
    let range = leader.read(0, 1, i64::MAX, true).unwrap().records.unwrap();
    assert!(
        follower
            .append_as_follower(&range.read_to_bytes().unwrap())
            .is_err()
    );
}

/// Copies a partition directory (the crash tests start every case from the same files).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_crash_at_any_step_of_a_cleaning_loses_nothing() {
    let template = tempdir();
    let clock = ManualClock::new(START_MS);
    let mut model = Model::default();
    {
        let log = Log::open_with_clock(template.path(), config(), clock.clock()).unwrap();
        fill(&log, &mut model, 150, START_MS);
        log.close().unwrap();
    }
    let steps = [
        CleanerCrashPoint::CleanedWritten,
        CleanerCrashPoint::SwapCommitted,
        CleanerCrashPoint::SourcesRemoved,
        CleanerCrashPoint::SwapRenamed,
        CleanerCrashPoint::BeforeCheckpoint,
    ];
    let mut cases = 0;
    for group in [0usize, 1, 3] {
        for step in steps {
            let work = tempdir();
            let dir = work.path().join("p-0");
            copy_dir(template.path(), &dir);
            let log = Log::open_with_clock(&dir, config(), clock.clock()).unwrap();
            log.set_high_watermark(i64::MAX).unwrap();
            let crashing = CleanerOptions {
                crash_at: Some((group, step)),
                ..options(1 << 20)
            };
            let error = log.clean(&crashing).expect_err("the injected crash");
            assert!(error.to_string().contains("crash injected"), "{error}");
            drop(log); // no close: a crash as far as the files are concerned
            let names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            let log = Log::open_with_clock(&dir, config(), clock.clock()).unwrap();
            model.check(&log, START_MS, log.log_end_offset().unwrap());
            let leftovers: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
                .collect();
            assert!(
                leftovers.is_empty(),
                "{group} {step:?}: {leftovers:?} left after {names:?}"
            );
            // The next cleaning finishes the job.
            log.set_high_watermark(i64::MAX).unwrap();
            let outcome = log.clean(&options(1 << 20)).unwrap();
            let end = outcome.map_or(0, |o| o.end_offset);
            model.check(&log, START_MS, end);
            cases += 1;
        }
    }
    assert_eq!(cases, 15);
}

#[derive(Debug, Clone)]
enum Op {
    Append { keys: Vec<(u8, bool)> },
    Advance { ms: u32 },
    Clean { buffer_keys: u8 },
    CrashDuringClean { group: u8, step: u8 },
    Restart { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec((0u8..16, proptest::bool::weighted(0.25)), 1..8)
            .prop_map(|keys| Op::Append { keys }),
        2 => (0u32..90_000).prop_map(|ms| Op::Advance { ms }),
        4 => (4u8..60).prop_map(|buffer_keys| Op::Clean { buffer_keys }),
        1 => (0u8..3, 0u8..5).prop_map(|(group, step)| Op::CrashDuringClean { group, step }),
        1 => any::<bool>().prop_map(|clean| Op::Restart { clean }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn cleaning_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempdir();
        let clock = ManualClock::new(START_MS);
        let mut now = START_MS;
        let mut log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
        let mut model = Model::default();
        let mut last_end = 0;
        let mut n = 0usize;
        // Records at or past this offset were never in a cleaning's reach.
        let mut untouched = 0;
        for op in ops {
            match op {
                Op::Append { keys } => {
                    let records: Vec<_> = keys
                        .iter()
                        .map(|&(key, tombstone)| {
                            n += 1;
                            let key = u32::from(key);
                            (key, if tombstone { None } else { value(key, n) })
                        })
                        .collect();
                    model.append(&log, &records, now);
                }
                Op::Advance { ms } => {
                    now += i64::from(ms);
                    clock.set(now);
                }
                Op::Clean { buffer_keys } => {
                    let options = options(24 * (usize::from(buffer_keys) * 10 / 9 + 1));
                    match log.clean(&options) {
                        Ok(Some(outcome)) => {
                            untouched = untouched.max(outcome.end_offset);
                            model.check(&log, now, untouched);
                        }
                        Ok(None) => model.check(&log, now, untouched),
                        // A buffer smaller than one batch's records is refused, nothing changed.
                        Err(storage::StorageError::InvalidConfig(_)) => model.check(&log, now, untouched),
                        Err(error) => panic!("cleaning failed: {error}"),
                    }
                }
                Op::CrashDuringClean { group, step } => {
                    let step = [
                        CleanerCrashPoint::CleanedWritten,
                        CleanerCrashPoint::SwapCommitted,
                        CleanerCrashPoint::SourcesRemoved,
                        CleanerCrashPoint::SwapRenamed,
                        CleanerCrashPoint::BeforeCheckpoint,
                    ][usize::from(step)];
                    let crashing = CleanerOptions {
                        crash_at: Some((usize::from(group), step)),
                        ..options(1 << 20)
                    };
                    let _ = log.clean(&crashing);
                    untouched = untouched.max(log.log_end_offset().unwrap_or(0));
                    drop(log);
                    log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
                    model.check(&log, now, untouched);
                }
                Op::Restart { clean } => {
                    if clean {
                        log.close().unwrap();
                    }
                    drop(log);
                    log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
                    model.check(&log, now, untouched);
                }
            }
            let end = log.log_end_offset().unwrap();
            prop_assert!(end >= last_end, "the log end went back from {} to {}", last_end, end);
            last_end = end;
        }
    }
}
