//! Client quotas end to end against a real broker: AlterClientQuotas and DescribeClientQuotas
//! with Kafka's checks and filters, quotas surviving a restart, and enforcement as KIP-219
//! describes it: a producer over its byte rate gets its answer with `throttle_time_ms` and its
//! connection reads nothing more for that long; a consumer over its rate gets an empty fetch
//! with `throttle_time_ms`; other client ids are not affected. `request_percentage` and
//! `controller_mutation_rate` (KIP-599) are enforced too.

mod common;

use std::time::{Duration, Instant};

use protocol::ErrorCode;
use protocol::generated::alter_client_quotas_request::{EntityData, EntryData, OpData};
use protocol::generated::create_partitions_request::CreatePartitionsTopic;
use protocol::generated::create_topics_request::CreatableTopic;
use protocol::generated::delete_topics_request::DeleteTopicState;
use protocol::generated::describe_client_quotas_request::ComponentData;
use protocol::generated::{
    AlterClientQuotasRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, FetchRequest,
};
use protocol::records::RecordBatchBuilder;

use common::produce::{create_topic, now_ms, produce, record};
use common::{TestBroker, TestClient};

/// Two one-second samples: the rate is measured over at least one second, so a test's
/// throttles stay around a second.
const WINDOWS: [(&str, &str); 2] = [
    ("quota.window.num", "2"),
    ("quota.window.size.seconds", "1"),
];

fn entity(components: &[(&str, Option<&str>)]) -> Vec<EntityData> {
    components
        .iter()
        .map(|(entity_type, name)| EntityData {
            entity_type: entity_type.to_string(),
            entity_name: name.map(str::to_string),
            ..Default::default()
        })
        .collect()
}

fn set(key: &str, value: f64) -> OpData {
    OpData {
        key: key.into(),
        value,
        remove: false,
        ..Default::default()
    }
}

/// AlterClientQuotas v1; each entry's error code.
async fn alter(
    client: &mut TestClient,
    entries: Vec<(Vec<EntityData>, Vec<OpData>)>,
    validate_only: bool,
) -> Vec<i16> {
    let request = AlterClientQuotasRequest {
        entries: entries
            .into_iter()
            .map(|(entity, ops)| EntryData {
                entity,
                ops,
                ..Default::default()
            })
            .collect(),
        validate_only,
        ..Default::default()
    };
    let response = expect_response!(client.send(1, request).await, AlterClientQuotas);
    response.entries.iter().map(|e| e.error_code).collect()
}

