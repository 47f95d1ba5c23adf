//! The cluster admin APIs as a client sees them, against a real broker on 127.0.0.1:0:
//! DescribeCluster (KIP-700), DescribeTopicPartitions (KIP-966) and DescribeLogDirs.

mod common;

use common::TestBroker;
use common::admin::{create, topic};
use protocol::generated::describe_log_dirs_request::DescribableLogDirTopic;
use protocol::generated::describe_topic_partitions_request::{Cursor, TopicRequest};
use protocol::generated::{
    DescribeClusterRequest, DescribeLogDirsRequest, DescribeTopicPartitionsRequest,
};
use protocol::{ErrorCode, Uuid};

/// Goal: DescribeCluster (KIP-700) names this broker as the only broker and the controller.
#[tokio::test]
async fn describe_cluster() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let request = DescribeClusterRequest {
        include_cluster_authorized_operations: true,
        ..Default::default()
    };
    let response = expect_response!(client.send(1, request).await, DescribeCluster);
    assert_eq!(response.error_code, 0);
    assert_eq!(
        response.cluster_id,
        broker.running.broker.metadata.cluster_id()
    );
    assert_eq!(response.controller_id, 1);
    assert_eq!(response.brokers.len(), 1);
    assert_eq!(response.brokers[0].port, i32::from(broker.addr().port()));
    assert_ne!(response.cluster_authorized_operations, i32::MIN);
    let request = DescribeClusterRequest {
        endpoint_type: 2,
        ..Default::default()
    };
    let response = expect_response!(client.send(1, request).await, DescribeCluster);
    assert_eq!(
        response.error_code,
        ErrorCode::UnsupportedEndpointType.code()
    );
}

/// Goal: DescribeTopicPartitions (KIP-966) pages through topics in name order with a cursor.
#[tokio::test]
async fn describe_topic_partitions_pages_with_a_cursor() {
    // One __consumer_offsets partition, so the pages below hold the test's own topics.
    let broker = TestBroker::start(&[("offsets.topic.num.partitions", "1")]).await;
    let mut client = broker.client().await;
    create(
        &mut client,
        vec![topic("a", 3, 1), topic("b", 2, 1), topic("c", 1, 1)],
        false,
    )
    .await;
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let request = DescribeTopicPartitionsRequest {
            response_partition_limit: 2,
            cursor: cursor.take(),
            ..Default::default()
        };
        let response = expect_response!(client.send(0, request).await, DescribeTopicPartitions);
        for topic in &response.topics {
            assert_eq!(topic.error_code, 0);
            assert_ne!(topic.topic_id, Uuid::ZERO);
            // Internal topics (__consumer_offsets) are listed too, as in Kafka.
            if topic.name.as_deref().is_some_and(|n| n.starts_with("__")) {
                continue;
            }
            for partition in &topic.partitions {
                assert_eq!(partition.isr_nodes, vec![1]);
                assert_eq!(partition.eligible_leader_replicas, Some(vec![]));
                seen.push(format!(
                    "{}-{}",
                    topic.name.as_deref().unwrap(),
                    partition.partition_index
                ));
            }
        }
        match response.next_cursor {
            Some(next) => {
                cursor = Some(Cursor {
                    topic_name: next.topic_name,
                    partition_index: next.partition_index,
                    ..Default::default()
                })
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a-0", "a-1", "a-2", "b-0", "b-1", "c-0"]);

    let request = DescribeTopicPartitionsRequest {
        topics: vec![TopicRequest {
            name: "nope".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = expect_response!(client.send(0, request).await, DescribeTopicPartitions);
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
}

/// Goal: DescribeLogDirs reports the log directory, every partition's size and the disk space.
#[tokio::test]
async fn describe_log_dirs() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    create(&mut client, vec![topic("x", 2, 1), topic("y", 1, 1)], false).await;
    let response = expect_response!(
        client
            .send(
                4,
                DescribeLogDirsRequest {
                    topics: None,
                    ..Default::default()
                }
            )
            .await,
        DescribeLogDirs
    );
    assert_eq!(response.results.len(), 1);
    let dir = &response.results[0];
    assert_eq!(dir.error_code, 0);
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
    let names: Vec<_> = dir
        .topics
        .iter()
        .filter(|t| !t.name.starts_with("__"))
        .map(|t| (t.name.as_str(), t.partitions.len()))
        .collect();
    assert_eq!(names, vec![("x", 2), ("y", 1)]);

    let request = DescribeLogDirsRequest {
        topics: Some(vec![DescribableLogDirTopic {
            topic: "x".into(),
            partitions: vec![1, 9],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let response = expect_response!(client.send(1, request).await, DescribeLogDirs);
    let topics = &response.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 1);
    assert_eq!(topics[0].partitions[0].partition_index, 1);
}
