//! Test support shared by the storage integration tests: building valid v2 batches with
//! protocol's `RecordBatchBuilder`, opening logs with a controllable clock, and reading back
//! everything a log serves.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use protocol::records::{Record, RecordBatchBuilder, RecordBatchHeader, RecordBatches};
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
