//! The admin APIs as a client sees them, against a real broker on 127.0.0.1:0: CreateTopics,
//! DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs
//! (KIP-339), DescribeCluster (KIP-700), DescribeTopicPartitions (KIP-966) and DescribeLogDirs.
//! Each test sends real frames and checks the results and error codes a client reads.

mod common;

use common::{TestBroker, TestClient};
use protocol::generated::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use protocol::generated::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use protocol::generated::delete_topics_request::DeleteTopicState;
use protocol::generated::describe_configs_request::DescribeConfigsResource;
use protocol::generated::describe_log_dirs_request::DescribableLogDirTopic;
use protocol::generated::describe_topic_partitions_request::{Cursor, TopicRequest};
use protocol::generated::{
    AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeLogDirsRequest,
    DescribeTopicPartitionsRequest, IncrementalAlterConfigsRequest, MetadataRequest,
};
use protocol::{ErrorCode, Uuid};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

fn topic(name: &str, partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor,
        ..Default::default()
    }
}

fn with_config(mut topic: CreatableTopic, key: &str, value: &str) -> CreatableTopic {
    topic.configs.push(CreatableTopicConfig {
        name: key.into(),
        value: Some(value.into()),
        ..Default::default()
    });
    topic
}

async fn create(
    client: &mut TestClient,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> Vec<(String, i16)> {
    let response = expect_response!(
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

async fn partition_count(client: &mut TestClient, name: &str) -> Option<usize> {
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let response = expect_response!(client.send(12, request).await, Metadata);
    response
        .topics
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))
        .map(|t| t.partitions.len())
}

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

fn describe_request(
    resource_type: i8,
    name: &str,
    keys: Option<Vec<&str>>,
) -> DescribeConfigsRequest {
    DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type,
            resource_name: name.into(),
            configuration_keys: keys.map(|k| k.into_iter().map(String::from).collect()),
            ..Default::default()
        }],
        include_synonyms: true,
        include_documentation: true,
        ..Default::default()
    }
}

/// Goal: DescribeConfigs lists every topic key with value and source (overrides 1, defaults 5,
/// broker keys set explicitly 4), filters by key, and describes this broker's keys; other
/// brokers and unknown topics get errors.
#[tokio::test]
async fn describe_configs_topics_and_brokers() {
    let broker = TestBroker::start(&[("log.retention.hours", "24")]).await;
    let mut client = broker.client().await;
    create(
        &mut client,
        vec![with_config(topic("t", 1, 1), "max.message.bytes", "2048")],
        false,
    )
    .await;

    let response = expect_response!(
        client.send(4, describe_request(TOPIC, "t", None)).await,
        DescribeConfigs
    );
    let result = &response.results[0];
    assert_eq!(result.error_code, 0);
    assert!(
        result.configs.len() >= 20,
        "every topic key: {}",
        result.configs.len()
    );
    let get = |name: &str| result.configs.iter().find(|c| c.name == name).unwrap();
    assert_eq!(
        (
            get("max.message.bytes").value.as_deref(),
            get("max.message.bytes").config_source
        ),
        (Some("2048"), 1)
    );
    assert_eq!(
        (
            get("retention.ms").value.as_deref(),
            get("retention.ms").config_source
        ),
        (Some("86400000"), 4)
    );
    assert_eq!(get("retention.ms").synonyms[0].name, "log.retention.hours");
    assert_eq!(get("cleanup.policy").config_source, 5);
    assert_eq!(get("cleanup.policy").config_type, 7);
    assert!(get("segment.bytes").documentation.is_some());
    assert!(
        result
            .configs
            .iter()
            .all(|c| !c.is_sensitive && !c.read_only)
    );

    let request = describe_request(TOPIC, "t", Some(vec!["segment.bytes", "no.such.key"]));
    let response = expect_response!(client.send(4, request).await, DescribeConfigs);
    assert_eq!(response.results[0].configs.len(), 1);

    let response = expect_response!(
        client.send(0, describe_request(TOPIC, "t", None)).await,
        DescribeConfigs
    );
    let v0 = &response.results[0].configs;
    assert!(
        v0.iter()
            .any(|c| c.name == "cleanup.policy" && c.is_default)
    );
    assert!(
        v0.iter()
            .any(|c| c.name == "max.message.bytes" && !c.is_default)
    );

    let response = expect_response!(
        client.send(4, describe_request(BROKER, "1", None)).await,
        DescribeConfigs
    );
    let configs = &response.results[0].configs;
    let hours = configs
        .iter()
        .find(|c| c.name == "log.retention.hours")
        .unwrap();
    assert_eq!(
        (hours.value.as_deref(), hours.config_source, hours.read_only),
        (Some("24"), 4, true)
    );
    let partitions = configs.iter().find(|c| c.name == "num.partitions").unwrap();
    assert_eq!(partitions.config_source, 5);

    let mut request = describe_request(TOPIC, "missing", None);
    request.resources.push(DescribeConfigsResource {
        resource_type: BROKER,
        resource_name: "2".into(),
        ..Default::default()
    });
    request.resources.push(DescribeConfigsResource {
        resource_type: 8,
        resource_name: "1".into(),
        ..Default::default()
    });
    let response = expect_response!(client.send(3, request).await, DescribeConfigs);
    let codes: Vec<_> = response.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::UnknownTopicOrPartition.code(),
            ErrorCode::InvalidRequest.code(),
            ErrorCode::InvalidRequest.code()
        ]
    );
}

