//! ACLs end to end against a real broker with SASL/PLAIN users and the StandardAuthorizer: the
//! ACL APIs (create, describe, delete; who may call them), what a principal without ACLs sees
//! (nothing listed, every request refused with the API's `*_AUTHORIZATION_FAILED` code),
//! literal and prefixed grants taking effect on the next request, a deletion taking effect
//! likewise, ACLs surviving a restart, and SECURITY_DISABLED without an authorizer.

mod common;

use std::net::SocketAddr;

use protocol::ErrorCode;
use protocol::generated::delete_acls_request::DeleteAclsFilter;
use protocol::generated::metadata_request::MetadataRequestTopic;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::{
    DeleteAclsRequest, DescribeConfigsRequest, MetadataRequest, OffsetCommitRequest,
};

use common::acl::*;
use common::produce::{batch, now_ms, produce};
use common::{TestBroker, TestClient};

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             user_admin=\"admin-secret\" user_alice=\"alice-secret\" user_bob=\"bob-secret\";",
        ),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:admin"),
    ]
}

/// A connection authenticated as `user` (whose password is `<user>-secret`).
async fn login(addr: SocketAddr, user: &str) -> TestClient {
    common::sasl::login(addr, user, &format!("{user}-secret")).await
}

/// The topic names an all-topics Metadata lists.
async fn listed_topics(client: &mut TestClient) -> Vec<String> {
    let response = expect_response!(
        client
            .send(
                12,
                MetadataRequest {
                    topics: None,
                    ..Default::default()
                }
            )
            .await,
        Metadata
    );
    let mut names: Vec<String> = response.topics.into_iter().filter_map(|t| t.name).collect();
    names.sort();
    names
}

/// Metadata's error code for one named topic.
async fn topic_error(client: &mut TestClient, topic: &str) -> i16 {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(topic.into()),
            ..Default::default()
        }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let response = expect_response!(client.send(12, request).await, Metadata);
    response.topics[0].error_code
}

async fn produce_error(client: &mut TestClient, topic: &str) -> i16 {
    let records = batch(1, now_ms()).build().unwrap();
    produce(client, 9, topic, 0, -1, records).await.error_code
}

/// OffsetCommit v8 of a standalone consumer; the partition's error code.
async fn commit(client: &mut TestClient, group: &str, topic: &str) -> i16 {
    let request = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 1,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: None,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = expect_response!(client.send(8, request).await, OffsetCommit);
    response.topics[0].partitions[0].error_code
}

