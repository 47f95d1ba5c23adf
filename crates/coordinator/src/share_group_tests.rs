//! Tests of share group membership: joining, epochs, fencing, leaving, session expiry, the
//! simple assignor, and the share/consumer group id space.

use protocol::generated::{
    ConsumerGroupHeartbeatRequest, DeleteGroupsRequest, ListGroupsRequest,
    ShareGroupDescribeRequest, ShareGroupHeartbeatRequest,
};
use protocol::{ErrorCode, Uuid};

use super::*;
use crate::{GroupConfig, TopicImage};

const GROUP: &str = "sg";

fn topic_id(n: u8) -> Uuid {
    Uuid([n; 16])
}

fn topics(partitions: i32) -> TopicsImage {
    TopicsImage::new([TopicImage {
        name: "t".into(),
        id: topic_id(1),
        partitions,
    }])
}

fn client() -> ClientInfo<'static> {
    ClientInfo {
        client_id: "c",
        client_host: "/127.0.0.1",
    }
}

fn heartbeat(member: &str, epoch: i32, topics: Option<&[&str]>) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest {
        group_id: GROUP.into(),
        member_id: member.into(),
        member_epoch: epoch,
        subscribed_topic_names: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn partitions_of(response: &ShareGroupHeartbeatResponse) -> Vec<i32> {
    response
        .assignment
        .as_ref()
        .map(|a| {
            a.topic_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().copied())
                .collect()
        })
        .unwrap_or_default()
}

fn coordinator() -> GroupCoordinator {
    GroupCoordinator::new(GroupConfig::default(), 7, 0)
}

#[test]
fn members_share_one_partition_and_epochs_move_with_membership() {
    let mut c = coordinator();
    let image = topics(1);
    let a = c
        .share_group_heartbeat(0, client(), &image, &heartbeat("a", 0, Some(&["t"])))
        .response;
    assert_eq!((a.error_code, a.member_epoch), (0, 1));
    assert_eq!(partitions_of(&a), vec![0]);
    let b = c
        .share_group_heartbeat(0, client(), &image, &heartbeat("b", 0, Some(&["t"])))
        .response;
    assert_eq!((b.member_epoch, partitions_of(&b)), (2, vec![0]));
    // a's epoch is still 1 until it heartbeats; then it moves to 2.
    let a = c
        .share_group_heartbeat(10, client(), &image, &heartbeat("a", 1, None))
        .response;
    assert_eq!((a.error_code, a.member_epoch), (0, 2));
    // The previous epoch is accepted (a lost response); a future one is fenced.
    let lost = c
        .share_group_heartbeat(20, client(), &image, &heartbeat("a", 1, None))
        .response;
    assert_eq!((lost.error_code, lost.member_epoch), (0, 2));
    for stale in [7, 3] {
        let fenced = c
            .share_group_heartbeat(20, client(), &image, &heartbeat("a", stale, None))
            .response;
        assert_eq!(fenced.error_code, ErrorCode::FencedMemberEpoch.code());
    }
    let listed = c.list_groups(5, &ListGroupsRequest::default()).groups;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].group_type.as_str(),
            listed[0].group_state.as_str()
        ),
        ("share", "Stable")
    );
}

#[test]
fn the_simple_assignor_spreads_partitions_and_shares_them_when_members_outnumber_them() {
    let mut c = coordinator();
    let image = topics(4);
    for m in ["a", "b"] {
        c.share_group_heartbeat(0, client(), &image, &heartbeat(m, 0, Some(&["t"])));
    }
    let group = c.share_group(GROUP).unwrap();
    let of = |m: &str| -> Vec<i32> {
        group.target[m]
            .values()
            .flat_map(|p| p.iter().copied())
            .collect()
    };
    assert_eq!((of("a"), of("b")), (vec![0, 2], vec![1, 3]));
    let image = topics(2);
    let mut c = coordinator();
    for m in ["a", "b", "c"] {
        c.share_group_heartbeat(0, client(), &image, &heartbeat(m, 0, Some(&["t"])));
    }
    let target = &c.share_group(GROUP).unwrap().target;
    let counts: Vec<usize> = target.values().map(|a| a[&topic_id(1)].len()).collect();
    assert_eq!(counts, vec![1, 1, 1]);
    let mut covered: Vec<i32> = target
        .values()
        .flat_map(|a| a[&topic_id(1)].iter().copied())
        .collect();
    covered.sort();
    covered.dedup();
    assert_eq!(covered, vec![0, 1]);
}

