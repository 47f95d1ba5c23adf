//! ConsumerGroupHeartbeat (KIP-848): joining (member epoch 0), heartbeats, leaving (-1), static
//! members' temporary leave (-2), the group epoch, the target assignment and each member's
//! reconciliation towards it; plus the session and revocation timers of consumer groups.
//!
//! Follows Kafka's `GroupMetadataManager.consumerGroupHeartbeat`: validate; find or create the
//! group and member; update the member's subscription (a change bumps the group epoch); refresh
//! the subscribed topics' metadata (a change bumps the group epoch); recompute the target when
//! the group epoch is ahead of it; reconcile this member (`consumer_group::reconcile`). Other
//! members reconcile on their own heartbeats. Every change returns its records.
//!
//! Where Runnel differs: a heartbeat with epoch > 0 to a group that does not exist gets
//! UNKNOWN_MEMBER_ID (the client rejoins) rather than GROUP_ID_NOT_FOUND (fatal in the Java
//! client); a known member rejoining with epoch 0 is treated as having lost its partitions.

use std::collections::{BTreeMap, BTreeSet};

use protocol::generated::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};
use protocol::generated::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use protocol::{ErrorCode, Uuid};

use crate::assignor;
use crate::consumer_group::{
    Assignment, ConsumerGroup, ConsumerMember, LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH, MemberState, reconcile,
};
use crate::consumer_records as records;
use crate::coordinator::{ClientInfo, Effects, GroupCoordinator, Outcome};
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group};
use crate::join::RECORD_STRING_MAX;
use crate::timers::{TimerKey, TimerTask};
use crate::topics::TopicsImage;

/// The longest `subscribed_topic_regex` accepted, and the compiled size allowed for it.
pub const REGEX_BYTES_MAX: usize = 1024;
const REGEX_COMPILED_BYTES_MAX: usize = 1 << 20;

type Failure = (ErrorCode, String);

fn fail<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Failure> {
    Err((code, message.into()))
}

/// Compiles a subscription regex with Kafka's full-match semantics, bounded in size.
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, Failure> {
    if pattern.len() > REGEX_BYTES_MAX {
        return fail(
            ErrorCode::InvalidRegularExpression,
            format!("SubscribedTopicRegex is longer than {REGEX_BYTES_MAX} bytes"),
        );
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_COMPILED_BYTES_MAX)
        .dfa_size_limit(REGEX_COMPILED_BYTES_MAX)
        .build()
        .map_err(|e| {
            (
                ErrorCode::InvalidRegularExpression,
                format!("SubscribedTopicRegex `{pattern}` is not a valid regular expression: {e}"),
            )
        })
}

/// The topics a member reads now: its names that exist, and existing topics its regex matches.
pub(crate) fn resolve_subscription(
    member: &ConsumerMember,
    topics: &TopicsImage,
) -> BTreeSet<String> {
    let mut resolved: BTreeSet<String> = member
        .subscribed_topic_names
        .iter()
        .filter(|t| topics.topic(t).is_some())
        .cloned()
        .collect();
    if let Some(pattern) = &member.subscribed_topic_regex
        && let Ok(regex) = compile_regex(pattern)
    {
        resolved.extend(
            topics
                .topics()
                .filter(|t| regex.is_match(&t.name))
                .map(|t| t.name.clone()),
        );
    }
    resolved
}

pub(crate) fn to_assignment(
    owned: &[protocol::generated::consumer_group_heartbeat_request::TopicPartitions],
) -> Assignment {
    let mut assignment = Assignment::new();
    for topic in owned {
        if !topic.partitions.is_empty() {
            assignment
                .entry(topic.topic_id)
                .or_default()
                .extend(topic.partitions.iter().copied());
        }
    }
    assignment
}

