//! Regression tests of the log cleaner, one per bug a review found: truncation into a compacted
//! segment's tail gap, truncation below the cleaner checkpoint, empty cleaned segments and time
//! retention, an offline log that looks due, a corrupt batch met by the map pass, the index
//! bound when grouping, and record offset deltas past their batch.

mod common;

use bytes::Bytes;
use protocol::records::{
    Record, RecordBatchBuilder, RecordBatchHeader, RecordBatches, decode_batch_records,
};
use storage::{CleanerCrashPoint, CleanerOptions, CleanupPolicy, Log, LogConfig};

use common::{ManualClock, tempdir};

const START_MS: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 4096,
        index_interval_bytes: 256,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 60_000,
        ..LogConfig::for_tests()
    }
}

fn opts() -> CleanerOptions {
    CleanerOptions {
        dedupe_buffer_bytes: 1 << 20,
        ..CleanerOptions::default()
    }
}

fn batch(records: &[(&str, Option<&str>)], ts: i64) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new().base_timestamp(ts);
    for (i, (k, v)) in records.iter().enumerate() {
        b.push(Record {
            offset_delta: i as i32,
            timestamp_delta: 0,
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Vec::new(),
        })
        .unwrap();
    }
    b.build().unwrap().to_vec()
}

fn put(log: &Log, records: &[(&str, Option<&str>)], ts: i64) -> i64 {
    let mut b = batch(records, ts);
    let info = log.append_as_leader(&mut b, 0).unwrap();
    log.set_high_watermark(info.last_offset + 1).unwrap();
    info.first_offset
}

/// (offset, key, value) of every record served.
fn served(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let end = log.log_end_offset().unwrap();
    let mut offset = log.log_start_offset().unwrap();
    let mut out = Vec::new();
    while offset < end {
        let Some(range) = log.read(offset, 1 << 20, i64::MAX, true).unwrap().records else {
            break;
        };
        let bytes = range.read_to_bytes().unwrap();
        for h in RecordBatches::new(&bytes) {
            let h: RecordBatchHeader<'_> = h.unwrap();
            let copy = Bytes::copy_from_slice(h.as_bytes());
            for r in decode_batch_records(&h, &copy, 1 << 24).unwrap() {
                let r = r.unwrap();
                let at = h.base_offset() + i64::from(r.offset_delta);
                if at >= offset {
                    out.push((
                        at,
                        String::from_utf8(r.key.unwrap().to_vec()).unwrap(),
                        r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    ));
                }
            }
            offset = offset.max(h.last_offset() + 1);
        }
    }
    out
}

fn latest(log: &Log, key: &str) -> Option<(i64, Option<String>)> {
    served(log)
        .into_iter()
        .filter(|(_, k, _)| k == key)
        .map(|(o, _, v)| (o, v))
        .next_back()
}

/// Segments: (base, first batch base, last offset of last batch) read back through the log.
fn segment_ends(log: &Log) -> Vec<(i64, Option<i64>)> {
    let bases = log.segment_base_offsets().unwrap();
    let all = served(log);
    bases
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let next = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let last = all
                .iter()
                .filter(|(o, _, _)| *o >= b && *o < next)
                .map(|(o, _, _)| *o)
                .max();
            (b, last)
        })
        .collect()
}

/// Truncation to an offset inside the gap at the tail of a cleaned closed segment must move
/// the log end to that offset (it stayed at the next segment's base: replicas diverged).
#[test]
fn truncating_into_the_tail_gap_of_a_cleaned_segment_moves_the_log_end_there() {
    let dir = tempdir();
    let log = Log::open(dir.path(), config()).unwrap();
    // S1: a unique key first, then keys 0..12 that are all rewritten later.
    put(&log, &[("unique", Some("u"))], 1);
    let filler = "x".repeat(40);
    for n in 0..200 {
        let k = format!("k{}", n % 12);
        put(&log, &[(k.as_str(), Some(filler.as_str()))], 1);
    }
    log.clean(&opts()).unwrap().unwrap();
    let ends = segment_ends(&log);
    // First segment: base 0, last served offset L, next base N > L + 1.
    let (_, last0) = ends[0];
    let n1 = ends[1].0;
    let last0 = last0.unwrap();
    assert!(
        last0 + 1 < n1,
        "need a gap at the tail of the first segment"
    );
    let target = last0 + 1 + (n1 - last0 - 1) / 2;
    let end = log.truncate_to(target).unwrap();
    assert!(end <= target, "log end {end} after truncate_to({target})");
}

