//! JoinGroup (all versions): creating groups, KIP-394 required member ids, KIP-345 static
//! members, group size limits, and parking the request until the join phase completes.
//!
//! Kafka's `classicGroupJoin*` methods, rule for rule; the rebalance machinery they call is in
//! `rebalance.rs`.

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::{JoinGroupRequest, JoinGroupResponse};

use crate::coordinator::{ClientInfo, Completion, Effects, GroupCoordinator, Outcome, Reply};
use crate::group::{Group, GroupState};
use crate::member::{Member, Parked, Protocol};
use crate::rebalance::{join_error, sync_error};
use crate::records;

/// The longest string Kafka's non-flexible record formats can hold (int16 length).
pub(crate) const RECORD_STRING_MAX: usize = i16::MAX as usize;

/// A JoinGroup request normalised across versions.
struct Join<'a> {
    request: &'a JoinGroupRequest,
    client: ClientInfo<'a>,
    version: i16,
    rebalance_timeout_ms: i32,
    group_instance_id: Option<&'a str>,
}

impl GroupCoordinator {
    /// Handles JoinGroup. The response is `Ready` when it is known now (errors, MEMBER_ID_REQUIRED,
    /// a follower rejoining a stable group, a static member's restart) and `Pending` while the
    /// group rebalances; the ticket's response arrives in a later call's `completed`.
    pub fn join_group(
        &mut self,
        now_ms: i64,
        client: ClientInfo<'_>,
        version: i16,
        request: &JoinGroupRequest,
    ) -> Outcome<Reply<JoinGroupResponse>> {
        let join = Join {
            request,
            client,
            version,
            // v0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if version == 0 {
                request.session_timeout_ms
            } else {
                request.rebalance_timeout_ms
            },
            group_instance_id: if version >= 5 {
                request.group_instance_id.as_deref()
            } else {
                None
            },
        };
        let mut fx = Effects::default();
        let mut reply = self.join_inner(now_ms, &join, &mut fx);
        // A request whose own ticket completed during this call is answered directly.
        if let Reply::Pending(ticket) = reply
            && let Some(index) = fx.completed.iter().position(|c| c.ticket() == ticket)
            && let Completion::Join { response, .. } = fx.completed.remove(index)
        {
            reply = Reply::Ready(response);
        }
        Outcome::new(reply, fx)
    }

    fn join_inner(
        &mut self,
        now_ms: i64,
        join: &Join<'_>,
        fx: &mut Effects,
    ) -> Reply<JoinGroupResponse> {
        let request = join.request;
        let error = |code| Reply::Ready(join_error(&request.member_id, code, join.version));
        if request.group_id.is_empty() || request.group_id.len() > RECORD_STRING_MAX {
            return error(ErrorCode::InvalidGroupId);
        }
        if !self.fits_records(join) {
            return error(ErrorCode::InvalidRequest);
        }
        if self.is_share_group(&request.group_id) {
            return error(ErrorCode::GroupIdNotFound);
        }
        if request.session_timeout_ms < self.config.min_session_timeout_ms
            || request.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return error(ErrorCode::InvalidSessionTimeout);
        }
        let unknown_member = request.member_id.is_empty();
        if !self.groups.contains_key(&request.group_id) {
            if !unknown_member {
                return error(ErrorCode::UnknownMemberId);
            }
            if self.groups.len() >= self.config.groups_max {
                return error(ErrorCode::CoordinatorNotAvailable);
            }
            let group = Group::new(&request.group_id, now_ms);
            self.groups.insert(request.group_id.clone(), group);
        }
        let group_id = request.group_id.as_str();
        if let Some(consumer) = self.groups[group_id].consumer_group() {
            if !consumer.members.is_empty() {
                return error(ErrorCode::InconsistentGroupProtocol);
            }
            self.convert_empty_consumer_group(group_id, fx);
        }
        if !self.accept_joining_member(&self.groups[group_id], &request.member_id) {
            if self.groups[group_id]
                .members
                .contains_key(&request.member_id)
            {
                self.drop_member(group_id, &request.member_id, fx);
                self.maybe_complete_join_phase(now_ms, group_id, fx);
            }
            return Reply::Ready(join_error("", ErrorCode::GroupMaxSizeReached, join.version));
        }
        if unknown_member {
            self.join_new_member(now_ms, join, fx)
        } else {
            self.join_existing_member(now_ms, join, fx)
        }
    }

    /// Strings that go into GroupMetadataValue must fit its int16 lengths.
    fn fits_records(&self, join: &Join<'_>) -> bool {
        let r = join.request;
        r.protocol_type.len() <= RECORD_STRING_MAX
            && r.member_id.len() <= RECORD_STRING_MAX
            && join.client.client_id.len() <= RECORD_STRING_MAX / 2
            && join.client.client_host.len() <= RECORD_STRING_MAX
            && join
                .group_instance_id
                .is_none_or(|id| id.len() <= RECORD_STRING_MAX / 2)
            && r.protocols
                .iter()
                .all(|p| p.name.len() <= RECORD_STRING_MAX)
    }

    /// Kafka's `acceptJoiningMember`: whether the group has room for this member.
    fn accept_joining_member(&self, group: &Group, member_id: &str) -> bool {
        let max = self.config.group_max_size;
        match group.state {
            GroupState::Empty | GroupState::Dead => true,
            // Counting members awaiting join (not all members) lets a shrunk max size kick out
            // the last members to rejoin.
            GroupState::PreparingRebalance => {
                group
                    .members
                    .get(member_id)
                    .is_some_and(Member::is_awaiting_join)
                    || group.awaiting_join_count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.members.contains_key(member_id) || group.members.len() < max
            }
        }
    }

    fn join_new_member(
        &mut self,
        now_ms: i64,
        join: &Join<'_>,
        fx: &mut Effects,
    ) -> Reply<JoinGroupResponse> {
        let request = join.request;
        let group = &self.groups[&request.group_id];
        if group.state == GroupState::Dead {
            return Reply::Ready(join_error(
                "",
                ErrorCode::CoordinatorNotAvailable,
                join.version,
            ));
        }
        if !group.supports_protocols(&request.protocol_type, &request.protocols) {
            return Reply::Ready(join_error(
                "",
                ErrorCode::InconsistentGroupProtocol,
                join.version,
            ));
        }
        if let Some(instance) = join.group_instance_id {
            return match group.static_members.get(instance).cloned() {
                None => {
                    let member_id = self.generate_member_id(instance);
                    self.add_member_then_rebalance(now_ms, join, member_id, fx)
                }
                Some(old_member_id) => {
                    self.update_static_member_then_rebalance(now_ms, join, &old_member_id, fx)
                }
            };
        }
        // KIP-394: a v4+ dynamic member gets its id first and must rejoin with it, so a client
        // that times out and retries does not leave a ghost member behind.
        if join.version >= 4 {
            if group.pending_members.len() >= self.config.group_max_size {
                return Reply::Ready(join_error("", ErrorCode::GroupMaxSizeReached, join.version));
            }
            let member_id = self.generate_member_id(join.client.client_id);
            let group = self
                .groups
                .get_mut(&request.group_id)
                .expect("group exists");
            group.pending_members.insert(member_id.clone());
            self.reschedule_heartbeat(
                now_ms,
                &request.group_id,
                &member_id,
                request.session_timeout_ms,
            );
            return Reply::Ready(join_error(
                &member_id,
                ErrorCode::MemberIdRequired,
                join.version,
            ));
        }
        let member_id = self.generate_member_id(join.client.client_id);
        self.add_member_then_rebalance(now_ms, join, member_id, fx)
    }

    fn join_existing_member(
        &mut self,
        now_ms: i64,
        join: &Join<'_>,
        fx: &mut Effects,
    ) -> Reply<JoinGroupResponse> {
        let request = join.request;
        let member_id = request.member_id.as_str();
        let group = &self.groups[&request.group_id];
        let error = |code| Reply::Ready(join_error(member_id, code, join.version));
        if group.state == GroupState::Dead {
            return error(ErrorCode::CoordinatorNotAvailable);
        }
        if !group.supports_protocols(&request.protocol_type, &request.protocols) {
            return error(ErrorCode::InconsistentGroupProtocol);
        }
        if group.pending_members.contains(member_id) {
            return self.add_member_then_rebalance(now_ms, join, member_id.to_owned(), fx);
        }
        if let Err(code) = group.validate_member(member_id, join.group_instance_id) {
            return error(code);
        }
        let member = &group.members[member_id];
        let current = |members| {
            Reply::Ready(crate::rebalance::join_response_for(
                JoinGroupResponse {
                    members,
                    member_id: member_id.to_owned(),
                    generation_id: group.generation_id,
                    protocol_name: group.protocol_name.clone(),
                    protocol_type: group.protocol_type.clone(),
                    leader: group.leader_id.clone().unwrap_or_default(),
                    skip_assignment: false,
                    ..Default::default()
                },
                join.version,
            ))
        };
        match group.state {
            GroupState::PreparingRebalance => self.update_member_then_rebalance(now_ms, join, fx),
            GroupState::CompletingRebalance => {
                if member.matches(&request.protocols) {
                    // The member missed its JoinGroup response: send it again.
                    let members = if group.is_leader(member_id) {
                        group.leader_view()
                    } else {
                        Vec::new()
                    };
                    current(members)
                } else {
                    self.update_member_then_rebalance(now_ms, join, fx)
                }
            }
            GroupState::Stable => {
                // A leader's JoinGroup forces a rebalance (how it reacts to metadata changes that
                // do not change its subscription); so does changed member metadata.
                if group.is_leader(member_id) || !member.matches(&request.protocols) {
                    self.update_member_then_rebalance(now_ms, join, fx)
                } else {
                    current(Vec::new())
                }
            }
            GroupState::Empty | GroupState::Dead => error(ErrorCode::UnknownMemberId),
        }
    }

    fn add_member_then_rebalance(
        &mut self,
        now_ms: i64,
        join: &Join<'_>,
        member_id: String,
        fx: &mut Effects,
    ) -> Reply<JoinGroupResponse> {
        let request = join.request;
        let ticket = self.new_ticket();
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: join.group_instance_id.map(str::to_owned),
            client_id: join.client.client_id.to_owned(),
            client_host: join.client.client_host.to_owned(),
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            session_timeout_ms: request.session_timeout_ms,
            protocol_type: request.protocol_type.clone(),
            protocols: Protocol::from_request(&request.protocols),
            assignment: Bytes::new(),
            awaiting_join: Some(Parked {
                ticket,
                version: join.version,
            }),
            awaiting_sync: None,
            is_new: true,
        };
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("group exists");
        if group.state == GroupState::PreparingRebalance
            && group.previous_state == GroupState::Empty
        {
            group.new_member_added = true;
        }
        group.add_member(member);
        // A new member cannot heartbeat before its first JoinGroup response, and a parked request
        // hides a disconnect; so its JoinGroup times out after new_member_join_timeout_ms.
        let timeout_ms = self.config.new_member_join_timeout_ms;
        self.reschedule_heartbeat(now_ms, &request.group_id, &member_id, timeout_ms);
        self.maybe_prepare_rebalance_or_complete_join(now_ms, &request.group_id, fx);
        Reply::Pending(ticket)
    }

    /// Kafka's `updateMember`: new protocols and timeouts, and the request parked.
    fn update_member(
        &mut self,
        join: &Join<'_>,
        member_id: &str,
        fx: &mut Effects,
    ) -> crate::Ticket {
        let ticket = self.new_ticket();
        let request = join.request;
        let group = self
            .groups
            .get_mut(&request.group_id)
            .expect("group exists");
        let member = group.members.get_mut(member_id).expect("member exists");
        member.protocols = Protocol::from_request(&request.protocols);
        member.rebalance_timeout_ms = join.rebalance_timeout_ms;
        member.session_timeout_ms = request.session_timeout_ms;
        // A JoinGroup sent again while one is parked supersedes it; answer the old one.
        Self::complete_join(
            member,
            join_error(member_id, ErrorCode::RebalanceInProgress, 0),
            fx,
        );
        member.awaiting_join = Some(Parked {
            ticket,
            version: join.version,
        });
        ticket
    }

    fn update_member_then_rebalance(
        &mut self,
        now_ms: i64,
        join: &Join<'_>,
        fx: &mut Effects,
    ) -> Reply<JoinGroupResponse> {
        let ticket = self.update_member(join, &join.request.member_id, fx);
        self.maybe_prepare_rebalance_or_complete_join(now_ms, &join.request.group_id, fx);
        Reply::Pending(ticket)
    }

    /// KIP-345: a known static member rejoined without its member id (it restarted). It gets a new
    /// member id that fences the old one; in a Stable group whose protocol it does not change,
    /// it keeps its assignment and no rebalance happens.
    fn update_static_member_then_rebalance(
        &mut self,
        now_ms: i64,
        join: &Join<'_>,
        old_member_id: &str,
        fx: &mut Effects,
    ) -> Reply<JoinGroupResponse> {
        let group_id = join.request.group_id.as_str();
        let new_member_id = self.generate_member_id(join.group_instance_id.expect("static member"));
        self.replace_static_member(group_id, old_member_id, &new_member_id, fx);
        let session_ms = join.request.session_timeout_ms;
        self.reschedule_heartbeat(now_ms, group_id, &new_member_id, session_ms);
        let ticket = self.update_member(join, &new_member_id, fx);
        let group = self.groups.get_mut(group_id).expect("group exists");
        match group.state {
            GroupState::Stable => {
                if group.select_protocol() != group.protocol_name {
                    self.maybe_prepare_rebalance_or_complete_join(now_ms, group_id, fx);
                    return Reply::Pending(ticket);
                }
                fx.records.push(records::group_metadata_record(group));
                let is_leader = group.is_leader(&new_member_id);
                // KIP-814: a v9+ leader is told to skip assignment and keep the current one.
                let skip = join.version >= 9 && is_leader;
                let response = JoinGroupResponse {
                    members: if skip {
                        group.leader_view()
                    } else {
                        Vec::new()
                    },
                    member_id: new_member_id.clone(),
                    generation_id: group.generation_id,
                    protocol_name: group.protocol_name.clone(),
                    protocol_type: group.protocol_type.clone(),
                    leader: group.leader_id.clone().unwrap_or_default(),
                    skip_assignment: skip,
                    ..Default::default()
                };
                let member = group
                    .members
                    .get_mut(&new_member_id)
                    .expect("member exists");
                member.awaiting_join = None;
                Reply::Ready(crate::rebalance::join_response_for(response, join.version))
            }
            // The leader may already be computing an assignment that names the old member id.
            GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, group_id, fx);
                Reply::Pending(ticket)
            }
            GroupState::PreparingRebalance => {
                self.maybe_complete_join_phase(now_ms, group_id, fx);
                Reply::Pending(ticket)
            }
            GroupState::Empty | GroupState::Dead => {
                unreachable!(
                    "group {group_id} has a static member but is {:?}",
                    group.state
                )
            }
        }
    }

    /// Moves a static member to a new member id, fencing parked requests of the old one.
    fn replace_static_member(
        &mut self,
        group_id: &str,
        old_member_id: &str,
        new_member_id: &str,
        fx: &mut Effects,
    ) {
        self.timers
            .cancel(&Self::heartbeat_key(group_id, old_member_id));
        let group = self.groups.get_mut(group_id).expect("group exists");
        let mut member = group
            .members
            .remove(old_member_id)
            .expect("static member exists");
        let fenced = JoinGroupResponse {
            member_id: old_member_id.to_owned(),
            generation_id: -1,
            protocol_name: None,
            error_code: ErrorCode::FencedInstanceId.code(),
            ..Default::default()
        };
        Self::complete_join(&mut member, fenced, fx);
        Self::complete_sync(&mut member, sync_error(ErrorCode::FencedInstanceId), fx);
        member.member_id = new_member_id.to_owned();
        member.is_new = false;
        if group.is_leader(old_member_id) {
            group.leader_id = Some(new_member_id.to_owned());
        }
        if group.pending_sync_members.remove(old_member_id) {
            group.pending_sync_members.insert(new_member_id.to_owned());
        }
        let instance = member.group_instance_id.clone().expect("static member");
        group
            .static_members
            .insert(instance, new_member_id.to_owned());
        group.members.insert(new_member_id.to_owned(), member);
    }
}
