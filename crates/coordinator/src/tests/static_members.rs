//! KIP-345 static membership: restarts without rebalances, fencing of stale member ids, and
//! admin removal by group instance id.

use protocol::ErrorCode;
use protocol::generated::LeaveGroupRequest;
use protocol::generated::leave_group_request::MemberIdentity;

use super::*;
use crate::GroupState;

fn static_join(member_id: &str, instance: &str) -> JoinGroupRequest {
    join_request(
        member_id,
        Some(instance),
        &[("range", subscription(&["t"]))],
    )
}

/// Two static members form a Stable group; returns their member ids (leader first).
fn static_group(c: &mut GroupCoordinator) -> Vec<String> {
    let a = pending(&c.join_group(0, client(), 5, &static_join("", "instance-a")));
    let b = pending(&c.join_group(0, client(), 5, &static_join("", "instance-b")));
    let effects = c.poll(0);
    let (ra, rb) = (
        join_completion(&effects.completed, a),
        join_completion(&effects.completed, b),
    );
    assert!(ra.member_id.starts_with("instance-a-"), "{}", ra.member_id);
    let follower = pending(&c.sync_group(0, 3, &sync_request(&rb.member_id, 1, &[])));
    let outcome = c.sync_group(
        0,
        3,
        &sync_request(
            &ra.member_id,
            1,
            &[(&ra.member_id, b"A"), (&rb.member_id, b"B")],
        ),
    );
    assert_eq!(
        sync_completion(&outcome.completed, follower)
            .assignment
            .as_ref(),
        b"B"
    );
    vec![ra.member_id, rb.member_id]
}

/// Goal: KIP-345's point. Method: a static follower restarts (JoinGroup with its instance id and
/// no member id) within its session; it gets a new member id and its old assignment, the
/// generation does not change, the group stays Stable, and the change is persisted. The old
/// member id is then fenced.
#[test]
fn static_member_restart_does_not_rebalance() {
    let mut c = coordinator();
    let ids = static_group(&mut c);
    let outcome = c.join_group(5_000, client(), 5, &static_join("", "instance-b"));
    assert_eq!(outcome.records.len(), 1, "the new member id is persisted");
    let response = ready(outcome);
    assert_eq!(code(response.error_code), ErrorCode::None);
    assert_ne!(response.member_id, ids[1]);
    assert_eq!(response.generation_id, 1);
    assert_eq!(response.leader, ids[0]);
    let group = c.group(GROUP).unwrap();
    assert_eq!(group.state(), GroupState::Stable);
    assert_eq!(
        group.static_member_id("instance-b"),
        Some(response.member_id.as_str())
    );
    // The restarted member syncs and gets its old assignment.
    let sync = ready(c.sync_group(5_001, 3, &sync_request(&response.member_id, 1, &[])));
    assert_eq!(sync.assignment.as_ref(), b"B");
    // The previous incarnation is fenced.
    let mut stale = HeartbeatRequest {
        group_id: GROUP.to_owned(),
        generation_id: 1,
        member_id: ids[1].clone(),
        group_instance_id: Some("instance-b".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        code(c.heartbeat(5_002, 3, &stale).error_code),
        ErrorCode::FencedInstanceId
    );
    stale.member_id = response.member_id.clone();
    assert_eq!(
        code(c.heartbeat(5_003, 3, &stale).error_code),
        ErrorCode::None
    );
}

/// Goal: KIP-814. A restarted static leader on JoinGroup v9 is told to skip assignment and
/// given the members; on older versions it is not.
#[test]
fn static_leader_restart_skips_assignment_on_v9() {
    let mut c = coordinator();
    let ids = static_group(&mut c);
    let response = ready(c.join_group(100, client(), 9, &static_join("", "instance-a")));
    assert!(response.skip_assignment);
    assert_eq!(response.members.len(), 2);
    assert_eq!(response.leader, response.member_id);
    assert_ne!(response.member_id, ids[0]);
    let old = ready(c.join_group(200, client(), 5, &static_join("", "instance-a")));
    assert!(!old.skip_assignment);
    assert!(old.members.is_empty());
}

/// Goal: a static member restarting with other protocols rebalances only if the group's
/// selected protocol would change.
#[test]
fn static_member_with_new_protocol_rebalances_only_if_selection_changes() {
    let mut c = coordinator();
    static_group(&mut c);
    let sub = subscription(&["t"]);
    // Not every member supports the new protocol: refused.
    let only_new = join_request("", Some("instance-b"), &[("sticky", sub.clone())]);
    assert_eq!(
        code(ready(c.join_group(10, client(), 5, &only_new)).error_code),
        ErrorCode::InconsistentGroupProtocol
    );
    // "range" stays the only common protocol: no rebalance.
    let both = join_request(
        "",
        Some("instance-b"),
        &[("sticky", sub.clone()), ("range", sub.clone())],
    );
    assert_eq!(
        code(ready(c.join_group(20, client(), 5, &both)).error_code),
        ErrorCode::None
    );
    assert_eq!(c.group(GROUP).unwrap().state(), GroupState::Stable);

    // A lone static member that now prefers "sticky" changes the selection: rebalance.
    let mut c = coordinator();
    let first = join_request(
        "",
        Some("solo"),
        &[("range", sub.clone()), ("sticky", sub.clone())],
    );
    let ticket = pending(&c.join_group(0, client(), 5, &first));
    let member_id = join_completion(&c.poll(0).completed, ticket).member_id;
    ready(c.sync_group(0, 3, &sync_request(&member_id, 1, &[(&member_id, b"x")])));
    let preferring_sticky =
        join_request("", Some("solo"), &[("sticky", sub.clone()), ("range", sub)]);
    let outcome = c.join_group(10, client(), 5, &preferring_sticky);
    // The only member rejoined, so the join phase completes at once with the new protocol.
    let response = ready(outcome);
    assert_eq!(response.protocol_name.as_deref(), Some("sticky"));
    assert_eq!(response.generation_id, 2);
}

/// Goal: static members that do not rejoin are not dropped at the end of the join phase (only
/// their session can remove them), and admins can remove them by instance id.
#[test]
fn static_members_survive_rebalances_and_leave_by_instance_id() {
    let mut c = coordinator();
    let ids = static_group(&mut c);
    // The leader rejoins (forcing a rebalance); the follower does not.
    let ticket = pending(&c.join_group(10, client(), 5, &static_join(&ids[0], "instance-a")));
    for now_ms in [5_000, 14_000, 23_000] {
        c.poll(now_ms);
        assert_eq!(
            heartbeat(&mut c, now_ms, &ids[1], 1),
            ErrorCode::RebalanceInProgress
        );
    }
    let effects = c.poll(10 + i64::from(REBALANCE_MS));
    let response = join_completion(&effects.completed, ticket);
    assert_eq!(response.members.len(), 2, "the static follower is kept");

    let leave = LeaveGroupRequest {
        group_id: GROUP.to_owned(),
        members: vec![MemberIdentity {
            member_id: String::new(),
            group_instance_id: Some("instance-b".to_owned()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let outcome = c.leave_group(20 + i64::from(REBALANCE_MS), 4, &leave);
    assert_eq!(
        code(outcome.response.members[0].error_code),
        ErrorCode::None
    );
    assert!(
        c.group(GROUP)
            .unwrap()
            .static_member_id("instance-b")
            .is_none()
    );
}
