//! Test support shared by the storage integration tests: building valid v2 batches with
//! protocol's `RecordBatchBuilder` (plain, idempotent, transactional), opening logs with a
//! controllable clock, reading back everything a log serves, and consuming a log as a
//! read_committed Kafka consumer does.

#![allow(dead_code)]

pub mod txn;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use bytes::Bytes;
use protocol::records::{
    ControlRecordType, Record, RecordBatchBuilder, RecordBatchHeader, RecordBatches,
    decode_batch_records,
};
use storage::{Log, LogConfig};

/// A v2 batch of `count` records with `value_bytes`-byte values, timestamps from `timestamp`.
pub fn batch(count: usize, value_bytes: usize, timestamp: i64) -> Vec<u8> {
    build(
        RecordBatchBuilder::new().base_timestamp(timestamp),
        count,
        value_bytes,
    )
}

/// An idempotent batch from `producer_id` at `epoch` starting at `sequence`.
pub fn producer_batch(count: usize, producer_id: i64, epoch: i16, sequence: i32) -> Vec<u8> {
    let builder =
        RecordBatchBuilder::new()
            .base_timestamp(1_000)
            .producer(producer_id, epoch, sequence);
    build(builder, count, 8)
}

/// A batch of keyed records (`None` value = tombstone) from `producer` (`(id, epoch,
/// sequence)`), transactional or not.
pub fn keyed_batch(
    records: &[(Vec<u8>, Option<Vec<u8>>)],
    timestamp: i64,
    producer: Option<(i64, i16, i32)>,
    transactional: bool,
) -> Vec<u8> {
    let mut builder = RecordBatchBuilder::new()
        .base_timestamp(timestamp)
        .transactional(transactional);
    if let Some((id, epoch, sequence)) = producer {
        builder = builder.producer(id, epoch, sequence);
    }
    for (i, (key, value)) in records.iter().enumerate() {
        builder
            .push(Record {
                offset_delta: i as i32,
                timestamp_delta: i as i64,
                key: Some(Bytes::from(key.clone())),
                value: value.clone().map(Bytes::from),
                headers: Vec::new(),
            })
            .expect("valid record");
    }
    builder.build().expect("valid batch").to_vec()
}

/// A transactional batch from `producer_id` at `epoch` starting at `sequence`, whose values
/// name the producer and sequence (`p<id>-s<sequence>`, padded to `value_bytes`).
pub fn txn_batch(
    count: usize,
    producer_id: i64,
    epoch: i16,
    sequence: i32,
    value_bytes: usize,
) -> Vec<u8> {
    let records: Vec<_> = (0..count)
        .map(|i| {
            let mut value = format!("p{producer_id}-s{}", sequence + i as i32).into_bytes();
            value.resize(value.len().max(value_bytes), b'.');
            (format!("k{producer_id}").into_bytes(), Some(value))
        })
        .collect();
    keyed_batch(&records, 1_000, Some((producer_id, epoch, sequence)), true)
}

