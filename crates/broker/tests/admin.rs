//! The topic lifecycle admin APIs as a client sees them, against a real broker on
//! 127.0.0.1:0: CreateTopics, DeleteTopics and CreatePartitions. Each test sends real frames
//! and checks the results and error codes a client reads.

mod common;

use common::TestBroker;
use common::admin::{create, partition_count, topic, with_config};
use protocol::generated::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use protocol::generated::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use protocol::generated::delete_topics_request::DeleteTopicState;
use protocol::generated::{CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest};
use protocol::{ErrorCode, Uuid};

/// Goal: CreateTopics creates with explicit counts and with broker defaults (-1), reports
/// the partition count, replication factor, configs with sources and the topic id (v5+, v7),
/// and refuses bad names, counts, factors, configs and duplicates with Kafka's codes.
#[tokio::test]
async fn create_topics_success_and_errors() {
    let broker = TestBroker::start(&[("num.partitions", "2")]).await;
    let mut client = broker.client().await;
    let request = CreateTopicsRequest {
        topics: vec![
            with_config(topic("orders", 3, 1), "retention.ms", "3600000"),
            topic("defaults", -1, -1),
        ],
        ..Default::default()
    };
    let response = expect_response!(client.send(7, request).await, CreateTopics);
    assert_eq!(response.topics.len(), 2);
    let orders = &response.topics[0];
    assert_eq!(
        (
            orders.error_code,
            orders.num_partitions,
            orders.replication_factor
        ),
        (0, 3, 1)
    );
    assert_ne!(orders.topic_id, Uuid::ZERO);
    let configs = orders.configs.as_ref().unwrap();
    let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("3600000"), 1)
    );
    let segment = configs.iter().find(|c| c.name == "segment.bytes").unwrap();
    assert_eq!(
        (segment.value.as_deref(), segment.config_source),
        (Some("1073741824"), 5)
    );
    assert_eq!(response.topics[1].num_partitions, 2);
    assert_eq!(partition_count(&mut client, "orders").await, Some(3));
    assert_eq!(partition_count(&mut client, "defaults").await, Some(2));

    let results = create(
        &mut client,
        vec![
            topic("orders", 1, 1),
            topic("bad/name", 1, 1),
            topic("zero", 0, 1),
            topic("three-replicas", 1, 3),
            with_config(topic("unknown-key", 1, 1), "no.such.key", "1"),
            with_config(topic("bad-value", 1, 1), "retention.ms", "soon"),
            topic("twice", 1, 1),
            topic("twice", 1, 1),
        ],
        false,
    )
    .await;
    let code = |e: ErrorCode| e.code();
    assert_eq!(
        results,
        vec![
            ("orders".into(), code(ErrorCode::TopicAlreadyExists)),
            ("bad/name".into(), code(ErrorCode::InvalidTopicException)),
            ("zero".into(), code(ErrorCode::InvalidPartitions)),
            (
                "three-replicas".into(),
                code(ErrorCode::InvalidReplicationFactor)
            ),
            ("unknown-key".into(), code(ErrorCode::InvalidConfig)),
            ("bad-value".into(), code(ErrorCode::InvalidConfig)),
            ("twice".into(), code(ErrorCode::InvalidRequest)),
        ]
    );
    for failed in ["bad-value", "zero", "twice"] {
        assert_eq!(partition_count(&mut client, failed).await, None, "{failed}");
    }
}

