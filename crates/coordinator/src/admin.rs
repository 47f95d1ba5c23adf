//! The group admin APIs: DescribeGroups, ListGroups (with v4 state and v5 type filters) and
//! DeleteGroups, plus the group deletion they share with the retention purge.

use protocol::ErrorCode;
use protocol::generated::delete_groups_response::DeletableGroupResult;
use protocol::generated::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use protocol::generated::list_groups_response::ListedGroup;
use protocol::generated::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    ListGroupsRequest, ListGroupsResponse,
};

use crate::coordinator::{Effects, GroupCoordinator, Outcome};
use crate::group::{Group, GroupState};
use crate::records;
use crate::timers::TimerKey;

/// The group type ListGroups v5 reports for every group this coordinator holds.
pub const CLASSIC_GROUP_TYPE: &str = "classic";

/// `authorizedOperations` when the client did not ask for them (Kafka's `Integer.MIN_VALUE`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

impl GroupCoordinator {
    /// Handles DescribeGroups. Member metadata and assignments are shown only when Stable; an
    /// unknown group is described as Dead with no error (as Kafka does before v6).
    pub fn describe_groups(
        &self,
        _version: i16,
        request: &DescribeGroupsRequest,
    ) -> DescribeGroupsResponse {
        let groups = request
            .groups
            .iter()
            .map(|group_id| match self.groups.get(group_id) {
                Some(group) => match group.consumer_group() {
                    Some(consumer) => crate::consumer_admin::describe_as_classic(group, consumer),
                    None => describe(group),
                },
                None => DescribedGroup {
                    group_id: group_id.clone(),
                    group_state: GroupState::Dead.as_str().to_owned(),
                    authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                    ..Default::default()
                },
            })
            .collect();
        DescribeGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    /// Every group's committed offsets as (group, topic, partition, offset), at most `max`
    /// of them (for metrics), in group id order.
    pub fn committed_offsets(&self, max: usize) -> Vec<(String, String, i32, i64)> {
        let mut ids: Vec<&String> = self.groups.keys().collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            for (topic, partitions) in &self.groups[id].offsets {
                for (partition, committed) in partitions {
                    if out.len() >= max {
                        return out;
                    }
                    out.push((id.clone(), topic.clone(), *partition, committed.offset));
                }
            }
        }
        out
    }