/// DescribeClientQuotas v1 with (entity type, match type, match) components.
async fn describe(
    client: &mut TestClient,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> DescribeClientQuotasResponse {
    let request = DescribeClientQuotasRequest {
        components: components
            .iter()
            .map(|(entity_type, match_type, name)| ComponentData {
                entity_type: entity_type.to_string(),
                match_type: *match_type,
                r#match: name.map(str::to_string),
                ..Default::default()
            })
            .collect(),
        strict,
        ..Default::default()
    };
    expect_response!(client.send(1, request).await, DescribeClientQuotas)
}

/// The described entries as ("type=name,..." , "key=value,...") strings, sorted.
fn described(response: &DescribeClientQuotasResponse) -> Vec<(String, String)> {
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    let mut out: Vec<(String, String)> = response
        .entries
        .as_ref()
        .expect("entries")
        .iter()
        .map(|entry| {
            let entity: Vec<String> = entry
                .entity
                .iter()
                .map(|e| {
                    let name = e.entity_name.as_deref().unwrap_or("<default>");
                    format!("{}={name}", e.entity_type)
                })
                .collect();
            let values: Vec<String> = entry
                .values
                .iter()
                .map(|v| format!("{}={}", v.key, v.value))
                .collect();
            (entity.join(","), values.join(","))
        })
        .collect();
    out.sort();
    out
}

/// Goal: AlterClientQuotas records valid entities and refuses invalid ones each on its own
/// (INVALID_REQUEST), validate_only records nothing, DescribeClientQuotas filters exact,
/// default and any matches (strict or not), a removed key disappears, and quotas survive a
/// restart.
#[tokio::test]
async fn client_quotas_are_altered_described_and_kept() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let codes = alter(
        &mut client,
        vec![
            (
                entity(&[("user", Some("alice"))]),
                vec![set("producer_byte_rate", 1024.0)],
            ),
            (
                entity(&[("user", Some("alice")), ("client-id", Some("app"))]),
                vec![
                    set("consumer_byte_rate", 2048.0),
                    set("request_percentage", 12.5),
                ],
            ),
            (
                entity(&[("client-id", None)]),
                vec![set("producer_byte_rate", 4096.0)],
            ),
            (
                entity(&[("ip", Some("127.0.0.1"))]),
                vec![set("connection_creation_rate", 10.0)],
            ),
            // Refused: a fractional byte rate, an unknown key, ip with user, a repeated entity.
            (
                entity(&[("user", Some("bob"))]),
                vec![set("producer_byte_rate", 10.5)],
            ),
            (
                entity(&[("user", Some("bob"))]),
                vec![set("retention.ms", 10.0)],
            ),
            (
                entity(&[("ip", None), ("user", None)]),
                vec![set("producer_byte_rate", 10.0)],
            ),
            (
                entity(&[("user", Some("alice"))]),
                vec![set("consumer_byte_rate", 1.0)],
            ),
        ],
        false,
    )
    .await;
    let invalid = ErrorCode::InvalidRequest.code();
    assert_eq!(codes, vec![0, 0, 0, 0, invalid, invalid, invalid, invalid]);
    let only_checked = alter(
        &mut client,
        vec![(
            entity(&[("user", Some("carol"))]),
            vec![set("producer_byte_rate", 1.0)],
        )],
        true,
    )
    .await;
    assert_eq!(only_checked, vec![0]);

    let all = described(&describe(&mut client, &[], false).await);
    assert_eq!(
        all,
        vec![
            (
                "client-id=<default>".to_string(),
                "producer_byte_rate=4096".to_string()
            ),
            (
                "ip=127.0.0.1".to_string(),
                "connection_creation_rate=10".to_string()
            ),
            (
                "user=alice".to_string(),
                "producer_byte_rate=1024".to_string()
            ),
            (
                "user=alice,client-id=app".to_string(),
                "consumer_byte_rate=2048,request_percentage=12.5".to_string()
            ),
        ]
    );
    let alice_only = describe(&mut client, &[("user", 0, Some("alice"))], true).await;
    assert_eq!(described(&alice_only).len(), 1);
    let alice_any = describe(&mut client, &[("user", 0, Some("alice"))], false).await;
    assert_eq!(described(&alice_any).len(), 2);
    let default_clients = describe(&mut client, &[("client-id", 1, None)], false).await;
    assert_eq!(described(&default_clients).len(), 1);
    let any_user = describe(&mut client, &[("user", 2, None)], false).await;
    assert_eq!(described(&any_user).len(), 2);
    let unknown = describe(&mut client, &[("group", 2, None)], false).await;
    assert_eq!(unknown.error_code, ErrorCode::UnsupportedVersion.code());
    let exact_without_name = describe(&mut client, &[("user", 0, None)], false).await;
    assert_eq!(exact_without_name.error_code, invalid);

    let removed = alter(
        &mut client,
        vec![(
            entity(&[("ip", Some("127.0.0.1"))]),
            vec![OpData {
                key: "connection_creation_rate".into(),
                remove: true,
                ..Default::default()
            }],
        )],
        false,
    )
    .await;
    assert_eq!(removed, vec![0]);
    let ips = describe(&mut client, &[("ip", 2, None)], false).await;
    assert!(described(&ips).is_empty());

    drop(client);
    let broker = broker.restart_with(&[]).await;
    let mut client = broker.client().await;
    assert_eq!(described(&describe(&mut client, &[], false).await).len(), 3);
    broker.shutdown().await;
}

