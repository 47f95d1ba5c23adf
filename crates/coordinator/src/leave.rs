//! LeaveGroup: members leaving on their own (v0-2: one member) or removed in a batch, by member
//! id or, for static members, by group instance id (v3+, KIP-345 admin removal).

use protocol::ErrorCode;
use protocol::generated::leave_group_request::MemberIdentity;
use protocol::generated::leave_group_response::MemberResponse;
use protocol::generated::{LeaveGroupRequest, LeaveGroupResponse};

use crate::coordinator::{Effects, GroupCoordinator, Outcome};
use crate::group::GroupState;

impl GroupCoordinator {
    /// Handles LeaveGroup. Each member is answered on its own (v3+); for v0-2 the single
    /// member's error is the top-level error. Leaving triggers a rebalance, whose completion may
    /// answer parked JoinGroups of the remaining members.
    pub fn leave_group(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &LeaveGroupRequest,
    ) -> Outcome<LeaveGroupResponse> {
        let identities: Vec<MemberIdentity> = if version >= 3 {
            request.members.clone()
        } else {
            vec![MemberIdentity {
                member_id: request.member_id.clone(),
                ..Default::default()
            }]
        };
        let mut fx = Effects::default();
        let (top_level, members) =
            self.leave_inner(now_ms, &request.group_id, &identities, &mut fx);
        let response = if version >= 3 {
            LeaveGroupResponse {
                error_code: top_level.code(),
                members,
                ..Default::default()
            }
        } else {
            let member_error = members.first().map_or(0, |m| m.error_code);
            LeaveGroupResponse {
                error_code: if top_level == ErrorCode::None {
                    member_error
                } else {
                    top_level.code()
                },
                ..Default::default()
            }
        };
        Outcome::new(response, fx)
    }

    fn leave_inner(
        &mut self,
        now_ms: i64,
        group_id: &str,
        identities: &[MemberIdentity],
        fx: &mut Effects,
    ) -> (ErrorCode, Vec<MemberResponse>) {
        let answer = |identity: &MemberIdentity, code: ErrorCode| MemberResponse {
            member_id: identity.member_id.clone(),
            group_instance_id: identity.group_instance_id.clone(),
            error_code: code.code(),
            ..Default::default()
        };
        let Some(group) = self.groups.get(group_id) else {
            let unknown = identities
                .iter()
                .map(|i| answer(i, ErrorCode::UnknownMemberId))
                .collect();
            return (ErrorCode::None, unknown);
        };
        if group.state == GroupState::Dead {
            return (ErrorCode::CoordinatorNotAvailable, Vec::new());
        }
        let mut responses = Vec::with_capacity(identities.len());
        let mut any_left = false;
        for identity in identities {
            let group = &self.groups[group_id];
            let instance = identity.group_instance_id.as_deref();
            let code = if identity.member_id.is_empty() {
                // Admin removal of a static member by its instance id alone.
                match instance.and_then(|i| group.static_members.get(i)).cloned() {
                    Some(member_id) => {
                        self.drop_member(group_id, &member_id, fx);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if group.pending_members.contains(&identity.member_id) {
                self.timers
                    .cancel(&Self::heartbeat_key(group_id, &identity.member_id));
                let group = self.groups.get_mut(group_id).expect("group exists");
                group.pending_members.remove(&identity.member_id);
                ErrorCode::None
            } else {
                match group.validate_member(&identity.member_id, instance) {
                    Ok(()) => {
                        self.drop_member(group_id, &identity.member_id, fx);
                        ErrorCode::None
                    }
                    Err(code) => code,
                }
            };
            any_left |= code == ErrorCode::None;
            responses.push(answer(identity, code));
        }
        if any_left {
            match self.groups[group_id].state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now_ms, group_id, fx)
                }
                GroupState::PreparingRebalance => {
                    self.maybe_complete_join_phase(now_ms, group_id, fx)
                }
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        (ErrorCode::None, responses)
    }
}
