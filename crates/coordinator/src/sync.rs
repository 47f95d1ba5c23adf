//! SyncGroup and Heartbeat: the leader's assignment handed to every member (followers wait for
//! it), and the liveness signal that keeps a member's session open and tells it to rejoin.

use std::collections::HashMap;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::{
    HeartbeatRequest, HeartbeatResponse, SyncGroupRequest, SyncGroupResponse,
};

use crate::coordinator::{Completion, Effects, GroupCoordinator, Outcome, Reply};
use crate::group::GroupState;
use crate::member::Parked;
use crate::rebalance::sync_error;
use crate::records;
use crate::timers::TimerKey;

impl GroupCoordinator {
    /// Handles SyncGroup. In CompletingRebalance a follower's request is parked until the
    /// leader's arrives; the leader's SyncGroup stores the assignment (records), makes the group
    /// Stable and answers every parked follower. In Stable the member's assignment is returned.
    pub fn sync_group(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &SyncGroupRequest,
    ) -> Outcome<Reply<SyncGroupResponse>> {
        let mut fx = Effects::default();
        let mut reply = self.sync_inner(now_ms, version, request, &mut fx);
        if let Reply::Pending(ticket) = reply
            && let Some(index) = fx.completed.iter().position(|c| c.ticket() == ticket)
            && let Completion::Sync { response, .. } = fx.completed.remove(index)
        {
            reply = Reply::Ready(response);
        }
        Outcome::new(reply, fx)
    }

    fn sync_inner(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &SyncGroupRequest,
        fx: &mut Effects,
    ) -> Reply<SyncGroupResponse> {
        let error = |code| Reply::Ready(sync_error(code));
        let group_instance_id = if version >= 3 {
            request.group_instance_id.as_deref()
        } else {
            None
        };
        let Some(group) = self.groups.get(&request.group_id) else {
            return error(ErrorCode::UnknownMemberId);
        };
        if group.state == GroupState::Dead {
            return error(ErrorCode::CoordinatorNotAvailable);
        }
        if let Err(code) = group.validate_member(&request.member_id, group_instance_id) {
            return error(code);
        }
        if request.generation_id != group.generation_id {
            return error(ErrorCode::IllegalGeneration);
        }
        let inconsistent = |ours: &Option<String>, theirs: &Option<String>| matches!((ours, theirs), (Some(a), Some(b)) if a != b);
        if inconsistent(&group.protocol_type, &request.protocol_type)
            || inconsistent(&group.protocol_name, &request.protocol_name)
        {
            return error(ErrorCode::InconsistentGroupProtocol);
        }
        match group.state {
            GroupState::Empty => error(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => error(ErrorCode::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let ticket = self.new_ticket();
                let group = self
                    .groups
                    .get_mut(&request.group_id)
                    .expect("group exists");
                let member = group
                    .members
                    .get_mut(&request.member_id)
                    .expect("validated");
                Self::complete_sync(member, sync_error(ErrorCode::RebalanceInProgress), fx);
                member.awaiting_sync = Some(Parked { ticket, version });
                self.remove_pending_sync_member(&request.group_id, &request.member_id);
                if self.groups[&request.group_id].is_leader(&request.member_id) {
                    self.apply_leader_assignment(now_ms, request, fx);
                }
                Reply::Pending(ticket)
            }
            GroupState::Stable => {
                self.remove_pending_sync_member(&request.group_id, &request.member_id);
                let group = &self.groups[&request.group_id];
                Reply::Ready(SyncGroupResponse {
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: group.members[&request.member_id].assignment.clone(),
                    ..Default::default()
                })
            }
            GroupState::Dead => unreachable!("checked above"),
        }
    }

    /// The leader's assignment: every member gets its part (an empty one if the leader named it
    /// not), the group becomes Stable, and the group metadata record carries the assignment.
    fn apply_leader_assignment(
        &mut self,
        now_ms: i64,
        request: &SyncGroupRequest,
        fx: &mut Effects,
    ) {
        let assignments: HashMap<&str, &Bytes> = request
            .assignments
            .iter()
            .map(|a| (a.member_id.as_str(), &a.assignment))
            .collect();
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("group exists");
        for member in group.members.values_mut() {
            member.assignment = assignments
                .get(member.member_id.as_str())
                .map(|bytes| (*bytes).clone())
                .unwrap_or_default();
        }
        group.transition_to(GroupState::Stable, now_ms);
        fx.records.push(records::group_metadata_record(group));
        self.propagate_assignment(now_ms, &request.group_id, ErrorCode::None, fx);
    }

    fn remove_pending_sync_member(&mut self, group_id: &str, member_id: &str) {
        let group = self.groups.get_mut(group_id).expect("group exists");
        group.pending_sync_members.remove(member_id);
        if group.pending_sync_members.is_empty() {
            self.timers.cancel(&TimerKey::PendingSync {
                group_id: group_id.to_owned(),
            });
        }
    }

    /// Handles Heartbeat: restarts the member's session and tells it whether to rejoin.
    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &HeartbeatRequest,
    ) -> HeartbeatResponse {
        let code = self.heartbeat_inner(now_ms, version, request);
        HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        }
    }

    fn heartbeat_inner(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &HeartbeatRequest,
    ) -> ErrorCode {
        let group_instance_id = if version >= 3 {
            request.group_instance_id.as_deref()
        } else {
            None
        };
        let Some(group) = self.groups.get(&request.group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if group.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Err(code) = group.validate_member(&request.member_id, group_instance_id) {
            return code;
        }
        if request.generation_id != group.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        let session_ms = group.members[&request.member_id].session_timeout_ms;
        match group.state {
            GroupState::Empty => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                self.reschedule_heartbeat(
                    now_ms,
                    &request.group_id,
                    &request.member_id,
                    session_ms,
                );
                ErrorCode::RebalanceInProgress
            }
            // Members may heartbeat between their JoinGroup response and SyncGroup.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.reschedule_heartbeat(
                    now_ms,
                    &request.group_id,
                    &request.member_id,
                    session_ms,
                );
                ErrorCode::None
            }
            GroupState::Dead => unreachable!("checked above"),
        }
    }
}
