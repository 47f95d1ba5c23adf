//! The log cleaner on transactional logs, on real files (Kafka's `LogCleaner` with
//! `CleanedTransactionMetadata`): aborted records removed at once and never shadowing a committed
//! value, markers kept while their transaction has batches and then until their delete horizon,
//! committed records compacted, open transactions untouched, crashes at every swap step, and a
//! removed marker never reopening its transaction in a replay. The property test is
//! `txn_cleaner_model.rs`.

mod common;

use common::txn::{Harness, START_MS, batches, compacted, compaction_rounds, keyed, latest};
use common::{consume_committed, tempdir};
use storage::{CleanerCrashPoint, CleanerOptions, Log, LogConfig};

#[test]
fn the_cleaner_removes_aborted_data_and_empty_markers_and_compacts_committed_data() {
    // Kafka's LogCleaner with transactions: aborted records go at once (and never shadow a
    // committed value of their key); a marker goes once its transaction is empty and its
    // delete horizon passed; committed records are compacted like any other; an open
    // transaction is never touched.
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), compacted());
    let options = CleanerOptions::default();
    keyed(&mut h, 1, "k", "committed", true);
    h.end(1, true);
    compaction_rounds(&mut h, 0..30);
    let open_first = keyed(&mut h, 5, "open", "later", true);
    compaction_rounds(&mut h, 30..32);
    h.check();
    let aborted_before = h.log().aborted_transactions(0, i64::MAX).unwrap().len();
    let outcome = h.log().clean(&options).unwrap().expect("a cleaning");
    assert!(outcome.stats.aborted_records_removed >= 30, "{outcome:?}");
    assert!(
        outcome.end_offset <= open_first,
        "cleaned past the open transaction"
    );
    // The consumer view (below the LSO) is unchanged but for compaction: each key's latest
    // committed value.
    let expected = latest(
        h.visible
            .range(..open_first)
            .map(|(_, r)| r.clone())
            .collect(),
    );
    assert_eq!(latest(consume_committed(h.log(), 0, 400)), expected);
    assert_eq!(
        expected.get(&Some(b"k".to_vec())),
        Some(&Some(b"committed".to_vec()))
    );
    // Aborted data below the cleaning's end is gone (read_uncommitted too); batches kept empty
    // keep their producer's sequence.
    for (base, control, txn, count) in batches(h.log()) {
        let header_producer = common::read_all(h.log(), base, 1)[0].2.clone();
        let header = protocol::records::RecordBatchHeader::parse(&header_producer).unwrap();
        if base < outcome.end_offset && txn && !control && header.producer_id() == 2 {
            assert_eq!(count, 0, "aborted data at {base} survived");
        }
    }
    // ABORT markers stayed while this cleaning saw their data, and kept their entries.
    let after_first = h.log().aborted_transactions(0, i64::MAX).unwrap().len();
    assert_eq!(after_first, aborted_before);
    h.log().verify_consistency().unwrap();
    // The open transaction is intact and holds the LSO; committed, it is read.
    assert_eq!(h.log().last_stable_offset().unwrap(), open_first);
    h.end(5, true);
    let mut expected = latest(h.visible.values().cloned().collect());
    assert_eq!(latest(consume_committed(h.log(), 0, 400)), expected);
    // The next cleaning sees the old aborted transactions empty: their entries leave the
    // index and their markers get a delete horizon, but stay until it passes.
    compaction_rounds(&mut h, 32..40);
    let second = h.log().clean(&options).unwrap().expect("a second cleaning");
    assert!(h.log().aborted_transactions(0, i64::MAX).unwrap().len() < after_first);
    // Markers below the second cleaning's end, and which of them carry a delete horizon.
    let markers = |log: &Log| -> Vec<(i64, bool)> {
        common::read_all(log, 0, 1 << 20)
            .iter()
            .filter(|(base, _, _)| *base < second.end_offset)
            .filter_map(|(base, _, bytes)| {
                let header = protocol::records::RecordBatchHeader::parse(bytes).unwrap();
                (header.is_control() && header.records_count() > 0)
                    .then(|| (*base, header.has_delete_horizon()))
            })
            .collect()
    };
    let before_horizon = markers(h.log());
    assert!(
        before_horizon.iter().any(|m| m.1),
        "no marker got a horizon"
    );
    // A cleaning just before the horizon (new dirty data makes one run) keeps them all.
    compaction_rounds(&mut h, 40..44);
    h.clock.set(START_MS + 59_999);
    h.log().clean(&options).unwrap().expect("a cleaning");
    let offsets = |markers: &[(i64, bool)]| markers.iter().map(|m| m.0).collect::<Vec<_>>();
    assert_eq!(
        offsets(&markers(h.log())),
        offsets(&before_horizon),
        "a marker left before its horizon"
    );
    h.clock.set(START_MS + 60_000);
    let summary = h.log().cleanable_summary().unwrap().unwrap();
    assert!(summary.due(0.99), "a marker's horizon makes the log due");
    let last = h.log().clean(&options).unwrap().expect("a cleaning");
    assert!(last.stats.markers_removed > 0, "{last:?}");
    let after_horizon = offsets(&markers(h.log()));
    for (offset, had_horizon) in &before_horizon {
        assert_eq!(
            after_horizon.contains(offset),
            !had_horizon,
            "marker at {offset} (horizon set at {START_MS}: {had_horizon})"
        );
    }
    expected = latest(h.visible.values().cloned().collect());
    assert_eq!(latest(consume_committed(h.log(), 0, 400)), expected);
    h.log().verify_consistency().unwrap();
    // A crash and restart replays the cleaned log into the same state.
    h.restart(false);
    assert_eq!(latest(consume_committed(h.log(), 0, 400)), expected);
    assert_eq!(h.log().first_unstable_offset().unwrap(), None);
    h.log().verify_consistency().unwrap();
}

