//! The classic rebalance protocol end to end: joins, the initial delay, sync, heartbeats,
//! leaving, session and rebalance timeouts, KIP-394 required member ids.

use protocol::ErrorCode;
use protocol::generated::LeaveGroupRequest;
use protocol::generated::leave_group_request::MemberIdentity;

use super::*;
use crate::{GroupConfig, GroupState};

/// Goal: the whole life of a three-member group. Method: three members join (v5, with KIP-394
/// ids), sync, heartbeat; one leaves; the other two rejoin and get generation 2.
#[test]
fn three_members_join_sync_heartbeat_leave_and_rebalance() {
    let mut c = coordinator();
    let (ids, generation) = stable_group(&mut c, 0, 3);
    assert_eq!(generation, 1);
    let group = c.group(GROUP).unwrap();
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(group.protocol_name(), Some("range"));
    for id in &ids {
        assert_eq!(heartbeat(&mut c, 1_000, id, 1), ErrorCode::None);
    }
    assert_eq!(
        heartbeat(&mut c, 1_000, &ids[0], 7),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        heartbeat(&mut c, 1_000, "nobody", 1),
        ErrorCode::UnknownMemberId
    );

    let leave = LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        members: vec![MemberIdentity {
            member_id: ids[2].clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let outcome = c.leave_group(2_000, 3, &leave);
    assert_eq!(outcome.response.members.len(), 1);
    assert_eq!(
        code(outcome.response.members[0].error_code),
        ErrorCode::None
    );
    assert_eq!(
        c.group(GROUP).unwrap().state(),
        GroupState::PreparingRebalance
    );
    assert_eq!(
        heartbeat(&mut c, 2_100, &ids[1], 1),
        ErrorCode::RebalanceInProgress
    );

    let first = c.join_group(2_200, client(), 5, &consumer_join(&ids[1]));
    let first_ticket = pending(&first);
    // The last member to rejoin completes the join phase at once: its own response is ready
    // and the other parked JoinGroup completes in the same outcome.
    let last = c.join_group(2_300, client(), 5, &consumer_join(&ids[0]));
    let follower = join_completion(&last.completed, first_ticket);
    let leader = ready(last);
    assert_eq!(leader.generation_id, 2);
    assert_eq!(leader.leader, ids[0]);
    assert_eq!(leader.members.len(), 2, "the leader sees every member");
    assert_eq!(follower.generation_id, 2);
    assert!(follower.members.is_empty(), "followers see no members");
    assert_eq!(
        c.group(GROUP).unwrap().state(),
        GroupState::CompletingRebalance
    );
}

/// Goal: `group.initial.rebalance.delay.ms` waits for more members and is extended while they
/// keep coming (Kafka's InitialDelayedJoin). Method: delay 3s, rebalance timeout 30s; members at
/// t=0 and t=2s; the join completes at 6s (one extension), not at 3s.
#[test]
fn initial_rebalance_delay_extends_while_members_arrive() {
    let mut c = GroupCoordinator::new(
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            ..GroupConfig::default()
        },
        1,
        0,
    );
    let a = pending(&c.join_group(0, client(), 3, &consumer_join("")));
    assert_eq!(c.next_deadline(), Some(3_000));
    let b = pending(&c.join_group(2_000, client(), 3, &consumer_join("")));
    assert!(c.poll(2_999).completed.is_empty());
    assert!(
        c.poll(3_000).completed.is_empty(),
        "a member arrived during the delay"
    );
    assert_eq!(c.next_deadline(), Some(6_000));
    let effects = c.poll(6_000);
    assert_eq!(join_completion(&effects.completed, a).generation_id, 1);
    assert_eq!(join_completion(&effects.completed, b).generation_id, 1);
}

/// Goal: KIP-394. Method: a v4 JoinGroup without a member id gets MEMBER_ID_REQUIRED and an id;
/// the rejoin with that id is accepted. An id never used expires after the session timeout.
#[test]
fn member_id_required_then_rejoin() {
    let mut c = coordinator();
    let first = ready(c.join_group(0, client(), 4, &consumer_join("")));
    assert_eq!(code(first.error_code), ErrorCode::MemberIdRequired);
    assert!(
        first.member_id.starts_with("client-"),
        "{}",
        first.member_id
    );
    assert_eq!(c.group(GROUP).unwrap().pending_member_count(), 1);
    let ticket = pending(&c.join_group(10, client(), 4, &consumer_join(&first.member_id)));
    let response = join_completion(&c.poll(10).completed, ticket);
    assert_eq!(code(response.error_code), ErrorCode::None);
    assert_eq!(response.member_id, first.member_id);

    // A pending id that never rejoins is forgotten after the session timeout.
    let ghost = ready(c.join_group(20, client(), 4, &consumer_join("")));
    assert_eq!(c.group(GROUP).unwrap().pending_member_count(), 1);
    c.poll(20 + i64::from(SESSION_MS));
    assert_eq!(c.group(GROUP).unwrap().pending_member_count(), 0);
    let late = ready(c.join_group(
        20 + i64::from(SESSION_MS) + 1,
        client(),
        4,
        &consumer_join(&ghost.member_id),
    ));
    assert_eq!(code(late.error_code), ErrorCode::UnknownMemberId);
}

/// Goal: v0-3 members join without the KIP-394 round trip.
#[test]
fn old_versions_get_a_member_id_directly() {
    let mut c = coordinator();
    let ticket = pending(&c.join_group(0, client(), 0, &consumer_join("")));
    let response = join_completion(&c.poll(0).completed, ticket);
    assert_eq!(code(response.error_code), ErrorCode::None);
    assert_eq!(response.protocol_name.as_deref(), Some("range"));
    assert!(!response.member_id.is_empty());
}

/// Goal: a member that stops heartbeating is removed after its session timeout, and the group
/// rebalances without it.
#[test]
fn session_expiry_removes_member_and_rebalances() {
    let mut c = coordinator();
    let (ids, _) = stable_group(&mut c, 0, 2);
    let session = i64::from(SESSION_MS);
    // Only the leader keeps heartbeating.
    assert_eq!(heartbeat(&mut c, session - 1, &ids[0], 1), ErrorCode::None);
    let effects = c.poll(session);
    assert!(effects.completed.is_empty());
    let group = c.group(GROUP).unwrap();
    assert!(group.member(&ids[1]).is_none());
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    assert_eq!(
        heartbeat(&mut c, session + 1, &ids[0], 1),
        ErrorCode::RebalanceInProgress
    );
    let response = ready(c.join_group(session + 2, client(), 5, &consumer_join(&ids[0])));
    assert_eq!(response.generation_id, 2);
    assert_eq!(response.members.len(), 1);
}

/// Goal: members that do not rejoin within the rebalance timeout are dropped; the join phase
/// then completes with those that did.
#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut c = coordinator();
    let (ids, _) = stable_group(&mut c, 0, 2);
    // The leader's JoinGroup forces a rebalance; the follower only heartbeats.
    let ticket = pending(&c.join_group(100, client(), 5, &consumer_join(&ids[0])));
    for now_ms in [5_000, 14_000, 23_000] {
        assert!(c.poll(now_ms).is_empty());
        assert_eq!(
            heartbeat(&mut c, now_ms, &ids[1], 1),
            ErrorCode::RebalanceInProgress
        );
    }
    assert!(c.poll(100 + i64::from(REBALANCE_MS) - 1).is_empty());
    let effects = c.poll(100 + i64::from(REBALANCE_MS));
    let response = join_completion(&effects.completed, ticket);
    assert_eq!(response.generation_id, 2);
    assert_eq!(response.members.len(), 1);
    assert!(c.group(GROUP).unwrap().member(&ids[1]).is_none());
}

