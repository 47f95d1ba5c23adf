//! The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`) as logs:
//! creating such a topic through the metadata writer, appending a coordinator's key/value
//! records as one batch (plain, or transactional for a producer's offset commits), and reading
//! a partition back in log order to rebuild a coordinator.
//!
//! A replay reads through the gaps compaction leaves and hands each batch's records to the
//! caller with the batch's producer and control facts, so the group coordinator can replay
//! transactional offset commits and the markers that decide them.
//!
//! Not here: what the records mean (crate `coordinator`), locking and the order of appends
//! (`group_coordinator.rs`, `txn_coordinator.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::records::{
    NO_SEQUENCE, Record, RecordBatchBuilder, RecordBatches, RecordsError, decode_batch_records,
};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata::TopicMetadata;
use crate::metadata_writer::NewTopic;
use crate::partitions::Partition;

/// Bytes read from the log per step of a replay.
const REPLAY_READ_BYTES: u64 = 1 << 20;
/// Largest decompressed batch a replay accepts (decompression bombs).
const REPLAY_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// Creates the internal topic `name` unless it exists (an existing topic keeps its partition
/// count: keys are placed by `hash % count`), makes sure this node's logs of it are open, and
/// returns it.
pub async fn ensure_topic(
    broker: &Arc<Broker>,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
) -> Result<TopicMetadata, BrokerError> {
    let writer = broker.metadata_writer;
    let topic = match broker.metadata.topic(name) {
        Some(topic) => topic,
        None => {
            // Boxed: the creation's future is deep, and callers nest it in their own.
            let created = Box::pin(writer.create_topic(
                broker,
                NewTopic {
                    name: name.to_string(),
                    partitions,
                    replication_factor,
                    assignment: None,
                    configs,
                    validate_only: false,
                },
            ))
            .await;
            match created {
                Ok(topic) => topic,
                // Created meanwhile (by a client, or another broker of the cluster).
                Err(error) if error.error_code() == ErrorCode::TopicAlreadyExists => {
                    broker.metadata.topic(name).ok_or(error)?
                }
                Err(error) => return Err(error),
            }
        }
    };
    writer.open_local_partitions(broker, &topic).await?;
    Ok(topic)
}

/// A transactional batch's producer: the group coordinator writes a producer's offset commits
/// with its id and epoch and no sequence, so the transaction's marker decides them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionalProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Appends `records` (key, value; a null value is a tombstone) to `partition` as one
/// uncompressed batch through the leader path Produce uses: the high watermark advances and
/// fetches wake. Blocking file I/O.
pub fn append(
    partition: &Partition,
    records: impl ExactSizeIterator<Item = (Bytes, Option<Bytes>)>,
    now_ms: i64,
    producer: Option<TransactionalProducer>,
) -> Result<(), BrokerError> {
    let count = records.len();
    let mut builder = RecordBatchBuilder::new().base_timestamp(now_ms);
    if let Some(producer) = producer {
        builder = builder
            .producer(producer.producer_id, producer.producer_epoch, NO_SEQUENCE)
            .transactional(true);
    }
    for (delta, (key, value)) in records.enumerate() {
        let offset_delta = i32::try_from(delta).map_err(|_| {
            BrokerError::CorruptMessage(RecordsError::BatchTooLarge { size_bytes: count })
        })?;
        builder
            .push(Record {
                offset_delta,
                timestamp_delta: 0,
                key: Some(key),
                value,
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

/// What a replay hands its visitor: one record of a data batch, or a control batch.
pub enum ReplayItem<'a> {
    /// A record with a key; `producer` is set for a transactional batch.
    Record {
        key: &'a [u8],
        value: Option<&'a [u8]>,
        offset: i64,
        producer: Option<TransactionalProducer>,
    },
    /// A control batch (a transaction marker) of `producer_id`; `commit` is `None` when the
    /// batch holds no readable marker (the cleaner emptied it).
    Control {
        producer_id: i64,
        commit: Option<bool>,
    },
}

/// What a replay read.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayStats {
    pub records: u64,
    /// Records without a key, or that the visitor refused (it logs why); skipped.
    pub skipped: u64,
}

/// Feeds every record (and control batch) of `partition` below its log end, in log order, to
/// `visit`. A record the visitor refuses (`false`) is counted as skipped rather than keeping the
/// partition's coordinator unavailable; a batch that does not parse ends the replay with an
/// error. Blocking file I/O.
pub fn replay(
    partition: &Partition,
    mut visit: impl FnMut(ReplayItem<'_>) -> bool,
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
            .map_err(|e| BrokerError::io("reading an internal topic", e))?;
        let mut next = offset;
        for header in RecordBatches::allowing_partial_tail(&bytes) {
            let header = header.map_err(BrokerError::CorruptMessage)?;
            next = header.last_offset() + 1;
            if header.last_offset() < offset {
                continue;
            }
            let records = decode_batch_records(&header, &bytes, REPLAY_DECOMPRESSED_BYTES_MAX)
                .map_err(BrokerError::CorruptMessage)?;
            if header.is_control() {
                let commit = records
                    .into_iter()
                    .next()
                    .and_then(Result::ok)
                    .and_then(|record| {
                        let (key, value) = (record.key?, record.value?);
                        protocol::records::EndTransactionMarker::parse(&key, &value).ok()
                    })
                    .map(|marker| {
                        marker.control_type == protocol::records::ControlRecordType::Commit
                    });
                visit(ReplayItem::Control {
                    producer_id: header.producer_id(),
                    commit,
                });
                continue;
            }
            let producer = header.is_transactional().then(|| TransactionalProducer {
                producer_id: header.producer_id(),
                producer_epoch: header.producer_epoch(),
            });
            for record in records {
                let record = record.map_err(BrokerError::CorruptMessage)?;
                let Some(key) = record.key else {
                    stats.skipped += 1;
                    continue;
                };
                stats.records += 1;
                let accepted = visit(ReplayItem::Record {
                    key: &key,
                    value: record.value.as_deref(),
                    offset: header.base_offset() + i64::from(record.offset_delta),
                    producer,
                });
                if !accepted {
                    stats.skipped += 1;
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
