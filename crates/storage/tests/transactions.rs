//! The partition side of transactions (KIP-98) on real files: producer state, markers, the
//! last stable offset, the `.txnindex` files, read_committed reads, durability across restarts
//! and truncation, retention and follower appends (the cleaner: `txn_cleaner.rs`).
//!
//! Method: a `Harness` (`common/txn.rs`) writes through the log and keeps what Kafka promises:
//! the records a read_committed consumer must get (committed and non-transactional ones), the
//! aborted transactions `(producer, first offset, marker offset)`, and the open ones. Checks
//! compare the log against it: the LSO, `aborted_transactions` for ranges, and what a consumer
//! that filters like Kafka's `CompletedFetch` gets from `read_committed`
//! (`common::consume_committed`).

mod common;

use common::txn::{Harness, START_MS, config, interleaved, marker, txn_index_files};
use common::{consume_committed, tempdir, txn_batch};
use storage::{AbortedTransaction, Log, LogConfig, StorageError};

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

/// Field `at` (a byte offset: 2 producer id, 10 first offset, 18 marker offset) of entry `i`.
fn entry_field(bytes: &[u8], i: usize, at: usize) -> i64 {
    let start = i * 34 + at;
    i64::from_be_bytes(bytes[start..start + 8].try_into().unwrap())
}

fn set_entry_field(bytes: &mut [u8], i: usize, at: usize, value: i64) {
    let start = i * 34 + at;
    bytes[start..start + 8].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn index_entries_damaged_at_rest_but_plausible_are_rebuilt() {
    // Goal: an entry changed at rest whose fields still pass the plausibility checks (the
    // cluster suite's F17 flipped bits in a .txnindex after a clean stop: the replica then
    // named other aborted transactions than its peers) is caught against the log and the
    // index rebuilt. Three files, each with one field of its first entry moved: the producer
    // id, the first offset (to the next offset: inside a batch, or another batch), and the
    // marker offset (to the offset before it: a data batch, not a marker).
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    interleaved(&mut h, 16);
    h.plain("tail");
    h.check();
    let files = txn_index_files(dir.path());
    let base = |name: &str| name.split('.').next().unwrap().parse::<i64>().unwrap();
    // In each file, an entry whose transaction starts in the segment (every field is then
    // checked) and whose marker offset can move back by one and still follow the entry before.
    let candidates: Vec<(&String, usize)> = files
        .iter()
        .filter_map(|(name, bytes)| {
            (0..bytes.len() / 34)
                .find(|&i| {
                    let (first, last) = (entry_field(bytes, i, 10), entry_field(bytes, i, 18));
                    let previous = (i > 0).then(|| entry_field(bytes, i - 1, 18));
                    first > base(name) && first < last && previous.is_none_or(|p| last - 1 > p)
                })
                .map(|i| (name, i))
        })
        .take(3)
        .collect();
    assert_eq!(candidates.len(), 3, "{:?}", files.keys());
    for ((name, i), at) in candidates.into_iter().zip([2usize, 10, 18]) {
        let mut damaged = files[name].clone();
        let value = match at {
            2 => entry_field(&damaged, i, 2) ^ 1,
            10 => entry_field(&damaged, i, 10) + 1,
            _ => entry_field(&damaged, i, 18) - 1,
        };
        set_entry_field(&mut damaged, i, at, value);
        std::fs::write(dir.path().join(name), damaged).unwrap();
    }
    h.restart(true);
    h.check();
    assert_eq!(txn_index_files(dir.path()), files, "rebuilt from the log");
}

#[test]
fn a_stale_index_restored_after_a_clean_stop_is_rebuilt() {
    // Goal: the cluster suite's F17:stale. Copies of the `.txnindex` files taken earlier are
    // put back after a clean stop: each is plausible and every entry it has names a real
    // aborted transaction, but the latest ones are missing, so a read_committed consumer would
    // get their records. The lengths the log closed with (in its clean-shutdown marker) show
    // the copies are not the files it wrote, and they are rebuilt from the log.
    let dir = tempdir();
    let mut h = Harness::new(dir.path(), config());
    interleaved(&mut h, 6);
    h.plain("between");
    h.check();
    let earlier = txn_index_files(dir.path());
    interleaved(&mut h, 6);
    h.plain("tail");
    h.check();
    let files = txn_index_files(dir.path());
    let stale: Vec<&String> = earlier
        .iter()
        .filter(|(name, bytes)| files[*name].len() > bytes.len())
        .map(|(name, _)| name)
        .collect();
    assert!(
        !stale.is_empty(),
        "an earlier copy lacks entries: {:?}",
        files.keys()
    );
    h.restart_with(true, |dir| {
        for (name, bytes) in &earlier {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    });
    h.check();
    assert_eq!(txn_index_files(dir.path()), files, "rebuilt from the log");
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
