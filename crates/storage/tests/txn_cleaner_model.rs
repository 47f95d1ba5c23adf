//! Property test: the log cleaner on a transactional log. Random transactional writes of a few
//! producers (committed, aborted or left open), plain writes, clock moves, cleanings (some
//! crashed at a random step of a random group) and restarts, against a model of every record
//! written and its fate.
//!
//! After every step a read_committed consumer (`common::consume_committed`, filtering as
//! Kafka's consumer does with the aborted transactions the log lists) must get: only records
//! written at that offset with that key and value, never one of an aborted or open transaction,
//! and for every key the latest committed or plain record below the LSO (compaction keeps the
//! latest record of a key, and aborted records never count as a key's latest). The LSO is the
//! first offset of the earliest open transaction (the HighWatermark follows the log end), and
//! the indexes agree with the log.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use protocol::records::{RecordBatchHeader, decode_batch_records};

use common::{ManualClock, consume_committed, keyed_batch};
use storage::{
    CleanerCrashPoint, CleanerOptions, CleanupPolicy, Log, LogConfig, TransactionMarker,
    TransactionResult,
};

const START_MS: i64 = 1_700_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Write { producer: i64, keys: Vec<u8> },
    End { producer: i64, commit: bool },
    Plain { key: u8 },
    Advance { ms: u32 },
    Clean,
    CrashDuringClean { group: u8, step: u8 },
    Restart { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1i64..4, proptest::collection::vec(0u8..8, 1..4))
            .prop_map(|(producer, keys)| Op::Write { producer, keys }),
        4 => (1i64..4, proptest::bool::weighted(0.6))
            .prop_map(|(producer, commit)| Op::End { producer, commit }),
        3 => (0u8..8).prop_map(|key| Op::Plain { key }),
        2 => (0u32..90_000).prop_map(|ms| Op::Advance { ms }),
        4 => Just(Op::Clean),
        1 => (0u8..3, 0u8..5).prop_map(|(group, step)| Op::CrashDuringClean { group, step }),
        1 => any::<bool>().prop_map(|clean| Op::Restart { clean }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Plain,
    Open(i64),
    Committed,
    Aborted,
}

struct Written {
    key: Vec<u8>,
    value: Vec<u8>,
    fate: Fate,
}

#[derive(Default)]
struct Model {
    written: BTreeMap<i64, Written>,
    /// Producer -> (next sequence, first offset of its open transaction).
    producers: BTreeMap<i64, (i32, Option<i64>)>,
}

impl Model {
    fn check(&self, log: &Log) -> Result<(), TestCaseError> {
        let open_first = self.producers.values().filter_map(|p| p.1).min();
        let log_end = log.log_end_offset().unwrap();
        let lso = open_first.unwrap_or(log_end);
        prop_assert_eq!(log.last_stable_offset().unwrap(), lso);
        let consumed = consume_committed(log, log.log_start_offset().unwrap(), 600);
        let mut served = BTreeMap::new();
        for (offset, key, value) in consumed {
            let Some(written) = self.written.get(&offset) else {
                return Err(TestCaseError::fail(format!(
                    "offset {offset} was never written"
                )));
            };
            prop_assert_eq!(key.as_deref(), Some(&written.key[..]), "key at {}", offset);
            prop_assert_eq!(
                value.as_deref(),
                Some(&written.value[..]),
                "value at {}",
                offset
            );
            prop_assert!(
                matches!(written.fate, Fate::Plain | Fate::Committed),
                "a consumer read {:?} data at {}",
                written.fate,
                offset
            );
            served.insert(offset, ());
        }
        let mut latest = BTreeMap::new();
        for (&offset, written) in self.written.range(..lso) {
            if matches!(written.fate, Fate::Plain | Fate::Committed) {
                latest.insert(&written.key, offset);
            }
        }
        for (key, offset) in latest {
            prop_assert!(
                served.contains_key(&offset),
                "the latest record of {:?} (offset {}) is gone",
                String::from_utf8_lossy(key),
                offset
            );
        }
        log.verify_consistency().unwrap();
        Ok(())
    }
}

/// Offsets of every record the log serves (read_uncommitted).
fn served_offsets(log: &Log) -> Vec<i64> {
    let start = log.log_start_offset().unwrap();
    let mut offsets = Vec::new();
    for (_, _, bytes) in common::read_all(log, start, 1 << 20) {
        let bytes = bytes::Bytes::from(bytes);
        let header = RecordBatchHeader::parse(&bytes).unwrap();
        if header.is_control() {
            continue;
        }
        for record in decode_batch_records(&header, &bytes, 1 << 20).unwrap() {
            offsets.push(header.base_offset() + i64::from(record.unwrap().offset_delta));
        }
    }
    offsets
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 1024,
        index_interval_bytes: 200,
        cleanup_policy: CleanupPolicy::COMPACT,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 60_000,
        ..LogConfig::for_tests()
    }
}

