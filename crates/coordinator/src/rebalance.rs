//! The rebalance engine shared by every classic API and timer: entering PreparingRebalance,
//! completing the join phase (new generation, leader, protocol, JoinGroup responses), handing out
//! assignments, and removing members whose session, join or sync deadline passed.
//!
//! Method names follow Kafka's `GroupMetadataManager` so the two can be read side by side.

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::{JoinGroupResponse, SyncGroupResponse};

use crate::coordinator::{Completion, Effects, GroupCoordinator};
use crate::group::GroupState;
use crate::member::{Member, Parked};
use crate::records;
use crate::timers::{TimerKey, TimerTask};

/// A JoinGroup response made encodable at `version` (v0-6 have a non-nullable protocol name).
pub(crate) fn join_response_for(
    mut response: JoinGroupResponse,
    version: i16,
) -> JoinGroupResponse {
    if version < 7 && response.protocol_name.is_none() {
        response.protocol_name = Some(String::new());
    }
    response
}

/// A JoinGroup error response (Kafka leaves generation -1 and the leader empty).
pub(crate) fn join_error(member_id: &str, error: ErrorCode, version: i16) -> JoinGroupResponse {
    join_response_for(
        JoinGroupResponse {
            error_code: error.code(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            ..Default::default()
        },
        version,
    )
}

pub(crate) fn sync_error(error: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: error.code(),
        protocol_type: None,
        protocol_name: None,
        assignment: Bytes::new(),
        ..Default::default()
    }
}

impl GroupCoordinator {
    pub(crate) fn heartbeat_key(group_id: &str, member_id: &str) -> TimerKey {
        TimerKey::Heartbeat {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
        }
    }

    pub(crate) fn reschedule_heartbeat(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        timeout_ms: i32,
    ) {
        self.timers.schedule(
            Self::heartbeat_key(group_id, member_id),
            now_ms + i64::from(timeout_ms),
            TimerTask::HeartbeatExpiry,
        );
    }

    /// Answers a member's parked JoinGroup, if it has one.
    pub(crate) fn complete_join(
        member: &mut Member,
        response: JoinGroupResponse,
        fx: &mut Effects,
    ) {
        if let Some(Parked { ticket, version }) = member.awaiting_join.take() {
            let response = join_response_for(response, version);
            fx.completed.push(Completion::Join { ticket, response });
        }
    }

    /// Answers a member's parked SyncGroup, if it has one. True if it had one.
    pub(crate) fn complete_sync(
        member: &mut Member,
        response: SyncGroupResponse,
        fx: &mut Effects,
    ) -> bool {
        match member.awaiting_sync.take() {
            Some(Parked { ticket, .. }) => {
                fx.completed.push(Completion::Sync { ticket, response });
                true
            }
            None => false,
        }
    }

    /// Removes a member, answering its parked requests with UNKNOWN_MEMBER_ID (so a live client
    /// rejoins) and cancelling its session timer. The caller decides what the group does next.
    pub(crate) fn drop_member(&mut self, group_id: &str, member_id: &str, fx: &mut Effects) {
        self.timers
            .cancel(&Self::heartbeat_key(group_id, member_id));
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if let Some(mut member) = group.remove_member(member_id) {
            Self::complete_join(
                &mut member,
                join_error("", ErrorCode::UnknownMemberId, 0),
                fx,
            );
            Self::complete_sync(&mut member, sync_error(ErrorCode::UnknownMemberId), fx);
        }
    }

