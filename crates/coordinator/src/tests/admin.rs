//! DescribeGroups and ListGroups as the admin tools see them.

use protocol::ErrorCode;
use protocol::generated::{DescribeGroupsRequest, ListGroupsRequest};

use super::*;

/// Goal: DescribeGroups shows members with metadata and assignment only when Stable, and an
/// unknown group as Dead without error.
#[test]
fn describe_groups() {
    let mut c = coordinator();
    let (ids, _) = stable_group(&mut c, 0, 2);
    let request = DescribeGroupsRequest {
        groups: vec![GROUP.to_owned(), "unknown".to_owned()],
        ..Default::default()
    };
    let response = c.describe_groups(5, &request);
    let g = &response.groups[0];
    assert_eq!(code(g.error_code), ErrorCode::None);
    assert_eq!(
        (
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(g.members.len(), 2);
    let leader = g.members.iter().find(|m| m.member_id == ids[0]).unwrap();
    assert_eq!(leader.member_assignment.as_ref(), &[0]);
    assert_eq!(leader.member_metadata, subscription(&["t"]));
    assert_eq!(leader.client_host, "/127.0.0.1");
    assert_eq!(response.groups[1].group_state, "Dead");

    // During a rebalance, no metadata or assignments.
    pending(&c.join_group(1, client(), 5, &consumer_join(&ids[0])));
    let response = c.describe_groups(5, &request);
    assert_eq!(response.groups[0].group_state, "PreparingRebalance");
    assert!(
        response.groups[0]
            .members
            .iter()
            .all(|m| m.member_assignment.is_empty())
    );
}

/// Goal: ListGroups lists every group, filtered by state (v4+) and type (v5) case-insensitively.
#[test]
fn list_groups_with_filters() {
    let mut c = coordinator();
    stable_group(&mut c, 0, 1);
    let simple = protocol::generated::OffsetCommitRequest {
        group_id: "simple".to_owned(),
        generation_id_or_member_epoch: -1,
        ..Default::default()
    };
    c.offset_commit(0, 8, &simple);
    let list = |c: &GroupCoordinator, version, states: &[&str], types: &[&str]| {
        let request = ListGroupsRequest {
            states_filter: states.iter().map(|s| (*s).to_owned()).collect(),
            types_filter: types.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        c.list_groups(version, &request)
            .groups
            .into_iter()
            .map(|g| (g.group_id, g.group_state))
            .collect::<Vec<_>>()
    };
    let all = list(&c, 3, &["Stable"], &[]);
    assert_eq!(
        all,
        [
            (GROUP.to_owned(), "Stable".to_owned()),
            ("simple".to_owned(), "Empty".to_owned())
        ],
        "v3 ignores filters"
    );
    assert_eq!(
        list(&c, 4, &["stable"], &[]),
        [(GROUP.to_owned(), "Stable".to_owned())]
    );
    assert_eq!(list(&c, 5, &[], &["Classic"]).len(), 2);
    assert!(list(&c, 5, &[], &["consumer"]).is_empty());
}