/// Goal: validate_only checks everything and creates nothing; explicit assignments work when
/// they name this broker and are INVALID_REPLICA_ASSIGNMENT otherwise; old versions decode.
#[tokio::test]
async fn create_topics_validate_only_assignments_and_old_versions() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let results = create(
        &mut client,
        vec![topic("dry", 4, 1), topic("dry-bad", 1, 2)],
        true,
    )
    .await;
    assert_eq!(results[0].1, 0);
    assert_eq!(results[1].1, ErrorCode::InvalidReplicationFactor.code());
    assert_eq!(partition_count(&mut client, "dry").await, None);

    let assigned = |name: &str, brokers: Vec<Vec<i32>>| CreatableTopic {
        name: name.into(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: brokers
            .into_iter()
            .enumerate()
            .map(|(i, broker_ids)| CreatableReplicaAssignment {
                partition_index: i as i32,
                broker_ids,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let results = create(
        &mut client,
        vec![
            assigned("assigned", vec![vec![1], vec![1]]),
            assigned("elsewhere", vec![vec![2]]),
            assigned("two-replicas", vec![vec![1, 2]]),
        ],
        false,
    )
    .await;
    assert_eq!(results[0].1, 0);
    assert_eq!(results[1].1, ErrorCode::InvalidReplicaAssignment.code());
    assert_eq!(results[2].1, ErrorCode::InvalidReplicaAssignment.code());
    assert_eq!(partition_count(&mut client, "assigned").await, Some(2));

    for version in [0, 1, 2, 4] {
        let name = format!("old-v{version}");
        let request = CreateTopicsRequest {
            topics: vec![topic(&name, 1, 1)],
            ..Default::default()
        };
        let response = expect_response!(client.send(version, request).await, CreateTopics);
        assert_eq!(response.topics[0].error_code, 0, "v{version}");
    }
}

/// Goal: DeleteTopics removes topics by name (v0-5) and by id (v6), deletes their data, and
/// answers unknown names, unknown ids and disabled deletion with Kafka's codes.
#[tokio::test]
async fn delete_topics_by_name_and_id() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    create(&mut client, vec![topic("a", 2, 1), topic("b", 1, 1)], false).await;
    let b_id = broker.running.broker.metadata.topic("b").unwrap().uuid();
    assert!(broker.log_dir.path().join("a-0").exists());

    let request = DeleteTopicsRequest {
        topic_names: vec!["a".into(), "missing".into()],
        ..Default::default()
    };
    let response = expect_response!(client.send(5, request).await, DeleteTopics);
    let codes: Vec<_> = response.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, ErrorCode::UnknownTopicOrPartition.code()]);
    assert_eq!(partition_count(&mut client, "a").await, None);
    assert!(!broker.log_dir.path().join("a-0").exists());

    let request = DeleteTopicsRequest {
        topics: vec![
            DeleteTopicState {
                name: None,
                topic_id: b_id,
                ..Default::default()
            },
            DeleteTopicState {
                name: None,
                topic_id: Uuid([7; 16]),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response = expect_response!(client.send(6, request).await, DeleteTopics);
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(response.responses[0].name.as_deref(), Some("b"));
    assert_eq!(
        response.responses[1].error_code,
        ErrorCode::UnknownTopicId.code()
    );
    assert_eq!(partition_count(&mut client, "b").await, None);

    // A re-created topic starts empty, with a new id.
    create(&mut client, vec![topic("b", 1, 1)], false).await;
    assert_ne!(
        broker.running.broker.metadata.topic("b").unwrap().uuid(),
        b_id
    );
}

#[tokio::test]
async fn delete_topics_disabled() {
    let broker = TestBroker::start(&[("delete.topic.enable", "false")]).await;
    let mut client = broker.client().await;
    create(&mut client, vec![topic("kept", 1, 1)], false).await;
    for (version, expected) in [
        (4, ErrorCode::TopicDeletionDisabled),
        (2, ErrorCode::InvalidRequest),
    ] {
        let request = DeleteTopicsRequest {
            topic_names: vec!["kept".into()],
            ..Default::default()
        };
        let response = expect_response!(client.send(version, request).await, DeleteTopics);
        assert_eq!(
            response.responses[0].error_code,
            expected.code(),
            "v{version}"
        );
    }
    assert_eq!(partition_count(&mut client, "kept").await, Some(1));
}

/// Goal: CreatePartitions only increases, honours validate_only and assignments, and answers
/// every requested topic (an empty result array was a bug of another broker).
#[tokio::test]
async fn create_partitions_increase_only() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    create(
        &mut client,
        vec![topic("grow", 1, 1), topic("dry", 1, 1)],
        false,
    )
    .await;
    let entry =
        |name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>| CreatePartitionsTopic {
            name: name.into(),
            count,
            assignments: assignments.map(|a| {
                a.into_iter()
                    .map(|broker_ids| CreatePartitionsAssignment {
                        broker_ids,
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        };
    let request = CreatePartitionsRequest {
        topics: vec![
            entry("grow", 3, Some(vec![vec![1], vec![1]])),
            entry("missing", 2, None),
            entry("dry", 2, Some(vec![vec![2]])),
        ],
        ..Default::default()
    };
    let response = expect_response!(client.send(3, request).await, CreatePartitions);
    let results: Vec<_> = response
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.error_code))
        .collect();
    assert_eq!(
        results,
        vec![
            ("grow", 0),
            ("missing", ErrorCode::UnknownTopicOrPartition.code()),
            ("dry", ErrorCode::InvalidReplicaAssignment.code()),
        ]
    );
    assert_eq!(partition_count(&mut client, "grow").await, Some(3));
    assert!(broker.log_dir.path().join("grow-2").exists());

    for (count, validate_only, expected) in [
        (3, false, ErrorCode::InvalidPartitions),
        (2, false, ErrorCode::InvalidPartitions),
        (5, true, ErrorCode::None),
    ] {
        let request = CreatePartitionsRequest {
            topics: vec![entry("grow", count, None)],
            validate_only,
            ..Default::default()
        };
        let response = expect_response!(client.send(0, request).await, CreatePartitions);
        assert_eq!(
            response.results[0].error_code,
            expected.code(),
            "count {count}"
        );
    }
    assert_eq!(partition_count(&mut client, "grow").await, Some(3));
}