/// DescribeConfigs v4 of one resource; its error code.
async fn describe_configs_error(client: &mut TestClient, resource_type: i8, name: &str) -> i16 {
    use protocol::generated::describe_configs_request::DescribeConfigsResource;
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type,
            resource_name: name.into(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = expect_response!(client.send(4, request).await, DescribeConfigs);
    response.results[0].error_code
}

/// Goal: with the StandardAuthorizer a user without ACLs is refused everything with the API's
/// own code and sees no topic; the super user grants literal and prefixed ACLs through the ACL
/// APIs (a plain user may not), the grants apply on the user's next request on the same
/// connection, a deletion withdraws them, and the ACLs survive a restart.
#[tokio::test]
async fn acls_decide_what_each_principal_may_do_and_survive_a_restart() {
    let settings = settings();
    let broker = TestBroker::start(&settings).await;
    let addr = broker.addr();
    let mut admin = login(addr, "admin").await;
    let created = common::admin::create(
        &mut admin,
        vec![
            common::admin::topic("t", 1, 1),
            common::admin::topic("u", 1, 1),
        ],
        false,
    )
    .await;
    assert!(created.iter().all(|(_, code)| *code == 0), "{created:?}");

    let mut alice = login(addr, "alice").await;
    let denied_cluster = ErrorCode::ClusterAuthorizationFailed.code();
    let denied_topic = ErrorCode::TopicAuthorizationFailed.code();
    let denied_group = ErrorCode::GroupAuthorizationFailed.code();
    assert_eq!(listed_topics(&mut alice).await, Vec::<String>::new());
    assert_eq!(topic_error(&mut alice, "t").await, denied_topic);
    assert_eq!(produce_error(&mut alice, "t").await, denied_topic);
    let refused =
        common::admin::create(&mut alice, vec![common::admin::topic("v", 1, 1)], false).await;
    assert_eq!(refused, vec![("v".to_string(), denied_topic)]);
    let own_grant = grant(TOPIC, "t", LITERAL, "User:alice", WRITE);
    assert_eq!(
        create_acls(&mut alice, vec![own_grant.clone()]).await,
        vec![denied_cluster]
    );
    assert_eq!(
        describe_acls(&mut alice, "User:alice").await.error_code,
        denied_cluster
    );
    assert_eq!(
        describe_configs_error(&mut alice, CLUSTER, "1").await,
        denied_cluster
    );

    let grants = vec![
        own_grant,
        grant(TOPIC, "t", LITERAL, "User:alice", READ),
        grant(GROUP, "app-", PREFIXED, "User:alice", READ),
        // Malformed: a cluster resource must be named kafka-cluster.
        grant(CLUSTER, "other", LITERAL, "User:alice", READ),
    ];
    assert_eq!(
        create_acls(&mut admin, grants).await,
        vec![0, 0, 0, ErrorCode::InvalidRequest.code()]
    );
    let described = describe_acls(&mut admin, "User:alice").await;
    assert_eq!(described.error_code, 0);
    let expected = vec![
        ("app-".to_string(), PREFIXED, READ),
        ("t".to_string(), LITERAL, READ),
        ("t".to_string(), LITERAL, WRITE),
    ];
    assert_eq!(listed(&described), expected);
    assert!(listed(&describe_acls(&mut admin, "User:bob").await).is_empty());

    assert_eq!(listed_topics(&mut alice).await, vec!["t".to_string()]);
    assert_eq!(produce_error(&mut alice, "t").await, 0);
    assert_eq!(produce_error(&mut alice, "u").await, denied_topic);
    assert_eq!(topic_error(&mut alice, "u").await, denied_topic);
    assert_eq!(commit(&mut alice, "app-1", "t").await, 0);
    assert_eq!(commit(&mut alice, "other", "t").await, denied_group);
    assert_eq!(commit(&mut alice, "app-1", "u").await, denied_topic);
    // WRITE and READ do not include DESCRIBE_CONFIGS.
    assert_eq!(
        describe_configs_error(&mut alice, TOPIC, "t").await,
        denied_topic
    );
    let mut bob = login(addr, "bob").await;
    assert_eq!(produce_error(&mut bob, "t").await, denied_topic);

    let deleted = delete_acls(&mut admin, TOPIC, "t", LITERAL, "User:alice", WRITE).await;
    assert_eq!(deleted.error_code, 0);
    assert_eq!(deleted.matching_acls.len(), 1);
    assert_eq!(produce_error(&mut alice, "t").await, denied_topic);
    // READ still implies DESCRIBE: the topic stays listed.
    assert_eq!(listed_topics(&mut alice).await, vec!["t".to_string()]);

    drop((admin, alice, bob));
    let broker = broker.restart_with(&settings).await;
    let mut admin = login(broker.addr(), "admin").await;
    assert_eq!(
        listed(&describe_acls(&mut admin, "User:alice").await),
        vec![
            ("app-".to_string(), PREFIXED, READ),
            ("t".to_string(), LITERAL, READ),
        ]
    );
    let mut alice = login(broker.addr(), "alice").await;
    assert_eq!(commit(&mut alice, "app-2", "t").await, 0);
    assert_eq!(produce_error(&mut alice, "t").await, denied_topic);
    broker.shutdown().await;
}

/// Goal: without `authorizer.class.name` the ACL APIs answer SECURITY_DISABLED (Kafka's
/// answer), and every request is served as before.
#[tokio::test]
async fn acl_apis_answer_security_disabled_without_an_authorizer() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let disabled = ErrorCode::SecurityDisabled.code();
    let grant = grant(TOPIC, "t", LITERAL, "User:alice", READ);
    assert_eq!(create_acls(&mut client, vec![grant]).await, vec![disabled]);
    assert_eq!(
        describe_acls(&mut client, "User:alice").await.error_code,
        disabled
    );
    let response = expect_response!(
        client
            .send(
                3,
                DeleteAclsRequest {
                    filters: vec![DeleteAclsFilter {
                        resource_type_filter: ANY,
                        pattern_type_filter: ANY,
                        operation: ANY,
                        permission_type: ANY,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            )
            .await,
        DeleteAcls
    );
    assert_eq!(response.filter_results[0].error_code, disabled);
    broker.shutdown().await;
}
