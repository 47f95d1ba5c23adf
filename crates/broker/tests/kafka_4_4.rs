//! What the versions Kafka 4.4 added mean, as a client sees them: topics named by id in
//! Produce v13 and OffsetCommit/OffsetFetch v10 (UNKNOWN_TOPIC_ID for an id the broker does not
//! know), ApiVersions v5's cluster check (KIP-1242), ListOffsets v11's new special timestamp
//! (KIP-1023), DescribeGroups v6's GROUP_ID_NOT_FOUND (KIP-1043), and the OffsetCommit rule that
//! a topic or partition that does not exist is refused (UNKNOWN_TOPIC_OR_PARTITION), which
//! Runnel used to acknowledge.

mod common;

use bytes::Bytes;
use common::TestBroker;
use common::produce::{batch, create_topic, list_offset, now_ms, produce_request};
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use protocol::generated::{
    ApiVersionsRequest, DescribeGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
};
use protocol::{ErrorCode, Uuid};

const GROUP: &str = "g-4.4";

fn code(raw: i16) -> ErrorCode {
    ErrorCode::from_code(raw).expect("a known error code")
}

fn records() -> Bytes {
    batch(3, now_ms()).build().unwrap()
}

fn topic_id(broker: &TestBroker, name: &str) -> Uuid {
    broker.broker().metadata.topic(name).expect("topic").uuid()
}

/// An admin-style commit (no generation, no member) of `offset` to each partition.
fn commit(topics: Vec<(String, Uuid, Vec<i32>)>, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: GROUP.into(),
        generation_id_or_member_epoch: -1,
        retention_time_ms: -1,
        topics: topics
            .into_iter()
            .map(|(name, topic_id, partitions)| OffsetCommitRequestTopic {
                name,
                topic_id,
                partitions: partitions
                    .into_iter()
                    .map(|partition_index| OffsetCommitRequestPartition {
                        partition_index,
                        committed_offset: offset,
                        committed_leader_epoch: -1,
                        commit_timestamp: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn produce_v13_names_topics_by_id() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "by-id", 1, &[]).await;
    let id = topic_id(&broker, "by-id");
    let mut client = broker.client().await;

    let mut request = produce_request("", 0, -1, records());
    request.topic_data[0].topic_id = id;
    let response = expect_response!(client.send(13, request).await, Produce);
    assert_eq!(response.responses[0].topic_id, id);
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(code(partition.error_code), ErrorCode::None);
    assert_eq!(partition.base_offset, 0);
    let latest = list_offset(&mut client, 11, "by-id", 0, -1).await;
    assert_eq!(
        latest.offset, 3,
        "the records reached the topic named by the id"
    );

    let unknown = Uuid([9; 16]);
    let mut request = produce_request("", 0, -1, records());
    request.topic_data[0].topic_id = unknown;
    let response = expect_response!(client.send(13, request).await, Produce);
    assert_eq!(response.responses[0].topic_id, unknown);
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(code(partition.error_code), ErrorCode::UnknownTopicId);
    broker.shutdown().await;
}

#[tokio::test]
async fn offset_commit_refuses_topics_and_partitions_that_do_not_exist() {
    let broker = TestBroker::start(&[("group.initial.rebalance.delay.ms", "0")]).await;
    create_topic(&broker, "exists", 2, &[]).await;
    let mut client = broker.client().await;
    let request = commit(
        vec![
            ("exists".into(), Uuid::ZERO, vec![0, 1, 7]),
            ("missing".into(), Uuid::ZERO, vec![0]),
        ],
        5,
    );
    let response = expect_response!(client.send(9, request).await, OffsetCommit);
    let mut codes: Vec<(String, i32, ErrorCode)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, code(p.error_code)))
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("exists".into(), 0, ErrorCode::None),
            ("exists".into(), 1, ErrorCode::None),
            ("exists".into(), 7, ErrorCode::UnknownTopicOrPartition),
            ("missing".into(), 0, ErrorCode::UnknownTopicOrPartition),
        ]
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn offset_commit_and_fetch_v10_name_topics_by_id() {
    let broker = TestBroker::start(&[("group.initial.rebalance.delay.ms", "0")]).await;
    create_topic(&broker, "ids", 1, &[]).await;
    let id = topic_id(&broker, "ids");
    let unknown = Uuid([3; 16]);
    let mut client = broker.client().await;

    let request = commit(
        vec![
            (String::new(), id, vec![0]),
            (String::new(), unknown, vec![0]),
        ],
        11,
    );
    let response = expect_response!(client.send(10, request).await, OffsetCommit);
    let by_id = |wanted: Uuid| {
        let topic = response
            .topics
            .iter()
            .find(|t| t.topic_id == wanted)
            .unwrap_or_else(|| panic!("{wanted} answered: {response:?}"));
        code(topic.partitions[0].error_code)
    };
    assert_eq!(by_id(id), ErrorCode::None);
    assert_eq!(by_id(unknown), ErrorCode::UnknownTopicId);

    let fetch = |topics: Option<Vec<OffsetFetchRequestTopics>>| OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: GROUP.into(),
            member_epoch: -1,
            topics,
            ..Default::default()
        }],
        ..Default::default()
    };
    let asked = |topic_id| OffsetFetchRequestTopics {
        topic_id,
        partition_indexes: vec![0],
        ..Default::default()
    };
    let response = expect_response!(
        client
            .send(10, fetch(Some(vec![asked(id), asked(unknown)])))
            .await,
        OffsetFetch
    );
    let group = &response.groups[0];
    assert_eq!(code(group.error_code), ErrorCode::None);
    let known = group.topics.iter().find(|t| t.topic_id == id).unwrap();
    assert_eq!(known.partitions[0].committed_offset, 11);
    let missing = group.topics.iter().find(|t| t.topic_id == unknown).unwrap();
    assert_eq!(missing.partitions[0].committed_offset, -1);
    assert_eq!(
        code(missing.partitions[0].error_code),
        ErrorCode::UnknownTopicId
    );

    // Every committed topic: named by its id.
    let response = expect_response!(client.send(10, fetch(None)).await, OffsetFetch);
    let topics: Vec<Uuid> = response.groups[0]
        .topics
        .iter()
        .map(|t| t.topic_id)
        .collect();
    assert_eq!(topics, [id]);
    broker.shutdown().await;
}

