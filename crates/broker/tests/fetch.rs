//! Fetch as a consumer sees it: whole batches from the one holding the fetch offset, the high
//! watermark bound, OFFSET_OUT_OF_RANGE, unknown topics by name and id, long polling woken by
//! appends, byte limits (KIP-74), fetch sessions (KIP-227) and replica fetches refused.
//!
//! Method: a real broker on 127.0.0.1:0; records are appended in-process through the partition's
//! log (as Produce does: append, raise the high watermark, wake fetches) or with a Produce
//! request over the wire, then fetched with Fetch requests over the wire.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{TestBroker, TestClient};
use protocol::codec::Records;
use protocol::generated::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use protocol::generated::fetch_response::PartitionData;
use protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use protocol::generated::{FetchRequest, FetchResponse, ProduceRequest, ProduceResponse};
use protocol::records::{Record, RecordBatchBuilder, RecordBatches};
use protocol::{ErrorCode, ResponseBody, Uuid};

const TOPIC: &str = "fetched";

async fn start(partitions: i32) -> TestBroker {
    let broker = TestBroker::start(&[]).await;
    common::produce::create_topic(&broker, TOPIC, partitions, &[]).await;
    broker
}

fn batch(values: &[&str]) -> Vec<u8> {
    // Current timestamps: old ones would roll a segment per batch (segment.ms), and reads
    // stop at segment ends.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut builder = RecordBatchBuilder::new().base_timestamp(now_ms);
    for (i, value) in values.iter().enumerate() {
        builder
            .push(Record {
                offset_delta: i as i32,
                timestamp_delta: 0,
                key: None,
                value: Some(Bytes::copy_from_slice(value.as_bytes())),
                headers: Vec::new(),
            })
            .expect("push");
    }
    builder.build().expect("build").to_vec()
}

/// Appends one batch as Produce does: append, raise the high watermark, wake fetches.
fn append(broker: &TestBroker, partition: i32, values: &[&str]) -> i64 {
    let partition = broker
        .running
        .broker
        .replicas
        .get(TOPIC, partition)
        .expect("partition");
    let mut records = batch(values);
    // The partition's leader append: it raises the high watermark (a single node is the whole
    // ISR) and wakes fetches.
    let info = partition.append_as_leader(&mut records).expect("append");
    info.first_offset
}

fn partition_request(partition: i32, fetch_offset: i64, max_bytes: i32) -> FetchPartition {
    FetchPartition {
        partition,
        fetch_offset,
        partition_max_bytes: max_bytes,
        ..Default::default()
    }
}