/// One record a consumer got: offset, key, value.
pub type Consumed = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// What a read_committed Kafka consumer receives from `from` up to the last stable offset,
/// fetching `max_bytes` at a time with `Log::read_committed` and filtering as Kafka's
/// `CompletedFetch` does: per fetch, the aborted transactions sorted by first offset; a
/// producer joins the aborted set when a batch reaches its first offset, leaves it at its ABORT
/// marker; its transactional batches in between are skipped; control batches are never
/// returned.
pub fn consume_committed(log: &Log, from: i64, max_bytes: u64) -> Vec<Consumed> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let data = log
            .read_committed(offset, max_bytes, true)
            .expect("read_committed");
        assert!(data.last_stable_offset <= data.high_watermark);
        let Some(range) = data.records else {
            // Nothing to read below the LSO: the offset is at or past it, or compaction left
            // no batch between them (the next batch reaches the LSO).
            let next = log.read(offset, 1, i64::MAX, true).expect("read").records;
            let next_last = next.map(|r| {
                let bytes = r.read_to_bytes().expect("read");
                RecordBatchHeader::parse(&bytes)
                    .expect("batch")
                    .last_offset()
            });
            assert!(
                offset >= data.last_stable_offset
                    || next_last.is_none_or(|last| last >= data.last_stable_offset),
                "nothing returned at {offset} below the LSO {}",
                data.last_stable_offset
            );
            return out;
        };
        let mut pending: BinaryHeap<Reverse<(i64, i64)>> = data
            .aborted_transactions
            .expect("read_committed lists aborted transactions")
            .iter()
            .map(|a| Reverse((a.first_offset, a.producer_id)))
            .collect();
        let mut aborted = HashSet::new();
        let bytes = range.read_to_bytes().expect("read");
        for batch in RecordBatches::new(&bytes) {
            let batch: RecordBatchHeader<'_> = batch.expect("whole batches");
            batch.verify_crc().expect("crc");
            assert!(
                batch.last_offset() < data.last_stable_offset,
                "read_committed returned a batch at {} past the LSO {}",
                batch.base_offset(),
                data.last_stable_offset
            );
            if batch.last_offset() < offset {
                continue;
            }
            let records: Vec<Record> = decode_batch_records(&batch, &bytes, 1 << 24)
                .expect("records")
                .map(|r| r.expect("record"))
                .collect();
            let producer_id = batch.producer_id();
            let mut skip = batch.is_control();
            if producer_id >= 0 {
                while let Some(&Reverse((first, id))) = pending.peek() {
                    if first > batch.last_offset() {
                        break;
                    }
                    pending.pop();
                    aborted.insert(id);
                }
                if batch.is_control() {
                    let abort = records.first().is_some_and(|r| {
                        r.key
                            .as_deref()
                            .and_then(|k| ControlRecordType::parse_key(k).ok())
                            == Some(ControlRecordType::Abort)
                    });
                    if abort {
                        aborted.remove(&producer_id);
                    }
                } else if batch.is_transactional() && aborted.contains(&producer_id) {
                    skip = true;
                }
            }
            if !skip {
                for record in records {
                    let at = batch.base_offset() + i64::from(record.offset_delta);
                    if at >= offset {
                        out.push((
                            at,
                            record.key.map(|k| k.to_vec()),
                            record.value.map(|v| v.to_vec()),
                        ));
                    }
                }
            }
            offset = batch.last_offset() + 1;
        }
    }
}

fn build(mut builder: RecordBatchBuilder, count: usize, value_bytes: usize) -> Vec<u8> {
    for i in 0..count {
        builder
            .push(Record {
                offset_delta: i as i32,
                timestamp_delta: i as i64,
                key: None,
                value: Some(vec![b'x'; value_bytes].into()),
                headers: Vec::new(),
            })
            .expect("valid record");
    }
    builder.build().expect("valid batch").to_vec()
}

/// A temporary directory, on tmpfs when the machine has one: these tests simulate crashes by
/// damaging files themselves, so real fsyncs only make them slow on a shared disk.
pub fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temporary directory")
}

/// A clock tests move by hand.
#[derive(Clone)]
pub struct ManualClock(pub Arc<AtomicI64>);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_ms)))
    }
    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    pub fn clock(&self) -> storage::Clock {
        let now = Arc::clone(&self.0);
        Arc::new(move || now.load(Ordering::SeqCst))
    }
}

pub fn open(dir: &Path, config: LogConfig) -> Log {
    Log::open(dir, config).expect("open log")
}

/// `(base offset, last offset, bytes)` of every batch the log serves from `from` to its end,
/// read through `Log::read` in chunks of `max_bytes`.
pub fn read_all(log: &Log, from: i64, max_bytes: u64) -> Vec<(i64, i64, Vec<u8>)> {
    let log_end = log.log_end_offset().unwrap();
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log_end {
        let data = log.read(offset, max_bytes, i64::MAX, true).expect("read");
        let range = data.records.expect("a non-empty read below the log end");
        let bytes = range.read_to_bytes().unwrap();
        let mut progressed = false;
        for batch in RecordBatches::new(&bytes) {
            let batch: RecordBatchHeader<'_> = batch.expect("whole batches");
            batch.verify_crc().expect("crc");
            if batch.last_offset() >= offset {
                out.push((
                    batch.base_offset(),
                    batch.last_offset(),
                    batch.as_bytes().to_vec(),
                ));
                offset = batch.last_offset() + 1;
                progressed = true;
            }
        }
        assert!(progressed, "read at {offset} made no progress");
    }
    out
}

/// Bytes of the batch with its header's offset and epoch fields zeroed, for comparing content.
pub fn content(bytes: &[u8]) -> Vec<u8> {
    let mut copy = bytes.to_vec();
    copy[0..8].fill(0);
    copy[12..16].fill(0);
    copy
}