#[tokio::test]
async fn api_versions_v5_asks_a_client_of_another_cluster_to_rebootstrap() {
    let broker = TestBroker::start(&[]).await;
    let cluster_id = broker.broker().metadata.cluster_id().to_string();
    let node_id = broker.broker().config.node_id;
    let mut client = broker.client().await;
    let ask = |cluster_id: Option<String>, node_id: i32| ApiVersionsRequest {
        client_software_name: "runnel-test".into(),
        client_software_version: "1".into(),
        cluster_id,
        node_id,
        ..Default::default()
    };
    let same = expect_response!(
        client.send(5, ask(Some(cluster_id.clone()), node_id)).await,
        ApiVersions
    );
    assert_eq!(code(same.error_code), ErrorCode::None);
    assert!(!same.api_keys.is_empty());
    let unknown = expect_response!(client.send(5, ask(None, -1)).await, ApiVersions);
    assert_eq!(code(unknown.error_code), ErrorCode::None);
    for (cluster, node) in [("another-cluster".to_string(), node_id), (cluster_id, 99)] {
        let other = expect_response!(client.send(5, ask(Some(cluster), node)).await, ApiVersions);
        assert_eq!(code(other.error_code), ErrorCode::RebootstrapRequired);
        assert!(other.api_keys.is_empty());
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn list_offsets_v11_earliest_pending_upload_without_tiered_storage() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "lo", 1, &[]).await;
    let mut client = broker.client().await;
    let found = list_offset(&mut client, 11, "lo", 0, -6).await;
    assert_eq!(code(found.error_code), ErrorCode::None);
    assert_eq!((found.offset, found.leader_epoch), (-1, -1));
    // A version that does not know the timestamp, and a timestamp no version knows.
    let older = list_offset(&mut client, 10, "lo", 0, -6).await;
    assert_eq!(code(older.error_code), ErrorCode::UnsupportedVersion);
    let unknown = list_offset(&mut client, 11, "lo", 0, -42).await;
    assert_eq!(code(unknown.error_code), ErrorCode::UnsupportedVersion);
    broker.shutdown().await;
}

#[tokio::test]
async fn describe_groups_v6_reports_an_unknown_group() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let request = DescribeGroupsRequest {
        groups: vec!["nobody".into()],
        ..Default::default()
    };
    let v5 = expect_response!(client.send(5, request.clone()).await, DescribeGroups);
    assert_eq!(code(v5.groups[0].error_code), ErrorCode::None);
    assert_eq!(v5.groups[0].group_state, "Dead");
    let v6 = expect_response!(client.send(6, request).await, DescribeGroups);
    assert_eq!(code(v6.groups[0].error_code), ErrorCode::GroupIdNotFound);
    assert_eq!(v6.groups[0].group_state, "Dead");
    assert!(v6.groups[0].error_message.is_some());
    broker.shutdown().await;
}
