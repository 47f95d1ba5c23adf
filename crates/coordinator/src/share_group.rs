//! Share groups (KIP-932) in the group coordinator: membership by ShareGroupHeartbeat, the
//! group epoch, Kafka's simple assignor, session expiry and ShareGroupDescribe.
//!
//! Unlike KIP-848 consumer groups a share group never revokes: several members may read one
//! partition at once (the partition's leader hands each record to one of them), so a new
//! target assignment applies to a member at its next heartbeat, with no reconciliation.
//!
//! Rules (Kafka's `GroupMetadataManager.shareGroupHeartbeat`): the client names its member id
//! (a UUID it generates); epoch 0 joins and must name its subscribed topics, -1 leaves, any
//! other epoch must be the member's current or previous one (FENCED_MEMBER_EPOCH; the previous
//! one is accepted for a member whose last response was lost). A new member, a changed
//! subscription or a change in the subscribed topics' partitions moves the group epoch; the
//! target assignment is recomputed when the group epoch is ahead of it. A group id held by a
//! classic or consumer group is not a share group (GROUP_ID_NOT_FOUND).
//!
//! Where Runnel differs: the share group's membership is not written to `__consumer_offsets`
//! (Kafka writes `ShareGroup*` records), so after a coordinator restart or move a member's
//! heartbeat gets UNKNOWN_MEMBER_ID and it joins again with epoch 0.

use std::collections::{BTreeMap, BTreeSet};

use protocol::generated::share_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member as DescribedMember,
    TopicPartitions as DescribedTopicPartitions,
};
use protocol::generated::share_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};
use protocol::generated::{
    ShareGroupDescribeRequest, ShareGroupDescribeResponse, ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse,
};
use protocol::{ErrorCode, Uuid};

use crate::consumer_group::Assignment;
use crate::coordinator::{ClientInfo, Effects, GroupCoordinator, Outcome};
use crate::join::RECORD_STRING_MAX;
use crate::timers::{TimerKey, TimerTask};
use crate::topics::TopicsImage;

/// ListGroups' type and protocol type for share groups.
pub const SHARE_GROUP_TYPE: &str = "share";
/// The only share-group assignor.
pub const SIMPLE_ASSIGNOR: &str = "simple";
/// The longest member id (a UUID string at most; Java clients send 22 characters of base64).
const MEMBER_ID_MAX: usize = 36;
/// The most topics one member may subscribe to.
const SUBSCRIBED_TOPICS_MAX: usize = 10_000;

type Failure = (ErrorCode, String);

/// A member of a share group.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareMember {
    pub member_id: String,
    pub member_epoch: i32,
    /// The epoch before the last move: a member whose response was lost may still send it.
    pub previous_member_epoch: i32,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: BTreeSet<String>,
    pub assignment: Assignment,
}

/// A share group's membership and assignment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ShareMember>,
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics' ids and partition counts when the group epoch last moved.
    subscribed_metadata: BTreeMap<String, (Uuid, i32)>,
}

impl ShareGroup {
    /// Kafka's share group states: Empty or Stable (Dead once deleted).
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    fn subscribed(&self, topics: &TopicsImage) -> BTreeMap<String, (Uuid, i32)> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter())
            .filter_map(|name| {
                topics
                    .topic(name)
                    .map(|t| (name.clone(), (t.id, t.partitions)))
            })
            .collect()
    }

    /// Recomputes the target assignment with the simple assignor.
    fn assign(&mut self, topics: &TopicsImage) {
        self.target = simple_assign(&self.members, topics);
        self.assignment_epoch = self.group_epoch;
    }
}

