//! Producing to one topic: records placed in partitions (explicit, by key with Kafka's murmur2,
//! or a whole unkeyed call to one partition, rotating), built into v2 record batches with the
//! protocol crate's `RecordBatchBuilder` (none, gzip, snappy, lz4 and zstd compression), and
//! sent to each partition's leader with Produce. Retriable partition errors (a moved leader, a
//! topic just created) refresh the metadata and send that batch again.
//!
//! Not here: idempotence and transactions (no producer id; a retried batch may be written
//! twice, as with Kafka's `enable.idempotence=false`), lingering across calls (each `send` is
//! sent when called).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use protocol::generated::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use protocol::records::{Compression, Record, RecordBatchBuilder, RecordHeader};
use protocol::{ApiKey, ErrorCode, Records};

use crate::partitioner::partition_for_key;
use crate::{Client, ClientError, Retry, Target, TopicMetadata, body, expect_response};

/// One record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
    /// The partition to write to; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// CreateTime in ms; `None` is now.
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// -1 (all in-sync replicas), 0 (no answer) or 1 (the leader).
    pub acks: i16,
    pub compression: Compression,
    /// Uncompressed record bytes per batch before a partition's records start another batch
    /// (under Kafka's default `max.message.bytes`, 1 MiB).
    pub batch_bytes_max: usize,
    /// How long the broker may wait for replicas before answering (acks=-1).
    pub timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: -1,
            compression: Compression::None,
            batch_bytes_max: 512 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What the broker answered for one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducedBatch {
    pub partition: i32,
    /// The offset of the batch's first record; -1 with acks=0.
    pub base_offset: i64,
    pub records: usize,
}

/// A producer of one topic.
pub struct Producer {
    topic: TopicMetadata,
    config: ProducerConfig,
    /// Unkeyed records of the next `send` go to partition `next_unkeyed % partitions`.
    next_unkeyed: u32,
}

struct Batch {
    partition: i32,
    bytes: Bytes,
    records: usize,
}

impl Producer {
    /// A producer of `topic`, which must exist.
    pub async fn new(
        client: &mut Client,
        topic: &str,
        config: ProducerConfig,
    ) -> Result<Producer, ClientError> {
        let topic = client.topic(topic).await?;
        let mut seed = [0u8; 4];
        // Where unkeyed records start; any start is correct, a random one spreads short runs.
        let _ = getrandom::fill(&mut seed);
        Ok(Producer {
            topic,
            config,
            next_unkeyed: u32::from_le_bytes(seed),
        })
    }

    pub fn topic(&self) -> &TopicMetadata {
        &self.topic
    }

    /// Sends `records`, in order within each partition, and returns what each batch became.
    pub async fn send(
        &mut self,
        client: &mut Client,
        records: Vec<ProduceRecord>,
    ) -> Result<Vec<ProducedBatch>, ClientError> {
        let batches = self.build_batches(records)?;
        // Kafka takes one batch per partition per request (v3+), so batches go in rounds: the
        // first batch of every partition, then the second, ...
        let mut rounds: Vec<Vec<Batch>> = Vec::new();
        let mut round_of: BTreeMap<i32, usize> = BTreeMap::new();
        for batch in batches {
            let round = round_of.entry(batch.partition).or_insert(0);
            if rounds.len() <= *round {
                rounds.push(Vec::new());
            }
            rounds[*round].push(batch);
            *round += 1;
        }
        let mut produced = Vec::new();
        for round in rounds {
            produced.extend(self.send_round(client, round).await?);
        }
        Ok(produced)
    }