async fn topic_value(client: &mut TestClient, name: &str, key: &str) -> (Option<String>, i8) {
    let response = expect_response!(
        client
            .send(4, describe_request(TOPIC, name, Some(vec![key])))
            .await,
        DescribeConfigs
    );
    let entry = &response.results[0].configs[0];
    (entry.value.clone(), entry.config_source)
}

/// Goal: AlterConfigs replaces a topic's overrides as a whole, validates them, honours
/// validate_only, and applies broker-side rules to the live partitions.
#[tokio::test]
async fn alter_configs_replaces_overrides() {
    use protocol::generated::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    create(
        &mut client,
        vec![with_config(topic("t", 1, 1), "segment.ms", "1000")],
        false,
    )
    .await;
    let alter = |name: &str, pairs: &[(&str, &str)], validate_only: bool| AlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: TOPIC,
            resource_name: name.into(),
            configs: pairs
                .iter()
                .map(|(k, v)| AlterableConfig {
                    name: k.to_string(),
                    value: Some(v.to_string()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        validate_only,
        ..Default::default()
    };
    let response = expect_response!(
        client
            .send(2, alter("t", &[("max.message.bytes", "4096")], false))
            .await,
        AlterConfigs
    );
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        topic_value(&mut client, "t", "max.message.bytes").await,
        (Some("4096".into()), 1)
    );
    assert_eq!(
        topic_value(&mut client, "t", "segment.ms").await.1,
        5,
        "not given: back to the default"
    );
    let partition = broker.running.broker.replicas.get("t", 0).unwrap();
    assert_eq!(partition.config().max_message_bytes, 4096);

    for (request, expected) in [
        (
            alter("t", &[("max.message.bytes", "big")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("no.such.key", "1")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("missing", &[("retention.ms", "1")], false),
            ErrorCode::UnknownTopicOrPartition,
        ),
        (
            alter("t", &[("max.message.bytes", "1")], true),
            ErrorCode::None,
        ),
    ] {
        let response = expect_response!(client.send(0, request).await, AlterConfigs);
        assert_eq!(response.responses[0].error_code, expected.code());
    }
    assert_eq!(
        topic_value(&mut client, "t", "max.message.bytes")
            .await
            .0
            .as_deref(),
        Some("4096")
    );

    let mut request = alter("1", &[("log.retention.ms", "1000")], false);
    request.resources[0].resource_type = BROKER;
    let response = expect_response!(client.send(1, request).await, AlterConfigs);
    assert_eq!(
        response.responses[0].error_code,
        ErrorCode::InvalidRequest.code()
    );
}

/// Goal: IncrementalAlterConfigs (KIP-339) SET, DELETE, APPEND and SUBTRACT change single keys,
/// APPEND on a non-list key is INVALID_CONFIG, and changes persist across a restart.
#[tokio::test]
async fn incremental_alter_configs_operations() {
    use protocol::generated::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    create(
        &mut client,
        vec![with_config(topic("t", 1, 1), "segment.ms", "1000")],
        false,
    )
    .await;
    let alter = |name: &str, ops: &[(&str, i8, Option<&str>)]| IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: TOPIC,
            resource_name: name.into(),
            configs: ops
                .iter()
                .map(|(k, op, v)| AlterableConfig {
                    name: k.to_string(),
                    config_operation: *op,
                    value: v.map(str::to_string),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = alter(
        "t",
        &[
            ("retention.ms", 0, Some("3600000")),
            ("segment.ms", 1, None),
            ("cleanup.policy", 2, Some("compact")),
        ],
    );
    let response = expect_response!(client.send(1, request).await, IncrementalAlterConfigs);
    assert_eq!(
        response.responses[0].error_code, 0,
        "{:?}",
        response.responses[0].error_message
    );
    assert_eq!(
        topic_value(&mut client, "t", "retention.ms").await,
        (Some("3600000".into()), 1)
    );
    assert_eq!(topic_value(&mut client, "t", "segment.ms").await.1, 5);
    assert_eq!(
        topic_value(&mut client, "t", "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("delete,compact")
    );
    assert!(
        broker
            .running
            .broker
            .replicas
            .get("t", 0)
            .unwrap()
            .config()
            .compact
    );

    let response = expect_response!(
        client
            .send(0, alter("t", &[("cleanup.policy", 3, Some("delete"))]))
            .await,
        IncrementalAlterConfigs
    );
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        topic_value(&mut client, "t", "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("compact")
    );

    for (request, expected) in [
        (
            alter("t", &[("retention.ms", 2, Some("1"))]),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("no.such.key", 0, Some("1"))]),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("retention.ms", 9, Some("1"))]),
            ErrorCode::InvalidRequest,
        ),
        (
            alter("missing", &[("retention.ms", 0, Some("1"))]),
            ErrorCode::UnknownTopicOrPartition,
        ),
    ] {
        let response = expect_response!(client.send(1, request).await, IncrementalAlterConfigs);
        assert_eq!(response.responses[0].error_code, expected.code());
    }

    drop(client);
    let log_dir = broker.stop().await;
    let broker = TestBroker::start_in(log_dir, &[]).await;
    let mut client = broker.client().await;
    assert_eq!(
        topic_value(&mut client, "t", "retention.ms").await,
        (Some("3600000".into()), 1)
    );
    assert_eq!(
        broker
            .running
            .broker
            .replicas
            .get("t", 0)
            .unwrap()
            .log
            .config()
            .retention_ms,
        Some(3_600_000)
    );
}

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
    let broker = TestBroker::start(&[]).await;
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