/// A batch of `count` records of `value_bytes` each.
fn payload(count: i32, value_bytes: usize) -> bytes::Bytes {
    let value = "x".repeat(value_bytes);
    let mut builder = RecordBatchBuilder::new().base_timestamp(now_ms());
    for i in 0..count {
        builder.push(record(i, 0, None, &value)).unwrap();
    }
    builder.build().unwrap()
}

/// Goal: a producer over its `producer_byte_rate` has its records appended and is told to
/// wait (`throttle_time_ms` about (rate - bound) / bound × window), and its next request on the
/// connection is read only after that wait; a client id without a quota is not throttled.
#[tokio::test]
async fn a_producer_over_its_byte_rate_is_throttled_and_muted() {
    let broker = TestBroker::start(&WINDOWS).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut admin = broker.client().await;
    let codes = alter(
        &mut admin,
        vec![(
            entity(&[("client-id", Some("slow"))]),
            vec![set("producer_byte_rate", 10_000.0)],
        )],
        false,
    )
    .await;
    assert_eq!(codes, vec![0]);

    let mut slow = broker.client().await.with_client_id("slow");
    // ~20 KB at once: about twice the bound over the one-second minimum window.
    let (code, throttle) = produce_throttle(&mut slow, payload(4, 5_000)).await;
    assert_eq!(code, 0, "the records are appended all the same");
    assert!(
        (500..=3_000).contains(&throttle.as_millis()),
        "throttle {throttle:?}"
    );
    // The connection is muted: the next request is read once the throttle has passed.
    let sent = Instant::now();
    let (code, _) = produce_throttle(&mut slow, payload(1, 10)).await;
    assert_eq!(code, 0);
    assert!(
        sent.elapsed() >= throttle.mul_f64(0.8),
        "answered after {:?}, throttle {throttle:?}",
        sent.elapsed()
    );

    let mut fast = broker.client().await.with_client_id("fast");
    let (code, unthrottled) = produce_throttle(&mut fast, payload(4, 5_000)).await;
    assert_eq!((code, unthrottled), (0, Duration::ZERO));
    broker.shutdown().await;
}

/// Produce v9 of `records` to t-0: (the partition's error code, the answer's throttle).
async fn produce_throttle(client: &mut TestClient, records: bytes::Bytes) -> (i16, Duration) {
    let request = common::produce::produce_request("t", 0, -1, records);
    let response = expect_response!(client.send(9, request).await, Produce);
    let code = response.responses[0].partition_responses[0].error_code;
    let throttle = Duration::from_millis(u64::try_from(response.throttle_time_ms).unwrap());
    (code, throttle)
}

/// Goal: a consumer over its `consumer_byte_rate` gets an empty answer with `throttle_time_ms`
/// (and its connection muted), then the data once the throttle has passed.
#[tokio::test]
async fn a_consumer_over_its_byte_rate_gets_an_empty_throttled_fetch() {
    let broker = TestBroker::start(&WINDOWS).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut admin = broker.client().await;
    for _ in 0..10 {
        let answer = produce(&mut admin, 9, "t", 0, -1, payload(1, 2_000)).await;
        assert_eq!(answer.error_code, 0);
    }
    let codes = alter(
        &mut admin,
        vec![(
            entity(&[("client-id", Some("reader"))]),
            vec![set("consumer_byte_rate", 3_000.0)],
        )],
        false,
    )
    .await;
    assert_eq!(codes, vec![0]);
    let mut reader = broker.client().await.with_client_id("reader");
    let (first_bytes, first_throttle) = fetch(&mut reader, 0).await;
    // Capped to what one window allows (3 000 bytes: one ~2 KB batch, and the next does not fit).
    assert!(
        first_bytes > 0 && first_bytes <= 3_000,
        "{first_bytes} bytes"
    );
    assert_eq!(first_throttle, 0);
    // Reading on, the reader goes over its bound: an empty, throttled answer.
    let mut throttled = None;
    for offset in 1..10 {
        let (bytes, throttle) = fetch(&mut reader, offset).await;
        if throttle > 0 {
            assert_eq!(bytes, 0, "a throttled fetch carries no records");
            throttled = Some(throttle);
            break;
        }
        assert!(
            bytes > 0,
            "an unthrottled fetch at {offset} returns records"
        );
    }
    assert!(throttled.is_some(), "the reader was never throttled");
    broker.shutdown().await;
}