/// Goal: a member that got its JoinGroup response but never syncs is removed after the
/// rebalance timeout, and the group rebalances (Kafka's pending-sync expiration).
#[test]
fn members_that_never_sync_are_removed() {
    let mut c = coordinator();
    let a = ready(c.join_group(0, client(), 5, &consumer_join("")));
    let b = ready(c.join_group(0, client(), 5, &consumer_join("")));
    let ta = pending(&c.join_group(0, client(), 5, &consumer_join(&a.member_id)));
    let tb = pending(&c.join_group(0, client(), 5, &consumer_join(&b.member_id)));
    let effects = c.poll(0);
    join_completion(&effects.completed, ta);
    join_completion(&effects.completed, tb);
    // Only the leader syncs; both heartbeat.
    let outcome = c.sync_group(
        10,
        3,
        &sync_request(&a.member_id, 1, &[(&a.member_id, b"x")]),
    );
    assert_eq!(ready(outcome).assignment.as_ref(), b"x");
    for now_ms in [9_000, 18_000, 27_000] {
        c.poll(now_ms);
        assert_eq!(heartbeat(&mut c, now_ms, &a.member_id, 1), ErrorCode::None);
        assert_eq!(heartbeat(&mut c, now_ms, &b.member_id, 1), ErrorCode::None);
    }
    c.poll(i64::from(REBALANCE_MS));
    let group = c.group(GROUP).unwrap();
    assert!(group.member(&b.member_id).is_none());
    assert_eq!(group.state(), GroupState::PreparingRebalance);
}