    fn build_batches(&mut self, records: Vec<ProduceRecord>) -> Result<Vec<Batch>, ClientError> {
        let partitions = i32::try_from(self.topic.partitions.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                ClientError::Invalid(format!("topic {} has no partitions", self.topic.name))
            })?;
        let unkeyed = (self.next_unkeyed % partitions as u32) as i32;
        self.next_unkeyed = self.next_unkeyed.wrapping_add(1);
        let mut by_partition: BTreeMap<i32, Vec<ProduceRecord>> = BTreeMap::new();
        for record in records {
            let partition = match (record.partition, &record.key) {
                (Some(partition), _) => {
                    self.topic.require_partition(partition)?;
                    partition
                }
                (None, Some(key)) => partition_for_key(key, partitions),
                (None, None) => unkeyed,
            };
            by_partition.entry(partition).or_default().push(record);
        }
        let now_ms = now_ms();
        let mut batches = Vec::new();
        for (partition, records) in by_partition {
            let mut builder: Option<(RecordBatchBuilder, usize)> = None;
            for record in records {
                let (current, size) = builder.get_or_insert_with(|| {
                    (
                        RecordBatchBuilder::new()
                            .base_timestamp(now_ms)
                            .compression(self.config.compression),
                        0,
                    )
                });
                let encoded = Record {
                    offset_delta: current.next_offset_delta(),
                    timestamp_delta: record.timestamp_ms.map_or(0, |t| t - now_ms),
                    key: record.key,
                    value: record.value,
                    headers: record.headers,
                };
                *size += encoded
                    .encoded_size()
                    .map_err(|source| self.records_error(source))?;
                current
                    .push(encoded)
                    .map_err(|source| self.records_error(source))?;
                if *size >= self.config.batch_bytes_max {
                    let (full, _) = builder.take().expect("just used");
                    batches.push(self.finish(partition, &full)?);
                }
            }
            if let Some((last, _)) = builder {
                batches.push(self.finish(partition, &last)?);
            }
        }
        Ok(batches)
    }

    fn finish(&self, partition: i32, builder: &RecordBatchBuilder) -> Result<Batch, ClientError> {
        Ok(Batch {
            partition,
            bytes: builder
                .build()
                .map_err(|source| self.records_error(source))?,
            records: builder.records_count() as usize,
        })
    }

    fn records_error(&self, source: protocol::records::RecordsError) -> ClientError {
        ClientError::Records {
            context: format!("building a batch for topic {}", self.topic.name),
            source,
        }
    }

    /// Sends batches of distinct partitions, one request per leader, retrying retriable
    /// errors with fresh metadata.
    async fn send_round(
        &mut self,
        client: &mut Client,
        mut pending: Vec<Batch>,
    ) -> Result<Vec<ProducedBatch>, ClientError> {
        let mut produced = Vec::new();
        let mut retries = Retry::new(client);
        loop {
            let mut by_leader: BTreeMap<i32, Vec<Batch>> = BTreeMap::new();
            let mut retry = Vec::new();
            let mut last_error = None;
            for batch in pending {
                match self.topic.leader(batch.partition) {
                    Ok(leader) => by_leader.entry(leader).or_default().push(batch),
                    Err(error) => {
                        last_error = Some(error);
                        retry.push(batch);
                    }
                }
            }
            for (leader, batches) in by_leader {
                match self.send_to_leader(client, leader, batches).await {
                    Ok((done, failed, error)) => {
                        produced.extend(done);
                        retry.extend(failed);
                        if error.is_some() {
                            last_error = error;
                        }
                    }
                    Err((batches, error)) => {
                        retry.extend(batches);
                        last_error = Some(error);
                    }
                }
            }
            if retry.is_empty() {
                return Ok(produced);
            }
            let error = last_error.expect("a batch is retried only after an error");
            if !error.is_retriable() || !retries.wait().await {
                return Err(error);
            }
            self.topic = client.topic(&self.topic.name).await?;
            pending = retry;
        }
    }

    /// One Produce request to `leader`. Answers the batches written, those to retry and the
    /// retriable error they got; a non-retriable partition error or a failed round trip
    /// (with every batch handed back) is `Err`.
    #[allow(clippy::type_complexity)]
    async fn send_to_leader(
        &self,
        client: &mut Client,
        leader: i32,
        batches: Vec<Batch>,
    ) -> Result<(Vec<ProducedBatch>, Vec<Batch>, Option<ClientError>), (Vec<Batch>, ClientError)>
    {
        let request = ProduceRequest {
            transactional_id: None,
            acks: self.config.acks,
            timeout_ms: self.config.timeout.as_millis() as i32,
            topic_data: vec![TopicProduceData {
                // v13 names the topic by id, earlier versions by name; the codec writes the one
                // the version has.
                name: self.topic.name.clone(),
                topic_id: self.topic.topic_id,
                partition_data: batches
                    .iter()
                    .map(|batch| PartitionProduceData {
                        index: batch.partition,
                        records: Some(Records::Bytes(batch.bytes.clone())),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        if self.config.acks == 0 {
            return match client
                .send_without_response(Target::Node(leader), ApiKey::Produce, |_| body(request))
                .await
            {
                Ok(()) => Ok((
                    batches
                        .iter()
                        .map(|b| ProducedBatch {
                            partition: b.partition,
                            base_offset: -1,
                            records: b.records,
                        })
                        .collect(),
                    Vec::new(),
                    None,
                )),
                Err(error) => Err((batches, error)),
            };
        }
        let response = match client
            .send(
                Target::Node(leader),
                ApiKey::Produce,
                self.config.timeout,
                |_| body(request),
            )
            .await
        {
            Ok((_, response)) => expect_response!(response, Produce),
            Err(error) => return Err((batches, error)),
        };
        let mut answers: BTreeMap<i32, (i16, i64, Option<String>)> = BTreeMap::new();
        for topic in response.responses {
            for partition in topic.partition_responses {
                answers.insert(
                    partition.index,
                    (
                        partition.error_code,
                        partition.base_offset,
                        partition.error_message,
                    ),
                );
            }
        }
        let mut done = Vec::new();
        let mut retry = Vec::new();
        let mut retry_error = None;
        for batch in batches {
            let context = || {
                format!(
                    "producing to topic {} partition {}",
                    self.topic.name, batch.partition
                )
            };
            let Some((code, base_offset, message)) = answers.remove(&batch.partition) else {
                let error = ClientError::Invalid(format!("{}: no answer", context()));
                return Err((vec![batch], error));
            };
            if code == 0 {
                done.push(ProducedBatch {
                    partition: batch.partition,
                    base_offset,
                    records: batch.records,
                });
                continue;
            }
            let error = ClientError::from_code(context(), code, message);
            let retriable = ErrorCode::from_code(code).is_some_and(ErrorCode::is_retriable);
            if !retriable {
                return Err((vec![batch], error));
            }
            retry.push(batch);
            retry_error = Some(error);
        }
        Ok((done, retry, retry_error))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
