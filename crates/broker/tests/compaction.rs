//! Compaction as a client sees it: the broker's cleaner threads compact `cleanup.policy=compact`
//! topics in the background, a policy changed with IncrementalAlterConfigs takes effect on the
//! live partitions, and `__consumer_offsets` is compacted so a group's many commits shrink to
//! its live keys and a restart loads them.
//!
//! Method: a real broker on 127.0.0.1:0 with a 50 ms cleaner backoff; keyed records produced
//! and read back with Produce and Fetch over the wire; commits with OffsetCommit, read back with
//! OffsetFetch across a restart.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::produce::{create_topic, keyed, now_ms, produce, read_all};
use common::{TestBroker, TestClient};
use protocol::ErrorCode;
use protocol::ResponseBody;
use protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::{
    IncrementalAlterConfigsRequest, OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse,
};
use protocol::records::{Record, RecordBatchBuilder};

const CLEANER: &[(&str, &str)] = &[("log.cleaner.backoff.ms", "50")];

/// Produces 40 batches of 5 records over 10 keys (values `v<n>`); returns the latest per key.
async fn produce_keyed(client: &mut TestClient, topic: &str) -> BTreeMap<String, String> {
    let mut latest = BTreeMap::new();
    for b in 0..40 {
        let records: Vec<_> = (0..5)
            .map(|i| {
                let n = b * 5 + i;
                (
                    format!("key-{}", n % 10),
                    Some(format!("v{n}-{}", "x".repeat(40))),
                )
            })
            .collect();
        for (key, value) in &records {
            latest.insert(key.clone(), value.clone().unwrap());
        }
        let response = produce(client, 9, topic, 0, -1, keyed(&records)).await;
        assert_eq!(response.error_code, 0);
    }
    latest
}

/// Waits until the topic reads back as compacted: fewer records than written, the latest value
/// of every key present, each key at most once below the last segment.
async fn wait_compacted(client: &mut TestClient, topic: &str, latest: &BTreeMap<String, String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = read_all(client, topic).await;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (_, key, value) in &records {
            seen.insert(key.clone(), value.clone().unwrap_or_default());
        }
        assert_eq!(&seen, latest, "the latest value of every key is served");
        if records.len() < 100 {
            let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets grow");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never compacted: {} records",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn alter_topic(client: &mut TestClient, topic: &str, configs: &[(&str, &str)]) {
    let alter = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: 2,
            resource_name: topic.into(),
            configs: configs
                .iter()
                .map(|(name, value)| AlterableConfig {
                    name: (*name).into(),
                    config_operation: 0,
                    value: Some((*value).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = expect_response!(client.send(1, alter).await, IncrementalAlterConfigs);
    assert_eq!(response.responses[0].error_code, ErrorCode::None.code());
}

#[tokio::test]
async fn a_compacted_topic_is_cleaned_in_the_background() {
    let broker = TestBroker::start(CLEANER).await;
    create_topic(
        &broker,
        "state",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    let mut client = broker.client().await;
    let latest = produce_keyed(&mut client, "state").await;
    wait_compacted(&mut client, "state", &latest).await;
    // Keyless records are refused on a compacted topic (Kafka's INVALID_RECORD).
    let mut keyless = RecordBatchBuilder::new().base_timestamp(now_ms());
    keyless
        .push(Record {
            offset_delta: 0,
            timestamp_delta: 0,
            key: None,
            value: Some(Bytes::from_static(b"no key")),
            headers: Vec::new(),
        })
        .unwrap();
    let response = produce(&mut client, 9, "state", 0, -1, keyless.build().unwrap()).await;
    assert_eq!(response.error_code, ErrorCode::InvalidRecord.code());
    // Only the cleaner sets a delete horizon (KIP-534): a client's batch with one is refused.
    let mut horizon = RecordBatchBuilder::new()
        .base_timestamp(now_ms())
        .delete_horizon(true);
    horizon
        .push(Record {
            offset_delta: 0,
            timestamp_delta: 0,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: Vec::new(),
        })
        .unwrap();
    let response = produce(&mut client, 9, "state", 0, -1, horizon.build().unwrap()).await;
    assert_eq!(response.error_code, ErrorCode::InvalidRecord.code());
    // A restart serves the same compacted log.
    let broker = broker.restart_with(CLEANER).await;
    let mut client = broker.client().await;
    wait_compacted(&mut client, "state", &latest).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn cleanup_policy_altered_to_compact_takes_effect_live() {
    let broker = TestBroker::start(CLEANER).await;
    create_topic(&broker, "switch", 1, &[("segment.bytes", "1024")]).await;
    let mut client = broker.client().await;
    let latest = produce_keyed(&mut client, "switch").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        read_all(&mut client, "switch").await.len(),
        200,
        "delete policy: no cleaning"
    );
    alter_topic(
        &mut client,
        "switch",
        &[
            ("cleanup.policy", "compact"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    wait_compacted(&mut client, "switch", &latest).await;
    broker.shutdown().await;
}

fn commit(offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: "committer".into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: (0..2)
                .map(|partition| OffsetCommitRequestPartition {
                    partition_index: partition,
                    committed_offset: offset + i64::from(partition),
                    committed_leader_epoch: -1,
                    commit_timestamp: -1,
                    committed_metadata: Some(String::new()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn committed(client: &mut TestClient) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = OffsetFetchRequest {
            group_id: "committer".into(),
            topics: None,
            ..Default::default()
        };
        let response: OffsetFetchResponse =
            expect_response!(client.send(7, request).await, OffsetFetch);
        if response.error_code == ErrorCode::CoordinatorLoadInProgress.code()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(response.error_code, 0);
        let mut offsets: Vec<(i32, i64)> = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        offsets.sort();
        return offsets.into_iter().map(|(_, o)| o).collect();
    }
}

#[tokio::test]
async fn consumer_offsets_is_compacted_and_reloads_after_a_restart() {
    let overrides = [
        ("log.cleaner.backoff.ms", "50"),
        ("offsets.topic.num.partitions", "1"),
        ("offsets.topic.segment.bytes", "8192"),
        ("group.initial.rebalance.delay.ms", "0"),
    ];
    let broker = TestBroker::start(&overrides).await;
    create_topic(&broker, "t", 2, &[]).await;
    let mut client = broker.client().await;
    const COMMITS: i64 = 2_000;
    for n in 0..COMMITS {
        let response = match client.send(8, commit(n)).await {
            ResponseBody::OffsetCommit(response) => response,
            other => panic!("{other:?}"),
        };
        let code = response.topics[0].partitions[0].error_code;
        if code == ErrorCode::CoordinatorLoadInProgress.code() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(code, 0, "commit {n}");
    }
    assert_eq!(committed(&mut client).await, vec![COMMITS - 1, COMMITS]);
    // Each commit wrote two records; the cleaner leaves about one per partition and group.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = read_all(&mut client, "__consumer_offsets").await;
        if records.len() < (COMMITS as usize) / 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never compacted: {} records",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let broker = broker.restart_with(&overrides).await;
    let mut client = broker.client().await;
    assert_eq!(committed(&mut client).await, vec![COMMITS - 1, COMMITS]);
    broker.shutdown().await;
}