/// Goal: followers' SyncGroup waits for the leader; a rebalance before the leader syncs answers
/// them REBALANCE_IN_PROGRESS.
#[test]
fn parked_sync_is_answered_when_a_rebalance_starts() {
    let mut c = coordinator();
    let a = ready(c.join_group(0, client(), 5, &consumer_join("")));
    let b = ready(c.join_group(0, client(), 5, &consumer_join("")));
    pending(&c.join_group(0, client(), 5, &consumer_join(&a.member_id)));
    pending(&c.join_group(0, client(), 5, &consumer_join(&b.member_id)));
    c.poll(0);
    let follower = pending(&c.sync_group(10, 3, &sync_request(&b.member_id, 1, &[])));
    // A wrong generation is refused at once.
    let stale = ready(c.sync_group(10, 3, &sync_request(&a.member_id, 0, &[])));
    assert_eq!(code(stale.error_code), ErrorCode::IllegalGeneration);
    // A new member joins: rebalance.
    let outcome = c.join_group(20, client(), 3, &consumer_join(""));
    let response = sync_completion(&outcome.completed, follower);
    assert_eq!(code(response.error_code), ErrorCode::RebalanceInProgress);
    assert_eq!(
        c.group(GROUP).unwrap().state(),
        GroupState::PreparingRebalance
    );
}

/// Goal: protocol selection. Method: members support overlapping assignors; the group picks the
/// one all support with the most first-choice votes; a member with no common protocol is
/// refused with INCONSISTENT_GROUP_PROTOCOL.
#[test]
fn protocol_selection_and_inconsistent_protocols() {
    let mut c = coordinator();
    let sub = subscription(&["t"]);
    let j1 = join_request(
        "",
        None,
        &[("roundrobin", sub.clone()), ("range", sub.clone())],
    );
    let j2 = join_request(
        "",
        None,
        &[("range", sub.clone()), ("roundrobin", sub.clone())],
    );
    let j3 = join_request("", None, &[("range", sub.clone()), ("sticky", sub.clone())]);
    let tickets = [
        pending(&c.join_group(0, client(), 3, &j1)),
        pending(&c.join_group(0, client(), 3, &j2)),
        pending(&c.join_group(0, client(), 3, &j3)),
    ];
    let bad = join_request("", None, &[("sticky", sub.clone())]);
    let refused = ready(c.join_group(0, client(), 3, &bad));
    assert_eq!(
        code(refused.error_code),
        ErrorCode::InconsistentGroupProtocol
    );
    let effects = c.poll(0);
    for ticket in tickets {
        assert_eq!(
            join_completion(&effects.completed, ticket)
                .protocol_name
                .as_deref(),
            Some("range")
        );
    }
}

/// Goal: session timeouts outside [group.min.session.timeout.ms, group.max.session.timeout.ms]
/// are refused, and so is an empty group id.
#[test]
fn invalid_session_timeout_and_group_id() {
    let mut c = coordinator();
    let mut request = consumer_join("");
    request.session_timeout_ms = 100;
    assert_eq!(
        code(ready(c.join_group(0, client(), 5, &request)).error_code),
        ErrorCode::InvalidSessionTimeout
    );
    request.session_timeout_ms = 1_800_001;
    assert_eq!(
        code(ready(c.join_group(0, client(), 5, &request)).error_code),
        ErrorCode::InvalidSessionTimeout
    );
    let mut request = consumer_join("");
    request.group_id.clear();
    assert_eq!(
        code(ready(c.join_group(0, client(), 5, &request)).error_code),
        ErrorCode::InvalidGroupId
    );
    assert!(c.group(GROUP).is_none());
}