/// Fetch v12 from `offset` with 1 MiB max; (record bytes returned, throttle_time_ms).
async fn fetch(client: &mut TestClient, offset: i64) -> (usize, i32) {
    use protocol::codec::Records;
    use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "t".into(),
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
    let bytes = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| match &p.records {
            Some(Records::Bytes(b)) => b.len(),
            Some(Records::File(region)) => region.length,
            None => 0,
        })
        .sum();
    (bytes, response.throttle_time_ms)
}

/// Goal: `request_percentage` bounds the time a client's requests keep the broker busy: a
/// client id with a tiny share gets Metadata answers with `throttle_time_ms` (capped at one
/// window) and is muted that long; another client id is not throttled.
#[tokio::test]
async fn a_client_over_its_request_percentage_is_throttled() {
    let broker = TestBroker::start(&WINDOWS).await;
    let mut admin = broker.client().await;
    let codes = alter(
        &mut admin,
        vec![(
            entity(&[("client-id", Some("busy"))]),
            vec![set("request_percentage", 0.0001)],
        )],
        false,
    )
    .await;
    assert_eq!(codes, vec![0]);
    let mut busy = broker.client().await.with_client_id("busy");
    let first = metadata_throttle(&mut busy).await;
    assert!(first > 0 && first <= 1_000, "throttle {first}");
    let started = Instant::now();
    metadata_throttle(&mut busy).await;
    assert!(started.elapsed() >= Duration::from_millis(u64::try_from(first).unwrap()).mul_f64(0.8));
    let mut other = broker.client().await.with_client_id("other");
    assert_eq!(metadata_throttle(&mut other).await, 0);
    broker.shutdown().await;
}

/// Metadata v12 (all topics); the answer's throttle_time_ms.
async fn metadata_throttle(client: &mut TestClient) -> i32 {
    let request = protocol::generated::MetadataRequest::default();
    let response = expect_response!(client.send(12, request).await, Metadata);
    response.throttle_time_ms
}

fn new_topic(name: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: -1,
        ..Default::default()
    }
}

/// CreateTopics at `version`; each topic's error code, and the throttle.
async fn create_topics(
    client: &mut TestClient,
    version: i16,
    topics: Vec<CreatableTopic>,
) -> (Vec<i16>, i32) {
    let request = CreateTopicsRequest {
        topics,
        timeout_ms: 30_000,
        ..Default::default()
    };
    let response = expect_response!(client.send(version, request).await, CreateTopics);
    let codes = response.topics.iter().map(|t| t.error_code).collect();
    (codes, response.throttle_time_ms)
}