fn open(dir: &std::path::Path, clock: &ManualClock) -> Log {
    let log = Log::open_with_clock(dir, config(), clock.clock()).unwrap();
    log.set_high_watermark(i64::MAX).unwrap();
    log
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = common::tempdir();
    let clock = ManualClock::new(START_MS);
    let mut now = START_MS;
    let mut log = open(dir.path(), &clock);
    let mut model = Model::default();
    let mut n = 0usize;
    for op in ops {
        match op {
            Op::Write { producer, keys } => {
                let (sequence, open_first) = *model.producers.get(&producer).unwrap_or(&(0, None));
                let records: Vec<_> = keys
                    .iter()
                    .map(|&key| {
                        n += 1;
                        let value = format!("p{producer}-{n}-{}", "x".repeat(n % 30));
                        (format!("key-{key}").into_bytes(), Some(value.into_bytes()))
                    })
                    .collect();
                let mut batch = keyed_batch(&records, now, Some((producer, 0, sequence)), true);
                let info = log.append_as_leader(&mut batch, 0).unwrap();
                let first = open_first.unwrap_or(info.first_offset);
                for (i, (key, value)) in records.into_iter().enumerate() {
                    model.written.insert(
                        info.first_offset + i as i64,
                        Written {
                            key,
                            value: value.unwrap(),
                            fate: Fate::Open(producer),
                        },
                    );
                }
                model
                    .producers
                    .insert(producer, (sequence + keys.len() as i32, Some(first)));
            }
            Op::End { producer, commit } => {
                let marker = TransactionMarker {
                    producer_id: producer,
                    producer_epoch: 0,
                    result: if commit {
                        TransactionResult::Commit
                    } else {
                        TransactionResult::Abort
                    },
                    coordinator_epoch: 1,
                };
                log.append_control_as_leader(&marker, 0, now).unwrap();
                for written in model.written.values_mut() {
                    if written.fate == Fate::Open(producer) {
                        written.fate = if commit {
                            Fate::Committed
                        } else {
                            Fate::Aborted
                        };
                    }
                }
                if let Some(p) = model.producers.get_mut(&producer) {
                    p.1 = None;
                }
            }
            Op::Plain { key } => {
                n += 1;
                let (key, value) = (format!("key-{key}").into_bytes(), format!("plain-{n}"));
                let records = [(key.clone(), Some(value.clone().into_bytes()))];
                let mut batch = keyed_batch(&records, now, None, false);
                let info = log.append_as_leader(&mut batch, 0).unwrap();
                model.written.insert(
                    info.first_offset,
                    Written {
                        key,
                        value: value.into_bytes(),
                        fate: Fate::Plain,
                    },
                );
            }
            Op::Advance { ms } => {
                now += i64::from(ms);
                clock.set(now);
            }
            Op::Clean => {
                let before = log.first_unstable_offset().unwrap();
                if let Some(outcome) = log.clean(&CleanerOptions::default()).unwrap() {
                    prop_assert!(before.is_none_or(|first| outcome.end_offset <= first));
                    // Aborted data below the cleaning's end is gone, read_uncommitted too.
                    for offset in served_offsets(&log) {
                        let aborted = model
                            .written
                            .get(&offset)
                            .is_some_and(|w| w.fate == Fate::Aborted);
                        prop_assert!(
                            !(aborted && offset < outcome.end_offset),
                            "aborted record at {} survived a cleaning up to {}",
                            offset,
                            outcome.end_offset
                        );
                    }
                }
                prop_assert_eq!(log.first_unstable_offset().unwrap(), before);
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
                    ..CleanerOptions::default()
                };
                let _ = log.clean(&crashing);
                drop(log);
                log = open(dir.path(), &clock);
            }
            Op::Restart { clean } => {
                if clean {
                    log.close().unwrap();
                }
                drop(log);
                log = open(dir.path(), &clock);
            }
        }
        log.set_high_watermark(i64::MAX).unwrap();
        model.check(&log)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn cleaning_a_transactional_log_matches_the_model(ops in proptest::collection::vec(op(), 1..90)) {
        run(ops)?;
    }
}
