//! The broker's log cleaner: `log.cleaner.threads` threads that compact the hosted logs of
//! `cleanup.policy=compact` topics (Kafka's `LogCleaner` and `LogCleanerManager`).
//!
//! Each thread, in a loop: picks the dirtiest log that is due (its dirty ratio reached
//! `min.cleanable.dirty.ratio`, a dirty segment passed `max.compaction.lag.ms`, or kept
//! tombstones passed their delete horizon) and that no other thread is cleaning, cleans it
//! (storage's `Log::clean`, see docs/internals/storage.md), and looks again at once; with
//! nothing due it sleeps `log.cleaner.backoff.ms`. A log whose cleaning fails (a corrupt batch,
//! a failed write) is left alone for an hour and the failure is logged, as Kafka marks a
//! partition uncleanable. Leaders and followers clean their own replicas, as in Kafka.
//!
//! Memory: `log.cleaner.dedupe.buffer.size` is divided among the threads (each cleaning's key
//! map holds its share). I/O: `log.cleaner.io.max.bytes.per.second` bounds each thread.
//! Shutdown sets an abort flag the storage cleaner checks at every batch, so stopping never
//! waits for a long cleaning; an aborted cleaning leaves the log as it was.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use storage::{CleanerOptions, CleaningOutcome, StorageError};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::partitions::{Partition, TopicPartition};

/// How long a log whose cleaning failed is skipped.
const UNCLEANABLE_BACKOFF: Duration = Duration::from_secs(3600);
/// The most a sleeping cleaner waits before it checks for shutdown.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(200);

/// The cleaner's broker-wide settings (`log.cleaner.*`).
#[derive(Debug, Clone)]
pub struct CleanerSettings {
    pub enabled: bool,
    pub threads: usize,
    pub backoff: Duration,
    pub dedupe_buffer_bytes: u64,
    pub io_max_bytes_per_second: Option<u64>,
}

impl CleanerSettings {
    /// Reads the settings; the values were validated when the configuration was loaded.
    pub fn from_config(config: &BrokerConfig) -> Self {
        let value = |name: &str| config.value(name).unwrap_or_default();
        let io_rate = value("log.cleaner.io.max.bytes.per.second")
            .parse::<f64>()
            .ok()
            .filter(|rate| *rate >= 1.0 && *rate < u64::MAX as f64)
            .map(|rate| rate as u64);
        Self {
            enabled: value("log.cleaner.enable") != "false",
            threads: value("log.cleaner.threads").parse().unwrap_or(1),
            backoff: Duration::from_millis(
                value("log.cleaner.backoff.ms").parse().unwrap_or(15_000),
            ),
            dedupe_buffer_bytes: value("log.cleaner.dedupe.buffer.size")
                .parse()
                .unwrap_or(128 << 20),
            io_max_bytes_per_second: io_rate,
        }
    }
}

/// What the cleaner threads share: which logs are being cleaned, which failed.
#[derive(Default)]
struct Shared {
    in_progress: HashSet<TopicPartition>,
    uncleanable_until: HashMap<TopicPartition, Instant>,
}

/// The running cleaner threads.
pub struct LogCleaner {
    threads: Vec<std::thread::JoinHandle<()>>,
    abort: Arc<AtomicBool>,
}

impl LogCleaner {
    /// Starts the threads (none when `log.cleaner.enable=false` or `log.cleaner.threads=0`).
    pub fn start(broker: Arc<Broker>) -> Self {
        let settings = CleanerSettings::from_config(&broker.config);
        let abort = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let count = if settings.enabled {
            settings.threads
        } else {
            0
        };
        let threads = (0..count)
            .map(|i| {
                let (broker, settings, shared, abort) = (
                    broker.clone(),
                    settings.clone(),
                    shared.clone(),
                    abort.clone(),
                );
                std::thread::Builder::new()
                    .name(format!("log-cleaner-{i}"))
                    .spawn(move || run(&broker, &settings, count, &shared, &abort))
                    .expect("spawning a log cleaner thread")
            })
            .collect();
        Self { threads, abort }
    }