    /// One group's committed offsets as (topic, partition, offset), in topic order.
    pub fn committed_offsets_of(&self, group_id: &str) -> Vec<(String, i32, i64)> {
        let Some(group) = self.groups.get(group_id) else {
            return Vec::new();
        };
        group
            .offsets
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .map(move |(partition, c)| (topic.clone(), *partition, c.offset))
            })
            .collect()
    }

    /// Handles ListGroups. Filters (v4 states, v5 types) match case-insensitively; empty
    /// filters match every group. Groups are listed in group id order.
    pub fn list_groups(&self, version: i16, request: &ListGroupsRequest) -> ListGroupsResponse {
        let states: &[String] = if version >= 4 {
            &request.states_filter
        } else {
            &[]
        };
        let types: &[String] = if version >= 5 {
            &request.types_filter
        } else {
            &[]
        };
        let mut groups: Vec<ListedGroup> = self
            .groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state_name()))
            })
            .filter(|g| {
                types.is_empty() || types.iter().any(|t| t.eq_ignore_ascii_case(g.group_type()))
            })
            .map(|g| ListedGroup {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                group_state: g.state_name().to_owned(),
                group_type: g.group_type().to_owned(),
                ..Default::default()
            })
            .collect();
        // Share groups: protocol type and type "share" (Kafka's ListGroups for KIP-932 groups).
        groups.extend(
            self.share_groups
                .iter()
                .filter(|(_, g)| {
                    states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(g.state()))
                })
                .filter(|_| {
                    types.is_empty()
                        || types
                            .iter()
                            .any(|t| t.eq_ignore_ascii_case(crate::SHARE_GROUP_TYPE))
                })
                .map(|(id, g)| ListedGroup {
                    group_id: id.clone(),
                    protocol_type: crate::SHARE_GROUP_TYPE.to_owned(),
                    group_state: g.state().to_owned(),
                    group_type: crate::SHARE_GROUP_TYPE.to_owned(),
                    ..Default::default()
                }),
        );
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    /// Handles DeleteGroups: an Empty group is deleted with all its offsets (tombstones); a
    /// group with members is refused with NON_EMPTY_GROUP.
    pub fn delete_groups(
        &mut self,
        _now_ms: i64,
        _version: i16,
        request: &DeleteGroupsRequest,
    ) -> Outcome<DeleteGroupsResponse> {
        let mut fx = Effects::default();
        let mut results = Vec::with_capacity(request.groups_names.len());
        for group_id in &request.groups_names {
            let code = if self.is_share_group(group_id) {
                self.delete_share_group(group_id)
            } else {
                match self
                    .groups
                    .get(group_id)
                    .map(|g| (g.state, g.has_members()))
                {
                    None | Some((GroupState::Dead, _)) => ErrorCode::GroupIdNotFound,
                    Some((_, true)) => ErrorCode::NonEmptyGroup,
                    Some((GroupState::Empty, false)) => {
                        self.delete_group(group_id, &mut fx);
                        ErrorCode::None
                    }
                    Some(_) => ErrorCode::NonEmptyGroup,
                }
            };
            results.push(DeletableGroupResult {
                group_id: group_id.clone(),
                error_code: code.code(),
                ..Default::default()
            });
        }
        Outcome::new(
            DeleteGroupsResponse {
                results,
                ..Default::default()
            },
            fx,
        )
    }

    /// Removes an Empty group: tombstones for its offsets, then for its metadata.
    pub(crate) fn delete_group(&mut self, group_id: &str, fx: &mut Effects) {
        let Some(mut group) = self.groups.remove(group_id) else {
            return;
        };
        assert_eq!(
            group.state,
            GroupState::Empty,
            "only empty groups are deleted"
        );
        for (topic, partitions) in &group.offsets {
            for partition in partitions.keys() {
                fx.records.push(records::offset_commit_tombstone(
                    group_id, topic, *partition,
                ));
            }
        }
        if let Some(consumer) = group.consumer.take() {
            fx.records.extend(crate::consumer_records::group_tombstones(
                group_id, &consumer,
            ));
        }
        fx.records.push(records::group_metadata_tombstone(group_id));
        // KIP-394 pending members are the only ones an Empty group can have timers for.
        for member_id in std::mem::take(&mut group.pending_members) {
            self.timers
                .cancel(&Self::heartbeat_key(group_id, &member_id));
        }
        self.timers.cancel(&TimerKey::Join {
            group_id: group_id.to_owned(),
        });
        self.timers.cancel(&TimerKey::PendingSync {
            group_id: group_id.to_owned(),
        });
        group.state = GroupState::Dead;
    }
}

fn describe(group: &Group) -> DescribedGroup {
    let stable_protocol = (group.state == GroupState::Stable)
        .then(|| group.protocol_name.clone().unwrap_or_default());
    let members = group
        .members
        .values()
        .map(|m| DescribedGroupMember {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            member_metadata: stable_protocol
                .as_deref()
                .map(|p| m.metadata(p))
                .unwrap_or_default(),
            member_assignment: if stable_protocol.is_some() {
                m.assignment.clone()
            } else {
                Default::default()
            },
            ..Default::default()
        })
        .collect();
    DescribedGroup {
        error_code: ErrorCode::None.code(),
        group_id: group.group_id.clone(),
        group_state: group.state.as_str().to_owned(),
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol_data: group.protocol_name.clone().unwrap_or_default(),
        members,
        authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}
