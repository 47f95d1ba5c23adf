//! The transaction test harness: a log written through `Log` plus what Kafka's transaction
//! semantics say it must serve (the records a read_committed consumer gets, the aborted and the
//! open transactions), and the checks that compare them.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{Consumed, ManualClock, consume_committed, keyed_batch, txn_batch};
use storage::{
    AbortedTransaction, CleanupPolicy, Log, LogConfig, TransactionMarker, TransactionResult,
};

pub const START_MS: i64 = 1_700_000_000_000;

pub fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 2048,
        index_interval_bytes: 256,
        ..LogConfig::for_tests()
    }
}

pub fn marker(
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> TransactionMarker {
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
pub struct Harness {
    pub dir: PathBuf,
    pub config: LogConfig,
    pub clock: ManualClock,
    pub log: Option<Log>,
    pub sequences: HashMap<i64, i32>,
    /// Open transactions: producer -> (first offset, its records).
    pub open: BTreeMap<i64, (i64, Vec<Consumed>)>,
    /// What a read_committed consumer gets, by offset.
    pub visible: BTreeMap<i64, Consumed>,
    /// Aborted transactions with data: (producer, first offset, marker offset).
    pub aborted: Vec<(i64, i64, i64)>,
    /// Keep the HighWatermark at the log end after every write (a single replica).
    pub hw_follows: bool,
}

impl Harness {
    pub fn new(dir: &Path, config: LogConfig) -> Self {
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

    pub fn log(&self) -> &Log {
        self.log.as_ref().unwrap()
    }

    pub fn follow_hw(&self) {
        if self.hw_follows {
            let end = self.log().log_end_offset().unwrap();
            self.log().set_high_watermark(end).unwrap();
        }
    }

    /// A transactional batch of `count` records from `producer_id` (epoch 0).
    pub fn send(&mut self, producer_id: i64, count: usize) -> i64 {
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
    pub fn plain(&mut self, key: &str) -> i64 {
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
    pub fn end(&mut self, producer_id: i64, commit: bool) -> i64 {
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

    pub fn restart(&mut self, clean: bool) {
        self.restart_with(clean, |_| {});
    }

    /// Stops the log (closing it when `clean`), calls `stopped` with the directory, reopens.
    pub fn restart_with(&mut self, clean: bool, stopped: impl FnOnce(&Path)) {
        let log = self.log.take().unwrap();
        if clean {
            log.close().unwrap();
        }
        drop(log);
        stopped(&self.dir);
        let log = Log::open_with_clock(&self.dir, self.config.clone(), self.clock.clock());
        self.log = Some(log.unwrap());
        self.follow_hw();
    }

    pub fn expected_aborted(&self, start: i64, end: i64) -> Vec<AbortedTransaction> {
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
    pub fn check(&self) {
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

pub fn txn_index_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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
pub fn interleaved(h: &mut Harness, rounds: usize) {
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

pub fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes_max: 2048,
        index_interval_bytes: 256,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 60_000,
        ..LogConfig::for_tests()
    }
}

pub fn keyed(h: &mut Harness, producer: i64, key: &str, value: &str, txn: bool) -> i64 {
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
pub fn batches(log: &Log) -> Vec<(i64, bool, bool, i32)> {
    super::read_all(log, log.log_start_offset().unwrap(), 1 << 20)
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
pub fn latest(records: Vec<Consumed>) -> BTreeMap<Option<Vec<u8>>, Option<Vec<u8>>> {
    records
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect()
}

/// Rounds of: an aborted transaction that also writes `k` (after its committed value), a
/// committed one, a plain idempotent write.
pub fn compaction_rounds(h: &mut Harness, rounds: std::ops::Range<usize>) {
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