/// Goal: a follower rejoining a Stable group with unchanged metadata gets the current
/// generation without a rebalance; the last member leaving empties the group (and persists it).
#[test]
fn follower_rejoin_is_a_no_op_and_last_leave_empties_the_group() {
    let mut c = coordinator();
    let (ids, _) = stable_group(&mut c, 0, 2);
    let response = ready(c.join_group(10, client(), 5, &consumer_join(&ids[1])));
    assert_eq!(response.generation_id, 1);
    assert_eq!(c.group(GROUP).unwrap().state(), GroupState::Stable);
    let leave = LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        members: ids
            .iter()
            .map(|id| MemberIdentity {
                member_id: id.clone(),
                ..Default::default()
            })
            .chain(std::iter::once(MemberIdentity {
                member_id: "stranger".to_owned(),
                ..Default::default()
            }))
            .collect(),
        ..Default::default()
    };
    let outcome = c.leave_group(20, 3, &leave);
    let codes: Vec<ErrorCode> = outcome
        .response
        .members
        .iter()
        .map(|m| code(m.error_code))
        .collect();
    assert_eq!(
        codes,
        [ErrorCode::None, ErrorCode::None, ErrorCode::UnknownMemberId]
    );
    assert_eq!(outcome.records.len(), 1, "the empty group is persisted");
    let group = c.group(GROUP).unwrap();
    assert_eq!(group.state(), GroupState::Empty);
    assert_eq!(group.generation_id(), 2);

    // v0-2 LeaveGroup reports the single member's error at the top level.
    let old = LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        member_id: "stranger".to_owned(),
        ..Default::default()
    };
    assert_eq!(
        code(c.leave_group(30, 1, &old).response.error_code),
        ErrorCode::UnknownMemberId
    );
}

/// Goal: `next_deadline` is the earliest timer, so the broker can sleep until it.
#[test]
fn next_deadline_is_the_earliest_timer() {
    let mut c = coordinator();
    assert_eq!(
        c.next_deadline(),
        Some(c.config().offsets_retention_check_interval_ms)
    );
    let (ids, _) = stable_group(&mut c, 0, 1);
    assert_eq!(c.next_deadline(), Some(i64::from(SESSION_MS)));
    assert_eq!(heartbeat(&mut c, 5_000, &ids[0], 1), ErrorCode::None);
    assert_eq!(c.next_deadline(), Some(5_000 + i64::from(SESSION_MS)));
}

/// Goal: every JoinGroup and SyncGroup response the coordinator produces encodes at the version
/// it was asked at (v0-6 JoinGroup has a non-nullable protocol name).
#[test]
fn responses_encode_at_every_version() {
    use protocol::{Encoder, Message};
    for version in 0..=9i16 {
        let mut c = coordinator();
        let error = ready(c.join_group(0, client(), version, &join_request("", None, &[])));
        assert_eq!(code(error.error_code), ErrorCode::InconsistentGroupProtocol);
        let mut request = consumer_join("");
        if version >= 4 {
            request.member_id = ready(c.join_group(0, client(), version, &request)).member_id;
        }
        let ticket = pending(&c.join_group(0, client(), version, &request));
        let joined = join_completion(&c.poll(0).completed, ticket);
        for response in [error, joined.clone()] {
            response.encode(&mut Encoder::new(), version).unwrap();
        }
        let sync = ready(c.sync_group(0, version.min(5), &sync_request(&joined.member_id, 1, &[])));
        sync.encode(&mut Encoder::new(), version.min(5)).unwrap();
    }
}

/// Goal: a new member's parked JoinGroup cannot wait forever: after
/// new_member_join_timeout_ms it is answered UNKNOWN_MEMBER_ID and the member dropped, even
/// though parked members otherwise count as alive. Method: a static member with a 10-minute
/// rebalance timeout keeps heartbeating but never rejoins, so the join phase outlasts 5 minutes.
#[test]
fn new_member_join_times_out() {
    let mut c = coordinator();
    let mut slow = join_request("", Some("slow"), &[("range", subscription(&["t"]))]);
    slow.rebalance_timeout_ms = 600_000;
    let ticket = pending(&c.join_group(0, client(), 5, &slow));
    let slow_id = join_completion(&c.poll(0).completed, ticket).member_id;
    ready(c.sync_group(0, 3, &sync_request(&slow_id, 1, &[])));
    let newcomer = pending(&c.join_group(1, client(), 3, &consumer_join("")));
    let timeout = i64::from(c.config().new_member_join_timeout_ms);
    let mut now = 1;
    let mut completed = Vec::new();
    while now < timeout + 1 {
        now = (now + 5_000).min(timeout + 1);
        completed.extend(c.poll(now).completed);
        assert_eq!(
            heartbeat(&mut c, now, &slow_id, 1),
            ErrorCode::RebalanceInProgress
        );
    }
    let response = join_completion(&completed, newcomer);
    assert_eq!(code(response.error_code), ErrorCode::UnknownMemberId);
    let group = c.group(GROUP).unwrap();
    assert_eq!(group.members().count(), 1);
    assert_eq!(group.state(), GroupState::PreparingRebalance);
}
