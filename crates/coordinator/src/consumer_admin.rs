//! KIP-848 groups seen through the other APIs: ConsumerGroupDescribe; how ListGroups and
//! DescribeGroups show consumer groups; OffsetCommit / OffsetFetch checks by member epoch
//! (STALE_MEMBER_EPOCH); and the conversion of an empty group between the two protocols.
//!
//! A group is one protocol or the other, as in Kafka: a classic JoinGroup into a consumer group
//! with members, and a ConsumerGroupHeartbeat join into a classic group with members, are
//! refused with INCONSISTENT_GROUP_PROTOCOL; an empty group converts (its offsets stay). Kafka
//! 4's online migration of a non-empty group is not built.

use protocol::ErrorCode;
use protocol::generated::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member, TopicPartitions,
};
use protocol::generated::describe_groups_response::{self, DescribedGroupMember};
use protocol::generated::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use crate::consumer_group::{Assignment, ConsumerGroup};
use crate::consumer_records;
use crate::coordinator::{Effects, GroupCoordinator};
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group};
use crate::topics::TopicsImage;

/// ConsumerGroupDescribe's member type of a member that joined with the consumer protocol.
const MEMBER_TYPE_CONSUMER: i8 = 1;

/// The group type ListGroups v5 reports for KIP-848 groups.
pub const CONSUMER_GROUP_TYPE: &str = "consumer";

/// `authorizedOperations` when the client did not ask for them.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

impl Group {
    /// `classic` or `consumer`, as ListGroups v5 names group types.
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() {
            CONSUMER_GROUP_TYPE
        } else {
            crate::admin::CLASSIC_GROUP_TYPE
        }
    }

    /// The state name of either protocol's state machine.
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(consumer) => consumer.state().as_str(),
            None => self.state.as_str(),
        }
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit`: an admin or standalone commit (no member,
    /// epoch -1) only into an empty group; otherwise the member must exist and present its
    /// current epoch.
    pub(crate) fn validate_consumer_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
        version: i16,
    ) -> Result<(), ErrorCode> {
        let consumer = self.consumer.as_ref().expect("a consumer group");
        if member_epoch < 0 && member_id.is_empty() {
            return if consumer.members.is_empty() {
                Ok(())
            } else {
                Err(ErrorCode::UnknownMemberId)
            };
        }
        let Some(member) = consumer.members.get(member_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        if version < 9 {
            // Members of consumer groups commit with v9+ (their epoch is the generation field).
            return Err(ErrorCode::UnsupportedVersion);
        }
        if member_epoch != member.member_epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }

    /// OffsetFetch v9's member check for consumer groups (epoch -1: an admin fetch).
    pub(crate) fn validate_consumer_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ErrorCode> {
        let Some(consumer) = self.consumer.as_ref() else {
            return Ok(());
        };
        if member_epoch < 0 {
            return Ok(());
        }
        let member = member_id
            .and_then(|id| consumer.members.get(id))
            .ok_or(ErrorCode::UnknownMemberId)?;
        if member.member_epoch != member_epoch {
            return Err(ErrorCode::StaleMemberEpoch);
        }
        Ok(())
    }
}

fn describe_assignment(
    assignment: &Assignment,
    topics: &TopicsImage,
    metadata: &ConsumerGroup,
) -> DescribedAssignment {
    DescribedAssignment {
        topic_partitions: assignment
            .iter()
            .map(|(id, partitions)| TopicPartitions {
                topic_id: *id,
                topic_name: topics
                    .name_of(*id)
                    .map(str::to_owned)
                    .or_else(|| {
                        metadata
                            .subscription_metadata
                            .iter()
                            .find(|(_, (t, _))| t == id)
                            .map(|(name, _)| name.clone())
                    })
                    .unwrap_or_default(),
                partitions: partitions.iter().copied().collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

impl GroupCoordinator {
    /// Handles ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for groups that do not exist or are
    /// classic groups.
    pub fn consumer_group_describe(
        &self,
        topics: &TopicsImage,
        request: &ConsumerGroupDescribeRequest,
    ) -> ConsumerGroupDescribeResponse {
        let groups = request
            .group_ids
            .iter()
            .map(|group_id| {
                let Some(consumer) = self
                    .groups
                    .get(group_id)
                    .and_then(|g| g.consumer.as_deref())
                else {
                    let exists = self.groups.contains_key(group_id);
                    return DescribedGroup {
                        error_code: ErrorCode::GroupIdNotFound.code(),
                        error_message: Some(if exists {
                            format!("Group {group_id} is not a consumer group.")
                        } else {
                            format!("Group {group_id} not found.")
                        }),
                        group_id: group_id.clone(),
                        authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                        ..Default::default()
                    };
                };
                let empty = Assignment::new();
                DescribedGroup {
                    group_id: group_id.clone(),
                    group_state: consumer.state().as_str().to_owned(),
                    group_epoch: consumer.group_epoch,
                    assignment_epoch: consumer.assignment_epoch,
                    assignor_name: consumer.assignor().to_owned(),
                    members: consumer
                        .members
                        .values()
                        .map(|m| Member {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.member_epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed_topic_names.clone(),
                            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                            assignment: describe_assignment(&m.assigned, topics, consumer),
                            target_assignment: describe_assignment(
                                consumer.target.get(&m.member_id).unwrap_or(&empty),
                                topics,
                                consumer,
                            ),
                            // v1 (KIP-1099): every member of a consumer group joined with the
                            // consumer protocol (classic members are not migrated in).
                            member_type: MEMBER_TYPE_CONSUMER,
                            ..Default::default()
                        })
                        .collect(),
                    authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                    ..Default::default()
                }
            })
            .collect();
        ConsumerGroupDescribeResponse {
            groups,
            ..Default::default()
        }
    }

    /// Drops the consumer side of an empty consumer group (a classic member is joining it):
    /// tombstones for its records; its offsets stay.
    pub(crate) fn convert_empty_consumer_group(&mut self, group_id: &str, fx: &mut Effects) {
        if let Some(group) = self.groups.get_mut(group_id)
            && let Some(consumer) = group.consumer.take()
        {
            debug_assert!(consumer.members.is_empty());
            fx.records
                .extend(consumer_records::group_tombstones(group_id, &consumer));
            group.protocol_type = None;
            group.subscribed_topics = None;
        }
    }
}

/// A consumer group as DescribeGroups shows it (Kafka's `ConsumerGroup.asDescribedGroup`).
pub(crate) fn describe_as_classic(
    group: &Group,
    consumer: &ConsumerGroup,
) -> describe_groups_response::DescribedGroup {
    describe_groups_response::DescribedGroup {
        error_code: ErrorCode::None.code(),
        group_id: group.group_id.clone(),
        group_state: consumer.state().as_str().to_owned(),
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_owned(),
        protocol_data: consumer.assignor().to_owned(),
        members: consumer
            .members
            .values()
            .map(|m| DescribedGroupMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                ..Default::default()
            })
            .collect(),
        authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}
