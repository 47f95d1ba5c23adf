//! Admin-side helpers for integration tests: CreateTopics entries and requests, the
//! partition count Metadata reports, and DeleteRecords.

use protocol::ResponseBody;
use protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use protocol::generated::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use protocol::generated::{CreateTopicsRequest, DeleteRecordsRequest, MetadataRequest};

use super::TestClient;

/// DescribeConfigs / AlterConfigs resource types.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

/// A CreateTopics entry.
pub fn topic(name: &str, partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor,
        ..Default::default()
    }
}

/// `topic` with one more config.
pub fn with_config(mut topic: CreatableTopic, key: &str, value: &str) -> CreatableTopic {
    topic.configs.push(CreatableTopicConfig {
        name: key.into(),
        value: Some(value.into()),
        ..Default::default()
    });
    topic
}

/// Sends CreateTopics v7; returns each result's name and error code.
pub async fn create(
    client: &mut TestClient,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> Vec<(String, i16)> {
    let response = crate::expect_response!(
        client
            .send(
                7,
                CreateTopicsRequest {
                    topics,
                    validate_only,
                    ..Default::default()
                }
            )
            .await,
        CreateTopics
    );
    response
        .topics
        .into_iter()
        .map(|t| (t.name, t.error_code))
        .collect()
}

/// The partition count Metadata reports for `name`, `None` when it does not exist.
pub async fn partition_count(client: &mut TestClient, name: &str) -> Option<usize> {
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let response = crate::expect_response!(client.send(12, request).await, Metadata);
    response
        .topics
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))
        .map(|t| t.partitions.len())
}

/// DeleteRecords (v2, 30 s timeout) of `topic`-`partition` up to `offset`: the partition's error
/// code and low watermark.
#[allow(dead_code)]
pub async fn delete_records(
    client: &mut TestClient,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (i16, i64) {
    let request = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: topic.into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: partition,
                offset,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let ResponseBody::DeleteRecords(mut response) = client.send(2, request).await else {
        panic!("not a DeleteRecords response");
    };
    let answer = response.topics.remove(0).partitions.remove(0);
    (answer.error_code, answer.low_watermark)
}
