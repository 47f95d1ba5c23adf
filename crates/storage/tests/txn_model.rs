//! Property test: random transactional and plain appends, markers (valid, with a stale
//! producer or coordinator epoch, fencing with a bumped epoch), HighWatermark moves,
//! read_committed fetches, truncations and restarts (clean, crashed, with a `.txnindex`
//! deleted or garbled) against a model of KIP-98's partition side.
//!
//! The model is a list of batches and the HighWatermark; producer state (epochs, open
//! transactions), the aborted transactions `(producer, first offset, marker)`, the first
//! unstable offset and the LSO are derived from it by replaying it from the start, with
//! Kafka's rules and nothing else: no snapshots, no index files, no recovery. The log must agree
//! after every step: its LSO and first unstable offset, each producer's open transaction,
//! `aborted_transactions` for random ranges, refusals of stale markers, and each fetch a
//! read_committed consumer makes. At the end a consumer reading everything gets exactly the
//! committed and non-transactional records below the LSO, and the indexes agree with the log.
//!
//! Unreplicated transactions: the model keeps those decided since the last restart or
//! truncation whose marker is at or above the HighWatermark; after a restart or truncation
//! the test sets the HighWatermark to the log end, as a leader does once replicas catch up
//! (the log forgets what was unreplicated before a snapshot, as Kafka does).

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;

use common::{Consumed, consume_committed, keyed_batch, txn_batch};
use storage::{
    AbortedTransaction, Log, LogConfig, StorageError, TransactionMarker, TransactionResult,
};

const PRODUCERS: i64 = 3;

#[derive(Debug, Clone)]
enum Op {
    Send {
        producer: i64,
        count: usize,
        transactional: bool,
    },
    Plain,
    End {
        producer: i64,
        commit: bool,
        fault: u8,
    },
    HighWatermark {
        pick: u64,
    },
    Fetch {
        pick: u64,
        max_bytes: u64,
    },
    Truncate {
        pick: u64,
    },
    Restart {
        clean: bool,
        damage: Option<(prop::sample::Index, bool)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1..=PRODUCERS, 1usize..4, proptest::bool::weighted(0.85))
            .prop_map(|(producer, count, transactional)| Op::Send { producer, count, transactional }),
        2 => Just(Op::Plain),
        5 => (1..=PRODUCERS, any::<bool>(), 0u8..8)
            .prop_map(|(producer, commit, fault)| Op::End { producer, commit, fault }),
        3 => any::<u64>().prop_map(|pick| Op::HighWatermark { pick }),
        3 => (any::<u64>(), 1u64..2000).prop_map(|(pick, max_bytes)| Op::Fetch { pick, max_bytes }),
        1 => any::<u64>().prop_map(|pick| Op::Truncate { pick }),
        1 => (any::<bool>(), proptest::option::of((any::<prop::sample::Index>(), any::<bool>())))
            .prop_map(|(clean, damage)| Op::Restart { clean, damage }),
    ]
}

#[derive(Debug, Clone)]
enum Kind {
    Data {
        transactional: bool,
        records: Vec<Consumed>,
    },
    Marker {
        commit: bool,
        coordinator_epoch: i32,
    },
}

#[derive(Debug, Clone)]
struct Batch {
    base: i64,
    last: i64,
    producer: i64,
    epoch: i16,
    kind: Kind,
}

#[derive(Debug, Default, Clone)]
struct Producer {
    epoch: i16,
    coordinator_epoch: i32,
    open: Option<i64>,
    next_sequence: i32,
}

/// Everything derived from the batches by replaying them with Kafka's rules.
#[derive(Default)]
struct Derived {
    producers: BTreeMap<i64, Producer>,
    /// (producer, first offset, marker offset) of aborted transactions with data.
    aborted: Vec<(i64, i64, i64)>,
    /// Records a read_committed consumer may see (ignoring the LSO), by offset.
    visible: BTreeMap<i64, Consumed>,
}

#[derive(Default)]
struct Model {
    batches: Vec<Batch>,
    high_watermark: i64,
    /// (first offset, marker) of transactions decided since the last restart or truncation.
    unreplicated: Vec<(i64, i64)>,
}