/// A truncation lowers the cleaner checkpoint (the bug: it did not, so data re-appended below it
/// was never mapped, and once a tombstone there passed its horizon the deleted key came back).
#[test]
fn a_truncation_below_the_cleaner_checkpoint_keeps_new_data_dirty() {
    let dir = tempdir();
    let clock = ManualClock::new(START_MS);
    let log = Log::open_with_clock(dir.path(), config(), clock.clock()).unwrap();
    let filler = "y".repeat(60);
    put(&log, &[("K", Some("old value"))], START_MS);
    for n in 0..150 {
        let k = format!("f{n}");
        put(&log, &[(k.as_str(), Some(filler.as_str()))], START_MS);
    }
    log.clean(&opts()).unwrap().unwrap();
    let checkpoint = log.cleaner_checkpoint().unwrap().unwrap();
    // Unclean-election style truncation below the checkpoint, then the new leader's data:
    let target = checkpoint / 2;
    log.truncate_to(target).unwrap();
    let t = put(&log, &[("K", None)], START_MS); // the delete of K, below the old checkpoint
    assert!(t < checkpoint);
    for n in 0..150 {
        let k = format!("g{n}");
        put(&log, &[(k.as_str(), Some(filler.as_str()))], START_MS);
    }
    assert_eq!(latest(&log, "K").unwrap().1, None, "K is deleted");
    log.clean(&opts()).unwrap().unwrap();
    clock.set(START_MS + 60_001);
    for n in 0..150 {
        let k = format!("h{n}");
        put(
            &log,
            &[(k.as_str(), Some(filler.as_str()))],
            START_MS + 60_001,
        );
    }
    log.clean(&opts()).unwrap().unwrap();
    let k = latest(&log, "K");
    assert!(
        k.as_ref().is_none_or(|(_, v)| v.is_none()),
        "deleted key K resurrected: {k:?}"
    );
}

/// An empty cleaned segment (no timestamp) goes with time retention (the bug: it stopped time
/// retention of every later segment).
#[test]
fn empty_cleaned_segments_do_not_block_time_retention() {
    let dir = tempdir();
    let clock = ManualClock::new(START_MS);
    let config = LogConfig {
        cleanup_policy: CleanupPolicy {
            compact: true,
            delete: true,
        },
        retention_ms: Some(3_600_000),
        ..config()
    };
    let log = Log::open_with_clock(dir.path(), config, clock.clock()).unwrap();
    let filler = "z".repeat(40);
    // Several segments of the same 12 keys: every earlier segment empties out.
    for n in 0..300 {
        let k = format!("k{}", n % 12);
        put(&log, &[(k.as_str(), Some(filler.as_str()))], START_MS);
    }
    log.clean(&opts()).unwrap().unwrap();
    // All of it is far older than retention.ms.
    clock.set(START_MS + 10 * 3_600_000);
    put(&log, &[("new", Some("n"))], START_MS + 10 * 3_600_000);
    let r = log.delete_retained_segments().unwrap();
    assert!(r.segments_deleted > 0, "nothing expired was deleted");
}

/// An offline log is not due (the bug: it stayed due while clean() did nothing, and the
/// broker's cleaner thread looped with no backoff).
#[test]
fn an_offline_log_is_not_due() {
    let dir = tempdir();
    let log = Log::open(dir.path(), config()).unwrap();
    let filler = "w".repeat(40);
    for n in 0..200 {
        let k = format!("k{}", n % 12);
        put(&log, &[(k.as_str(), Some(filler.as_str()))], 1);
    }
    let crash = CleanerOptions {
        crash_at: Some((0, CleanerCrashPoint::CleanedWritten)),
        ..opts()
    };
    assert!(log.clean(&crash).is_err());
    let summary = log.cleanable_summary().unwrap();
    let due = summary.is_some_and(|s| s.due(0.5));
    let cleaned = log.clean(&opts()).unwrap();
    assert!(
        !(due && cleaned.is_none()),
        "due but clean() does nothing: busy loop"
    );
}