/// Kafka's simple share assignor: for each topic, among the members subscribed to it, every
/// partition goes to at least one member; with fewer members than partitions each partition
/// has one member (round robin), with more each member gets one partition and partitions are
/// shared round robin.
pub fn simple_assign(
    members: &BTreeMap<String, ShareMember>,
    topics: &TopicsImage,
) -> BTreeMap<String, Assignment> {
    let mut target: BTreeMap<String, Assignment> = members
        .keys()
        .map(|id| (id.clone(), Assignment::new()))
        .collect();
    let names: BTreeSet<&String> = members
        .values()
        .flat_map(|m| m.subscribed_topic_names.iter())
        .collect();
    for name in names {
        let Some(topic) = topics.topic(name) else {
            continue;
        };
        let subscribers: Vec<&String> = members
            .values()
            .filter(|m| m.subscribed_topic_names.contains(name))
            .map(|m| &m.member_id)
            .collect();
        let partitions = topic.partitions.max(0) as usize;
        if subscribers.is_empty() || partitions == 0 {
            continue;
        }
        let slots = subscribers.len().max(partitions);
        for i in 0..slots {
            let member = subscribers[i % subscribers.len()];
            let partition = (i % partitions) as i32;
            target
                .get_mut(member)
                .expect("every member has a target")
                .entry(topic.id)
                .or_default()
                .insert(partition);
        }
    }
    target
}

