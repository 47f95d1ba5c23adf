//! The storage benchmark: appends 1 KiB-record batches (16 KiB and 1 MiB batches) to a `Log`,
//! reads them back, and in the same run measures the same disk with plain file I/O, printing
//! the ratios issue 3 sets targets for:
//!
//! - page-cache mode: log append throughput vs a plain buffered sequential write of the same
//!   bytes (target >= 80%); log read-back vs a plain sequential read of the raw file;
//! - fsync mode: 8 threads appending to one log with `FsyncBeforeAck` (group commit) vs one
//!   raw loop writing the same bytes and calling `fdatasync` once per MiB (target >= 50%).
//!
//! Each measurement is repeated (`--reps`, default 5) with raw and log runs interleaved, and the
//! median is reported. Files go to `--dir` (default: the system temp dir, which must be a real
//! disk, not tmpfs, for the fsync figures to mean anything).
//!
//! Usage: `cargo run --release -p storage-bench -- [--dir PATH] [--total-mib N]
//! [--fsync-total-mib N] [--reps N] [--append-verifies-crc true|false]` (default false, the
//! log's default: the broker's produce validation already checked the CRC).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use protocol::records::{Record, RecordBatchBuilder, RecordBatches};
use storage::{FlushPolicy, Log, LogConfig};

const RECORD_VALUE_BYTES: usize = 1024;
const MIB: u64 = 1 << 20;
const APPENDERS: usize = 8;

struct Args {
    dir: PathBuf,
    append_verifies_crc: bool,
    total_mib: u64,
    fsync_total_mib: u64,
    reps: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: std::env::temp_dir(),
        append_verifies_crc: false,
        total_mib: 256,
        fsync_total_mib: 64,
        reps: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value),
            "--total-mib" => args.total_mib = value.parse().expect("--total-mib N"),
            "--fsync-total-mib" => {
                args.fsync_total_mib = value.parse().expect("--fsync-total-mib N")
            }
            "--reps" => args.reps = value.parse().expect("--reps N"),
            "--append-verifies-crc" => {
                args.append_verifies_crc = value.parse().expect("--append-verifies-crc true|false")
            }
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A v2 batch of `records` records with 1 KiB values.
fn make_batch(records: usize) -> Vec<u8> {
    let mut builder = RecordBatchBuilder::new().base_timestamp(1_700_000_000_000);
    for i in 0..records {
        builder
            .push(Record {
                offset_delta: i as i32,
                timestamp_delta: 0,
                key: None,
                value: Some(vec![b'v'; RECORD_VALUE_BYTES].into()),
                headers: Vec::new(),
            })
            .expect("record");
    }
    builder.build().expect("batch").to_vec()
}

/// Median of the per-repetition ratios `a[i] / b[i]` (paired, so machine-wide noise in one
/// repetition affects both sides of its ratio).
fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    median(a.iter().zip(b).map(|(x, y)| x / y).collect())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / MIB as f64 / seconds
}

fn page_cache_config(append_verifies_crc: bool) -> LogConfig {
    LogConfig {
        append_verifies_crc,
        retention_ms: None,
        segment_ms: None,
        ..LogConfig::default()
    }
}

/// Plain buffered sequential write of `count` copies of `batch`; returns seconds.
fn raw_write(path: &Path, batch: &[u8], count: u64) -> f64 {
    let start = Instant::now();
    let mut out = BufWriter::new(File::create(path).expect("create raw file"));
    for _ in 0..count {
        out.write_all(batch).expect("raw write");
    }
    out.into_inner().expect("flush raw");
    start.elapsed().as_secs_f64()
}

/// Appends `count` copies of `batch` to a fresh log; returns seconds.
fn log_append(dir: &Path, batch: &[u8], count: u64, verify: bool) -> (Log, f64) {
    let log = Log::open(dir, page_cache_config(verify)).expect("open log");
    let mut buf = batch.to_vec();
    let start = Instant::now();
    for _ in 0..count {
        log.append_as_leader(&mut buf, 0).expect("append");
    }
    (log, start.elapsed().as_secs_f64())
}

/// Reads the whole log back through `Log::read` (1 MiB fetches); returns seconds.
fn log_read(log: &Log) -> f64 {
    let end = log.log_end_offset().expect("log end");
    let mut bytes = Vec::with_capacity(MIB as usize);
    let start = Instant::now();
    let mut offset = 0;
    while offset < end {
        let data = log.read(offset, MIB, i64::MAX, true).expect("read");
        let range = data.records.expect("records");
        range.read_into(&mut bytes).expect("pread");
        let last = RecordBatches::new(&bytes)
            .last()
            .expect("a batch")
            .expect("whole batch");
        offset = last.last_offset() + 1;
    }
    start.elapsed().as_secs_f64()
}

/// Plain sequential read of a file in 1 MiB chunks; returns seconds.
fn raw_read(path: &Path) -> f64 {
    let file = File::open(path).expect("open raw");
    let len = file.metadata().expect("metadata").len();
    let mut buf = vec![0u8; MIB as usize];
    let start = Instant::now();
    let mut position = 0;
    while position < len {
        let n = (len - position).min(MIB) as usize;
        file.read_exact_at(&mut buf[..n], position)
            .expect("raw read");
        position += n as u64;
    }
    start.elapsed().as_secs_f64()
}