/// The map pass checks CRCs (the bug: a corrupt later batch whose key flipped to another key's
/// made an earlier group drop that key's real latest value before the CRC failed the
/// cleaning).
#[test]
fn a_corrupt_batch_fails_the_cleaning_before_anything_is_swapped() {
    let dir = tempdir();
    let log = Log::open(dir.path(), config()).unwrap();
    let filler = "v".repeat(60);
    put(&log, &[("key-3", Some("THE-LATEST"))], 1);
    for n in 0..120 {
        let k = format!("f{n:04}");
        put(&log, &[(k.as_str(), Some(filler.as_str()))], 1);
    }
    let at = put(&log, &[("key-5", Some("later"))], 1);
    for n in 120..200 {
        let k = format!("f{n:04}");
        put(&log, &[(k.as_str(), Some(filler.as_str()))], 1);
    }
    // Flip "key-5" into "key-3" in the file of the segment holding `at` (bit rot).
    let bases = log.segment_base_offsets().unwrap();
    let base = *bases.iter().rfind(|&&b| b <= at).unwrap();
    assert!(base > 0, "corrupt batch must be in a later group");
    let path = dir.path().join(format!("{base:020}.log"));
    let mut bytes = std::fs::read(&path).unwrap();
    let pos = bytes.windows(5).position(|w| w == b"key-5").unwrap();
    bytes[pos + 4] = b'3';
    std::fs::write(&path, &bytes).unwrap();
    let valid = |log: &Log| {
        served(log)
            .into_iter()
            .any(|(_, k, v)| k == "key-3" && v.as_deref() == Some("THE-LATEST"))
    };
    assert!(valid(&log));
    assert!(
        log.clean(&opts()).is_err(),
        "the corrupt batch fails the cleaning"
    );
    let now = served(&log)
        .into_iter()
        .find(|(_, k, v)| k == "key-3" && v.as_deref() == Some("THE-LATEST"));
    assert!(
        now.is_some(),
        "a failed cleaning removed key-3's only valid value"
    );
}

/// Grouping respects the index bound (the bug: a cleaned segment's index exceeded
/// index_entries_max, so every load rejected it and rebuilt it by a full scan).
#[test]
fn grouping_keeps_a_cleaned_index_within_its_bound() {
    let dir = tempdir();
    let config = LogConfig {
        segment_bytes_max: 16 * 1024,
        index_interval_bytes: 1,
        index_entries_max: 8,
        ..config()
    };
    let log = Log::open(dir.path(), config).unwrap();
    let filler = "q".repeat(40);
    for n in 0..400 {
        let k = format!("u{n}");
        put(&log, &[(k.as_str(), Some(filler.as_str()))], 1);
    }
    let before = log.segment_count().unwrap();
    log.clean(&opts()).unwrap().unwrap();
    let after = log.segment_count().unwrap();
    let first = log.segment_base_offsets().unwrap()[0];
    let index = dir.path().join(format!("{first:020}.index"));
    let entries = std::fs::metadata(&index).unwrap().len() / 8;
    println!(
        "segments {before} -> {after}; first segment's index holds {entries} entries (bound 8)"
    );
    assert!(
        entries <= 8,
        "index has {entries} entries > index_entries_max"
    );
}

/// A record whose offset delta lies past its batch's lastOffsetDelta cannot make the cleaner
/// remove a later real value of its key (checked safe in review; kept as a guard).
#[test]
fn a_record_offset_delta_past_its_batch_removes_nothing_later() {
    let dir = tempdir();
    let log = Log::open(dir.path(), config()).unwrap();
    // One record with offset_delta 5, then patch lastOffsetDelta to 0 and fix the CRC.
    let mut b = RecordBatchBuilder::new().base_timestamp(1);
    b.push(Record {
        offset_delta: 5,
        timestamp_delta: 0,
        key: Some(Bytes::from_static(b"K")),
        value: Some(Bytes::from_static(b"bogus")),
        headers: Vec::new(),
    })
    .unwrap();
    let mut bad = b.build().unwrap().to_vec();
    bad[23..27].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    RecordBatchHeader::parse(&bad)
        .unwrap()
        .verify_crc()
        .unwrap();
    let info = log.append_as_leader(&mut bad, 0).unwrap();
    log.set_high_watermark(info.last_offset + 1).unwrap();
    put(&log, &[("K", Some("REAL"))], 1);
    let filler = "v".repeat(60);
    for n in 0..200 {
        let k = format!("f{n:04}");
        put(&log, &[(k.as_str(), Some(filler.as_str()))], 1);
    }
    log.clean(&opts()).unwrap();
    let has_real = served(&log)
        .into_iter()
        .any(|(_, k, v)| k == "K" && v.as_deref() == Some("REAL"));
    assert!(has_real, "the real latest value of K was removed");
}
