//! The partition side of transactions (KIP-98) on real files: producer state, markers, the
//! last stable offset, the `.txnindex` files, read_committed reads, durability across restarts
//! and truncation, retention, follower appends, and the cleaner.
//!
//! Method: a `Harness` writes through the log and keeps what Kafka promises: the records a
//! read_committed consumer must get (committed and non-transactional ones), the aborted
//! transactions `(producer, first offset, marker offset)`, and the open ones. Checks compare
//! the log against it: the LSO, `aborted_transactions` for ranges, and what a consumer that
//! filters like Kafka's `CompletedFetch` gets from `read_committed` (`common::consume_committed`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::{Consumed, ManualClock, consume_committed, keyed_batch, tempdir, txn_batch};
use storage::{
    AbortedTransaction, CleanerCrashPoint, CleanerOptions, CleanupPolicy, Log, LogConfig,
    StorageError, TransactionMarker, TransactionResult,
};

const START_MS: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 2048,
        index_interval_bytes: 256,
        ..LogConfig::for_tests()
    }
}

fn marker(producer_id: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> TransactionMarker {
    TransactionMarker {
        producer_id,
        producer_epoch: epoch,
        result: if commit {
            TransactionResult::Commit
        } else {
            TransactionResult::Abort
        },
        coordinator_epoch,
    }
}

/// A log and what Kafka's transaction semantics say it must serve.
struct Harness {
    dir: PathBuf,
    config: LogConfig,
    clock: ManualClock,
    log: Option<Log>,
    sequences: HashMap<i64, i32>,
    /// Open transactions: producer -> (first offset, its records).
    open: BTreeMap<i64, (i64, Vec<Consumed>)>,
    /// What a read_committed consumer gets, by offset.
    visible: BTreeMap<i64, Consumed>,
    /// Aborted transactions with data: (producer, first offset, marker offset).
    aborted: Vec<(i64, i64, i64)>,
    /// Keep the HighWatermark at the log end after every write (a single replica).
    hw_follows: bool,
}

impl Harness {
    fn new(dir: &Path, config: LogConfig) -> Self {
        let clock = ManualClock::new(START_MS);
        Self {
            dir: dir.to_path_buf(),
            log: Some(Log::open_with_clock(dir, config.clone(), clock.clock()).unwrap()),
            clock,
            config,
            sequences: HashMap::new(),
            open: BTreeMap::new(),
            visible: BTreeMap::new(),
            aborted: Vec::new(),
            hw_follows: true,
        }
    }

    fn log(&self) -> &Log {
        self.log.as_ref().unwrap()
    }

    fn follow_hw(&self) {
        if self.hw_follows {
            let end = self.log().log_end_offset().unwrap();
            self.log().set_high_watermark(end).unwrap();
        }
    }

    /// A transactional batch of `count` records from `producer_id` (epoch 0).
    fn send(&mut self, producer_id: i64, count: usize) -> i64 {
        let sequence = *self.sequences.get(&producer_id).unwrap_or(&0);
        let mut batch = txn_batch(count, producer_id, 0, sequence, 40);
        let info = self.log().append_as_leader(&mut batch, 0).unwrap();
        assert!(!info.duplicate);
        self.sequences.insert(producer_id, sequence + count as i32);
        let records = (0..count).map(|i| {
            let value = format!("p{producer_id}-s{}", sequence + i as i32);
            let mut value = value.into_bytes();
            value.resize(value.len().max(40), b'.');
            (
                info.first_offset + i as i64,
                Some(format!("k{producer_id}").into_bytes()),
                Some(value),
            )
        });
        let entry = self
            .open
            .entry(producer_id)
            .or_insert((info.first_offset, Vec::new()));
        entry.1.extend(records);
        self.follow_hw();
        info.first_offset
    }

    /// A plain (non-transactional, non-idempotent) record.
    fn plain(&mut self, key: &str) -> i64 {
        let mut batch = keyed_batch(
            &[(key.as_bytes().to_vec(), Some(b"plain".to_vec()))],
            1_000,
            None,
            false,
        );
        let offset = self
            .log()
            .append_as_leader(&mut batch, 0)
            .unwrap()
            .first_offset;
        self.visible.insert(
            offset,
            (
                offset,
                Some(key.as_bytes().to_vec()),
                Some(b"plain".to_vec()),
            ),
        );
        self.follow_hw();
        offset
    }

    /// Ends `producer_id`'s transaction with a marker; returns the marker's offset.
    fn end(&mut self, producer_id: i64, commit: bool) -> i64 {
        let info = self
            .log()
            .append_control_as_leader(&marker(producer_id, 0, commit, 1), 0, 2_000)
            .unwrap();
        assert_eq!(info.first_offset, info.last_offset);
        if let Some((first, records)) = self.open.remove(&producer_id) {
            if commit {
                self.visible.extend(records.into_iter().map(|r| (r.0, r)));
            } else {
                self.aborted.push((producer_id, first, info.first_offset));
            }
        }
        self.follow_hw();
        info.first_offset
    }

    fn restart(&mut self, clean: bool) {
        let log = self.log.take().unwrap();
        if clean {
            log.close().unwrap();
        }
        drop(log);
        let log = Log::open_with_clock(&self.dir, self.config.clone(), self.clock.clock());
        self.log = Some(log.unwrap());
        self.follow_hw();
    }

    fn expected_aborted(&self, start: i64, end: i64) -> Vec<AbortedTransaction> {
        let mut expected: Vec<_> = self
            .aborted
            .iter()
            .filter(|&&(_, first, last)| last >= start && first < end)
            .map(|&(producer_id, first_offset, _)| AbortedTransaction {
                producer_id,
                first_offset,
            })
            .collect();
        expected.sort_by_key(|a| (a.first_offset, a.producer_id));
        expected
    }

    /// The LSO, the aborted transactions of every range and what a consumer gets all match.
    fn check(&self) {
        let log = self.log();
        let hw = log.high_watermark().unwrap();
        let first_open = self.open.values().map(|(first, _)| *first).min();
        assert_eq!(log.first_unstable_offset().unwrap(), first_open);
        let lso = first_open.map_or(hw, |f| f.min(hw));
        assert_eq!(log.last_stable_offset().unwrap(), lso);
        let end = log.log_end_offset().unwrap();
        for start in (0..=end).step_by(7) {
            for upper in [start + 1, start + 13, end + 1] {
                let mut got = log.aborted_transactions(start, upper).unwrap();
                got.sort_by_key(|a| (a.first_offset, a.producer_id));
                assert_eq!(
                    got,
                    self.expected_aborted(start, upper),
                    "[{start}, {upper})"
                );
            }
        }
        let expected: Vec<Consumed> = self.visible.range(..lso).map(|(_, r)| r.clone()).collect();
        for max_bytes in [1, 300, 1 << 20] {
            assert_eq!(
                consume_committed(log, 0, max_bytes),
                expected,
                "max_bytes {max_bytes}"
            );
        }
        log.verify_consistency().unwrap();
    }
}

fn txn_index_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txnindex"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Several producers, interleaved, over several segments: commits and aborts.
fn interleaved(h: &mut Harness, rounds: usize) {
    for round in 0..rounds {
        h.send(1, 2);
        h.send(2, 1);
        h.plain(&format!("plain-{round}"));
        h.send(3, 3);
        h.send(1, 1);
        h.end(2, round % 2 == 0);
        h.end(1, round % 3 != 1);
        h.send(2, 2);
        h.end(3, round % 4 == 3);
        h.end(2, round % 3 == 0);
    }
}

#[test]
fn commits_and_aborts_across_producers_and_segments() {
    // Goal: KIP-98's consumer view. Method: interleave three producers' transactions over many
    // segments, then check the LSO, every range's aborted list and a read_committed consumer.
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    interleaved(&mut h, 12);
    assert!(
        h.log().segment_count().unwrap() > 4,
        "expected several segments"
    );
    assert!(h.aborted.len() >= 10);
    h.check();
    // The index files hold exactly the aborted transactions, 34 bytes each.
    let bytes: usize = txn_index_files(dir.path()).values().map(Vec::len).sum();
    assert_eq!(bytes, 34 * h.aborted.len());
    // An open transaction holds the LSO at its first offset; its end releases it.
    let first = h.send(4, 2);
    h.send(5, 1);
    h.plain("after");
    assert_eq!(h.log().last_stable_offset().unwrap(), first);
    h.check();
    h.end(4, true);
    h.check();
    h.end(5, false);
    assert_eq!(
        h.log().last_stable_offset().unwrap(),
        h.log().log_end_offset().unwrap()
    );
    h.check();
}

#[test]
fn the_lso_waits_for_the_high_watermark_to_pass_the_marker() {
    // Kafka's unreplicated transactions: a decided transaction holds the LSO at its first
    // offset until the HighWatermark passes its marker (a new leader may lack the marker).
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    h.plain("a");
    h.hw_follows = false;
    let first = h.send(1, 2);
    h.plain("b");
    let marker = h.end(1, true);
    let log = h.log();
    assert_eq!(log.first_unstable_offset().unwrap(), Some(first));
    log.set_high_watermark(marker).unwrap();
    assert_eq!(log.last_stable_offset().unwrap(), first, "HW at the marker");
    let data = log.read_committed(0, 1 << 20, true).unwrap();
    assert_eq!(data.last_stable_offset, first);
    log.set_high_watermark(marker + 1).unwrap();
    assert_eq!(log.first_unstable_offset().unwrap(), None);
    assert_eq!(log.last_stable_offset().unwrap(), marker + 1);
    // With no transaction the LSO is the HighWatermark.
    log.set_high_watermark(1).unwrap();
    assert_eq!(log.last_stable_offset().unwrap(), 1);
}

#[test]
fn markers_with_stale_epochs_and_data_outside_the_transaction_are_refused() {
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    let log_end = |h: &Harness| h.log().log_end_offset().unwrap();
    h.send(7, 1);
    // The coordinator fences the producer: abort with a bumped epoch and coordinator epoch 5.
    let fence = marker(7, 1, false, 5);
    h.log().append_control_as_leader(&fence, 0, 0).unwrap();
    let end = log_end(&h);
    assert!(matches!(
        h.log()
            .append_control_as_leader(&marker(7, 0, true, 5), 0, 0),
        Err(StorageError::InvalidProducerEpoch {
            epoch: 0,
            current_epoch: 1,
            ..
        })
    ));
    assert!(matches!(
        h.log()
            .append_control_as_leader(&marker(7, 1, true, 4), 0, 0),
        Err(StorageError::TransactionCoordinatorFenced {
            coordinator_epoch: 4,
            current_coordinator_epoch: 5,
            ..
        })
    ));
    assert!(matches!(
        h.log().append_as_leader(&mut txn_batch(1, 7, 0, 1, 0), 0),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log_end(&h), end, "refused markers write nothing");
    // A marker for a producer with no open transaction is written and changes nothing.
    let info = h
        .log()
        .append_control_as_leader(&marker(7, 1, false, 5), 0, 0)
        .unwrap();
    assert_eq!(info.first_offset, end);
    let state = h.log().producer_state(7).unwrap().unwrap();
    assert_eq!(
        (
            state.producer_epoch,
            state.coordinator_epoch,
            state.current_txn_first_offset
        ),
        (1, 5, None)
    );
    // The fenced transaction had data: one index entry; the empty abort none.
    assert_eq!(
        h.log().aborted_transactions(0, i64::MAX).unwrap(),
        vec![AbortedTransaction {
            producer_id: 7,
            first_offset: 0
        }]
    );
    // Non-transactional data while a transaction is open is Kafka's INVALID_TXN_STATE.
    h.log()
        .append_as_leader(&mut txn_batch(1, 7, 1, 0, 0), 0)
        .unwrap();
    let mut plain = common::producer_batch(1, 7, 1, 1);
    assert!(matches!(
        h.log().append_as_leader(&mut plain, 0),
        Err(StorageError::InvalidTxnState { producer_id: 7, .. })
    ));
    // A retried transactional batch is a duplicate, answered with its offsets.
    let retry = h
        .log()
        .append_as_leader(&mut txn_batch(1, 7, 1, 0, 0), 0)
        .unwrap();
    assert!(retry.duplicate);
}

#[test]
fn restarts_keep_open_transactions_and_the_index() {
    // Goal: producer snapshots carry open transactions, recovery rebuilds the index of the
    // segments it re-reads, and a missing or damaged index is rebuilt identically.
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    interleaved(&mut h, 8);
    let first = h.send(9, 2);
    h.send(1, 1);
    h.end(1, false);
    h.plain("tail");
    h.check();
    let files = txn_index_files(dir.path());
    h.restart(true);
    assert_eq!(h.log().first_unstable_offset().unwrap(), Some(first));
    h.check();
    assert_eq!(
        txn_index_files(dir.path()),
        files,
        "a clean restart keeps the files"
    );
    // A crash: the active segment is recovered and its index rebuilt from the replay.
    h.send(9, 1);
    h.send(1, 2);
    h.end(1, false);
    let files = txn_index_files(dir.path());
    h.restart(false);
    h.check();
    assert_eq!(txn_index_files(dir.path()), files, "rebuilt after a crash");
    // Lost or damaged index files of closed segments are rebuilt the same.
    let mut names: Vec<_> = files.keys().cloned().collect();
    names.retain(|n| !files[n].is_empty());
    assert!(names.len() >= 3, "{names:?}");
    std::fs::remove_file(dir.path().join(&names[0])).unwrap();
    std::fs::write(dir.path().join(&names[1]), b"garbage").unwrap();
    let mut flipped = files[&names[2]].clone();
    flipped[0] = 9; // version 2304
    std::fs::write(dir.path().join(&names[2]), flipped).unwrap();
    h.restart(true);
    h.check();
    assert_eq!(txn_index_files(dir.path()), files, "rebuilt from the log");
    // Every snapshot lost: the state is replayed from the first segment.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    h.restart(false);
    assert_eq!(h.log().first_unstable_offset().unwrap(), Some(first));
    h.check();
    h.end(9, true);
    h.check();
}

#[test]
fn truncation_reopens_transactions_and_drops_their_index_entries() {
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    interleaved(&mut h, 4);
    let first = h.send(8, 2);
    h.plain("x");
    h.send(8, 1);
    let reopened = h.open[&8].clone();
    let abort = h.end(8, false);
    h.plain("y");
    h.check();
    // Truncating the marker away reopens the transaction and removes its index entry.
    h.log().truncate_to(abort).unwrap();
    let (producer, txn_first, _) = h.aborted.pop().unwrap();
    assert_eq!((producer, txn_first), (8, first));
    h.visible.retain(|&offset, _| offset < abort);
    h.open.insert(8, reopened);
    h.follow_hw();
    assert_eq!(h.log().first_unstable_offset().unwrap(), Some(first));
    h.check();
    // The follower catches up with the new leader, which committed it instead.
    h.end(8, true);
    h.check();
    // Truncating below the transaction's first batch forgets it entirely.
    h.log().truncate_to(first).unwrap();
    h.open.clear();
    h.visible.retain(|&offset, _| offset < first);
    h.aborted.retain(|&(_, _, marker)| marker < first);
    h.follow_hw();
    assert_eq!(h.log().producer_state(8).unwrap(), None);
    h.check();
    // Same after a restart from the truncated files.
    h.restart(false);
    h.check();
}

#[test]
fn retention_deletes_index_files_with_their_segments() {
    let dir = tempdir();
    let config = LogConfig {
        retention_ms: Some(60_000),
        ..config()
    };
    let mut h = Harness::new(dir.path(), config);
    let open_first = h.send(5, 1);
    interleaved(&mut h, 6);
    let before = txn_index_files(dir.path());
    h.clock.set(START_MS + 3_600_000);
    let outcome = h.log().delete_retained_segments().unwrap();
    assert!(outcome.segments_deleted > 0);
    let after = txn_index_files(dir.path());
    assert_eq!(after.len(), h.log().segment_count().unwrap());
    assert!(before.keys().filter(|k| !after.contains_key(*k)).count() == outcome.segments_deleted);
    // The open transaction's first batch is gone: it still holds the LSO, at the log start.
    let log_start = h.log().log_start_offset().unwrap();
    assert!(open_first < log_start);
    assert_eq!(h.log().first_unstable_offset().unwrap(), Some(log_start));
    assert_eq!(h.log().last_stable_offset().unwrap(), log_start);
    assert!(
        h.log()
            .producer_state(5)
            .unwrap()
            .is_some_and(|s| s.current_txn_first_offset == Some(open_first))
    );
    h.end(5, false);
    assert_eq!(
        h.log().last_stable_offset().unwrap(),
        h.log().log_end_offset().unwrap()
    );
    h.log().verify_consistency().unwrap();
}

#[test]
fn followers_replicate_markers_into_the_same_state() {
    let leader_dir = tempdir();
    let follower_dir = tempdir();
    let mut h = Harness::new(leader_dir.path(), config());
    interleaved(&mut h, 6);
    h.send(6, 2);
    let follower = Log::open(follower_dir.path(), config()).unwrap();
    let end = h.log().log_end_offset().unwrap();
    while follower.log_end_offset().unwrap() < end {
        let offset = follower.log_end_offset().unwrap();
        let range = h
            .log()
            .read(offset, 900, i64::MAX, true)
            .unwrap()
            .records
            .unwrap();
        follower
            .append_as_follower(&range.read_to_bytes().unwrap())
            .unwrap();
    }
    follower.set_high_watermark(end).unwrap();
    assert_eq!(
        follower.last_stable_offset().unwrap(),
        h.log().last_stable_offset().unwrap()
    );
    assert_eq!(
        follower.aborted_transactions(0, end).unwrap(),
        h.log().aborted_transactions(0, end).unwrap()
    );
    assert_eq!(
        consume_committed(&follower, 0, 500),
        consume_committed(h.log(), 0, 500)
    );
    follower.verify_consistency().unwrap();
}

#[test]
fn fetches_never_pass_the_lso_and_list_what_they_overlap() {
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    h.plain("a");
    let aborted_first = h.send(1, 2);
    let open_first = h.send(2, 1);
    let abort = h.end(1, false);
    h.plain("b");
    let log = h.log();
    assert_eq!(log.last_stable_offset().unwrap(), open_first);
    let data = log.read_committed(0, 1 << 20, true).unwrap();
    assert_eq!(data.last_stable_offset, open_first);
    assert_eq!(
        data.aborted_transactions.unwrap(),
        vec![AbortedTransaction {
            producer_id: 1,
            first_offset: aborted_first
        }]
    );
    // At the LSO there is nothing to read, and nothing is listed.
    let data = log.read_committed(open_first, 1 << 20, true).unwrap();
    assert!(data.records.is_none());
    assert_eq!(data.aborted_transactions, Some(Vec::new()));
    // A fetch that ends before the aborted transaction starts lists nothing.
    let data = log.read_committed(0, 1, true).unwrap();
    assert!(data.records.is_some());
    assert_eq!(data.aborted_transactions, Some(Vec::new()));
    // read_uncommitted reads past the LSO and lists nothing.
    let data = log.read(0, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(data.aborted_transactions, None);
    assert!(abort > open_first);
    h.end(2, true);
    h.check();
}

fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes_max: 2048,
        index_interval_bytes: 256,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 60_000,
        ..LogConfig::for_tests()
    }
}

fn keyed(h: &mut Harness, producer: i64, key: &str, value: &str, txn: bool) -> i64 {
    let sequence = *h.sequences.get(&producer).unwrap_or(&0);
    let mut batch = keyed_batch(
        &[(key.as_bytes().to_vec(), Some(value.as_bytes().to_vec()))],
        START_MS,
        Some((producer, 0, sequence)),
        txn,
    );
    let offset = h
        .log()
        .append_as_leader(&mut batch, 0)
        .unwrap()
        .first_offset;
    h.sequences.insert(producer, sequence + 1);
    let record = (
        offset,
        Some(key.as_bytes().to_vec()),
        Some(value.as_bytes().to_vec()),
    );
    if txn {
        h.open
            .entry(producer)
            .or_insert((offset, Vec::new()))
            .1
            .push(record);
    } else {
        h.visible.insert(offset, record);
    }
    h.follow_hw();
    offset
}

/// Offsets of every batch the log serves with its control/transactional flags and record count.
fn batches(log: &Log) -> Vec<(i64, bool, bool, i32)> {
    common::read_all(log, log.log_start_offset().unwrap(), 1 << 20)
        .iter()
        .map(|(base, _, bytes)| {
            let header = protocol::records::RecordBatchHeader::parse(bytes).unwrap();
            (
                *base,
                header.is_control(),
                header.is_transactional(),
                header.records_count(),
            )
        })
        .collect()
}

/// Each key's latest value.
fn latest(records: Vec<Consumed>) -> BTreeMap<Option<Vec<u8>>, Option<Vec<u8>>> {
    records
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect()
}

/// Rounds of: an aborted transaction that also writes `k` (after its committed value), a
/// committed one, a plain idempotent write.
fn compaction_rounds(h: &mut Harness, rounds: std::ops::Range<usize>) {
    for round in rounds {
        keyed(h, 2, "k", &format!("aborted-{round}"), true);
        keyed(h, 2, &format!("a{round}"), "aborted", true);
        h.end(2, false);
        keyed(h, 3, &format!("c{}", round % 5), &format!("v{round}"), true);
        h.end(3, true);
        keyed(
            h,
            4,
            &format!("plain{}", round % 3),
            &format!("v{round}"),
            false,
        );
    }
}

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