fn request(partitions: Vec<FetchPartition>) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        topics: vec![FetchTopic {
            topic: TOPIC.into(),
            partitions,
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn fetch(client: &mut TestClient, version: i16, request: FetchRequest) -> FetchResponse {
    match client.send(version, request).await {
        ResponseBody::Fetch(response) => response,
        other => panic!("expected a fetch response, got {other:?}"),
    }
}

/// The only partition of a single-partition response.
fn only(response: &FetchResponse) -> &PartitionData {
    assert_eq!(response.error_code, 0);
    assert_eq!(response.responses.len(), 1);
    assert_eq!(response.responses[0].partitions.len(), 1);
    &response.responses[0].partitions[0]
}

fn partitions(response: &FetchResponse) -> Vec<&PartitionData> {
    response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .collect()
}

/// (base offset, last offset) of every batch in the records.
fn batches(data: &PartitionData) -> Vec<(i64, i64)> {
    let bytes = match &data.records {
        Some(Records::Bytes(bytes)) => bytes.clone(),
        None => Bytes::new(),
        Some(other) => panic!("decoded records are bytes, got {other:?}"),
    };
    RecordBatches::new(&bytes)
        .map(|b| {
            let b = b.expect("whole, valid batches");
            b.verify_crc().expect("crc");
            (b.base_offset(), b.last_offset())
        })
        .collect()
}

#[tokio::test]
async fn fetches_whole_batches_from_the_start_the_middle_and_the_end() {
    let broker = start(1).await;
    assert_eq!(append(&broker, 0, &["a", "b", "c"]), 0);
    assert_eq!(append(&broker, 0, &["d", "e", "f"]), 3);
    assert_eq!(append(&broker, 0, &["g", "h", "i"]), 6);
    let mut client = broker.client().await;
    for version in [4, 7, 11, 12] {
        let response = fetch(
            &mut client,
            version,
            request(vec![partition_request(0, 0, 1 << 20)]),
        )
        .await;
        let data = only(&response);
        assert_eq!(data.error_code, 0, "v{version}");
        assert_eq!(batches(data), vec![(0, 2), (3, 5), (6, 8)], "v{version}");
        assert_eq!(data.high_watermark, 9);
        assert_eq!(data.last_stable_offset, 9);
        // The log start offset is in responses from v5.
        assert_eq!(data.log_start_offset, if version >= 5 { 0 } else { -1 });
        assert_eq!(data.preferred_read_replica, -1);
        assert_eq!(data.aborted_transactions, None);
    }
    // Offset 4 is inside the second batch: that whole batch comes back (the client skips 3).
    let response = fetch(
        &mut client,
        12,
        request(vec![partition_request(0, 4, 1 << 20)]),
    )
    .await;
    assert_eq!(batches(only(&response)), vec![(3, 5), (6, 8)]);
    // At the log end: nothing yet, no error.
    let response = fetch(
        &mut client,
        12,
        request(vec![partition_request(0, 9, 1 << 20)]),
    )
    .await;
    let data = only(&response);
    assert_eq!(data.error_code, 0);
    assert!(batches(data).is_empty());
    assert_eq!(data.high_watermark, 9);
    broker.stop().await;
}

#[tokio::test]
async fn fetches_by_topic_id_from_v13() {
    let broker = start(1).await;
    append(&broker, 0, &["a", "b"]);
    let topic_id = broker
        .running
        .broker
        .metadata
        .topic(TOPIC)
        .expect("topic")
        .uuid();
    let mut client = broker.client().await;
    for version in [13, 15, 17] {
        let mut by_id = request(vec![partition_request(0, 0, 1 << 20)]);
        by_id.topics[0].topic = String::new();
        by_id.topics[0].topic_id = topic_id;
        let response = fetch(&mut client, version, by_id.clone()).await;
        assert_eq!(response.responses[0].topic_id, topic_id);
        assert_eq!(batches(only(&response)), vec![(0, 1)], "v{version}");

        by_id.topics[0].topic_id = Uuid([7; 16]);
        let response = fetch(&mut client, version, by_id).await;
        assert_eq!(only(&response).error_code, ErrorCode::UnknownTopicId.code());
    }
    broker.stop().await;
}

#[tokio::test]
async fn unknown_topics_and_offsets_out_of_range_are_partition_errors() {
    let broker = start(1).await;
    append(&broker, 0, &["a", "b"]);
    let mut client = broker.client().await;
    for offset in [3, -1, i64::MAX] {
        let response = fetch(
            &mut client,
            12,
            request(vec![partition_request(0, offset, 1 << 20)]),
        )
        .await;
        let data = only(&response);
        assert_eq!(
            data.error_code,
            ErrorCode::OffsetOutOfRange.code(),
            "{offset}"
        );
        assert_eq!(data.high_watermark, -1);
        assert!(batches(data).is_empty());
    }
    let response = fetch(&mut client, 12, request(vec![partition_request(9, 0, 100)])).await;
    assert_eq!(
        only(&response).error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    let mut unknown = request(vec![partition_request(0, 0, 100)]);
    unknown.topics[0].topic = "no-such-topic".into();
    let response = fetch(&mut client, 12, unknown).await;
    assert_eq!(
        only(&response).error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn consumers_read_only_below_the_high_watermark() {
    let broker = start(1).await;
    append(&broker, 0, &["a"]);
    // Appended but not yet committed: the high watermark stays at 1.
    let partition = broker.running.broker.replicas.get(TOPIC, 0).unwrap();
    partition
        .storage_for_tests()
        .append_as_leader(&mut batch(&["b"]), 0)
        .unwrap();
    let mut client = broker.client().await;
    let mut read_committed = request(vec![partition_request(0, 0, 1 << 20)]);
    read_committed.isolation_level = 1;
    let response = fetch(&mut client, 12, read_committed).await;
    let data = only(&response);
    assert_eq!(batches(data), vec![(0, 0)]);
    assert_eq!(data.high_watermark, 1);
    assert_eq!(data.last_stable_offset, 1);
    assert_eq!(data.aborted_transactions, Some(Vec::new()));
    // Between the high watermark and the log end: in range, but nothing to read.
    let response = fetch(
        &mut client,
        12,
        request(vec![partition_request(0, 1, 1 << 20)]),
    )
    .await;
    assert_eq!(only(&response).error_code, 0);
    assert!(batches(only(&response)).is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn a_long_poll_returns_when_records_are_appended() {
    let broker = start(1).await;
    let mut client = broker.client().await;
    let mut waiting = request(vec![partition_request(0, 0, 1 << 20)]);
    waiting.max_wait_ms = 30_000;
    waiting.min_bytes = 1;
    let appender = {
        let partition = broker.running.broker.replicas.get(TOPIC, 0).unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut records = batch(&["late"]);
            partition.append_as_leader(&mut records).unwrap();
        })
    };
    let started = Instant::now();
    let response = fetch(&mut client, 12, waiting).await;
    // Woken by the append, far before max_wait_ms.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(batches(only(&response)), vec![(0, 0)]);
    appender.await.unwrap();
    broker.stop().await;
}

#[tokio::test]
async fn a_long_poll_without_data_returns_empty_after_max_wait() {
    let broker = start(2).await;
    let mut client = broker.client().await;
    let mut waiting = request(vec![
        partition_request(0, 0, 100),
        partition_request(1, 0, 100),
    ]);
    waiting.max_wait_ms = 400;
    waiting.min_bytes = 1;
    let started = Instant::now();
    let response = fetch(&mut client, 12, waiting).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    for data in partitions(&response) {
        assert_eq!(data.error_code, 0);
        assert!(batches(data).is_empty());
        assert_eq!(data.high_watermark, 0);
    }
    broker.stop().await;
}

#[tokio::test]
async fn byte_limits_keep_whole_batches_and_return_at_least_one() {
    let broker = start(2).await;
    for i in 0..3 {
        append(&broker, 0, &[&format!("zero-{i}")]);
        append(&broker, 1, &[&format!("one-{i}")]);
    }
    let batch_bytes = batch(&["zero-0"]).len() as i32;
    let mut client = broker.client().await;
    // KIP-74: a partition limit smaller than a batch still returns the first batch.
    let response = fetch(&mut client, 12, request(vec![partition_request(0, 0, 1)])).await;
    assert_eq!(batches(only(&response)), vec![(0, 0)]);
    // Room for two batches and a bit: exactly two whole batches.
    let response = fetch(
        &mut client,
        12,
        request(vec![partition_request(0, 0, 2 * batch_bytes + 10)]),
    )
    .await;
    assert_eq!(batches(only(&response)), vec![(0, 0), (1, 1)]);
    // The response limit: the first partition gets one batch, the second none, but is still
    // answered with its offsets.
    let mut limited = request(vec![
        partition_request(0, 0, 1 << 20),
        partition_request(1, 0, 1 << 20),
    ]);
    limited.max_bytes = 1;
    let response = fetch(&mut client, 12, limited).await;
    let answered = partitions(&response);
    assert_eq!(batches(answered[0]), vec![(0, 0)]);
    assert!(batches(answered[1]).is_empty());
    assert_eq!(answered[1].high_watermark, 3);
    // A limit spanning partitions: both get data within the total.
    let mut shared = request(vec![
        partition_request(0, 0, 1 << 20),
        partition_request(1, 0, 1 << 20),
    ]);
    shared.max_bytes = 4 * batch_bytes;
    let response = fetch(&mut client, 12, shared).await;
    let answered = partitions(&response);
    assert_eq!(batches(answered[0]).len(), 3);
    assert_eq!(batches(answered[1]).len(), 1);
    broker.stop().await;
}

fn session_request(session_id: i32, epoch: i32, partitions: Vec<FetchPartition>) -> FetchRequest {
    FetchRequest {
        session_id,
        session_epoch: epoch,
        ..request(partitions)
    }
}

/// KIP-227: a full fetch creates the session; incremental fetches carry only changes and get
/// back only partitions with new data or offsets; forgotten partitions leave the session.
#[tokio::test]
async fn fetch_sessions_send_only_changes() {
    let broker = start(2).await;
    let mut client = broker.client().await;
    let full = session_request(
        0,
        0,
        vec![
            partition_request(0, 0, 1 << 20),
            partition_request(1, 0, 1 << 20),
        ],
    );
    let response = fetch(&mut client, 12, full).await;
    let session_id = response.session_id;
    assert_ne!(session_id, 0);
    assert_eq!(partitions(&response).len(), 2);

    // Nothing changed: no partitions.
    let response = fetch(&mut client, 12, session_request(session_id, 1, vec![])).await;
    assert_eq!(response.error_code, 0);
    assert_eq!(response.session_id, session_id);
    assert!(partitions(&response).is_empty());

    // New data in partition 1 only: only partition 1, from the cached fetch offset.
    append(&broker, 1, &["x", "y"]);
    let response = fetch(&mut client, 12, session_request(session_id, 2, vec![])).await;
    let answered = partitions(&response);
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].partition_index, 1);
    assert_eq!(batches(answered[0]), vec![(0, 1)]);

    // The client moves partition 1 to offset 2: caught up, nothing to send.
    let moved = session_request(session_id, 3, vec![partition_request(1, 2, 1 << 20)]);
    let response = fetch(&mut client, 12, moved).await;
    assert!(partitions(&response).is_empty());

    // Forget partition 1: later appends there are not sent.
    let mut forget = session_request(session_id, 4, vec![]);
    forget.forgotten_topics_data = vec![ForgottenTopic {
        topic: TOPIC.into(),
        partitions: vec![1],
        ..Default::default()
    }];
    fetch(&mut client, 12, forget).await;
    append(&broker, 1, &["z"]);
    append(&broker, 0, &["w"]);
    let response = fetch(&mut client, 12, session_request(session_id, 5, vec![])).await;
    let answered = partitions(&response);
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].partition_index, 0);

    // A stale epoch, an unknown id.
    let response = fetch(&mut client, 12, session_request(session_id, 5, vec![])).await;
    assert_eq!(
        response.error_code,
        ErrorCode::InvalidFetchSessionEpoch.code()
    );
    assert_eq!(response.session_id, 0);
    let response = fetch(&mut client, 12, session_request(session_id ^ 1, 1, vec![])).await;
    assert_eq!(
        response.error_code,
        ErrorCode::FetchSessionIdNotFound.code()
    );

    // Epoch -1 closes the session with a full, sessionless answer.
    let close = session_request(session_id, -1, vec![partition_request(0, 0, 1 << 20)]);
    let response = fetch(&mut client, 12, close).await;
    assert_eq!(response.session_id, 0);
    assert_eq!(batches(only(&response)), vec![(0, 0)]);
    let response = fetch(&mut client, 12, session_request(session_id, 6, vec![])).await;
    assert_eq!(
        response.error_code,
        ErrorCode::FetchSessionIdNotFound.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn fetch_sessions_by_topic_id_refuse_requests_without_ids() {
    let broker = start(1).await;
    let topic_id = broker.running.broker.metadata.topic(TOPIC).unwrap().uuid();
    let mut client = broker.client().await;
    let mut full = session_request(0, 0, vec![partition_request(0, 0, 1 << 20)]);
    full.topics[0].topic_id = topic_id;
    let response = fetch(&mut client, 13, full).await;
    let session_id = response.session_id;
    assert_ne!(session_id, 0);
    append(&broker, 0, &["a"]);
    let response = fetch(&mut client, 13, session_request(session_id, 1, vec![])).await;
    assert_eq!(batches(only(&response)), vec![(0, 0)]);
    // The same session at v12 (names, no ids) is refused.
    let response = fetch(&mut client, 12, session_request(session_id, 2, vec![])).await;
    assert_eq!(
        response.error_code,
        ErrorCode::FetchSessionTopicIdError.code()
    );
    broker.stop().await;
}

/// A single node has no followers; Kafka answers a fetch from a broker that is not a replica
/// with NOT_LEADER_OR_FOLLOWER, or UNKNOWN_LEADER_EPOCH when it names an epoch.
#[tokio::test]
async fn replica_fetches_are_refused() {
    let broker = start(1).await;
    append(&broker, 0, &["a"]);
    let mut client = broker.client().await;
    let mut from_replica = request(vec![partition_request(0, 0, 1 << 20)]);
    from_replica.replica_id = 2;
    let response = fetch(&mut client, 12, from_replica.clone()).await;
    let data = only(&response);
    assert_eq!(data.error_code, ErrorCode::NotLeaderOrFollower.code());
    assert!(batches(data).is_empty());
    from_replica.topics[0].partitions[0].current_leader_epoch = 0;
    let response = fetch(&mut client, 12, from_replica).await;
    assert_eq!(
        only(&response).error_code,
        ErrorCode::UnknownLeaderEpoch.code()
    );

    let topic_id = broker.running.broker.metadata.topic(TOPIC).unwrap().uuid();
    let mut v15 = request(vec![partition_request(0, 0, 1 << 20)]);
    v15.topics[0].topic_id = topic_id;
    v15.replica_state.replica_id = 2;
    let response = fetch(&mut client, 15, v15).await;
    assert_eq!(
        only(&response).error_code,
        ErrorCode::NotLeaderOrFollower.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_newer_leader_epoch_than_ours_is_unknown() {
    let broker = start(1).await;
    let mut client = broker.client().await;
    let mut ahead = request(vec![partition_request(0, 0, 1 << 20)]);
    ahead.topics[0].partitions[0].current_leader_epoch = 5;
    let response = fetch(&mut client, 12, ahead).await;
    assert_eq!(
        only(&response).error_code,
        ErrorCode::UnknownLeaderEpoch.code()
    );
    broker.stop().await;
}

/// End to end: records produced with a Produce request come back from a long-polling fetch.
#[tokio::test]
async fn produced_records_wake_a_waiting_fetch() {
    let broker = start(1).await;
    let mut consumer = broker.client().await;
    let mut producer = broker.client().await;
    let mut waiting = request(vec![partition_request(0, 0, 1 << 20)]);
    waiting.max_wait_ms = 30_000;
    waiting.min_bytes = 1;
    let fetching = tokio::spawn(async move { fetch(&mut consumer, 12, waiting).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(Records::Bytes(batch(&["p", "q"]).into())),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let started = Instant::now();
    let ResponseBody::Produce(ProduceResponse { responses, .. }) = producer.send(9, produce).await
    else {
        panic!("expected a produce response");
    };
    assert_eq!(responses[0].partition_responses[0].error_code, 0);
    let response = tokio::time::timeout(Duration::from_secs(10), fetching)
        .await
        .expect("the fetch returns once records are produced")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(batches(only(&response)), vec![(0, 1)]);
    broker.stop().await;
}

/// A shutdown answers waiting fetches at once instead of after max_wait_ms.
#[tokio::test]
async fn a_long_poll_is_answered_when_the_broker_shuts_down() {
    let broker = start(1).await;
    let mut client = broker.client().await;
    let mut waiting = request(vec![partition_request(0, 0, 1 << 20)]);
    waiting.max_wait_ms = 60_000;
    waiting.min_bytes = 1;
    let fetching = tokio::spawn(async move { fetch(&mut client, 12, waiting).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    broker.stop().await;
    let response = tokio::time::timeout(Duration::from_secs(20), fetching)
        .await
        .expect("answered before max_wait_ms")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(batches(only(&response)).is_empty());
}