impl Model {
    fn log_end(&self) -> i64 {
        self.batches.last().map_or(0, |b| b.last + 1)
    }

    fn derive(&self) -> Derived {
        let mut d = Derived::default();
        let mut open_records: BTreeMap<i64, Vec<Consumed>> = BTreeMap::new();
        for b in &self.batches {
            let p = d.producers.entry(b.producer).or_insert(Producer {
                epoch: b.epoch,
                coordinator_epoch: -1,
                ..Producer::default()
            });
            if b.epoch != p.epoch {
                p.epoch = b.epoch;
                p.next_sequence = 0;
            }
            match &b.kind {
                Kind::Data {
                    transactional,
                    records,
                } => {
                    p.next_sequence += records.len() as i32;
                    if *transactional {
                        p.open.get_or_insert(b.base);
                        open_records
                            .entry(b.producer)
                            .or_default()
                            .extend(records.clone());
                    } else {
                        d.visible.extend(records.iter().map(|r| (r.0, r.clone())));
                    }
                }
                Kind::Marker {
                    commit,
                    coordinator_epoch,
                } => {
                    p.coordinator_epoch = *coordinator_epoch;
                    let records = open_records.remove(&b.producer).unwrap_or_default();
                    if let Some(first) = p.open.take() {
                        if *commit {
                            d.visible.extend(records.into_iter().map(|r| (r.0, r)));
                        } else {
                            d.aborted.push((b.producer, first, b.base));
                        }
                    }
                }
            }
        }
        d
    }

    fn first_unstable(&self, d: &Derived) -> Option<i64> {
        let open = d.producers.values().filter_map(|p| p.open);
        let unreplicated = self
            .unreplicated
            .iter()
            .filter(|&&(_, marker)| marker >= self.high_watermark)
            .map(|&(first, _)| first);
        open.chain(unreplicated).min()
    }

    fn aborted(&self, d: &Derived, start: i64, upper: i64) -> Vec<AbortedTransaction> {
        let mut found: Vec<_> = d
            .aborted
            .iter()
            .filter(|&&(_, first, last)| last >= start && first < upper)
            .map(|&(producer_id, first_offset, _)| AbortedTransaction {
                producer_id,
                first_offset,
            })
            .collect();
        found.sort_by_key(|a| (a.first_offset, a.producer_id));
        found
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 1024,
        index_interval_bytes: 200,
        open_segments_max: 2,
        ..LogConfig::for_tests()
    }
}

fn sorted(mut v: Vec<AbortedTransaction>) -> Vec<AbortedTransaction> {
    v.sort_by_key(|a| (a.first_offset, a.producer_id));
    v
}

fn check(log: &Log, model: &Model, pick: u64) -> Result<(), TestCaseError> {
    let d = model.derive();
    prop_assert_eq!(log.log_end_offset().unwrap(), model.log_end());
    prop_assert_eq!(log.high_watermark().unwrap(), model.high_watermark);
    let first_unstable = model.first_unstable(&d);
    prop_assert_eq!(log.first_unstable_offset().unwrap(), first_unstable);
    let lso = first_unstable.map_or(model.high_watermark, |f| f.min(model.high_watermark));
    prop_assert_eq!(log.last_stable_offset().unwrap(), lso);
    for id in 1..=PRODUCERS {
        let open = d.producers.get(&id).and_then(|p| p.open);
        let state = log.producer_state(id).unwrap();
        prop_assert_eq!(state.and_then(|s| s.current_txn_first_offset), open);
    }
    let end = model.log_end() + 1;
    let start = (pick % end as u64) as i64;
    let upper = start + ((pick >> 20) % (end - start + 1) as u64) as i64;
    for (s, u) in [(start, upper), (0, end), (start, end)] {
        let got = sorted(log.aborted_transactions(s, u).unwrap());
        prop_assert_eq!(got, model.aborted(&d, s, u), "range [{}, {})", s, u);
    }
    Ok(())
}

