//! The internal topic `__consumer_offsets` on this broker: creating it at start (through the
//! metadata writer, like any topic), appending the group coordinator's records to one of its
//! partitions as one batch, and reading a partition back to rebuild a coordinator
//! (`GroupCoordinator::replay`, with transactional offset commits pending until their marker,
//! `GroupCoordinator::replay_transactional` and `complete_transaction`).
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

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
pub use crate::internal_log::ReplayStats;
use crate::internal_log::{self, ReplayItem, TransactionalProducer};
use crate::partitions::Partition;

/// Creates `__consumer_offsets` with `offsets.topic.num.partitions` partitions and
/// `replication_factor` replicas unless it exists, makes sure this node's logs of it are open,
/// and returns its partition count (an existing topic keeps the count it was created with, as
/// in Kafka, because groups are placed by `hash % count`).
pub async fn ensure_topic(
    broker: &Arc<Broker>,
    replication_factor: i16,
) -> Result<i32, BrokerError> {
    let topic = internal_log::ensure_topic(
        broker,
        OFFSETS_TOPIC,
        broker.config.offsets_topic_partitions,
        replication_factor,
        topic_configs(&broker.config),
    )
    .await?;
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
/// through the leader path Produce uses: the HighWatermark advances and fetches wake. With a
/// `producer`, the batch is that producer's transactional batch (TxnOffsetCommit).
pub fn append(
    partition: &Partition,
    records: &[CoordinatorRecord],
    now_ms: i64,
    producer: Option<TransactionalProducer>,
) -> Result<(), BrokerError> {
    internal_log::append(
        partition,
        records.iter().map(|r| (r.key.clone(), r.value.clone())),
        now_ms,
        producer,
    )
}

/// Feeds every record of `partition`, in log order, to the coordinator: plain records to
/// `replay`, a transactional batch's records to `replay_transactional`, markers to
/// `complete_transaction`. A record that does not decode is skipped (and logged) rather than
/// keeping every group of the partition unavailable; a batch that does not parse ends the
/// replay with an error.
pub fn replay(
    partition: &Partition,
    coordinator: &mut GroupCoordinator,
) -> Result<ReplayStats, BrokerError> {
    let index = partition.topic_partition.partition;
    internal_log::replay(partition, |item| match item {
        ReplayItem::Control {
            producer_id,
            commit: Some(commit),
        } => {
            coordinator.complete_transaction(producer_id, commit);
            true
        }
        ReplayItem::Control { .. } => true,
        ReplayItem::Record {
            key,
            value,
            offset,
            producer,
        } => {
            let replayed = match producer {
                Some(producer) => {
                    coordinator.replay_transactional(producer.producer_id, key, value)
                }
                None => coordinator.replay(key, value),
            };
            match replayed {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(
                        partition = index,
                        offset,
                        %error,
                        "skipping a __consumer_offsets record"
                    );
                    false
                }
            }
        }
    })
}