/// Goal: `controller_mutation_rate` (KIP-599) charges the partitions a client creates or
/// deletes: a strict request (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) gets
/// its first topic, which overdraws the budget, and THROTTLING_QUOTA_EXCEEDED for the next one,
/// with the time until the budget is back; an older version is only throttled; a client
/// without the quota is not affected.
#[tokio::test]
async fn a_client_over_its_controller_mutation_rate_is_refused_then_throttled() {
    let throttled = ErrorCode::ThrottlingQuotaExceeded.code();
    let broker = TestBroker::start(&WINDOWS).await;
    let mut admin = broker.client().await;
    // Two partitions a second over two one-second samples: a budget of 4 partitions.
    let quota = |client: &str| {
        (
            entity(&[("client-id", Some(client))]),
            vec![set("controller_mutation_rate", 2.0)],
        )
    };
    let codes = alter(&mut admin, vec![quota("strict"), quota("legacy")], false).await;
    assert_eq!(codes, vec![0, 0]);

    let mut strict = broker.client().await.with_client_id("strict");
    let (codes, throttle) = create_topics(
        &mut strict,
        7,
        vec![new_topic("wide", 10), new_topic("refused", 1)],
    )
    .await;
    assert_eq!(codes, vec![0, throttled]);
    // 4 - 10 = -6 tokens at 2 a second: back at zero in about 3 s.
    assert!((2_000..=3_000).contains(&throttle), "throttle {throttle}");
    assert!(broker.running.broker.metadata.topic("refused").is_none());

    // v5 predates the error: both topics are created, the client is throttled.
    let mut legacy = broker.client().await.with_client_id("legacy");
    let (codes, throttle) = create_topics(
        &mut legacy,
        5,
        vec![new_topic("legacy-a", 10), new_topic("legacy-b", 1)],
    )
    .await;
    assert_eq!(codes, vec![0, 0]);
    assert!(throttle > 2_000, "throttle {throttle}");

    let mut other = broker.client().await.with_client_id("other");
    let (codes, throttle) = create_topics(&mut other, 7, vec![new_topic("free", 50)]).await;
    assert_eq!((codes, throttle), (vec![0], 0));

    // The strict client's budget refills after its mute; growing `free` by 10 partitions
    // overdraws it again, so a second topic in the request is refused.
    let request = CreatePartitionsRequest {
        topics: [("free", 60), ("wide", 11)]
            .into_iter()
            .map(|(name, count)| CreatePartitionsTopic {
                name: name.into(),
                count,
                assignments: None,
                ..Default::default()
            })
            .collect(),
        timeout_ms: 30_000,
        validate_only: false,
        ..Default::default()
    };
    let response = expect_response!(strict.send(3, request).await, CreatePartitions);
    let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, throttled]);
    assert!(
        response.throttle_time_ms > 1_000,
        "{}",
        response.throttle_time_ms
    );
    assert_eq!(
        broker
            .running
            .broker
            .metadata
            .topic("wide")
            .unwrap()
            .partitions,
        10
    );

    // Deleting 60 partitions after the next refill: the second topic is refused.
    let request = DeleteTopicsRequest {
        topics: ["free", "wide"]
            .into_iter()
            .map(|name| DeleteTopicState {
                name: Some(name.into()),
                ..Default::default()
            })
            .collect(),
        timeout_ms: 30_000,
        ..Default::default()
    };
    let response = expect_response!(strict.send(6, request).await, DeleteTopics);
    let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, throttled]);
    assert!(
        response.throttle_time_ms > 10_000,
        "{}",
        response.throttle_time_ms
    );
    assert!(broker.running.broker.metadata.topic("wide").is_some());
    broker.shutdown().await;
}

/// Goal: `connection_creation_rate` on an ip (KIP-612): a connection from that address over
/// the rate is held and closed without an answer; connections already served keep working,
/// and another address is not affected.
#[tokio::test]
async fn connections_over_their_address_rate_are_closed_unserved() {
    let broker = TestBroker::start(&WINDOWS).await;
    let mut admin = broker.client().await;
    let codes = alter(
        &mut admin,
        vec![(
            entity(&[("ip", Some("127.0.0.1"))]),
            vec![set("connection_creation_rate", 1.0)],
        )],
        false,
    )
    .await;
    assert_eq!(codes, vec![0]);

    // One connection a second, measured over at least one second: the first is served.
    let mut first = broker.client().await;
    expect_response!(
        first
            .send(3, protocol::generated::ApiVersionsRequest::default())
            .await,
        ApiVersions
    );
    let mut over = broker.client().await;
    over.send_no_response(3, protocol::generated::ApiVersionsRequest::default())
        .await;
    let closed = tokio::time::timeout(Duration::from_secs(30), over.read_frame()).await;
    assert_eq!(closed, Ok(None), "closed without an answer");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut elsewhere = TestClient::over(socket.connect(broker.addr()).await.unwrap());
    expect_response!(
        elsewhere
            .send(3, protocol::generated::ApiVersionsRequest::default())
            .await,
        ApiVersions
    );
    expect_response!(
        first
            .send(3, protocol::generated::ApiVersionsRequest::default())
            .await,
        ApiVersions
    );
    broker.shutdown().await;
}
