//! Produce-side helpers for integration tests: record batches as clients build them, Produce
//! and ListOffsets requests, the partition result of a response, and reading a partition back
//! record by record (compacted topics).

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::ResponseBody;
use protocol::codec::Records;
use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use protocol::generated::list_offsets_response::ListOffsetsPartitionResponse;
use protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use protocol::generated::produce_response::PartitionProduceResponse;
use protocol::generated::{FetchRequest, ListOffsetsRequest, ProduceRequest};
use protocol::records::{Record, RecordBatchBuilder, RecordBatches, decode_batch_records};

use super::{TestBroker, TestClient};

/// Creates a topic with `partitions` and these config overrides, through the broker's
/// metadata writer.
pub async fn create_topic(
    broker: &TestBroker,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let configs: BTreeMap<String, String> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let broker = &broker.running.broker;
    let request = broker::metadata_writer::NewTopic {
        name: name.to_string(),
        partitions,
        replication_factor: 1,
        assignment: None,
        configs,
        validate_only: false,
    };
    broker
        .metadata_writer
        .create_topic(broker, request)
        .await
        .expect("topic created");
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A record with a key, a value and `timestamp_delta`.
pub fn record(offset_delta: i32, timestamp_delta: i64, key: Option<&str>, value: &str) -> Record {
    Record {
        offset_delta,
        timestamp_delta,
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Vec::new(),
    }
}

/// A batch of `count` keyed records whose timestamps are `base_timestamp + i`.
pub fn batch(count: i32, base_timestamp: i64) -> RecordBatchBuilder {
    let mut builder = RecordBatchBuilder::new().base_timestamp(base_timestamp);
    for i in 0..count {
        builder
            .push(record(
                i,
                i64::from(i),
                Some(&format!("k{i}")),
                &format!("v{i}"),
            ))
            .unwrap();
    }
    builder
}

/// A produce request with one partition.
pub fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(Records::Bytes(records)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Produces `records` at `version` and returns the one partition's result.
pub async fn produce(
    client: &mut TestClient,
    version: i16,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> PartitionProduceResponse {
    let response = client
        .send(version, produce_request(topic, partition, acks, records))
        .await;
    let ResponseBody::Produce(mut response) = response else {
        panic!("not a produce response: {response:?}");
    };
    assert_eq!(response.responses.len(), 1);
    let mut topic_response = response.responses.remove(0);
    assert_eq!(topic_response.name, topic);
    assert_eq!(topic_response.partition_responses.len(), 1);
    topic_response.partition_responses.remove(0)
}

/// ListOffsets for one partition at `timestamp` (v9 unless given).
pub async fn list_offset(
    client: &mut TestClient,
    version: i16,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: vec![ListOffsetsPartition {
                partition_index: partition,
                current_leader_epoch: -1,
                timestamp,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::ListOffsets(mut response) = client.send(version, request).await else {
        panic!("not a ListOffsets response");
    };
    response.topics.remove(0).partitions.remove(0)
}

/// Rewrites a batch's CRC after a test changed bytes it covers.
pub fn fix_crc(batch: &mut [u8]) {
    let crc = protocol::records::RecordBatchHeader::parse(batch)
        .expect("a batch")
        .computed_crc();
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// One batch of keyed records (a `None` value is a tombstone), timestamped now.
pub fn keyed(records: &[(String, Option<String>)]) -> Bytes {
    let mut builder = RecordBatchBuilder::new().base_timestamp(now_ms());
    for (i, (key, value)) in records.iter().enumerate() {
        builder
            .push(Record {
                offset_delta: i as i32,
                timestamp_delta: 0,
                key: Some(Bytes::from(key.clone())),
                value: value.clone().map(Bytes::from),
                headers: Vec::new(),
            })
            .unwrap();
    }
    builder.build().unwrap()
}

/// Every record of partition 0 of `topic` up to the high watermark: (offset, key, value).
pub async fn read_all(client: &mut TestClient, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let mut offset = 0;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = expect_response!(client.send(12, request).await, Fetch);
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "fetch at {offset}");
        let bytes = match &data.records {
            Some(Records::Bytes(bytes)) => bytes.clone(),
            _ => Bytes::new(),
        };
        if bytes.is_empty() {
            assert!(
                offset >= data.high_watermark,
                "nothing returned at {offset} below the HW"
            );
            return out;
        }
        for batch in RecordBatches::new(&bytes) {
            let header = batch.unwrap();
            header.verify_crc().unwrap();
            let batch_bytes = Bytes::copy_from_slice(header.as_bytes());
            for record in decode_batch_records(&header, &batch_bytes, 1 << 24).unwrap() {
                let record = record.unwrap();
                let at = header.base_offset() + i64::from(record.offset_delta);
                if at >= offset {
                    let text = |b: Bytes| String::from_utf8_lossy(&b).into_owned();
                    out.push((at, text(record.key.unwrap()), record.value.map(text)));
                }
            }
            offset = offset.max(header.last_offset() + 1);
        }
    }
    panic!("reading {topic} did not end");
}
