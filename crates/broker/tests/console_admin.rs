//! The console's admin actions (`http.console.admin.enable`) against a real broker: off by
//! default; creating and deleting a topic and resetting a group's offsets through the JSON API,
//! with Kafka's errors for what the broker refuses, and ACLs applied as to any client.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::generated::OffsetCommitRequest;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::records::{Record, RecordBatchBuilder};
use serde_json::{Value, json};

use common::TestBroker;
use common::produce::{now_ms, produce};

/// One HTTP call: status and body (JSON when it parses, else the text as a JSON string).
fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{addr}{path}");
    let mut response = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("DELETE", _) => agent.delete(&url).call(),
        ("POST", Some((content_type, body))) => agent
            .post(&url)
            .header("Content-Type", content_type)
            .send(body),
        (method, _) => panic!("{method} without a body"),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn http(
    addr: std::net::SocketAddr,
    method: &'static str,
    path: String,
    body: Option<Value>,
) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        call(
            addr,
            method,
            &path,
            body.map(|b| ("application/json", b.to_string())),
        )
    })
    .await
    .unwrap()
}

/// Goal: without `http.console.admin.enable` the console cannot change anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_are_off_by_default() {
    let broker = TestBroker::start(&[("http.listeners", "http://127.0.0.1:0")]).await;
    let addr = broker.running.http_addr.unwrap();
    let body = json!({"name": "t", "partitions": 1});
    let (status, _) = http(addr, "POST", "/v1/topics".into(), Some(body)).await;
    assert_eq!(status, 405);
    let (status, _) = http(addr, "DELETE", "/v1/topics/t".into(), None).await;
    assert_eq!(status, 405);
    let (_, cluster) = http(addr, "GET", "/v1/cluster".into(), None).await;
    assert_eq!(cluster["console_admin"], false);
    let (status, _) = http(addr, "GET", "/v1/topics/t".into(), None).await;
    assert_eq!(status, 404);
    broker.shutdown().await;
}

/// Goal: create a topic, reset a group's offsets to each target, delete the topic, with the
/// broker's own errors for a duplicate, bad partitions, an unknown topic and non-JSON bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_create_reset_and_delete() {
    let broker = TestBroker::start(&[
        ("http.listeners", "http://127.0.0.1:0"),
        ("http.console.admin.enable", "true"),
    ])
    .await;
    let addr = broker.running.http_addr.unwrap();
    let (_, cluster) = http(addr, "GET", "/v1/cluster".into(), None).await;
    assert_eq!(cluster["console_admin"], true);

    let new = json!({"name": "orders", "partitions": 3, "configs": {"retention.ms": "3600000"}});
    let (status, created) = http(addr, "POST", "/v1/topics".into(), Some(new.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["partitions"], 3);
    let (_, topic) = http(addr, "GET", "/v1/topics/orders".into(), None).await;
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(topic["configs"]["retention.ms"], "3600000");
    let (status, again) = http(addr, "POST", "/v1/topics".into(), Some(new)).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("TOPIC_ALREADY_EXISTS"))
    );
    let zero = json!({"name": "empty", "partitions": 0});
    let (status, refused) = http(addr, "POST", "/v1/topics".into(), Some(zero)).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("INVALID_PARTITIONS"))
    );
    let (status, _) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/v1/topics",
            Some(("text/plain", r#"{"name":"x","partitions":1}"#.into())),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        status, 415,
        "a body that is not JSON (a cross-site form) is refused"
    );

    // Five records in partition 0; the group committed offset 0 everywhere.
    let mut client = broker.client().await;
    let mut batch = RecordBatchBuilder::new().base_timestamp(now_ms());
    for i in 0..5 {
        batch
            .push(Record {
                offset_delta: i,
                timestamp_delta: 0,
                key: None,
                value: Some(Bytes::from(format!("order {i}"))),
                headers: vec![],
            })
            .unwrap();
    }
    let answer = produce(&mut client, 9, "orders", 0, -1, batch.build().unwrap()).await;
    assert_eq!(answer.error_code, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let commit = OffsetCommitRequest {
            group_id: "billing".into(),
            generation_id_or_member_epoch: -1,
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: "orders".into(),
                partitions: (0..3)
                    .map(|p| OffsetCommitRequestPartition {
                        partition_index: p,
                        committed_offset: 0,
                        committed_leader_epoch: -1,
                        commit_timestamp: -1,
                        committed_metadata: Some(String::new()),
                        ..Default::default()
                    })
                    .collect(),
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
    let lag = |group: &Value| group["lag"].as_i64();
    let (_, group) = http(addr, "GET", "/v1/groups/billing".into(), None).await;
    assert_eq!(lag(&group), Some(5));

    let reset = |to: Value| {
        http(
            addr,
            "POST",
            "/v1/groups/billing/reset-offsets".into(),
            Some(to),
        )
    };
    let (status, done) = reset(json!({"topic": "orders", "to": "latest"})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["offsets"],
        json!([{"partition": 0, "offset": 5}, {"partition": 1, "offset": 0}, {"partition": 2, "offset": 0}])
    );
    let (_, group) = http(addr, "GET", "/v1/groups/billing".into(), None).await;
    assert_eq!(lag(&group), Some(0));
    let (status, _) = reset(json!({"topic": "orders", "to": "earliest"})).await;
    assert_eq!(status, 200);
    let (_, group) = http(addr, "GET", "/v1/groups/billing".into(), None).await;
    assert_eq!(lag(&group), Some(5));
    let (status, _) = reset(json!({"topic": "orders", "to": "offset", "offset": 2})).await;
    assert_eq!(status, 200);
    let (_, group) = http(addr, "GET", "/v1/groups/billing".into(), None).await;
    assert_eq!(lag(&group), Some(3));
    let (status, bad) = reset(json!({"topic": "orders", "to": "offset"})).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let (status, bad) = reset(json!({"topic": "nope", "to": "latest"})).await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (404, Some("UNKNOWN_TOPIC_OR_PARTITION"))
    );

    let (status, deleted) = http(addr, "DELETE", "/v1/topics/orders".into(), None).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, _) = http(addr, "GET", "/v1/topics/orders".into(), None).await;
    assert_eq!(status, 404);
    let (status, gone) = http(addr, "DELETE", "/v1/topics/orders".into(), None).await;
    assert_eq!(
        (status, gone["error"].as_str()),
        (404, Some("UNKNOWN_TOPIC_OR_PARTITION"))
    );
    broker.shutdown().await;
}

/// Goal: the actions run as User:ANONYMOUS through the authorizer, so a secured broker's ACLs
/// decide them as for any client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_meet_the_acls() {
    let broker = TestBroker::start(&[
        ("http.listeners", "http://127.0.0.1:0"),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("allow.everyone.if.no.acl.found", "false"),
        ("http.console.enable", "true"),
        ("http.console.admin.enable", "true"),
    ])
    .await;
    let addr = broker.running.http_addr.unwrap();
    let body = json!({"name": "secret", "partitions": 1});
    let (status, refused) = http(addr, "POST", "/v1/topics".into(), Some(body)).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("TOPIC_AUTHORIZATION_FAILED")),
        "{refused}"
    );
    let (status, _) = http(addr, "GET", "/v1/topics/secret".into(), None).await;
    assert_eq!(status, 404);
    broker.shutdown().await;
}
