//! The config admin APIs as a client sees them, against a real broker on 127.0.0.1:0:
//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs (KIP-339), on topics and brokers.

mod common;

use common::admin::{BROKER, TOPIC, create, topic, with_config};
use common::{TestBroker, TestClient};
use protocol::ErrorCode;
use protocol::generated::describe_configs_request::DescribeConfigsResource;
use protocol::generated::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};

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
    assert_eq!(get("preallocate").synonyms[0].name, "log.preallocate");
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
            alter("t", &[("preallocate", "maybe")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("cleanup.policy", "shred")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("min.cleanable.dirty.ratio", "2")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("compression.type", "brotli")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("segment.index.bytes", "1")], false),
            ErrorCode::InvalidConfig,
        ),
        (
            alter("t", &[("delete.retention.ms", "-5")], false),
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
            .storage_for_tests()
            .config()
            .retention_ms,
        Some(3_600_000)
    );
}