fn fail<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Failure> {
    Err((code, message.into()))
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

impl GroupCoordinator {
    /// The share group `group_id`, if there is one.
    pub fn share_group(&self, group_id: &str) -> Option<&ShareGroup> {
        self.share_groups.get(group_id)
    }

    /// Whether `group_id` names a share group (classic and consumer APIs refuse it).
    pub fn is_share_group(&self, group_id: &str) -> bool {
        self.share_groups.contains_key(group_id)
    }

    /// Handles ShareGroupHeartbeat v1.
    pub fn share_group_heartbeat(
        &mut self,
        now_ms: i64,
        client: ClientInfo<'_>,
        topics: &TopicsImage,
        request: &ShareGroupHeartbeatRequest,
    ) -> Outcome<ShareGroupHeartbeatResponse> {
        let response = match self.share_heartbeat_inner(now_ms, client, topics, request) {
            Ok(response) => response,
            Err((code, message)) => ShareGroupHeartbeatResponse {
                error_code: code.code(),
                error_message: Some(message),
                ..Default::default()
            },
        };
        Outcome::new(response, Effects::default())
    }

    fn share_heartbeat_inner(
        &mut self,
        now_ms: i64,
        client: ClientInfo<'_>,
        topics: &TopicsImage,
        r: &ShareGroupHeartbeatRequest,
    ) -> Result<ShareGroupHeartbeatResponse, Failure> {
        let invalid = |m: &str| fail(ErrorCode::InvalidRequest, m);
        if r.group_id.is_empty() || r.group_id.len() > RECORD_STRING_MAX {
            return invalid("GroupId can't be empty.");
        }
        if r.member_id.is_empty() {
            return invalid("MemberId can't be empty.");
        }
        if r.member_id.len() > MEMBER_ID_MAX {
            return invalid("MemberId can't be longer than 36 characters.");
        }
        if r.member_epoch < -1 {
            return invalid("MemberEpoch is invalid.");
        }
        if r.rack_id
            .as_ref()
            .is_some_and(|rack| rack.len() > RECORD_STRING_MAX)
        {
            return invalid("RackId is too long.");
        }
        let names = r.subscribed_topic_names.as_deref();
        if r.member_epoch == 0 && names.is_none_or(|n| n.is_empty()) {
            return invalid("SubscribedTopicNames must be set in first request.");
        }
        if names.is_some_and(|n| {
            n.len() > SUBSCRIBED_TOPICS_MAX || n.iter().any(|t| t.len() > RECORD_STRING_MAX)
        }) {
            return invalid("SubscribedTopicNames is too large.");
        }
        if self.groups.contains_key(&r.group_id) {
            return fail(
                ErrorCode::GroupIdNotFound,
                format!("Group {} is not a share group.", r.group_id),
            );
        }
        let group_id = r.group_id.as_str();
        let member_id = r.member_id.as_str();
        if r.member_epoch == -1 {
            return self.share_leave(now_ms, group_id, member_id, topics);
        }
        let heartbeat_interval_ms = self.config.share_heartbeat_interval_ms;
        let session_ms = i64::from(self.config.share_session_timeout_ms);
        let max_size = self.config.share_group_max_size;
        let groups_full = self.groups.len() + self.share_groups.len() >= self.config.groups_max;
        let group = match self.share_groups.get_mut(group_id) {
            Some(group) => group,
            None if r.member_epoch != 0 => {
                return fail(
                    ErrorCode::UnknownMemberId,
                    format!("Group {group_id} not found."),
                );
            }
            None if groups_full => {
                return fail(ErrorCode::CoordinatorNotAvailable, "Too many groups.");
            }
            None => self.share_groups.entry(group_id.to_owned()).or_default(),
        };
        let mut bump = false;
        match group.members.get(member_id) {
            None if r.member_epoch != 0 => {
                return fail(
                    ErrorCode::UnknownMemberId,
                    format!("Member {member_id} is not a member of group {group_id}."),
                );
            }
            None => {
                if group.members.len() >= max_size {
                    return fail(
                        ErrorCode::GroupMaxSizeReached,
                        format!(
                            "The share group has reached its maximum capacity of {max_size} members."
                        ),
                    );
                }
                group.members.insert(
                    member_id.to_owned(),
                    ShareMember {
                        member_id: member_id.to_owned(),
                        member_epoch: 0,
                        previous_member_epoch: 0,
                        rack_id: None,
                        client_id: String::new(),
                        client_host: String::new(),
                        subscribed_topic_names: BTreeSet::new(),
                        assignment: Assignment::new(),
                    },
                );
                bump = true;
            }
            Some(member)
                if r.member_epoch != 0
                    && r.member_epoch != member.member_epoch
                    && r.member_epoch != member.previous_member_epoch =>
            {
                return fail(
                    ErrorCode::FencedMemberEpoch,
                    format!(
                        "The share group member has a smaller or larger member epoch ({}) than the one known by the group coordinator ({}).",
                        r.member_epoch, member.member_epoch
                    ),
                );
            }
            Some(_) => {}
        }
        let member = group.members.get_mut(member_id).expect("present");
        member.client_id = client.client_id.to_owned();
        member.client_host = client.client_host.to_owned();
        if r.rack_id.is_some() {
            member.rack_id = r.rack_id.clone();
        }
        if let Some(names) = names {
            let names: BTreeSet<String> = names.iter().cloned().collect();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                bump = true;
            }
        }
        let metadata = group.subscribed(topics);
        if metadata != group.subscribed_metadata {
            group.subscribed_metadata = metadata;
            bump = true;
        }
        if bump {
            group.group_epoch += 1;
        }
        if group.group_epoch > group.assignment_epoch {
            group.assign(topics);
        }
        let assignment = group.target.get(member_id).cloned().unwrap_or_default();
        let member = group.members.get_mut(member_id).expect("present");
        if member.member_epoch != group.assignment_epoch {
            member.previous_member_epoch = member.member_epoch;
            member.member_epoch = group.assignment_epoch;
        }
        member.assignment = assignment;
        let response = ShareGroupHeartbeatResponse {
            member_id: Some(member_id.to_owned()),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms,
            assignment: Some(wire_assignment(&member.assignment)),
            ..Default::default()
        };
        self.timers.schedule(
            TimerKey::ShareSession {
                group_id: group_id.to_owned(),
                member_id: member_id.to_owned(),
            },
            now_ms + session_ms,
            TimerTask::ShareSessionExpiry,
        );
        Ok(response)
    }

    fn share_leave(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        topics: &TopicsImage,
    ) -> Result<ShareGroupHeartbeatResponse, Failure> {
        if !self.remove_share_member(now_ms, group_id, member_id, topics) {
            return fail(
                ErrorCode::UnknownMemberId,
                format!("Member {member_id} is not a member of group {group_id}."),
            );
        }
        Ok(ShareGroupHeartbeatResponse {
            member_id: Some(member_id.to_owned()),
            member_epoch: -1,
            ..Default::default()
        })
    }

    /// Removes a member (leave or expiry) and moves the group epoch; false if unknown.
    fn remove_share_member(
        &mut self,
        _now_ms: i64,
        group_id: &str,
        member_id: &str,
        topics: &TopicsImage,
    ) -> bool {
        let Some(group) = self.share_groups.get_mut(group_id) else {
            return false;
        };
        if group.members.remove(member_id).is_none() {
            return false;
        }
        group.group_epoch += 1;
        group.assign(topics);
        self.timers.cancel(&TimerKey::ShareSession {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
        });
        true
    }

    /// A share member's session ran out: it leaves the group. The target is recomputed
    /// against the group's last known topics (the next heartbeat refreshes them).
    pub(crate) fn expire_share_session(&mut self, now_ms: i64, group_id: &str, member_id: &str) {
        let topics =
            self.share_groups
                .get(group_id)
                .map(|g| {
                    TopicsImage::new(g.subscribed_metadata.iter().map(
                        |(name, (id, partitions))| crate::topics::TopicImage {
                            name: name.clone(),
                            id: *id,
                            partitions: *partitions,
                        },
                    ))
                })
                .unwrap_or_default();
        self.remove_share_member(now_ms, group_id, member_id, &topics);
    }

    /// Handles ShareGroupDescribe v1 (the broker fills in authorized operations).
    pub fn share_group_describe(
        &self,
        request: &ShareGroupDescribeRequest,
        topics: &TopicsImage,
    ) -> ShareGroupDescribeResponse {
        let groups = request
            .group_ids
            .iter()
            .map(|group_id| match self.share_groups.get(group_id) {
                Some(group) => DescribedGroup {
                    group_id: group_id.clone(),
                    group_state: group.state().to_owned(),
                    group_epoch: group.group_epoch,
                    assignment_epoch: group.assignment_epoch,
                    assignor_name: SIMPLE_ASSIGNOR.to_owned(),
                    members: group
                        .members
                        .values()
                        .map(|m| describe_member(m, topics))
                        .collect(),
                    authorized_operations: i32::MIN,
                    ..Default::default()
                },
                None => DescribedGroup {
                    group_id: group_id.clone(),
                    error_code: ErrorCode::GroupIdNotFound.code(),
                    error_message: Some(format!("Group {group_id} not found.")),
                    group_state: "Dead".to_owned(),
                    authorized_operations: i32::MIN,
                    ..Default::default()
                },
            })
            .collect();
        ShareGroupDescribeResponse {
            groups,
            ..Default::default()
        }
    }

    /// What the share-offset admin APIs check first: the group is a share group (created empty
    /// when `create` and it does not exist, as AlterShareGroupOffsets does) and has no
    /// members. GROUP_ID_NOT_FOUND for another group type or a missing group, NON_EMPTY_GROUP
    /// while members are in it, COORDINATOR_NOT_AVAILABLE at the group bound.
    pub fn share_group_offsets_check(&mut self, group_id: &str, create: bool) -> ErrorCode {
        if group_id.is_empty() || group_id.len() > RECORD_STRING_MAX {
            return ErrorCode::InvalidGroupId;
        }
        if self.groups.contains_key(group_id) {
            return ErrorCode::GroupIdNotFound;
        }
        match self.share_groups.get(group_id) {
            Some(group) if !group.members.is_empty() => ErrorCode::NonEmptyGroup,
            Some(_) => ErrorCode::None,
            None if !create => ErrorCode::GroupIdNotFound,
            None if self.groups.len() + self.share_groups.len() >= self.config.groups_max => {
                ErrorCode::CoordinatorNotAvailable
            }
            None => {
                self.share_groups
                    .insert(group_id.to_owned(), ShareGroup::default());
                ErrorCode::None
            }
        }
    }

    /// Deletes an empty share group; GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP otherwise.
    pub(crate) fn delete_share_group(&mut self, group_id: &str) -> ErrorCode {
        match self.share_groups.get(group_id) {
            None => ErrorCode::GroupIdNotFound,
            Some(group) if !group.members.is_empty() => ErrorCode::NonEmptyGroup,
            Some(_) => {
                self.share_groups.remove(group_id);
                ErrorCode::None
            }
        }
    }
}

fn describe_member(member: &ShareMember, topics: &TopicsImage) -> DescribedMember {
    DescribedMember {
        member_id: member.member_id.clone(),
        rack_id: member.rack_id.clone(),
        member_epoch: member.member_epoch,
        client_id: member.client_id.clone(),
        client_host: member.client_host.clone(),
        subscribed_topic_names: member.subscribed_topic_names.iter().cloned().collect(),
        assignment: DescribedAssignment {
            topic_partitions: member
                .assignment
                .iter()
                .map(|(id, partitions)| DescribedTopicPartitions {
                    topic_id: *id,
                    topic_name: topics.name_of(*id).unwrap_or_default().to_owned(),
                    partitions: partitions.iter().copied().collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "share_group_tests.rs"]
mod tests;
