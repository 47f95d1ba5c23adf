//! KIP-848 consumer groups through the wire: ConsumerGroupHeartbeat members on their own
//! connections joining a 6-partition topic, incremental reconciliation (the second member gets
//! partitions only after the first confirms their revocation), ConsumerGroupDescribe,
//! ListGroups' v5 type filter, OffsetCommit by member epoch (STALE_MEMBER_EPOCH), one group
//! protocol per group (INCONSISTENT_GROUP_PROTOCOL), leaving, and the group surviving a
//! restart (replayed from `__consumer_offsets`).

mod common;

use std::collections::BTreeSet;

use common::produce::create_topic;
use common::{TestBroker, TestClient};
use protocol::generated::consumer_group_heartbeat_request::TopicPartitions;
use protocol::generated::join_group_request::JoinGroupRequestProtocol;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    JoinGroupRequest, ListGroupsRequest, OffsetCommitRequest,
};
use protocol::{ErrorCode, Uuid};

const GROUP: &str = "kip848";
const TOPIC: &str = "orders";

fn code(raw: i16) -> ErrorCode {
    ErrorCode::from_code(raw).expect("a known error code")
}

async fn start() -> TestBroker {
    let broker = TestBroker::start(&[("offsets.topic.num.partitions", "3")]).await;
    create_topic(&broker, TOPIC, 6, &[]).await;
    broker
}

/// A raw KIP-848 member: what it owns, reported in every heartbeat.
struct Member {
    client: TestClient,
    member_id: String,
    epoch: i32,
    owned: BTreeSet<(Uuid, i32)>,
}

