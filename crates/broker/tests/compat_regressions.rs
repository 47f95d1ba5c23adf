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
