//! Property test: random sequences of appends, reads, retention, DeleteRecords, truncations and
//! restarts (clean and crashed) against a model of the log (a list of batches plus a log start
//! offset). After every step the log's offsets match the model; reads return exactly the model's
//! batch holding the requested offset; at the end the indexes agree with the log.

mod common;

use proptest::prelude::*;

use common::{batch, content, read_all};
use storage::{Log, LogConfig, StorageError};

#[derive(Debug, Clone)]
enum Op {
    Append {
        count: usize,
        value_bytes: usize,
        new_epoch: bool,
    },
    Read {
        pick: u64,
        max_bytes: u64,
        bound: u64,
    },
    DeleteRecords {
        pick: u64,
    },
    Retention,
    Truncate {
        pick: u64,
    },
    Restart {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 0usize..400, proptest::bool::weighted(0.1))
            .prop_map(|(count, value_bytes, new_epoch)| Op::Append { count, value_bytes, new_epoch }),
        3 => (any::<u64>(), 1u64..6000, any::<u64>())
            .prop_map(|(pick, max_bytes, bound)| Op::Read { pick, max_bytes, bound }),
        1 => any::<u64>().prop_map(|pick| Op::DeleteRecords { pick }),
        1 => Just(Op::Retention),
        1 => any::<u64>().prop_map(|pick| Op::Truncate { pick }),
        1 => any::<bool>().prop_map(|clean| Op::Restart { clean }),
    ]
}

struct Model {
    /// `(base offset, last offset, content with offset/epoch zeroed)`.
    batches: Vec<(i64, i64, Vec<u8>)>,
    log_start: i64,
    epoch: i32,
}

impl Model {
    fn log_end(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.log_start, |b| b.1 + 1)
            .max(self.log_start)
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 3000,
        index_interval_bytes: 400,
        open_segments_max: 2,
        retention_bytes: Some(9000),
        ..LogConfig::for_tests()
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = common::tempdir();
    let mut log = Some(Log::open(dir.path(), config()).unwrap());
    let mut model = Model {
        batches: Vec::new(),
        log_start: 0,
        epoch: 0,
    };
    for op in ops {
        let l = log.as_ref().unwrap();
        match op {
            Op::Append {
                count,
                value_bytes,
                new_epoch,
            } => {
                model.epoch += i32::from(new_epoch);
                let mut bytes = batch(count, value_bytes, 1_000);
                let info = l.append_as_leader(&mut bytes, model.epoch).unwrap();
                prop_assert_eq!(info.first_offset, model.log_end());
                model
                    .batches
                    .push((info.first_offset, info.last_offset, content(&bytes)));
                l.set_high_watermark(info.last_offset + 1).unwrap();
            }
            Op::Read {
                pick,
                max_bytes,
                bound,
            } => {
                let span = (model.log_end() - model.log_start + 1) as u64;
                let offset = model.log_start + (pick % span) as i64;
                // Half the reads are bounded by a high watermark somewhere above the offset.
                let max_offset = if bound % 2 == 0 {
                    i64::MAX
                } else {
                    offset + (bound % (model.log_end() - offset + 1) as u64) as i64
                };
                let data = l.read(offset, max_bytes, max_offset, true).unwrap();
                match model
                    .batches
                    .iter()
                    .find(|b| b.1 >= offset)
                    .filter(|b| b.1 < max_offset)
                {
                    None => prop_assert!(data.records.is_none()),
                    Some(want) => {
                        let bytes = data.records.unwrap().read_to_bytes().unwrap();
                        let batches: Vec<_> = protocol::records::RecordBatches::new(&bytes)
                            .map(|b| b.unwrap())
                            .collect();
                        prop_assert_eq!(batches[0].base_offset(), want.0);
                        prop_assert_eq!(content(batches[0].as_bytes()), want.2.clone());
                        prop_assert!(batches.len() == 1 || bytes.len() as u64 <= max_bytes);
                        for pair in batches.windows(2) {
                            prop_assert_eq!(pair[0].last_offset() + 1, pair[1].base_offset());
                        }
                        prop_assert!(batches.iter().all(|b| b.last_offset() < max_offset));
                    }
                }
                let below = model.log_start - 1;
                if below >= 0 {
                    let out_of_range = matches!(
                        l.read(below, 100, i64::MAX, true),
                        Err(StorageError::OffsetOutOfRange { .. })
                    );
                    prop_assert!(out_of_range);
                }
            }
            Op::DeleteRecords { pick } => {
                let span = (model.log_end() - model.log_start + 1) as u64;
                let offset = model.log_start + (pick % span) as i64;
                l.set_high_watermark(model.log_end()).unwrap();
                prop_assert_eq!(l.delete_records(offset).unwrap(), offset);
                model.log_start = offset;
            }
            Op::Retention => {
                l.delete_retained_segments().unwrap();
                let start = l.log_start_offset().unwrap();
                prop_assert!(start >= model.log_start);
                model.log_start = start;
            }
            Op::Truncate { pick } => {
                let span = (model.log_end() - model.log_start + 1) as u64;
                let offset = model.log_start + (pick % span) as i64;
                if offset > model.log_start {
                    let end = l.truncate_to(offset).unwrap();
                    model.batches.retain(|b| b.1 < offset);
                    prop_assert_eq!(end, model.log_end());
                }
            }
            Op::Restart { clean } => {
                let old = log.take().unwrap();
                if clean {
                    old.close().unwrap();
                }
                drop(old);
                log = Some(Log::open(dir.path(), config()).unwrap());
            }
        }
        model.batches.retain(|b| b.1 >= model.log_start);
        let l = log.as_ref().unwrap();
        prop_assert_eq!(l.log_end_offset().unwrap(), model.log_end());
        prop_assert_eq!(l.log_start_offset().unwrap(), model.log_start);
    }
    let l = log.as_ref().unwrap();
    l.verify_consistency().unwrap();
    let served = read_all(l, model.log_start, 2000);
    prop_assert_eq!(served.len(), model.batches.len());
    for (got, want) in served.iter().zip(&model.batches) {
        prop_assert_eq!((got.0, got.1), (want.0, want.1));
        prop_assert_eq!(content(&got.2), want.2.clone());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