#[test]
fn a_crash_at_any_step_of_a_cleaning_keeps_the_transaction_view() {
    let template = tempdir();
    let mut h = Harness::new(template.path(), compacted());
    for round in 0..40 {
        keyed(
            &mut h,
            1,
            &format!("k{}", round % 7),
            &format!("v{round}"),
            true,
        );
        h.end(1, round % 3 != 0);
        keyed(&mut h, 2, &format!("k{}", round % 5), "plain", false);
    }
    let expected = consume_committed(h.log(), 0, 1 << 20);
    h.log.take().unwrap().close().unwrap();
    let steps = [
        CleanerCrashPoint::CleanedWritten,
        CleanerCrashPoint::SwapCommitted,
        CleanerCrashPoint::SourcesRemoved,
        CleanerCrashPoint::SwapRenamed,
        CleanerCrashPoint::BeforeCheckpoint,
    ];
    for group in [0usize, 2] {
        for step in steps {
            let work = tempdir();
            for entry in std::fs::read_dir(template.path()).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), work.path().join(entry.file_name())).unwrap();
            }
            let log = Log::open(work.path(), compacted()).unwrap();
            log.set_high_watermark(i64::MAX).unwrap();
            let crashing = CleanerOptions {
                crash_at: Some((group, step)),
                ..CleanerOptions::default()
            };
            assert!(log.clean(&crashing).is_err());
            drop(log);
            let log = Log::open(work.path(), compacted()).unwrap();
            log.set_high_watermark(i64::MAX).unwrap();
            log.verify_consistency().unwrap();
            assert_eq!(
                latest(consume_committed(&log, 0, 1 << 20)),
                latest(expected.clone()),
                "{group} {step:?}"
            );
            log.clean(&CleanerOptions::default()).unwrap();
            log.verify_consistency().unwrap();
            assert_eq!(
                latest(consume_committed(&log, 0, 1 << 20)),
                latest(expected.clone())
            );
        }
    }
}

#[test]
fn a_removed_marker_never_leaves_its_transaction_open_after_a_replay() {
    // Hazard: a producer snapshot taken while a transaction was open, replayed after the
    // cleaner removed that transaction's data and marker, would leave it open forever (the LSO
    // stuck). The swap deletes snapshots below the cleaned range so no replay starts there.
    // Method: open a transaction in one segment, abort it in the next (each segment full of
    // unique keys so the cleaner keeps them apart), let another producer evict it, clean until
    // the marker is gone, then lose that segment's index so the next open replays from a
    // snapshot at or below it.
    let dir = tempdir();
    let config = LogConfig {
        producer_ids_max: 2,
        ..compacted()
    };
    let mut h = Harness::new(dir.path(), config);
    let options = CleanerOptions::default();
    let mut unique = 0;
    let mut fill_until = |h: &mut Harness, segments: usize| {
        while h.log().segment_count().unwrap() < segments {
            unique += 1;
            let value = format!("{unique:0>120}");
            keyed(h, 4, &format!("u{unique}"), &value, false);
        }
    };
    let first = keyed(&mut h, 1, "doomed", "aborted", true);
    fill_until(&mut h, 2);
    let second_base = h.log().segment_base_offsets().unwrap()[1];
    let abort = h.end(1, false);
    fill_until(&mut h, 3);
    // Another producer evicts producer 1 (the log tracks two): the cleaner no longer keeps
    // its last batch (and with it the marker) to carry its sequence.
    keyed(&mut h, 5, "other", "value", false);
    assert_eq!(h.log().producer_state(1).unwrap(), None);
    assert!(h.log().clean(&options).unwrap().is_some());
    fill_until(&mut h, 4);
    assert!(h.log().clean(&options).unwrap().is_some());
    h.clock.set(START_MS + 60_000);
    let last = h
        .log()
        .clean(&options)
        .unwrap()
        .expect("the horizon makes it due");
    assert!(last.stats.markers_removed >= 1);
    let served = common::read_all(h.log(), 0, 1 << 20);
    assert!(
        served
            .iter()
            .all(|(base, _, _)| *base != abort && *base != first),
        "the transaction's data or marker survived"
    );
    let bases = h.log().segment_base_offsets().unwrap();
    assert!(bases.contains(&second_base), "segments merged: {bases:?}");
    std::fs::remove_file(dir.path().join(format!("{second_base:020}.txnindex"))).unwrap();
    h.restart(false);
    assert_eq!(h.log().first_unstable_offset().unwrap(), None);
    assert_eq!(
        h.log()
            .producer_state(1)
            .unwrap()
            .and_then(|s| s.current_txn_first_offset),
        None
    );
    h.log().verify_consistency().unwrap();
}
