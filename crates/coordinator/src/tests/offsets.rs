//! Committed offsets: generation and member checks on commit, simple (standalone) commits,
//! metadata round trips, fetch in both request forms, OffsetDelete, DeleteGroups, retention.

use protocol::ErrorCode;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use protocol::generated::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use protocol::generated::{
    DeleteGroupsRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
};

use super::*;
use crate::GroupState;

fn commit(
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    offset: i64,
    metadata: Option<&str>,
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.to_owned(),
        generation_id_or_member_epoch: generation,
        member_id: member_id.to_owned(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.to_owned(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: 3,
                committed_metadata: metadata.map(str::to_owned),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn commit_code(
    c: &mut GroupCoordinator,
    now_ms: i64,
    version: i16,
    request: &OffsetCommitRequest,
) -> ErrorCode {
    code(c.offset_commit(now_ms, version, request).response.topics[0].partitions[0].error_code)
}

fn fetch_one(c: &GroupCoordinator, group: &str, topic: &str) -> (i64, i32, Option<String>) {
    let request = OffsetFetchRequest {
        group_id: group.to_owned(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: topic.to_owned(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let response = c.offset_fetch(7, &request);
    let p = &response.topics[0].partitions[0];
    (
        p.committed_offset,
        p.committed_leader_epoch,
        p.metadata.clone(),
    )
}

/// Goal: the classic checks on OffsetCommit. Method: a Stable group; commits with the right
/// generation pass, a wrong generation is ILLEGAL_GENERATION, an unknown member is
/// UNKNOWN_MEMBER_ID, a generation -1 commit into a non-empty group is UNKNOWN_MEMBER_ID, and
/// during CompletingRebalance a valid member gets REBALANCE_IN_PROGRESS.
#[test]
fn commit_checks_generation_and_member() {
    let mut c = coordinator();
    let (ids, generation) = stable_group(&mut c, 0, 2);
    let ok = commit(GROUP, generation, &ids[0], "t", 42, Some("meta"));
    assert_eq!(commit_code(&mut c, 1, 8, &ok), ErrorCode::None);
    assert_eq!(fetch_one(&c, GROUP, "t"), (42, 3, Some("meta".to_owned())));
    let stale = commit(GROUP, generation + 1, &ids[0], "t", 43, None);
    assert_eq!(
        commit_code(&mut c, 2, 8, &stale),
        ErrorCode::IllegalGeneration
    );
    let stranger = commit(GROUP, generation, "stranger", "t", 43, None);
    assert_eq!(
        commit_code(&mut c, 2, 8, &stranger),
        ErrorCode::UnknownMemberId
    );
    let simple = commit(GROUP, -1, "", "t", 43, None);
    assert_eq!(
        commit_code(&mut c, 2, 8, &simple),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(fetch_one(&c, GROUP, "t").0, 42);

    // The leader rejoins; after the join phase the group is CompletingRebalance.
    let t0 = pending(&c.join_group(3, client(), 5, &consumer_join(&ids[0])));
    let last = c.join_group(3, client(), 5, &consumer_join(&ids[1]));
    join_completion(&last.completed, t0);
    assert_eq!(
        c.group(GROUP).unwrap().state(),
        GroupState::CompletingRebalance
    );
    let during = commit(GROUP, generation + 1, &ids[1], "t", 44, None);
    assert_eq!(
        commit_code(&mut c, 4, 8, &during),
        ErrorCode::RebalanceInProgress
    );
}

/// Goal: standalone consumers and admin tools commit with generation -1 and no member id into a
/// group that does not exist (creating an Empty "simple" group) or is Empty. A generation >= 0
/// commit to an unknown group is ILLEGAL_GENERATION before v9 and GROUP_ID_NOT_FOUND from v9.
#[test]
fn simple_commits() {
    let mut c = coordinator();
    assert_eq!(
        commit_code(&mut c, 0, 8, &commit("other", 3, "m", "t", 1, None)),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        commit_code(&mut c, 0, 9, &commit("other", 3, "m", "t", 1, None)),
        ErrorCode::GroupIdNotFound
    );
    assert!(c.group("other").is_none());
    let outcome = c.offset_commit(0, 2, &commit("simple", -1, "", "t", 7, None));
    assert_eq!(outcome.records.len(), 1);
    let group = c.group("simple").unwrap();
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.protocol_type(), None);
    assert_eq!(fetch_one(&c, "simple", "t"), (7, 3, Some(String::new())));
    assert_eq!(
        fetch_one(&c, "simple", "unknown"),
        (-1, -1, Some(String::new()))
    );
    assert_eq!(fetch_one(&c, "nobody", "t"), (-1, -1, Some(String::new())));
}

/// Goal: offset.metadata.max.bytes is enforced per partition; the metadata string round-trips.
#[test]
fn metadata_round_trip_and_limit() {
    let mut c = coordinator();
    let long = "x".repeat(4097);
    assert_eq!(
        commit_code(&mut c, 0, 8, &commit("s", -1, "", "t", 1, Some(&long))),
        ErrorCode::OffsetMetadataTooLarge
    );
    let exact = "y".repeat(4096);
    assert_eq!(
        commit_code(&mut c, 0, 8, &commit("s", -1, "", "t", 1, Some(&exact))),
        ErrorCode::None
    );
    assert_eq!(fetch_one(&c, "s", "t").2.as_deref(), Some(exact.as_str()));
}

/// Goal: OffsetFetch v8+ fetches several groups at once, and a null topic list means every
/// committed offset.
#[test]
fn fetch_many_groups_and_all_topics() {
    let mut c = coordinator();
    c.offset_commit(0, 8, &commit("a", -1, "", "t1", 1, None));
    c.offset_commit(0, 8, &commit("a", -1, "", "t2", 2, None));
    c.offset_commit(0, 8, &commit("b", -1, "", "t1", 3, None));
    let request = OffsetFetchRequest {
        groups: vec![
            OffsetFetchRequestGroup {
                group_id: "a".to_owned(),
                topics: None,
                ..Default::default()
            },
            OffsetFetchRequestGroup {
                group_id: "b".to_owned(),
                topics: Some(vec![OffsetFetchRequestTopics {
                    name: "t1".to_owned(),
                    partition_indexes: vec![0, 1],
                    ..Default::default()
                }]),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response = c.offset_fetch(8, &request);
    assert_eq!(response.groups.len(), 2);
    let a = &response.groups[0];
    assert_eq!(
        a.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["t1", "t2"]
    );
    assert_eq!(a.topics[1].partitions[0].committed_offset, 2);
    let b = &response.groups[1];
    let offsets: Vec<i64> = b.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, [3, -1]);
}

/// Goal: OffsetDelete refuses topics the group consumes (GROUP_SUBSCRIBED_TO_TOPIC) and
/// deletes others with a tombstone; DeleteGroups refuses non-empty groups and deletes empty
/// ones with all their offsets.
#[test]
fn offset_delete_and_delete_groups() {
    let mut c = coordinator();
    let (ids, generation) = stable_group(&mut c, 0, 1);
    c.offset_commit(1, 8, &commit(GROUP, generation, &ids[0], "t", 5, None));
    c.offset_commit(1, 8, &commit(GROUP, generation, &ids[0], "old", 6, None));
    let delete = |topic: &str| OffsetDeleteRequest {
        group_id: GROUP.to_owned(),
        topics: vec![OffsetDeleteRequestTopic {
            name: topic.to_owned(),
            partitions: vec![OffsetDeleteRequestPartition {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let refused = c.offset_delete(2, &delete("t"));
    assert_eq!(
        code(refused.response.topics[0].partitions[0].error_code),
        ErrorCode::GroupSubscribedToTopic
    );
    assert!(refused.records.is_empty());
    let deleted = c.offset_delete(2, &delete("old"));
    assert_eq!(
        code(deleted.response.topics[0].partitions[0].error_code),
        ErrorCode::None
    );
    assert_eq!(deleted.records.len(), 1);
    assert_eq!(deleted.records[0].value, None, "a tombstone");
    assert_eq!(fetch_one(&c, GROUP, "old").0, -1);

    let request = DeleteGroupsRequest {
        groups_names: vec![GROUP.to_owned(), "missing".to_owned()],
        ..Default::default()
    };
    let outcome = c.delete_groups(3, 2, &request);
    let codes: Vec<ErrorCode> = outcome
        .response
        .results
        .iter()
        .map(|r| code(r.error_code))
        .collect();
    assert_eq!(
        codes,
        [ErrorCode::NonEmptyGroup, ErrorCode::GroupIdNotFound]
    );

    let leave = protocol::generated::LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        member_id: ids[0].clone(),
        ..Default::default()
    };
    c.leave_group(4, 0, &leave);
    let outcome = c.delete_groups(5, 2, &request);
    assert_eq!(
        code(outcome.response.results[0].error_code),
        ErrorCode::None
    );
    // One offset tombstone, then the group tombstone.
    assert_eq!(outcome.records.len(), 2);
    assert!(outcome.records.iter().all(|r| r.value.is_none()));
    assert!(c.group(GROUP).is_none());
}

/// Goal: offsets.retention.minutes. Offsets of an Empty consumer group expire a retention period
/// after the group became Empty, then the group itself is deleted; a simple group's offsets
/// expire a retention period after their commit; a Stable group's subscribed offsets are kept.
#[test]
fn retention_expires_offsets_then_the_group() {
    let retention = 100_000;
    let interval = 5_000;
    let mut c = GroupCoordinator::new(
        crate::GroupConfig {
            initial_rebalance_delay_ms: 0,
            offsets_retention_ms: retention,
            offsets_retention_check_interval_ms: interval,
            ..crate::GroupConfig::default()
        },
        3,
        0,
    );
    let (ids, generation) = stable_group(&mut c, 0, 1);
    c.offset_commit(1, 8, &commit(GROUP, generation, &ids[0], "t", 5, None));
    c.offset_commit(1, 8, &commit("simple", -1, "", "t", 9, None));
    let mut now = 0;
    let mut simple_records = 0;
    while now < retention + interval {
        now += interval;
        simple_records += c.poll(now).records.len();
        assert_eq!(heartbeat(&mut c, now, &ids[0], generation), ErrorCode::None);
    }
    assert!(
        c.group("simple").is_none(),
        "the simple group expired with its offset"
    );
    assert_eq!(simple_records, 2, "offset tombstone and group tombstone");
    assert_eq!(
        fetch_one(&c, GROUP, "t").0,
        5,
        "a subscribed topic's offset is kept"
    );
    // The member leaves: the group is Empty from `left_at`.
    let left_at = now + 1;
    let leave = protocol::generated::LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        member_id: ids[0].clone(),
        ..Default::default()
    };
    c.leave_group(left_at, 0, &leave);
    let mut records = Vec::new();
    while now + interval < left_at + retention {
        now += interval;
        records.extend(c.poll(now).records);
    }
    assert!(records.is_empty(), "{records:?}");
    assert!(c.group(GROUP).is_some());
    now += 2 * interval;
    let effects: Effects = c.poll(now);
    assert_eq!(
        effects.records.len(),
        2,
        "offset tombstone then group tombstone"
    );
    assert!(effects.records.iter().all(|r| r.value.is_none()));
    assert!(c.group(GROUP).is_none());
}