    pub(crate) fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        now_ms: i64,
        group_id: &str,
        fx: &mut Effects,
    ) {
        if self.groups[group_id].can_rebalance() {
            self.prepare_rebalance(now_ms, group_id, fx);
        } else {
            self.maybe_complete_join_phase(now_ms, group_id, fx);
        }
    }

    /// Enters PreparingRebalance: members must rejoin within the rebalance timeout. A group
    /// that was Empty waits `group.initial.rebalance.delay.ms` first (Kafka's InitialDelayedJoin).
    pub(crate) fn prepare_rebalance(&mut self, now_ms: i64, group_id: &str, fx: &mut Effects) {
        if self.groups[group_id].state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_with_error(
                now_ms,
                group_id,
                ErrorCode::RebalanceInProgress,
                fx,
            );
        }
        self.timers.cancel(&TimerKey::PendingSync {
            group_id: group_id.to_owned(),
        });
        let group = self.groups.get_mut(group_id).expect("group exists");
        let initial = group.state == GroupState::Empty;
        if initial {
            let delay_ms = i64::from(self.config.initial_rebalance_delay_ms);
            let remaining_ms = (group.rebalance_timeout_ms() - delay_ms).max(0);
            self.timers.schedule(
                TimerKey::Join {
                    group_id: group_id.to_owned(),
                },
                now_ms + delay_ms,
                TimerTask::InitialJoin {
                    delay_ms,
                    remaining_ms,
                },
            );
        }
        group.transition_to(GroupState::PreparingRebalance, now_ms);
        if !initial {
            self.maybe_complete_join_else_schedule(now_ms, group_id, fx);
        }
    }

    fn maybe_complete_join_else_schedule(&mut self, now_ms: i64, group_id: &str, fx: &mut Effects) {
        let group = &self.groups[group_id];
        if group.has_all_members_joined() {
            self.complete_join_phase(now_ms, group_id, fx);
        } else {
            let deadline_ms = now_ms + group.rebalance_timeout_ms();
            self.timers.schedule(
                TimerKey::Join {
                    group_id: group_id.to_owned(),
                },
                deadline_ms,
                TimerTask::CompleteJoin,
            );
        }
    }

    /// Completes the join phase early once every member rejoined (not during the initial delay).
    pub(crate) fn maybe_complete_join_phase(
        &mut self,
        now_ms: i64,
        group_id: &str,
        fx: &mut Effects,
    ) {
        let group = &self.groups[group_id];
        if group.state == GroupState::PreparingRebalance
            && group.has_all_members_joined()
            && group.previous_state != GroupState::Empty
        {
            self.complete_join_phase(now_ms, group_id, fx);
        }
    }

    /// The initial delay ended: extend it while new members keep arriving and rebalance timeout
    /// remains, else complete the join phase.
    pub(crate) fn try_complete_initial_rebalance(
        &mut self,
        now_ms: i64,
        group_id: &str,
        delay_ms: i64,
        remaining_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.new_member_added && remaining_ms != 0 {
            group.new_member_added = false;
            let new_delay_ms = i64::from(self.config.initial_rebalance_delay_ms).min(remaining_ms);
            let new_remaining_ms = (remaining_ms - delay_ms).max(0);
            self.timers.schedule(
                TimerKey::Join {
                    group_id: group_id.to_owned(),
                },
                now_ms + new_delay_ms,
                TimerTask::InitialJoin {
                    delay_ms: new_delay_ms,
                    remaining_ms: new_remaining_ms,
                },
            );
        } else {
            self.complete_join_phase(now_ms, group_id, fx);
        }
    }

    /// Kafka's `completeClassicGroupJoin`: drop dynamic members that did not rejoin, elect a
    /// leader among those that did, start the next generation and answer every parked JoinGroup.
    pub(crate) fn complete_join_phase(&mut self, now_ms: i64, group_id: &str, fx: &mut Effects) {
        self.timers.cancel(&TimerKey::Join {
            group_id: group_id.to_owned(),
        });
        let not_rejoined: Vec<String> = self.groups[group_id]
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && !m.is_static())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in not_rejoined {
            self.drop_member(group_id, &member_id, fx);
        }
        let group = self.groups.get_mut(group_id).expect("group exists");
        if group.state == GroupState::Dead {
            return;
        }
        if !group.maybe_elect_new_joined_leader() && !group.members.is_empty() {
            // Only static members remain and none rejoined: wait another rebalance timeout for
            // them to rejoin or for their sessions to expire.
            let deadline_ms = now_ms + group.rebalance_timeout_ms();
            self.timers.schedule(
                TimerKey::Join {
                    group_id: group_id.to_owned(),
                },
                deadline_ms,
                TimerTask::CompleteJoin,
            );
            return;
        }
        group.init_next_generation(now_ms);
        if group.state == GroupState::Empty {
            fx.records.push(records::group_metadata_record(group));
            return;
        }
        let leader_view = group.leader_view();
        let base = JoinGroupResponse {
            generation_id: group.generation_id,
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
            leader: group.leader_id.clone().unwrap_or_default(),
            skip_assignment: false,
            ..Default::default()
        };
        let member_ids: Vec<String> = group.members.keys().cloned().collect();
        let mut sessions = Vec::with_capacity(member_ids.len());
        for member_id in &member_ids {
            let is_leader = group.is_leader(member_id);
            let member = group.members.get_mut(member_id).expect("listed member");
            let response = JoinGroupResponse {
                member_id: member_id.clone(),
                members: if is_leader {
                    leader_view.clone()
                } else {
                    Vec::new()
                },
                ..base.clone()
            };
            Self::complete_join(member, response, fx);
            member.is_new = false;
            sessions.push(member.session_timeout_ms);
            group.pending_sync_members.insert(member_id.clone());
        }
        let generation_id = group.generation_id;
        let sync_deadline_ms = now_ms + group.rebalance_timeout_ms();
        for (member_id, session_ms) in member_ids.iter().zip(sessions) {
            self.reschedule_heartbeat(now_ms, group_id, member_id, session_ms);
        }
        self.timers.schedule(
            TimerKey::PendingSync {
                group_id: group_id.to_owned(),
            },
            sync_deadline_ms,
            TimerTask::PendingSyncExpiry { generation_id },
        );
    }

    /// Clears every assignment and answers parked SyncGroups with `error`.
    pub(crate) fn reset_and_propagate_assignment_with_error(
        &mut self,
        now_ms: i64,
        group_id: &str,
        error: ErrorCode,
        fx: &mut Effects,
    ) {
        let group = self.groups.get_mut(group_id).expect("group exists");
        for member in group.members.values_mut() {
            member.assignment = Bytes::new();
        }
        self.propagate_assignment(now_ms, group_id, error, fx);
    }

    /// Answers parked SyncGroups with each member's assignment (or `error`), restarting the
    /// session of each member answered.
    pub(crate) fn propagate_assignment(
        &mut self,
        now_ms: i64,
        group_id: &str,
        error: ErrorCode,
        fx: &mut Effects,
    ) {
        let group = self.groups.get_mut(group_id).expect("group exists");
        let (protocol_type, protocol_name) = if error == ErrorCode::None {
            (group.protocol_type.clone(), group.protocol_name.clone())
        } else {
            (None, None)
        };
        let mut answered = Vec::new();
        for member in group.members.values_mut() {
            let response = SyncGroupResponse {
                error_code: error.code(),
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: member.assignment.clone(),
                ..Default::default()
            };
            if Self::complete_sync(member, response, fx) {
                answered.push((member.member_id.clone(), member.session_timeout_ms));
            }
        }
        for (member_id, session_ms) in answered {
            self.reschedule_heartbeat(now_ms, group_id, &member_id, session_ms);
        }
    }

    /// Kafka's `removeMemberAndUpdateClassicGroup`: a member left or expired; rebalance.
    pub(crate) fn remove_member_and_update_group(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        fx: &mut Effects,
    ) {
        self.drop_member(group_id, member_id, fx);
        let group = &self.groups[group_id];
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(now_ms, group_id, fx)
            }
            GroupState::PreparingRebalance if group.has_all_members_joined() => {
                self.complete_join_phase(now_ms, group_id, fx)
            }
            _ => {}
        }
    }

    /// A session timer fired: drop a pending member, or a member that has not heartbeated and
    /// is not parked in a rebalance.
    pub(crate) fn expire_heartbeat(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        fx: &mut Effects,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.state == GroupState::Dead {
            return;
        }
        if group.pending_members.remove(member_id) {
            if group.state == GroupState::PreparingRebalance && group.has_all_members_joined() {
                self.complete_join_phase(now_ms, group_id, fx);
            }
            return;
        }
        let Some(member) = group.members.get(member_id) else {
            return;
        };
        if !member.has_satisfied_heartbeat() {
            self.remove_member_and_update_group(now_ms, group_id, member_id, fx);
        }
    }

    /// The sync deadline passed: members that never sent SyncGroup are removed; rebalance.
    pub(crate) fn expire_pending_sync(
        &mut self,
        now_ms: i64,
        group_id: &str,
        generation_id: i32,
        fx: &mut Effects,
    ) {
        let Some(group) = self.groups.get(group_id) else {
            return;
        };
        if group.generation_id != generation_id
            || !matches!(
                group.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
            || group.pending_sync_members.is_empty()
        {
            return;
        }
        let laggards: Vec<String> = group.pending_sync_members.iter().cloned().collect();
        for member_id in laggards {
            self.drop_member(group_id, &member_id, fx);
        }
        self.prepare_rebalance(now_ms, group_id, fx);
    }
}