fn marker(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> TransactionMarker {
    TransactionMarker {
        producer_id,
        producer_epoch,
        result: if commit {
            TransactionResult::Commit
        } else {
            TransactionResult::Abort
        },
        coordinator_epoch,
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = common::tempdir();
    let mut log = Some(Log::open(dir.path(), config()).unwrap());
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        let l = log.as_ref().unwrap();
        let d = model.derive();
        match op {
            Op::Send {
                producer,
                count,
                transactional,
            } => {
                let p = d.producers.get(&producer).cloned().unwrap_or_default();
                let mut bytes = if transactional {
                    txn_batch(count, producer, p.epoch, p.next_sequence, 30)
                } else {
                    plain_idempotent(count, producer, p.epoch, p.next_sequence)
                };
                let result = l.append_as_leader(&mut bytes, 0);
                if !transactional && p.open.is_some() {
                    let refused = matches!(result, Err(StorageError::InvalidTxnState { .. }));
                    prop_assert!(refused, "{:?}", result);
                    continue;
                }
                let info = result.unwrap();
                prop_assert!(!info.duplicate);
                prop_assert_eq!(info.first_offset, model.log_end());
                let records = (0..count)
                    .map(|i| {
                        let mut value =
                            format!("p{producer}-s{}", p.next_sequence + i as i32).into_bytes();
                        value.resize(value.len().max(30), b'.');
                        (
                            info.first_offset + i as i64,
                            Some(format!("k{producer}").into_bytes()),
                            Some(value),
                        )
                    })
                    .collect();
                model.batches.push(Batch {
                    base: info.first_offset,
                    last: info.last_offset,
                    producer,
                    epoch: p.epoch,
                    kind: Kind::Data {
                        transactional,
                        records,
                    },
                });
            }
            Op::Plain => {
                let mut bytes = keyed_batch(
                    &[(b"plain".to_vec(), Some(b"v".to_vec()))],
                    1_000,
                    None,
                    false,
                );
                let info = l.append_as_leader(&mut bytes, 0).unwrap();
                model.batches.push(Batch {
                    base: info.first_offset,
                    last: info.last_offset,
                    producer: -1,
                    epoch: -1,
                    kind: Kind::Data {
                        transactional: false,
                        records: vec![(
                            info.first_offset,
                            Some(b"plain".to_vec()),
                            Some(b"v".to_vec()),
                        )],
                    },
                });
            }
            Op::End {
                producer,
                commit,
                fault,
            } => {
                let p = d.producers.get(&producer).cloned().unwrap_or(Producer {
                    coordinator_epoch: -1,
                    ..Producer::default()
                });
                let coordinator = p.coordinator_epoch.max(0) + i32::from(fault == 4);
                let (epoch, coordinator, refusal) = match fault {
                    1 if p.epoch > 0 => (p.epoch - 1, coordinator, Some("epoch")),
                    2 if p.coordinator_epoch > 0 => {
                        (p.epoch, p.coordinator_epoch - 1, Some("coordinator"))
                    }
                    3 if p.epoch < 3 => (p.epoch + 1, coordinator, None), // the coordinator fences
                    _ => (p.epoch, coordinator, None),
                };
                let result = l.append_control_as_leader(
                    &marker(producer, epoch, commit, coordinator),
                    0,
                    2_000,
                );
                match refusal {
                    Some("epoch") => {
                        let refused =
                            matches!(result, Err(StorageError::InvalidProducerEpoch { .. }));
                        prop_assert!(refused, "{:?}", result);
                        continue;
                    }
                    Some(_) => {
                        let refused = matches!(
                            result,
                            Err(StorageError::TransactionCoordinatorFenced { .. })
                        );
                        prop_assert!(refused, "{:?}", result);
                        continue;
                    }
                    None => {}
                }
                let info = result.unwrap();
                prop_assert_eq!(info.first_offset, model.log_end());
                if let Some(first) = p.open {
                    model.unreplicated.push((first, info.first_offset));
                }
                model.batches.push(Batch {
                    base: info.first_offset,
                    last: info.first_offset,
                    producer,
                    epoch,
                    kind: Kind::Marker {
                        commit,
                        coordinator_epoch: coordinator,
                    },
                });
            }
            Op::HighWatermark { pick } => {
                // Forward, to a batch boundary (a replica's log end), as replication moves it.
                let boundaries: Vec<i64> = model
                    .batches
                    .iter()
                    .map(|b| b.last + 1)
                    .filter(|&end| end >= model.high_watermark)
                    .collect();
                if let Some(&to) = boundaries.get((pick % (boundaries.len() as u64 + 1)) as usize) {
                    model.high_watermark = to;
                }
                l.set_high_watermark(model.high_watermark).unwrap();
            }
            Op::Fetch { pick, max_bytes } => {
                let lso = l.last_stable_offset().unwrap();
                let offset = (pick % (model.log_end() as u64 + 1)) as i64;
                let data = l.read_committed(offset, max_bytes, true).unwrap();
                prop_assert_eq!(data.last_stable_offset, lso);
                let aborted = sorted(data.aborted_transactions.clone().unwrap());
                match data.records {
                    None => {
                        prop_assert!(offset >= lso);
                        prop_assert!(aborted.is_empty());
                    }
                    Some(range) => {
                        let bytes = range.read_to_bytes().unwrap();
                        let last = protocol::records::RecordBatches::new(&bytes)
                            .map(|b| b.unwrap().last_offset())
                            .last()
                            .unwrap();
                        prop_assert!(last < lso, "fetched {} past the LSO {}", last, lso);
                        prop_assert_eq!(aborted, model.aborted(&d, offset, last + 1));
                    }
                }
            }
            Op::Truncate { pick } => {
                let end = model.log_end();
                if end == 0 {
                    continue;
                }
                let offset = 1 + (pick % end as u64) as i64;
                let new_end = l.truncate_to(offset).unwrap();
                model.batches.retain(|b| b.last < offset);
                let cut = model.batches.iter().position(|b| b.last >= new_end);
                prop_assert!(cut.is_none());
                prop_assert_eq!(new_end, model.log_end());
                model.unreplicated.clear();
                model.high_watermark = new_end;
                l.set_high_watermark(new_end).unwrap();
            }
            Op::Restart { clean, damage } => {
                let old = log.take().unwrap();
                if clean {
                    old.close().unwrap();
                }
                drop(old);
                if let Some((pick, remove)) = damage {
                    let mut files: Vec<_> = std::fs::read_dir(dir.path())
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .filter(|p| p.extension().is_some_and(|e| e == "txnindex"))
                        .collect();
                    files.sort();
                    if !files.is_empty() {
                        let path = pick.get(&files);
                        if remove {
                            std::fs::remove_file(path).unwrap();
                        } else {
                            std::fs::write(path, format!("garbage {step}")).unwrap();
                        }
                    }
                }
                log = Some(Log::open(dir.path(), config()).unwrap());
                model.unreplicated.clear();
                model.high_watermark = model.log_end();
                log.as_ref()
                    .unwrap()
                    .set_high_watermark(model.high_watermark)
                    .unwrap();
            }
        }
        model
            .unreplicated
            .retain(|&(_, marker)| marker >= model.high_watermark);
        check(log.as_ref().unwrap(), &model, step as u64 * 7919 + 13)?;
    }
    let l = log.as_ref().unwrap();
    l.verify_consistency().unwrap();
    let lso = l.last_stable_offset().unwrap();
    let expected: Vec<Consumed> = model
        .derive()
        .visible
        .range(..lso)
        .map(|(_, r)| r.clone())
        .collect();
    prop_assert_eq!(consume_committed(l, 0, 700), expected);
    Ok(())
}

/// An idempotent, non-transactional batch with the records `txn_batch` would hold.
fn plain_idempotent(count: usize, producer: i64, epoch: i16, sequence: i32) -> Vec<u8> {
    let records: Vec<_> = (0..count)
        .map(|i| {
            let mut value = format!("p{producer}-s{}", sequence + i as i32).into_bytes();
            value.resize(value.len().max(30), b'.');
            (format!("k{producer}").into_bytes(), Some(value))
        })
        .collect();
    keyed_batch(&records, 1_000, Some((producer, epoch, sequence)), false)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn transactions_match_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