impl Member {
    async fn join(
        broker: &TestBroker,
        member_id: &str,
    ) -> (Member, ConsumerGroupHeartbeatResponse) {
        let mut member = Member {
            client: broker.client().await,
            member_id: member_id.into(),
            epoch: 0,
            owned: BTreeSet::new(),
        };
        let request = ConsumerGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: member_id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec![TOPIC.into()]),
            topic_partitions: Some(vec![]),
            ..Default::default()
        };
        let response = member.send(request).await;
        (member, response)
    }

    async fn send(
        &mut self,
        request: ConsumerGroupHeartbeatRequest,
    ) -> ConsumerGroupHeartbeatResponse {
        let response = expect_response!(self.client.send(1, request).await, ConsumerGroupHeartbeat);
        if response.error_code == 0 {
            self.epoch = response.member_epoch;
            if let Some(assignment) = &response.assignment {
                self.owned = assignment
                    .topic_partitions
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
                    .collect();
            }
        }
        response
    }

    async fn heartbeat(&mut self) -> ConsumerGroupHeartbeatResponse {
        let mut by_topic: std::collections::BTreeMap<Uuid, Vec<i32>> = Default::default();
        for (t, p) in &self.owned {
            by_topic.entry(*t).or_default().push(*p);
        }
        let request = ConsumerGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: self.member_id.clone(),
            member_epoch: self.epoch,
            topic_partitions: Some(
                by_topic
                    .into_iter()
                    .map(|(topic_id, partitions)| TopicPartitions {
                        topic_id,
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        self.send(request).await
    }
}

#[tokio::test]
async fn second_member_gets_partitions_only_after_the_first_revokes_them() {
    // KIP-848 "incremental reconciliation": never two owners of a partition.
    let broker = start().await;
    let (mut a, response) = Member::join(&broker, "member-a").await;
    assert_eq!(code(response.error_code), ErrorCode::None);
    assert_eq!((response.member_epoch, a.owned.len()), (1, 6));
    assert_eq!(response.heartbeat_interval_ms, 5000);

    let (mut b, response) = Member::join(&broker, "member-b").await;
    assert_eq!(response.member_epoch, 2);
    assert!(b.owned.is_empty(), "a still owns every partition");
    let response = a.heartbeat().await;
    assert_eq!(
        (response.member_epoch, a.owned.len()),
        (1, 3),
        "a is asked to revoke three"
    );
    b.heartbeat().await;
    assert!(b.owned.is_empty(), "a has not confirmed yet");
    let response = a.heartbeat().await;
    assert_eq!(response.member_epoch, 2, "a confirmed and moved on");
    b.heartbeat().await;
    assert_eq!(b.owned.len(), 3);
    assert!(a.owned.is_disjoint(&b.owned));

    // ConsumerGroupDescribe shows the stable group with topic names.
    let mut admin = broker.client().await;
    let described = expect_response!(
        admin
            .send(
                0,
                ConsumerGroupDescribeRequest {
                    group_ids: vec![GROUP.into(), "nope".into()],
                    ..Default::default()
                }
            )
            .await,
        ConsumerGroupDescribe
    );
    let group = &described.groups[0];
    assert_eq!(
        (
            group.group_state.as_str(),
            group.group_epoch,
            group.assignment_epoch
        ),
        ("Stable", 2, 2)
    );
    assert_eq!(group.assignor_name, "uniform");
    assert_eq!(group.members.len(), 2);
    assert!(
        group
            .members
            .iter()
            .all(|m| m.assignment.topic_partitions[0].topic_name == TOPIC)
    );
    assert_eq!(
        code(described.groups[1].error_code),
        ErrorCode::GroupIdNotFound
    );

    // ListGroups v5 reports it as a consumer group and filters by type.
    let listed = expect_response!(
        admin
            .send(
                5,
                ListGroupsRequest {
                    types_filter: vec!["consumer".into()],
                    ..Default::default()
                }
            )
            .await,
        ListGroups
    );
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(
        (
            listed.groups[0].group_type.as_str(),
            listed.groups[0].group_state.as_str()
        ),
        ("consumer", "Stable")
    );
    let classic = expect_response!(
        admin
            .send(
                5,
                ListGroupsRequest {
                    types_filter: vec!["classic".into()],
                    ..Default::default()
                }
            )
            .await,
        ListGroups
    );
    assert!(classic.groups.is_empty());

    // OffsetCommit uses the member epoch.
    let commit = |epoch: i32| OffsetCommitRequest {
        group_id: GROUP.into(),
        generation_id_or_member_epoch: epoch,
        member_id: "member-a".into(),
        topics: vec![OffsetCommitRequestTopic {
            name: TOPIC.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 7,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let stale = expect_response!(admin.send(9, commit(1)).await, OffsetCommit);
    assert_eq!(
        code(stale.topics[0].partitions[0].error_code),
        ErrorCode::StaleMemberEpoch
    );
    let ok = expect_response!(admin.send(9, commit(2)).await, OffsetCommit);
    assert_eq!(code(ok.topics[0].partitions[0].error_code), ErrorCode::None);

    // A classic member cannot join a consumer group with members.
    let join = JoinGroupRequest {
        group_id: GROUP.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let refused = expect_response!(admin.send(9, join).await, JoinGroup);
    assert_eq!(
        code(refused.error_code),
        ErrorCode::InconsistentGroupProtocol
    );

    // b leaves; a gets everything back at its next heartbeat.
    let leave = ConsumerGroupHeartbeatRequest {
        group_id: GROUP.into(),
        member_id: "member-b".into(),
        member_epoch: -1,
        ..Default::default()
    };
    assert_eq!(b.send(leave).await.member_epoch, -1);
    a.heartbeat().await;
    assert_eq!(a.owned.len(), 6);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_group_survives_a_restart() {
    let broker = start().await;
    let (mut a, _) = Member::join(&broker, "member-a").await;
    let (mut b, _) = Member::join(&broker, "member-b").await;
    for _ in 0..3 {
        a.heartbeat().await;
        b.heartbeat().await;
    }
    let broker = broker
        .restart_with(&[("offsets.topic.num.partitions", "3")])
        .await;
    a.client = broker.client().await;
    b.client = broker.client().await;
    // The members keep their epochs and assignments: heartbeats go on without a rejoin.
    let (before_a, before_b) = (a.owned.clone(), b.owned.clone());
    assert_eq!(code(a.heartbeat().await.error_code), ErrorCode::None);
    assert_eq!(code(b.heartbeat().await.error_code), ErrorCode::None);
    assert_eq!((a.owned.clone(), b.owned.clone()), (before_a, before_b));
    assert_eq!(a.owned.len() + b.owned.len(), 6);
    // Errors a client sees: unknown member, fenced epoch, unsupported assignor.
    let response = a
        .send(ConsumerGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: "ghost".into(),
            member_epoch: 3,
            ..Default::default()
        })
        .await;
    assert_eq!(code(response.error_code), ErrorCode::UnknownMemberId);
    let response = a
        .send(ConsumerGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: "member-a".into(),
            member_epoch: 99,
            ..Default::default()
        })
        .await;
    assert_eq!(code(response.error_code), ErrorCode::FencedMemberEpoch);
    let response = a
        .send(ConsumerGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: "c".into(),
            rebalance_timeout_ms: 1000,
            subscribed_topic_names: Some(vec![TOPIC.into()]),
            topic_partitions: Some(vec![]),
            server_assignor: Some("sticky".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(code(response.error_code), ErrorCode::UnsupportedAssignor);
    broker.shutdown().await;
}
