//! Consumer groups through the wire: FindCoordinator, the classic rebalance protocol with two
//! raw-protocol members on their own connections (a parked JoinGroup holds its connection, as
//! in Kafka), committed offsets, the group admin APIs, and offsets surviving a restart (the
//! coordinator replays `__consumer_offsets`).

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{TestBroker, TestClient};
use protocol::ErrorCode;
use protocol::generated::join_group_request::JoinGroupRequestProtocol;
use protocol::generated::leave_group_request::MemberIdentity;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::offset_fetch_request::OffsetFetchRequestGroup;
use protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use protocol::generated::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, ListGroupsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};

const GROUP: &str = "g";

fn code(raw: i16) -> ErrorCode {
    ErrorCode::from_code(raw).expect("a known error code")
}

/// Small timeouts and no initial delay, and 3 `__consumer_offsets` partitions (several shards).
/// A broker with the topic the commits name ("t", two partitions): Kafka refuses commits for
/// partitions that do not exist.
async fn start() -> TestBroker {
    let broker = TestBroker::start(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "3"),
    ])
    .await;
    common::produce::create_topic(&broker, "t", 2, &[]).await;
    broker
}

fn join_request(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: GROUP.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"subscription"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn join(client: &mut TestClient, member_id: &str) -> JoinGroupResponse {
    expect_response!(client.send(9, join_request(member_id)).await, JoinGroup)
}

/// KIP-394: the first JoinGroup gets MEMBER_ID_REQUIRED and an id to rejoin with.
async fn member_id(client: &mut TestClient) -> String {
    let response = join(client, "").await;
    assert_eq!(code(response.error_code), ErrorCode::MemberIdRequired);
    assert!(response.member_id.starts_with("runnel-test-"));
    response.member_id
}

async fn sync(
    client: &mut TestClient,
    member_id: &str,
    generation_id: i32,
    assignments: &[(&str, &'static [u8])],
) -> SyncGroupResponse {
    let request = SyncGroupRequest {
        group_id: GROUP.into(),
        generation_id,
        member_id: member_id.into(),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(member_id, assignment)| SyncGroupRequestAssignment {
                member_id: (*member_id).into(),
                assignment: Bytes::from_static(assignment),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    expect_response!(client.send(5, request).await, SyncGroup)
}

async fn heartbeat(client: &mut TestClient, member_id: &str, generation_id: i32) -> ErrorCode {
    let request = HeartbeatRequest {
        group_id: GROUP.into(),
        generation_id,
        member_id: member_id.into(),
        ..Default::default()
    };
    code(expect_response!(client.send(4, request).await, Heartbeat).error_code)
}

/// Runs a request that parks on its own connection.
fn spawn_join(addr: SocketAddr, member_id: String) -> tokio::task::JoinHandle<JoinGroupResponse> {
    tokio::spawn(async move {
        let mut client = TestClient::connect(addr).await;
        join(&mut client, &member_id).await
    })
}

/// Goal: FindCoordinator names this broker for groups in both forms (v0-3 one key, v4+ a
/// batch, KIP-699), refuses transaction keys until transactions exist, and refuses unknown key
/// types; `__consumer_offsets` exists and is internal.
#[tokio::test]
async fn find_coordinator_both_forms() {
    let broker = start().await;
    let mut client = broker.client().await;
    let port = i32::from(broker.addr().port());
    for version in 0..=3 {
        let request = FindCoordinatorRequest {
            key: GROUP.into(),
            ..Default::default()
        };
        let response = expect_response!(client.send(version, request).await, FindCoordinator);
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(
            (response.node_id, response.host.as_str(), response.port),
            (1, "127.0.0.1", port)
        );
    }
    let request = FindCoordinatorRequest {
        coordinator_keys: vec!["a".into(), "b".into()],
        ..Default::default()
    };
    let response = expect_response!(client.send(6, request).await, FindCoordinator);
    let keys: Vec<_> = response
        .coordinators
        .iter()
        .map(|c| (c.key.as_str(), c.error_code, c.node_id, c.port))
        .collect();
    assert_eq!(keys, [("a", 0, 1, port), ("b", 0, 1, port)]);

    let request = FindCoordinatorRequest {
        key_type: 1,
        coordinator_keys: vec!["txn".into()],
        ..Default::default()
    };
    // A transactional id: this node, once `__transaction_state` exists (created on demand).
    let response = expect_response!(client.send(4, request).await, FindCoordinator);
    let found = &response.coordinators[0];
    assert_eq!(
        (found.error_code, found.node_id, found.port),
        (0, 1, port),
        "{found:?}"
    );
    let request = FindCoordinatorRequest {
        key: "x".into(),
        key_type: 7,
        ..Default::default()
    };
    let response = expect_response!(client.send(3, request).await, FindCoordinator);
    assert_eq!(code(response.error_code), ErrorCode::InvalidRequest);

    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let response = expect_response!(client.send(12, request).await, Metadata);
    let offsets = response
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("__consumer_offsets"))
        .expect("__consumer_offsets exists");
    assert!(offsets.is_internal);
    assert_eq!(offsets.partitions.len(), 3);
}

/// Goal: the classic protocol end to end. Method: member A joins alone and becomes leader;
/// B joins (parked) and A learns of the rebalance by heartbeat, rejoins, and both get
/// generation 2; B's SyncGroup waits for the leader's; both heartbeat; B leaves and A
/// rebalances alone into generation 3. DescribeGroups and ListGroups follow along.
#[tokio::test]
async fn two_members_join_sync_heartbeat_leave_and_rebalance() {
    let broker = start().await;
    let mut a = broker.client().await;
    let a_id = member_id(&mut a).await;
    let joined = join(&mut a, &a_id).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, a_id);
    assert_eq!(joined.members.len(), 1);
    let synced = sync(&mut a, &a_id, 1, &[(&a_id, b"A-all")]).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"A-all");
    assert_eq!(heartbeat(&mut a, &a_id, 1).await, ErrorCode::None);

    // B arrives: its JoinGroup parks until A rejoins.
    let mut b = broker.client().await;
    let b_id = member_id(&mut b).await;
    let b_join = spawn_join(broker.addr(), b_id.clone());
    let mut rebalancing = false;
    for _ in 0..50 {
        if heartbeat(&mut a, &a_id, 1).await == ErrorCode::RebalanceInProgress {
            rebalancing = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(rebalancing, "A hears of the rebalance by heartbeat");
    let a_joined = join(&mut a, &a_id).await;
    let b_joined = b_join.await.unwrap();
    assert_eq!((a_joined.error_code, b_joined.error_code), (0, 0));
    assert_eq!((a_joined.generation_id, b_joined.generation_id), (2, 2));
    assert_eq!(a_joined.leader, a_id);
    assert_eq!(b_joined.leader, a_id);
    assert_eq!(a_joined.members.len(), 2, "the leader sees every member");
    assert!(b_joined.members.is_empty());

    // The follower's SyncGroup waits for the leader's assignment.
    let addr = broker.addr();
    let b_sync = {
        let b_id = b_id.clone();
        tokio::spawn(async move {
            let mut client = TestClient::connect(addr).await;
            sync(&mut client, &b_id, 2, &[]).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let a_synced = sync(&mut a, &a_id, 2, &[(&a_id, b"A-half"), (&b_id, b"B-half")]).await;
    let b_synced = b_sync.await.unwrap();
    assert_eq!((a_synced.error_code, b_synced.error_code), (0, 0));
    assert_eq!(&a_synced.assignment[..], b"A-half");
    assert_eq!(&b_synced.assignment[..], b"B-half");
    assert_eq!(heartbeat(&mut a, &a_id, 2).await, ErrorCode::None);
    assert_eq!(heartbeat(&mut b, &b_id, 2).await, ErrorCode::None);
    assert_eq!(
        heartbeat(&mut b, &b_id, 1).await,
        ErrorCode::IllegalGeneration
    );

    let request = DescribeGroupsRequest {
        groups: vec![GROUP.into(), "nobody".into()],
        ..Default::default()
    };
    let described = expect_response!(a.send(5, request).await, DescribeGroups);
    assert_eq!(described.groups[0].group_state, "Stable");
    assert_eq!(described.groups[0].protocol_data, "range");
    assert_eq!(described.groups[0].members.len(), 2);
    assert_eq!(described.groups[1].group_state, "Dead");

    // B leaves (v5, batched form); A rebalances alone.
    let request = LeaveGroupRequest {
        group_id: GROUP.into(),
        members: vec![MemberIdentity {
            member_id: b_id.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let left = expect_response!(b.send(5, request).await, LeaveGroup);
    assert_eq!(left.error_code, 0);
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(
        heartbeat(&mut a, &a_id, 2).await,
        ErrorCode::RebalanceInProgress
    );
    let a_joined = join(&mut a, &a_id).await;
    assert_eq!((a_joined.error_code, a_joined.generation_id), (0, 3));
    assert_eq!(a_joined.members.len(), 1);
    let synced = sync(&mut a, &a_id, 3, &[(&a_id, b"A-all")]).await;
    assert_eq!(synced.error_code, 0);

    let request = ListGroupsRequest {
        states_filter: vec!["Stable".into()],
        ..Default::default()
    };
    let listed = expect_response!(a.send(5, request).await, ListGroups);
    let groups: Vec<_> = listed
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.group_state.as_str(),
                g.group_type.as_str(),
            )
        })
        .collect();
    assert_eq!(groups, [(GROUP, "Stable", "classic")]);
}

/// Goal: a member that never syncs and never heartbeats is removed by the timer task when
/// its session expires, and the waiting member's JoinGroup is answered (every ticket answered).
#[tokio::test]
async fn session_expiry_is_driven_by_the_timer_task() {
    let broker = TestBroker::start(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "100"),
    ])
    .await;
    let mut a = broker.client().await;
    let a_id = member_id(&mut a).await;
    let mut request = join_request(&a_id);
    request.session_timeout_ms = 300;
    request.rebalance_timeout_ms = 300;
    let joined = expect_response!(a.send(9, request).await, JoinGroup);
    assert_eq!(joined.generation_id, 1);
    // A never syncs: the sync deadline (rebalance timeout) removes it and the group empties.
    let started = std::time::Instant::now();
    loop {
        let request = DescribeGroupsRequest {
            groups: vec![GROUP.into()],
            ..Default::default()
        };
        let described = expect_response!(a.send(5, request).await, DescribeGroups);
        if described.groups[0].group_state == "Empty" {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "the group did not empty: {}",
            described.groups[0].group_state
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        heartbeat(&mut a, &a_id, 1).await,
        ErrorCode::UnknownMemberId
    );
}

fn commit_request(
    generation_id: i32,
    member_id: &str,
    offsets: &[(i32, i64, &str)],
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: GROUP.into(),
        generation_id_or_member_epoch: generation_id,
        member_id: member_id.into(),
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: offsets
                .iter()
                .map(
                    |(partition, offset, metadata)| OffsetCommitRequestPartition {
                        partition_index: *partition,
                        committed_offset: *offset,
                        committed_leader_epoch: -1,
                        commit_timestamp: -1,
                        committed_metadata: Some((*metadata).into()),
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// (partition, offset, metadata) of topic `t` in an OffsetFetch v7 answer.
async fn fetch_offsets(client: &mut TestClient) -> Vec<(i32, i64, String)> {
    let request = OffsetFetchRequest {
        group_id: GROUP.into(),
        topics: None,
        ..Default::default()
    };
    let response: OffsetFetchResponse =
        expect_response!(client.send(7, request).await, OffsetFetch);
    assert_eq!(response.error_code, 0);
    let mut offsets: Vec<_> = response
        .topics
        .iter()
        .filter(|t| t.name == "t")
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.metadata.clone().unwrap_or_default(),
            )
        })
        .collect();
    offsets.sort();
    offsets
}

/// Goal: commits round-trip (offsets and metadata, both OffsetFetch forms), a member check is
/// applied, and committed offsets survive a restart (replayed from `__consumer_offsets`), as
/// does a group deletion.
#[tokio::test]
async fn offsets_commit_fetch_and_survive_a_restart() {
    let broker = start().await;
    let mut client = broker.client().await;
    // An admin-style commit (generation -1, no member) creates a simple group.
    let request = commit_request(-1, "", &[(0, 42, "meta-0"), (1, 7, "")]);
    let response = expect_response!(client.send(8, request).await, OffsetCommit);
    let codes: Vec<_> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [0, 0]);
    // A commit naming a member that does not exist is refused.
    let request = commit_request(3, "ghost", &[(0, 99, "")]);
    let response = expect_response!(client.send(8, request).await, OffsetCommit);
    assert_eq!(
        code(response.topics[0].partitions[0].error_code),
        ErrorCode::UnknownMemberId
    );
    let expected = vec![(0, 42, "meta-0".to_string()), (1, 7, String::new())];
    assert_eq!(fetch_offsets(&mut client).await, expected);

    // v8+: several groups in one request, each answered by its own shard.
    let request = OffsetFetchRequest {
        groups: vec![
            OffsetFetchRequestGroup {
                group_id: GROUP.into(),
                topics: None,
                ..Default::default()
            },
            OffsetFetchRequestGroup {
                group_id: "other".into(),
                topics: None,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response = expect_response!(client.send(9, request).await, OffsetFetch);
    assert_eq!(response.groups.len(), 2);
    assert_eq!(response.groups[0].topics[0].partitions.len(), 2);
    assert!(response.groups[1].topics.is_empty());

    drop(client);
    let broker = broker
        .restart_with(&[
            ("group.initial.rebalance.delay.ms", "0"),
            ("offsets.topic.num.partitions", "3"),
        ])
        .await;
    let mut client = broker.client().await;
    assert_eq!(
        fetch_offsets(&mut client).await,
        expected,
        "after a restart"
    );

    // A deleted group stays deleted after a restart.
    let request = DeleteGroupsRequest {
        groups_names: vec![GROUP.into(), "missing".into()],
        ..Default::default()
    };
    let response = expect_response!(client.send(2, request).await, DeleteGroups);
    let results: Vec<_> = response
        .results
        .iter()
        .map(|r| (r.group_id.as_str(), code(r.error_code)))
        .collect();
    assert_eq!(
        results,
        [
            (GROUP, ErrorCode::None),
            ("missing", ErrorCode::GroupIdNotFound)
        ]
    );
    drop(client);
    let broker = broker.restart_with(&[]).await;
    let mut client = broker.client().await;
    assert_eq!(fetch_offsets(&mut client).await, vec![]);
    let listed = expect_response!(
        client.send(4, ListGroupsRequest::default()).await,
        ListGroups
    );
    assert!(listed.groups.is_empty());
}

/// Goal: a parked JoinGroup is answered when the broker shuts down (NOT_COORDINATOR, so the
/// client looks for the coordinator again) and does not hold the shutdown up. Method: a long
/// initial rebalance delay parks the first member; the shutdown must finish well within it.
#[tokio::test]
async fn shutdown_answers_parked_joins() {
    let broker = TestBroker::start(&[("group.initial.rebalance.delay.ms", "60000")]).await;
    let mut a = broker.client().await;
    let a_id = member_id(&mut a).await;
    let parked = spawn_join(broker.addr(), a_id);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !parked.is_finished(),
        "the join waits for the initial delay"
    );
    tokio::time::timeout(std::time::Duration::from_secs(10), broker.shutdown())
        .await
        .expect("the shutdown does not wait for the rebalance");
    let answered = parked.await.unwrap();
    assert_eq!(code(answered.error_code), ErrorCode::NotCoordinator);
}

/// Goal: a commit whose append fails is not acknowledged, and the shard serves nothing it
/// cannot rebuild from the log. Method: close the log of the group's `__consumer_offsets`
/// partition under the broker; the commit then gets COORDINATOR_NOT_AVAILABLE (retriable), and
/// so does a fetch (the shard was dropped and cannot reload from a closed log).
#[tokio::test]
async fn a_failed_append_is_not_acknowledged() {
    let broker = start().await;
    let mut client = broker.client().await;
    let request = commit_request(-1, "", &[(0, 1, "")]);
    let response = expect_response!(client.send(8, request).await, OffsetCommit);
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    let partition = broker.broker().groups.partition_for(GROUP).unwrap();
    broker
        .broker()
        .replicas
        .get("__consumer_offsets", partition)
        .unwrap()
        .close()
        .unwrap();
    let request = commit_request(-1, "", &[(0, 2, "")]);
    let response = expect_response!(client.send(8, request).await, OffsetCommit);
    assert_eq!(
        code(response.topics[0].partitions[0].error_code),
        ErrorCode::CoordinatorNotAvailable
    );
    let request = OffsetFetchRequest {
        group_id: GROUP.into(),
        topics: None,
        ..Default::default()
    };
    let response = expect_response!(client.send(7, request).await, OffsetFetch);
    assert_eq!(
        code(response.error_code),
        ErrorCode::CoordinatorNotAvailable
    );
}

/// Goal: JoinGroup v0 (librdkafka's balanced consumer needs it; KAFKA-19444) and SyncGroup v0
/// work: no KIP-394 round trip, the session timeout doubles as the rebalance timeout.
#[tokio::test]
async fn join_group_v0() {
    let broker = start().await;
    let mut client = broker.client().await;
    let joined = expect_response!(client.send(0, join_request("")).await, JoinGroup);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert!(!joined.member_id.is_empty());
    assert_eq!(joined.leader, joined.member_id);
    let request = SyncGroupRequest {
        group_id: GROUP.into(),
        generation_id: 1,
        member_id: joined.member_id.clone(),
        assignments: vec![SyncGroupRequestAssignment {
            member_id: joined.member_id.clone(),
            assignment: Bytes::from_static(b"all"),
            ..Default::default()
        }],
        ..Default::default()
    };
    let synced = expect_response!(client.send(0, request).await, SyncGroup);
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"all"[..])
    );
}