/// Raw loop: writes `count` copies of `batch`, `fdatasync` after every MiB; returns seconds.
fn raw_fsync(path: &Path, batch: &[u8], count: u64) -> f64 {
    let start = Instant::now();
    let mut file = File::create(path).expect("create raw file");
    let mut unsynced = 0u64;
    for _ in 0..count {
        file.write_all(batch).expect("raw write");
        unsynced += batch.len() as u64;
        if unsynced >= MIB {
            file.sync_data().expect("fdatasync");
            unsynced = 0;
        }
    }
    file.sync_data().expect("fdatasync");
    start.elapsed().as_secs_f64()
}

/// 8 threads append `count` batches in total to one log in fsync-before-ack mode.
fn log_fsync(dir: &Path, batch: &[u8], count: u64, verify: bool) -> f64 {
    let config = LogConfig {
        flush_policy: FlushPolicy::FsyncBeforeAck,
        ..page_cache_config(verify)
    };
    let log = Arc::new(Log::open(dir, config).expect("open log"));
    let start = Instant::now();
    let threads: Vec<_> = (0..APPENDERS)
        .map(|i| {
            let log = Arc::clone(&log);
            let mut buf = batch.to_vec();
            let share = count / APPENDERS as u64 + u64::from((i as u64) < count % APPENDERS as u64);
            std::thread::spawn(move || {
                for _ in 0..share {
                    log.append_as_leader(&mut buf, 0).expect("append");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("appender");
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let args = parse_args();
    println!(
        "storage bench: dir {}, append_verifies_crc {}, {} MiB per page-cache run, {} MiB per fsync run, {} reps, {} KiB records",
        args.dir.display(),
        args.append_verifies_crc,
        args.total_mib,
        args.fsync_total_mib,
        args.reps,
        RECORD_VALUE_BYTES / 1024
    );
    for records in [16usize, 1024] {
        let batch = make_batch(records);
        let label = if records == 16 { "16 KiB" } else { "1 MiB" };
        let count = (args.total_mib * MIB).div_ceil(batch.len() as u64);
        let bytes = count * batch.len() as u64;
        let (mut raw_w, mut log_w, mut raw_r, mut log_r) = (vec![], vec![], vec![], vec![]);
        for rep in 0..args.reps {
            // Alternate which side writes first, so dirty-page writeback pressure from the
            // first run does not always land on the same side.
            let work = tempfile::tempdir_in(&args.dir).expect("bench dir");
            let raw_path = work.path().join("raw.bin");
            let log_dir = work.path().join("topic-0");
            let verify = args.append_verifies_crc;
            let log = if rep % 2 == 0 {
                raw_w.push(mib_per_s(bytes, raw_write(&raw_path, &batch, count)));
                let (log, seconds) = log_append(&log_dir, &batch, count, verify);
                log_w.push(mib_per_s(bytes, seconds));
                log
            } else {
                let (log, seconds) = log_append(&log_dir, &batch, count, verify);
                log_w.push(mib_per_s(bytes, seconds));
                raw_w.push(mib_per_s(bytes, raw_write(&raw_path, &batch, count)));
                log
            };
            raw_r.push(mib_per_s(bytes, raw_read(&raw_path)));
            log_r.push(mib_per_s(bytes, log_read(&log)));
        }
        let (write_ratio, read_ratio) =
            (paired_ratio(&log_w, &raw_w), paired_ratio(&log_r, &raw_r));
        let (rw, lw, rr, lr) = (median(raw_w), median(log_w), median(raw_r), median(log_r));
        println!(
            "page cache, {label} batches ({} B): raw write {rw:.0} MiB/s, log append {lw:.0} MiB/s, median paired ratio {write_ratio:.2} (target >= 0.80)",
            batch.len(),
        );
        println!(
            "page cache, {label} batches: raw read {rr:.0} MiB/s, log read {lr:.0} MiB/s, median paired ratio {read_ratio:.2}"
        );

        let fsync_count = (args.fsync_total_mib * MIB).div_ceil(batch.len() as u64);
        let fsync_bytes = fsync_count * batch.len() as u64;
        let (mut raw_f, mut log_f) = (vec![], vec![]);
        for _ in 0..args.reps {
            let work = tempfile::tempdir_in(&args.dir).expect("bench dir");
            raw_f.push(mib_per_s(
                fsync_bytes,
                raw_fsync(&work.path().join("raw.bin"), &batch, fsync_count),
            ));
            log_f.push(mib_per_s(
                fsync_bytes,
                log_fsync(
                    &work.path().join("topic-0"),
                    &batch,
                    fsync_count,
                    args.append_verifies_crc,
                ),
            ));
        }
        let fsync_ratio = paired_ratio(&log_f, &raw_f);
        let (rf, lf) = (median(raw_f), median(log_f));
        println!(
            "fsync, {label} batches, {APPENDERS} appenders: raw write+fdatasync/MiB {rf:.0} MiB/s, log group commit {lf:.0} MiB/s, median paired ratio {fsync_ratio:.2} (target >= 0.50)"
        );
    }
}
