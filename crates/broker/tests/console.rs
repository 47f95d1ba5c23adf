//! The web console's JSON API and page against a real broker: the cluster, a topic's
//! partitions with leader and ISR, a produced record browsed back (key, value as text and JSON,
//! headers), a group's committed offset and lag, and errors by Kafka's names.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::OffsetCommitRequest;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::records::{Record, RecordBatchBuilder, RecordHeader};
use serde_json::Value;

use common::TestBroker;
use common::produce::{create_topic, now_ms, produce};

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(&format!("http://{addr}{path}")).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

async fn json(addr: std::net::SocketAddr, path: &'static str) -> (u16, Value) {
    let (status, body) = tokio::task::spawn_blocking(move || get(addr, path))
        .await
        .unwrap();
    (status, serde_json::from_str(&body).expect("JSON"))
}

/// Goal: what the console shows comes from the broker's real state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_api_shows_topics_records_and_groups() {
    let broker = TestBroker::start(&[("http.listeners", "http://127.0.0.1:0")]).await;
    let http = broker.running.http_addr.expect("an HTTP listener");
    create_topic(&broker, "prices", 2, &[("cleanup.policy", "compact")]).await;
    let mut client = broker.client().await;
    let mut builder = RecordBatchBuilder::new().base_timestamp(now_ms());
    builder
        .push(Record {
            offset_delta: 0,
            timestamp_delta: 0,
            key: Some(Bytes::from_static(b"ad-7")),
            value: Some(Bytes::from_static(br#"{"price":42}"#)),
            headers: vec![RecordHeader {
                key: Bytes::from_static(b"source"),
                value: Some(Bytes::from_static(b"test")),
            }],
        })
        .unwrap();
    let answer = produce(&mut client, 9, "prices", 1, -1, builder.build().unwrap()).await;
    assert_eq!(answer.error_code, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let commit = OffsetCommitRequest {
            group_id: "pricer".into(),
            generation_id_or_member_epoch: -1,
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: "prices".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 0,
                    committed_leader_epoch: -1,
                    commit_timestamp: -1,
                    committed_metadata: Some(String::new()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let answer = expect_response!(client.send(8, commit).await, OffsetCommit);
        let code = answer.topics[0].partitions[0].error_code;
        if code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "commit: {code}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, page) = tokio::task::spawn_blocking(move || get(http, "/"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<title>Runnel console</title>"));

    let (_, cluster) = json(http, "/v1/cluster").await;
    assert_eq!(cluster["node_id"], 1);
    assert_eq!(cluster["nodes"].as_array().unwrap().len(), 1);

    let (_, topics) = json(http, "/v1/topics").await;
    let listed = topics["topics"].as_array().unwrap();
    let prices = listed
        .iter()
        .find(|t| t["name"] == "prices")
        .expect("listed");
    assert_eq!(prices["partitions"], 2);
    assert_eq!(prices["traffic"]["messages_in"], 1);

    let (_, topic) = json(http, "/v1/topics/prices").await;
    assert_eq!(topic["configs"]["cleanup.policy"], "compact");
    let partitions = topic["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    assert_eq!(partitions[1]["leader"], 1);
    assert_eq!(partitions[1]["isr"], serde_json::json!([1]));
    assert_eq!(partitions[1]["hosted_here"]["high_watermark"], 1);

    let (_, browsed) = json(http, "/v1/topics/prices/records?partition=1&offset=0").await;
    let records = browsed["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["offset"], 0);
    assert_eq!(records[0]["key"]["text"], "ad-7");
    assert_eq!(records[0]["value"]["json"]["price"], 42);
    assert_eq!(records[0]["headers"][0]["key"], "source");
    assert_eq!(records[0]["headers"][0]["value"]["text"], "test");
    let (_, empty) = json(http, "/v1/topics/prices/records?partition=0").await;
    assert_eq!(empty["records"].as_array().unwrap().len(), 0);

    let (_, groups) = json(http, "/v1/groups").await;
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group_id"] == "pricer"),
        "{groups}"
    );
    let (_, group) = json(http, "/v1/groups/pricer").await;
    assert_eq!(group["offsets"][0]["committed_offset"], 0);
    assert_eq!(group["offsets"][0]["lag"], 1);
    assert_eq!(group["lag"], 1);

    let (status, missing) = json(http, "/v1/topics/nope").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"], ErrorCode::UnknownTopicOrPartition.name());
    let (status, missing) = json(http, "/v1/groups/nobody").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"], ErrorCode::GroupIdNotFound.name());
    broker.shutdown().await;
}

/// Goal: a broker with an authorizer does not serve the console (it has no login and would
/// show records past the ACLs) unless `http.console.enable=true`; /metrics stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_off_with_an_authorizer_unless_enabled() {
    let authorizer = (
        "authorizer.class.name",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    );
    let http = ("http.listeners", "http://127.0.0.1:0");
    let broker =
        TestBroker::start(&[http, authorizer, ("allow.everyone.if.no.acl.found", "true")]).await;
    let addr = broker.running.http_addr.unwrap();
    let (topics, metrics) =
        tokio::task::spawn_blocking(move || (get(addr, "/v1/topics").0, get(addr, "/metrics").0))
            .await
            .unwrap();
    assert_eq!((topics, metrics), (404, 200));
    broker.shutdown().await;

    let broker = TestBroker::start(&[
        http,
        authorizer,
        ("allow.everyone.if.no.acl.found", "true"),
        ("http.console.enable", "true"),
    ])
    .await;
    let addr = broker.running.http_addr.unwrap();
    let topics = tokio::task::spawn_blocking(move || get(addr, "/v1/topics").0)
        .await
        .unwrap();
    assert_eq!(topics, 200);
    broker.shutdown().await;
}