    /// Aborts running cleanings and waits for the threads (the broker is shutting down).
    pub fn stop(self) {
        self.abort.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn run(
    broker: &Broker,
    settings: &CleanerSettings,
    threads: usize,
    shared: &Mutex<Shared>,
    abort: &Arc<AtomicBool>,
) {
    let options = CleanerOptions {
        dedupe_buffer_bytes: usize::try_from(settings.dedupe_buffer_bytes / threads.max(1) as u64)
            .unwrap_or(usize::MAX),
        io_max_bytes_per_second: settings.io_max_bytes_per_second,
        abort: Some(abort.clone()),
        ..CleanerOptions::default()
    };
    let stopping = || broker.is_shutting_down() || abort.load(std::sync::atomic::Ordering::Relaxed);
    while !stopping() {
        match grab_filthiest(broker, shared) {
            Some(partition) => {
                let tp = partition.topic_partition.clone();
                let started = Instant::now();
                let result = partition.clean(&options);
                let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
                shared.in_progress.remove(&tp);
                report(
                    &tp,
                    result,
                    started.elapsed(),
                    settings.backoff,
                    &mut shared,
                );
            }
            None => {
                let until = Instant::now() + settings.backoff;
                while !stopping() && Instant::now() < until {
                    std::thread::sleep(SHUTDOWN_CHECK.min(settings.backoff));
                }
            }
        }
    }
}

/// The due log with the highest dirty ratio (overdue logs first), marked in progress.
fn grab_filthiest(broker: &Broker, shared: &Mutex<Shared>) -> Option<Arc<Partition>> {
    let now = Instant::now();
    let mut best: Option<(bool, f64, Arc<Partition>)> = None;
    for partition in broker.replicas.all() {
        let config = partition.config();
        if !config.compact {
            continue;
        }
        {
            let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            let tp = &partition.topic_partition;
            if shared.in_progress.contains(tp) {
                continue;
            }
            match shared.uncleanable_until.get(tp) {
                Some(until) if *until > now => continue,
                Some(_) => {
                    shared.uncleanable_until.remove(tp);
                }
                None => {}
            }
        }
        let Ok(Some(summary)) = partition.cleanable_summary() else {
            continue;
        };
        if !summary.due(config.log.min_cleanable_dirty_ratio) {
            continue;
        }
        let rank = (
            summary.compaction_overdue || summary.delete_horizon_passed,
            summary.dirty_ratio,
        );
        if best
            .as_ref()
            .is_none_or(|(overdue, ratio, _)| rank > (*overdue, *ratio))
        {
            best = Some((rank.0, rank.1, partition));
        }
    }
    let (_, _, partition) = best?;
    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    // Another thread may have taken it while this one looked.
    shared
        .in_progress
        .insert(partition.topic_partition.clone())
        .then_some(partition)
}

fn report(
    tp: &TopicPartition,
    result: Result<Option<CleaningOutcome>, BrokerError>,
    elapsed: Duration,
    backoff: Duration,
    shared: &mut Shared,
) {
    match result {
        Ok(Some(outcome)) => tracing::info!(
            topic = %tp.topic, partition = tp.partition,
            elapsed_ms = elapsed.as_millis() as u64,
            read_mb_per_s = format!("{:.1}", outcome.bytes_read as f64 / 1e6 / elapsed.as_secs_f64().max(1e-6)),
            read_bytes = outcome.bytes_read, written_bytes = outcome.bytes_written,
            records_read = outcome.stats.records_read, records_kept = outcome.stats.records_kept,
            end_offset = outcome.end_offset, interrupted = outcome.interrupted,
            "log cleaned"
        ),
        // Due but nothing to do, or aborted (a source went away): look again after a backoff,
        // not at once (a log that stays "due" must not spin a thread).
        Ok(None) | Err(BrokerError::Storage(StorageError::CleaningAborted { .. })) => {
            shared
                .uncleanable_until
                .insert(tp.clone(), Instant::now() + backoff);
        }
        Err(error) => {
            tracing::warn!(topic = %tp.topic, partition = tp.partition, %error,
                "cleaning failed; the log is left uncleaned for an hour");
            shared
                .uncleanable_until
                .insert(tp.clone(), Instant::now() + UNCLEANABLE_BACKOFF);
        }
    }
}