fn wire_assignment(assignment: &Assignment) -> WireAssignment {
    WireAssignment {
        topic_partitions: assignment
            .iter()
            .map(|(topic, partitions)| TopicPartitions {
                topic_id: *topic,
                partitions: partitions.iter().copied().collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn is_subset(owned: Option<&Assignment>, assigned: &Assignment) -> bool {
    owned.is_some_and(|owned| {
        owned
            .iter()
            .all(|(topic, partitions)| assigned.get(topic).is_some_and(|a| partitions.is_subset(a)))
    })
}

impl GroupCoordinator {
    /// Handles ConsumerGroupHeartbeat. `topics` is the cluster's topics now.
    pub fn consumer_group_heartbeat(
        &mut self,
        now_ms: i64,
        version: i16,
        client: ClientInfo<'_>,
        topics: &TopicsImage,
        request: &ConsumerGroupHeartbeatRequest,
    ) -> Outcome<ConsumerGroupHeartbeatResponse> {
        let mut fx = Effects::default();
        let response = match self
            .consumer_heartbeat_inner(now_ms, version, client, topics, request, &mut fx)
        {
            Ok(response) => response,
            Err((code, message)) => ConsumerGroupHeartbeatResponse {
                error_code: code.code(),
                error_message: Some(message),
                ..Default::default()
            },
        };
        Outcome::new(response, fx)
    }

    fn validate_heartbeat(
        &self,
        version: i16,
        r: &ConsumerGroupHeartbeatRequest,
    ) -> Result<(), Failure> {
        let invalid = |m: &str| fail(ErrorCode::InvalidRequest, m);
        if r.group_id.is_empty() || r.group_id.len() > RECORD_STRING_MAX {
            return invalid("GroupId can't be empty.");
        }
        let too_long = [&r.instance_id, &r.rack_id, &r.server_assignor]
            .iter()
            .any(|s| s.as_ref().is_some_and(|s| s.len() > RECORD_STRING_MAX))
            || r.member_id.len() > RECORD_STRING_MAX
            || r.subscribed_topic_names
                .as_ref()
                .is_some_and(|n| n.iter().any(|t| t.len() > RECORD_STRING_MAX));
        if too_long {
            return invalid("A string field is too long.");
        }
        if r.instance_id.as_deref() == Some("") {
            return invalid("InstanceId can't be empty.");
        }
        if r.rack_id.as_deref() == Some("") {
            return invalid("RackId can't be empty.");
        }
        match r.member_epoch {
            0 => {
                if version >= 1 && r.member_id.is_empty() {
                    return invalid("MemberId can't be empty.");
                }
                if r.rebalance_timeout_ms == -1 {
                    return invalid("RebalanceTimeoutMs must be provided in first request.");
                }
                if r.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
                    return invalid("TopicPartitions must be empty when (re-)joining.");
                }
                if r.subscribed_topic_names.is_none() && r.subscribed_topic_regex.is_none() {
                    return invalid(
                        "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                    );
                }
            }
            LEAVE_GROUP_STATIC_MEMBER_EPOCH if r.instance_id.is_none() => {
                return invalid("InstanceId can't be null.");
            }
            epoch if epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                return invalid(&format!("MemberEpoch {epoch} is invalid."));
            }
            _ if r.member_id.is_empty() => return invalid("MemberId can't be empty."),
            _ => {}
        }
        if let Some(name) = &r.server_assignor
            && !assignor::ASSIGNORS.contains(&name.as_str())
        {
            return fail(
                ErrorCode::UnsupportedAssignor,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: uniform, range."
                ),
            );
        }
        if let Some(pattern) = &r.subscribed_topic_regex {
            compile_regex(pattern)?;
        }
        Ok(())
    }

    fn consumer_heartbeat_inner(
        &mut self,
        now_ms: i64,
        version: i16,
        client: ClientInfo<'_>,
        topics: &TopicsImage,
        r: &ConsumerGroupHeartbeatRequest,
        fx: &mut Effects,
    ) -> Result<ConsumerGroupHeartbeatResponse, Failure> {
        self.validate_heartbeat(version, r)?;
        if self.is_share_group(&r.group_id) {
            return fail(
                ErrorCode::GroupIdNotFound,
                format!("Group {} is not a consumer group.", r.group_id),
            );
        }
        if r.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
            || r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
        {
            return self.consumer_group_leave(now_ms, r, fx);
        }
        let group_id = r.group_id.as_str();
        // The group: created (or converted from an empty classic group) on join.
        match self.groups.get(group_id) {
            None if r.member_epoch != 0 => {
                return fail(
                    ErrorCode::UnknownMemberId,
                    format!("Group {group_id} not found."),
                );
            }
            None => {
                if self.groups.len() >= self.config.groups_max {
                    return fail(ErrorCode::CoordinatorNotAvailable, "Too many groups.");
                }
            }
            Some(group) if group.consumer.is_none() && !group.is_classic_empty() => {
                return fail(
                    ErrorCode::InconsistentGroupProtocol,
                    format!("Group {group_id} is a classic group with members."),
                );
            }
            Some(group) if group.consumer.is_none() && r.member_epoch != 0 => {
                let _ = group;
                return fail(
                    ErrorCode::UnknownMemberId,
                    format!("Group {group_id} is not a consumer group."),
                );
            }
            Some(_) => {}
        }
        let member_id = if r.member_id.is_empty() {
            self.generate_consumer_member_id()
        } else {
            r.member_id.clone()
        };
        let interval_ms = self.config.consumer_heartbeat_interval_ms;
        let session_ms = self.config.consumer_session_timeout_ms;
        let max_size = self.config.group_max_size;
        let group = self
            .groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(group_id, now_ms));
        let consumer = group
            .consumer
            .get_or_insert_with(|| Box::new(ConsumerGroup::default()));
        group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_owned());
        let owned = r.topic_partitions.as_deref().map(to_assignment);

        // The member as it was (None: new), checked.
        let mut replaced_static: Option<ConsumerMember> = None;
        let existing: Option<ConsumerMember> = if r.member_epoch == 0 {
            if let Some(instance) = &r.instance_id
                && let Some(old_id) = consumer.static_members.get(instance).cloned()
                && old_id != member_id
            {
                let old = &consumer.members[&old_id];
                if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                    return fail(
                        ErrorCode::UnreleasedInstanceId,
                        format!(
                            "Static member {old_id} with instance id {instance} is still active."
                        ),
                    );
                }
                replaced_static = Some(old.clone());
            }
            match consumer.members.get(&member_id) {
                Some(member) => {
                    // A rejoin: the client dropped its partitions.
                    let mut reset = member.clone();
                    reset.member_epoch = 0;
                    reset.previous_member_epoch = 0;
                    reset.state = Some(MemberState::Stable);
                    reset.assigned.clear();
                    reset.pending_revocation.clear();
                    Some(reset)
                }
                None => {
                    if replaced_static.is_none() && consumer.members.len() >= max_size {
                        return fail(
                            ErrorCode::GroupMaxSizeReached,
                            format!(
                                "The consumer group has reached its maximum capacity of {max_size} members."
                            ),
                        );
                    }
                    None
                }
            }
        } else {
            let Some(member) = consumer.members.get(&member_id) else {
                return fail(
                    ErrorCode::UnknownMemberId,
                    format!("Member {member_id} is not a member of group {group_id}."),
                );
            };
            if let Some(instance) = &r.instance_id
                && member.instance_id.as_deref() != Some(instance.as_str())
            {
                return fail(
                    ErrorCode::FencedInstanceId,
                    format!("Member {member_id} does not have instance id {instance}."),
                );
            }
            if r.member_epoch > member.member_epoch
                || (r.member_epoch < member.member_epoch
                    && (r.member_epoch != member.previous_member_epoch
                        || !is_subset(owned.as_ref(), &member.assigned)))
            {
                return fail(
                    ErrorCode::FencedMemberEpoch,
                    format!(
                        "The consumer group member has a smaller or larger member epoch ({}) than the one known by the group coordinator ({}).",
                        r.member_epoch, member.member_epoch
                    ),
                );
            }
            Some(member.clone())
        };

        // No error from here on: every change is recorded.
        let mut bump = false;
        let before = existing.clone();
        let mut member = match (existing, replaced_static) {
            (Some(member), _) => member,
            (None, Some(old)) => {
                // A static member's new incarnation takes over its state (KIP-848 static membership).
                consumer.remove_member(&old.member_id);
                let target = consumer.target.remove(&old.member_id);
                fx.records.push(records::current_assignment_tombstone(
                    group_id,
                    &old.member_id,
                ));
                fx.records
                    .push(records::target_member_tombstone(group_id, &old.member_id));
                fx.records
                    .push(records::member_metadata_tombstone(group_id, &old.member_id));
                let mut member = old.clone();
                member.member_id = member_id.clone();
                member.member_epoch = old.previous_member_epoch.max(0);
                if let Some(target) = target {
                    fx.records
                        .push(records::target_member_record(group_id, &member_id, &target));
                    consumer.target.insert(member_id.clone(), target);
                }
                fx.records
                    .push(records::current_assignment_record(group_id, &member));
                member
            }
            (None, None) => {
                bump = true;
                ConsumerMember {
                    member_id: member_id.clone(),
                    state: Some(MemberState::Stable),
                    ..Default::default()
                }
            }
        };
        let previous_metadata = member.clone();
        member.client_id = client.client_id.to_owned();
        member.client_host = client.client_host.to_owned();
        if let Some(v) = &r.instance_id {
            member.instance_id = Some(v.clone());
        }
        if let Some(v) = &r.rack_id {
            member.rack_id = Some(v.clone());
        }
        if r.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = r.rebalance_timeout_ms;
        }
        if let Some(v) = &r.server_assignor {
            member.server_assignor = Some(v.clone());
        }
        if let Some(names) = &r.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            if names != member.subscribed_topic_names {
                bump = true;
                member.subscribed_topic_names = names;
            }
        }
        if let Some(pattern) = &r.subscribed_topic_regex {
            let pattern = (!pattern.is_empty()).then(|| pattern.clone());
            if pattern != member.subscribed_topic_regex {
                bump = true;
                member.subscribed_topic_regex = pattern;
            }
        }
        if before.is_none() || !member.same_metadata(&previous_metadata) {
            fx.records
                .push(records::member_metadata_record(group_id, &member));
        }
        if before.as_ref().is_some_and(|b| !b.same_assignment(&member)) || before.is_none() {
            // A rejoin reset, a new member or a static takeover: its (empty or inherited) state.
            fx.records
                .push(records::current_assignment_record(group_id, &member));
        }
        consumer.put_member(member);

        // The subscribed topics' metadata; a change (new topic, more partitions) bumps the epoch.
        let subscriptions: BTreeMap<String, BTreeSet<String>> = consumer
            .members
            .values()
            .map(|m| (m.member_id.clone(), resolve_subscription(m, topics)))
            .collect();
        let metadata: BTreeMap<String, (Uuid, i32)> = subscriptions
            .values()
            .flatten()
            .filter_map(|t| topics.topic(t).map(|i| (t.clone(), (i.id, i.partitions))))
            .collect();
        if metadata != consumer.subscription_metadata {
            bump = true;
            consumer.subscription_metadata = metadata;
            fx.records
                .push(records::partition_metadata_record(group_id, consumer));
        }
        if bump {
            consumer.group_epoch += 1;
            fx.records.push(records::group_metadata_record(
                group_id,
                consumer.group_epoch,
            ));
        }
        if consumer.assignment_epoch < consumer.group_epoch {
            let new_target = assignor::assign(
                consumer.assignor(),
                &subscriptions,
                topics,
                &consumer.target,
            );
            for (id, assignment) in &new_target {
                if consumer.target.get(id) != Some(assignment) {
                    fx.records
                        .push(records::target_member_record(group_id, id, assignment));
                }
            }
            consumer.target = new_target;
            consumer.assignment_epoch = consumer.group_epoch;
            fx.records.push(records::target_metadata_record(
                group_id,
                consumer.assignment_epoch,
            ));
        }

        // Reconcile this member towards its target.
        let current = consumer.members[&member_id].clone();
        let empty = Assignment::new();
        let target = consumer.target.get(&member_id).unwrap_or(&empty);
        let owners = &consumer.owners;
        let next = reconcile(
            &current,
            target,
            consumer.assignment_epoch,
            owned.as_ref(),
            |t, p| {
                owners
                    .get(&(t, p))
                    .filter(|o| **o != member_id)
                    .cloned()
                    .or_else(|| {
                        // Its own partitions pending revocation stay its until it confirms.
                        current
                            .pending_revocation
                            .get(&t)
                            .is_some_and(|s| s.contains(&p))
                            .then(|| member_id.clone())
                    })
            },
        );
        let assignment_changed = next.assigned != current.assigned;
        if !next.same_assignment(&current) {
            fx.records
                .push(records::current_assignment_record(group_id, &next));
        }
        let revocation_key = TimerKey::ConsumerRevocation {
            group_id: group_id.to_owned(),
            member_id: member_id.clone(),
        };
        if next.state() == MemberState::UnrevokedPartitions {
            if current.state() != MemberState::UnrevokedPartitions {
                let deadline = now_ms + i64::from(next.rebalance_timeout_ms.max(1));
                self.timers.schedule(
                    revocation_key,
                    deadline,
                    TimerTask::ConsumerRevocationExpiry {
                        member_epoch: next.member_epoch,
                    },
                );
            }
        } else {
            self.timers.cancel(&revocation_key);
        }
        let member_epoch = next.member_epoch;
        let full =
            r.rebalance_timeout_ms != -1 && r.subscribed_topic_names.is_some() && owned.is_some();
        let assignment = (r.member_epoch == 0 || full || assignment_changed)
            .then(|| wire_assignment(&next.assigned));
        let group = self.groups.get_mut(group_id).expect("created above");
        group
            .consumer
            .as_mut()
            .expect("consumer group")
            .put_member(next);
        group.refresh_consumer_subscribed_topics();
        self.timers.schedule(
            TimerKey::ConsumerSession {
                group_id: group_id.to_owned(),
                member_id: member_id.clone(),
            },
            now_ms + i64::from(session_ms),
            TimerTask::ConsumerSessionExpiry,
        );
        Ok(ConsumerGroupHeartbeatResponse {
            member_id: Some(member_id),
            member_epoch,
            heartbeat_interval_ms: interval_ms,
            assignment,
            ..Default::default()
        })
    }

    /// Epoch -1 (leave) or -2 (a static member's temporary leave).
    fn consumer_group_leave(
        &mut self,
        now_ms: i64,
        r: &ConsumerGroupHeartbeatRequest,
        fx: &mut Effects,
    ) -> Result<ConsumerGroupHeartbeatResponse, Failure> {
        let group_id = r.group_id.as_str();
        let Some(consumer) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.consumer.as_mut())
        else {
            return fail(
                ErrorCode::GroupIdNotFound,
                format!("Group {group_id} not found."),
            );
        };
        let member_id = match &r.instance_id {
            Some(instance) => match consumer.static_members.get(instance) {
                None => {
                    return fail(
                        ErrorCode::UnknownMemberId,
                        format!("Instance id {instance} is unknown."),
                    );
                }
                Some(id) if *id != r.member_id => {
                    return fail(
                        ErrorCode::FencedInstanceId,
                        format!("Instance id {instance} belongs to another member."),
                    );
                }
                Some(id) => id.clone(),
            },
            None if consumer.members.contains_key(&r.member_id) => r.member_id.clone(),
            None => {
                return fail(
                    ErrorCode::UnknownMemberId,
                    format!("Member {} is unknown.", r.member_id),
                );
            }
        };
        if r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // Keeps its partitions until the instance comes back or its session ends.
            let mut member = consumer.members[&member_id].clone();
            if member.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                member.previous_member_epoch = member.member_epoch;
            }
            member.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            fx.records
                .push(records::current_assignment_record(group_id, &member));
            consumer.put_member(member);
        } else {
            self.fence_consumer_member(now_ms, group_id, &member_id, fx);
        }
        Ok(ConsumerGroupHeartbeatResponse {
            member_id: Some(member_id),
            member_epoch: r.member_epoch,
            ..Default::default()
        })
    }

    /// Removes a member (left, expired, or too slow to revoke) and bumps the group epoch so the
    /// target is recomputed at the next heartbeat.
    pub(crate) fn fence_consumer_member(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        fx: &mut Effects,
    ) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(consumer) = group.consumer.as_mut() else {
            return;
        };
        if consumer.remove_member(member_id).is_none() {
            return;
        }
        consumer.target.remove(member_id);
        fx.records
            .push(records::current_assignment_tombstone(group_id, member_id));
        fx.records
            .push(records::target_member_tombstone(group_id, member_id));
        fx.records
            .push(records::member_metadata_tombstone(group_id, member_id));
        consumer.group_epoch += 1;
        fx.records.push(records::group_metadata_record(
            group_id,
            consumer.group_epoch,
        ));
        if consumer.members.is_empty() {
            // Offsets of an empty group age from now (retention).
            group.state_timestamp_ms = Some(now_ms);
        }
        group.refresh_consumer_subscribed_topics();
        for key in [
            TimerKey::ConsumerSession {
                group_id: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
            TimerKey::ConsumerRevocation {
                group_id: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
        ] {
            self.timers.cancel(&key);
        }
    }

    pub(crate) fn expire_consumer_session(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        fx: &mut Effects,
    ) {
        self.fence_consumer_member(now_ms, group_id, member_id, fx);
    }

    pub(crate) fn expire_consumer_revocation(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
        fx: &mut Effects,
    ) {
        let still_revoking = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_ref())
            .and_then(|c| c.members.get(member_id))
            .is_some_and(|m| {
                m.state() == MemberState::UnrevokedPartitions && m.member_epoch == member_epoch
            });
        if still_revoking {
            self.fence_consumer_member(now_ms, group_id, member_id, fx);
        }
    }

    /// Kafka's member ids for the consumer protocol: a random UUID in base64 (22 characters).
    fn generate_consumer_member_id(&mut self) -> String {
        let id = self.generate_member_id("m");
        let hex: String = id[2..].chars().filter(|c| *c != '-').collect();
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap_or(0);
        }
        Uuid(bytes).to_string()
    }
}