#[test]
fn bad_heartbeats_get_kafkas_errors() {
    let mut c = coordinator();
    let image = topics(1);
    let code = |c: &mut GroupCoordinator, r| {
        c.share_group_heartbeat(0, client(), &image, &r)
            .response
            .error_code
    };
    assert_eq!(
        code(&mut c, heartbeat("", 0, Some(&["t"]))),
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(
        code(&mut c, heartbeat("a", 0, None)),
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(
        code(&mut c, heartbeat("a", -2, None)),
        ErrorCode::InvalidRequest.code()
    );
    assert_eq!(
        code(&mut c, heartbeat("a", 3, None)),
        ErrorCode::UnknownMemberId.code()
    );
    assert_eq!(code(&mut c, heartbeat("a", 0, Some(&["t"]))), 0);
    assert_eq!(
        code(&mut c, heartbeat("b", 5, None)),
        ErrorCode::UnknownMemberId.code()
    );
    assert_eq!(code(&mut c, heartbeat("a", -1, None)), 0);
    assert_eq!(
        code(&mut c, heartbeat("a", -1, None)),
        ErrorCode::UnknownMemberId.code()
    );
}

#[test]
fn the_group_size_is_bounded() {
    let mut c = GroupCoordinator::new(
        GroupConfig {
            share_group_max_size: 1,
            ..GroupConfig::default()
        },
        7,
        0,
    );
    let image = topics(1);
    c.share_group_heartbeat(0, client(), &image, &heartbeat("a", 0, Some(&["t"])));
    let b = c
        .share_group_heartbeat(0, client(), &image, &heartbeat("b", 0, Some(&["t"])))
        .response;
    assert_eq!(b.error_code, ErrorCode::GroupMaxSizeReached.code());
}

#[test]
fn an_expired_session_removes_the_member_and_the_group_can_then_be_deleted() {
    let mut c = coordinator();
    let image = topics(1);
    c.share_group_heartbeat(0, client(), &image, &heartbeat("a", 0, Some(&["t"])));
    let delete = DeleteGroupsRequest {
        groups_names: vec![GROUP.into()],
        ..Default::default()
    };
    let refused = c.delete_groups(0, 2, &delete).response;
    assert_eq!(
        refused.results[0].error_code,
        ErrorCode::NonEmptyGroup.code()
    );
    c.poll(44_999);
    assert_eq!(c.share_group(GROUP).unwrap().members.len(), 1);
    c.poll(45_000);
    let group = c.share_group(GROUP).unwrap();
    assert!(group.members.is_empty());
    assert_eq!(group.state(), "Empty");
    let described = c.share_group_describe(
        &ShareGroupDescribeRequest {
            group_ids: vec![GROUP.into(), "nope".into()],
            ..Default::default()
        },
        &image,
    );
    assert_eq!(described.groups[0].group_state, "Empty");
    assert_eq!(
        described.groups[1].error_code,
        ErrorCode::GroupIdNotFound.code()
    );
    let deleted = c.delete_groups(0, 2, &delete).response;
    assert_eq!(deleted.results[0].error_code, 0);
    assert!(c.share_group(GROUP).is_none());
}

#[test]
fn share_and_consumer_groups_do_not_share_an_id() {
    let mut c = coordinator();
    let image = topics(1);
    c.share_group_heartbeat(0, client(), &image, &heartbeat("a", 0, Some(&["t"])));
    let consumer = c.consumer_group_heartbeat(
        0,
        1,
        client(),
        &image,
        &ConsumerGroupHeartbeatRequest {
            group_id: GROUP.into(),
            member_id: "consumer-member-1".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            topic_partitions: Some(Vec::new()),
            ..Default::default()
        },
    );
    assert_eq!(
        consumer.response.error_code,
        ErrorCode::GroupIdNotFound.code()
    );
}

#[test]
fn a_new_partition_moves_the_group_epoch() {
    let mut c = coordinator();
    let a = c
        .share_group_heartbeat(0, client(), &topics(1), &heartbeat("a", 0, Some(&["t"])))
        .response;
    assert_eq!(partitions_of(&a), vec![0]);
    let a = c
        .share_group_heartbeat(5, client(), &topics(3), &heartbeat("a", 1, None))
        .response;
    assert_eq!((a.member_epoch, partitions_of(&a)), (2, vec![0, 1, 2]));
}
