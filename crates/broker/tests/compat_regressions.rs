//! Broker bugs found by the real-client suites (compat/run.sh), each reduced to the exact bytes
//! or calls the real client sent. A test stays `#[ignore]` (with the reason) until its bug is
//! fixed; then the `#[ignore]` goes and the test guards against the regression.

mod common;

use common::TestBroker;

/// librdkafka 2.16.0 (PyPI confluent-kafka 2.16.1) `AdminClient.list_topics()`: a Metadata v12
/// request for all topics, exactly as captured, which carries 3 bytes after the body
/// (`01 00 00`). Apache Kafka parses the body and ignores what follows; Runnel's
/// `protocol::decode_request` used to refuse the frame ("3 bytes left over after Metadata") and
/// close the connection, so every librdkafka `list_topics()` failed with
/// `_TRANSPORT: Failed to get metadata` (compat/run.sh librdkafka: admin.list_topics,
/// admin.create_topics.validate_only, admin.delete_topics).
#[tokio::test]
async fn librdkafka_metadata_all_topics_with_trailing_bytes_is_answered() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let frame: &[u8] = &[
        0x00, 0x03, 0x00, 0x0c, // Metadata v12
        0x00, 0x00, 0x00, 0x03, // correlation id 3
        0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k', b'a', // client id "rdkafka"
        0x00, // header tagged fields
        0x00, // topics: null (all topics)
        0x00, // allow_auto_topic_creation: false
        0x00, // include_topic_authorized_operations: false
        0x00, // tagged fields
        0x01, 0x00, 0x00, // what librdkafka sends beyond the body
    ];
    client.send_raw(frame).await;
    let response = client
        .read_frame()
        .await
        .expect("a Metadata response, not a closed connection");
    let (correlation_id, body) =
        protocol::decode_response(protocol::ApiKey::Metadata, 12, response).expect("decode");
    assert_eq!(correlation_id, 3);
    let metadata = expect_response!(body, Metadata);
    assert_eq!(metadata.brokers.len(), 1);
    broker.shutdown().await;
}

/// franz-go v1.22.3 `Test848RegexBrokerResolves`: a KIP-848 member subscribed by regex
/// (ConsumerGroupHeartbeat `SubscribedTopicRegex`) gets every topic the regex matches, internal
/// topics included, as Apache Kafka's broker-side regex resolution does (Runnel once left
/// `__consumer_offsets` out; compat/FINDINGS.md).
#[tokio::test]
async fn kip848_regex_subscription_assigns_internal_topics_too() {
    use protocol::generated::ConsumerGroupHeartbeatRequest;

    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let created = common::admin::create(
        &mut client,
        vec![common::admin::topic("regex-orders", 1, 1)],
        false,
    )
    .await;
    assert_eq!(created, vec![("regex-orders".to_string(), 0)]);

    // v1 (KIP-1082): the member picks its own id
    let (mut member_id, mut member_epoch) = ("Zm9vYmFyLXJlZ2V4LW1lbQ".to_string(), 0);
    let mut assigned_topics = 0;
    for _ in 0..50 {
        let response = expect_response!(
            client
                .send(
                    1,
                    ConsumerGroupHeartbeatRequest {
                        group_id: "regex-group".into(),
                        member_id: member_id.clone(),
                        member_epoch,
                        rebalance_timeout_ms: 30_000,
                        subscribed_topic_regex: (member_epoch == 0)
                            .then(|| "regex-orders|__consumer_offsets".into()),
                        topic_partitions: (member_epoch == 0).then(Vec::new),
                        ..Default::default()
                    }
                )
                .await,
            ConsumerGroupHeartbeat
        );
        assert_eq!(response.error_code, 0, "{:?}", response.error_message);
        member_id = response.member_id.unwrap_or(member_id);
        member_epoch = response.member_epoch;
        if let Some(assignment) = response.assignment {
            assigned_topics = assignment.topic_partitions.len();
        }
        if assigned_topics == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        assigned_topics, 2,
        "regex-orders and __consumer_offsets both match the regex"
    );
    broker.shutdown().await;
}
