//! `/metrics` end to end against a real broker: the HTTP listener answers the Prometheus text
//! format (checked with a Prometheus text parser), a topic's byte and record counters rise by
//! exactly what a test produced and fetched, request counts and times appear per API, and a
//! group that stopped consuming shows a lag of the records produced after it stopped.

mod common;

use std::time::{Duration, Instant};

use protocol::ErrorCode;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::{MetadataRequest, OffsetCommitRequest};

use common::TestBroker;
use common::produce::{batch, create_topic, now_ms, produce, read_all};

/// The scrape, parsed, and its text.
fn scrape(addr: std::net::SocketAddr) -> (prometheus_parse::Scrape, String) {
    let mut response = ureq::get(&format!("http://{addr}/metrics"))
        .call()
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.body_mut().read_to_string().unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format");
    (parsed, text)
}

/// The value of `name` whose labels include every pair of `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

fn commit(group: &str, topic: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Goal: produced and fetched bytes and records show per topic exactly, requests per API,
/// replica and controller gauges, and a stopped group's lag equals what came after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_clients_did() {
    let broker = TestBroker::start(&[("http.listeners", "http://127.0.0.1:0")]).await;
    let http = broker.running.http_addr.expect("an HTTP listener");
    create_topic(&broker, "metered", 1, &[]).await;
    let mut client = broker.client().await;

    let first = batch(10, now_ms()).build().unwrap();
    let first_bytes = first.len();
    assert_eq!(
        produce(&mut client, 9, "metered", 0, -1, first)
            .await
            .error_code,
        0
    );
    let consumed = read_all(&mut client, "metered").await;
    assert_eq!(consumed.len(), 10);

    // A group that consumed those 10 commits, then stops; 7 more records arrive.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = expect_response!(
            client.send(8, commit("stopped", "metered", 10)).await,
            OffsetCommit
        );
        let code = answer.topics[0].partitions[0].error_code;
        if code == 0 {
            break;
        }
        assert!(
            code == ErrorCode::CoordinatorLoadInProgress.code() && Instant::now() < deadline,
            "commit: {code}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = batch(7, now_ms()).build().unwrap();
    let second_bytes = second.len();
    assert_eq!(
        produce(&mut client, 9, "metered", 0, -1, second)
            .await
            .error_code,
        0
    );
    expect_response!(client.send(12, MetadataRequest::default()).await, Metadata);

    let (scrape, text) = tokio::task::spawn_blocking(move || scrape(http))
        .await
        .unwrap();
    dashboard_metrics_exist(&text);
    let topic = [("topic", "metered")];
    assert_eq!(
        value(
            &scrape,
            "kafka_server_brokertopicmetrics_bytesin_total",
            &topic
        ),
        Some((first_bytes + second_bytes) as f64)
    );
    assert_eq!(
        value(
            &scrape,
            "kafka_server_brokertopicmetrics_messagesin_total",
            &topic
        ),
        Some(17.0)
    );
    // read_all fetched the first batch once (then an empty fetch at the end).
    assert_eq!(
        value(
            &scrape,
            "kafka_server_brokertopicmetrics_bytesout_total",
            &topic
        ),
        Some(first_bytes as f64)
    );
    let lag = [
        ("consumergroup", "stopped"),
        ("topic", "metered"),
        ("partition", "0"),
    ];
    assert_eq!(value(&scrape, "kafka_consumergroup_lag", &lag), Some(7.0));
    assert_eq!(
        value(&scrape, "kafka_consumergroup_current_offset", &lag),
        Some(10.0)
    );
    assert_eq!(
        value(
            &scrape,
            "kafka_log_log_logendoffset",
            &[("topic", "metered"), ("partition", "0")]
        ),
        Some(17.0)
    );
    let produces = value(
        &scrape,
        "kafka_network_requestmetrics_requests_total",
        &[("request", "Produce")],
    );
    assert_eq!(produces, Some(2.0));
    let metadata = value(
        &scrape,
        "kafka_network_requestmetrics_requests_total",
        &[("request", "Metadata")],
    );
    assert!(metadata >= Some(1.0), "{metadata:?}");
    let produce_count = scrape.samples.iter().find(|s| {
        s.metric == "kafka_network_requestmetrics_totaltimems"
            && s.labels.get("request") == Some("Produce")
    });
    assert!(produce_count.is_some(), "no Produce time summary");
    assert_eq!(
        value(
            &scrape,
            "kafka_controller_kafkacontroller_activecontrollercount",
            &[]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            "kafka_server_replicamanager_underreplicatedpartitions",
            &[]
        ),
        Some(0.0)
    );
    let connections = value(
        &scrape,
        "kafka_server_socketservermetrics_connection_count",
        &[],
    );
    assert!(connections >= Some(1.0), "{connections:?}");
    broker.shutdown().await;
}

/// Every metric the shipped Grafana dashboard queries is a family of the scrape (the
/// dashboard must not drift from the names).
fn dashboard_metrics_exist(text: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboards/runnel.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("kafka_") || word.starts_with("runnel_") {
                    queried += 1;
                    assert!(
                        text.contains(&format!("# TYPE {word} ")),
                        "the dashboard queries {word}, which /metrics does not have"
                    );
                }
            }
        }
    }
    assert!(queried >= 10, "only {queried} metrics queried");
}

/// Goal: an explicitly configured HTTP listener that cannot bind stops the start, an empty
/// `http.listeners` serves none, and the default one is skipped when its port is taken.
#[tokio::test]
async fn http_listeners_bind_or_refuse_the_start() {
    let broker = TestBroker::start(&[("http.listeners", "")]).await;
    assert!(broker.running.http_addr.is_none());
    broker.shutdown().await;

    // Unset, the default port is served only when free: taken, the broker still starts.
    let _held = std::net::TcpListener::bind("127.0.0.1:9644");
    let broker = TestBroker::start(&[]).await;
    assert!(broker.running.http_addr.is_none());
    broker.shutdown().await;

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut properties = std::collections::BTreeMap::new();
    properties.insert(
        "listeners".to_string(),
        "PLAINTEXT://127.0.0.1:0".to_string(),
    );
    properties.insert(
        "log.dirs".to_string(),
        dir.path().to_string_lossy().into_owned(),
    );
    properties.insert(
        "http.listeners".to_string(),
        format!("http://127.0.0.1:{port}"),
    );
    let config = broker::BrokerConfig::from_properties(&properties).unwrap();
    let refused = broker::run(config)
        .await
        .err()
        .expect("a taken port: refused");
    assert!(refused.to_string().contains("http.listeners"), "{refused}");
}
