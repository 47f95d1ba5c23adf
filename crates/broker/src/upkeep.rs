//! Background upkeep of the hosted logs: retention (`retention.ms`, `retention.bytes`, the log
//! start offset) every `log.retention.check.interval.ms`, and time-based flushing
//! (`flush.ms`). It runs on its own thread because the log's file work is synchronous; appends
//! never wait for it (storage deletes files outside the partition lock).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::Broker;

/// How often the flusher looks for logs whose `flush.ms` has elapsed, at most.
const FLUSH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the upkeep thread; it stops once the broker begins shutting down.
pub fn start(broker: Arc<Broker>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("log-upkeep".into())
        .spawn(move || run(&broker))
        .expect("spawning the log upkeep thread")
}

fn run(broker: &Broker) {
    let retention_every = Duration::from_millis(broker.config.retention_check_interval_ms.max(100));
    let mut next_retention = Instant::now() + retention_every;
    while !broker.is_shutting_down() {
        std::thread::sleep(FLUSH_CHECK_INTERVAL.min(retention_every));
        let retention_due = Instant::now() >= next_retention;
        if retention_due {
            next_retention = Instant::now() + retention_every;
        }
        for partition in broker.replicas.all() {
            if broker.is_shutting_down() {
                return;
            }
            if let Err(error) = partition.flush_if_due() {
                tracing::warn!(partition = ?partition.topic_partition, %error, "time-based flush failed");
            }
            if retention_due {
                match partition.delete_retained_segments() {
                    Ok(outcome) => {
                        tracing::debug!(partition = ?partition.topic_partition, ?outcome, "retention")
                    }
                    Err(error) => {
                        tracing::warn!(partition = ?partition.topic_partition, %error, "retention failed")
                    }
                }
            }
        }
    }
}
