//! The internal topic `__consumer_offsets` on this broker: creating it at start (through the
//! metadata writer, like any topic), appending the group coordinator's records to one of its
//! partitions as one batch, and reading a partition back to rebuild a coordinator
//! (`GroupCoordinator::replay`).
//!
//! The records are Kafka's coordinator records (`coordinator::records`), so tools that read the
//! topic understand them. The topic is `cleanup.policy=compact` as in Kafka: the log cleaner
//! keeps the latest record of each key (offset commit, group metadata), so a restart replays
//! about the live keys, not every commit ever made. A replay reads through the gaps compaction
//! leaves.
//!
//! Not here: the coordinator's rules (crate `coordinator`), locking and the ordering of appends
//! (`group_coordinator.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use coordinator::{CoordinatorRecord, GroupCoordinator, OFFSETS_TOPIC};
use protocol::ErrorCode;
use protocol::records::{
    Record, RecordBatchBuilder, RecordBatches, RecordsError, decode_batch_records,
};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::metadata_writer::NewTopic;
use crate::partitions::Partition;

/// Bytes read from the log per step of a replay.
const REPLAY_READ_BYTES: u64 = 1 << 20;
/// Largest decompressed batch a replay accepts (decompression bombs).
const REPLAY_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// Creates `__consumer_offsets` with `offsets.topic.num.partitions` partitions and
/// `replication_factor` replicas unless it exists, makes sure this node's logs of it are open,
/// and returns its partition count (an existing topic keeps the count it was created with, as
/// in Kafka, because groups are placed by `hash % count`).
pub async fn ensure_topic(
    broker: &Arc<Broker>,
    replication_factor: i16,
) -> Result<i32, BrokerError> {
    let writer = broker.metadata_writer;
    let topic = match broker.metadata.topic(OFFSETS_TOPIC) {
        Some(topic) => topic,
        None => {
            let created = writer
                .create_topic(
                    broker,
                    NewTopic {
                        name: OFFSETS_TOPIC.to_string(),
                        partitions: broker.config.offsets_topic_partitions,
                        replication_factor,
                        assignment: None,
                        configs: topic_configs(&broker.config),
                        validate_only: false,
                    },
                )
                .await;
            match created {
                Ok(topic) => topic,
                // Created meanwhile (by a client, or another broker of the cluster).
                Err(error) if error.error_code() == ErrorCode::TopicAlreadyExists => {
                    broker.metadata.topic(OFFSETS_TOPIC).ok_or(error)?
                }
                Err(error) => return Err(error),
            }
        }
    };
    writer.open_local_partitions(broker, &topic).await?;
    Ok(topic.partitions)
}

/// The config overrides `__consumer_offsets` is created with, as Kafka's: compacted, the
/// producer's compression, `offsets.topic.segment.bytes` segments (so the cleaner has closed
/// segments to compact long before a 1 GiB segment would fill).
pub fn topic_configs(broker_config: &BrokerConfig) -> BTreeMap<String, String> {
    let segment_bytes = broker_config
        .value("offsets.topic.segment.bytes")
        .unwrap_or("104857600")
        .to_string();
    BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("compression.type".to_string(), "producer".to_string()),
        ("segment.bytes".to_string(), segment_bytes),
    ])
}

/// Appends `records` to `partition` as one uncompressed batch (a null value is a tombstone),
/// through the leader path Produce uses: the HighWatermark advances and fetches wake.
pub fn append(
    partition: &Partition,
    records: &[CoordinatorRecord],
    now_ms: i64,
) -> Result<(), BrokerError> {
    let mut builder = RecordBatchBuilder::new().base_timestamp(now_ms);
    for (delta, record) in records.iter().enumerate() {
        let offset_delta = i32::try_from(delta).map_err(|_| {
            BrokerError::CorruptMessage(RecordsError::BatchTooLarge {
                size_bytes: records.len(),
            })
        })?;
        builder
            .push(Record {
                offset_delta,
                timestamp_delta: 0,
                key: Some(record.key.clone()),
                value: record.value.clone(),
                headers: Vec::new(),
            })
            .map_err(BrokerError::CorruptMessage)?;
    }
    let mut batch = builder
        .build()
        .map_err(BrokerError::CorruptMessage)?
        .to_vec();
    partition.append_as_leader(&mut batch)?;
    Ok(())
}

/// What a replay read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayStats {
    pub records: u64,
    /// Records the coordinator could not decode; skipped with a warning.
    pub skipped: u64,
}

/// Feeds every record of `partition`, in log order, to `coordinator.replay`. A record that does
/// not decode is skipped (and logged) rather than keeping every group of the partition
/// unavailable; a batch that does not parse ends the replay with an error.
pub fn replay(
    partition: &Partition,
    coordinator: &mut GroupCoordinator,
) -> Result<ReplayStats, BrokerError> {
    let mut stats = ReplayStats::default();
    let mut offset = partition.log_start_offset()?;
    let log_end = partition.log_end_offset()?;
    // Bounded: every step moves `offset` forward or stops.
    while offset < log_end {
        let data = partition.read(offset, REPLAY_READ_BYTES, log_end, true)?;
        let Some(range) = data.records else { break };
        let bytes = range
            .read_to_bytes()
            .map_err(|e| BrokerError::io("reading __consumer_offsets", e))?;
        let mut next = offset;
        for header in RecordBatches::allowing_partial_tail(&bytes) {
            let header = header.map_err(BrokerError::CorruptMessage)?;
            next = header.last_offset() + 1;
            if header.is_control() || header.last_offset() < offset {
                continue;
            }
            let records = decode_batch_records(&header, &bytes, REPLAY_DECOMPRESSED_BYTES_MAX)
                .map_err(BrokerError::CorruptMessage)?;
            for record in records {
                let record = record.map_err(BrokerError::CorruptMessage)?;
                let Some(key) = record.key else {
                    stats.skipped += 1;
                    continue;
                };
                stats.records += 1;
                if let Err(error) = coordinator.replay(&key, record.value.as_deref()) {
                    stats.skipped += 1;
                    tracing::warn!(
                        partition = partition.topic_partition.partition,
                        offset = header.base_offset() + i64::from(record.offset_delta),
                        %error,
                        "skipping a __consumer_offsets record"
                    );
                }
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(stats)
}
