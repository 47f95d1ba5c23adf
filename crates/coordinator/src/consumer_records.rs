//! KIP-848 records in `__consumer_offsets` (Kafka's coordinator-records): group metadata (key
//! version 3, the group epoch), partition metadata (4, the subscribed topics), member metadata
//! (5), target assignment metadata (6, the assignment epoch), target assignment member (7) and
//! current member assignment (8); values are version 0; deletions are tombstones. And replay.
//!
//! Replay builds the consumer part of a `Group` from these records in log order; a group
//! metadata tombstone drops it (the group's offsets stay, as they are separate records).

use bytes::Bytes;
use protocol::Uuid;
use protocol::generated::consumer_group_current_member_assignment_value::TopicPartitions as CurrentTopicPartitions;
use protocol::generated::consumer_group_partition_metadata_value::TopicMetadata;
use protocol::generated::consumer_group_target_assignment_member_value::TopicPartition as TargetTopicPartition;
use protocol::generated::{
    ConsumerGroupCurrentMemberAssignmentKey, ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey, ConsumerGroupMemberMetadataValue, ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue, ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
};

use crate::consumer_group::{Assignment, ConsumerGroup, ConsumerMember, MemberState};
use crate::coordinator::GroupCoordinator;
use crate::error::CoordinatorError;
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group};
use crate::records::{CoordinatorRecord, decode, decode_key, encode, encode_key};

pub const CONSUMER_GROUP_METADATA_KEY_VERSION: i16 = 3;
pub const CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION: i16 = 4;
pub const CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION: i16 = 5;
pub const CONSUMER_GROUP_TARGET_METADATA_KEY_VERSION: i16 = 6;
pub const CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION: i16 = 7;
pub const CONSUMER_GROUP_CURRENT_ASSIGNMENT_KEY_VERSION: i16 = 8;

fn record(group_id: &str, key: Bytes, value: Option<Bytes>) -> CoordinatorRecord {
    CoordinatorRecord {
        group_id: group_id.to_owned(),
        key,
        value,
    }
}

fn group_key(version: i16, group_id: &str) -> Bytes {
    let group_id = group_id.to_owned();
    match version {
        CONSUMER_GROUP_METADATA_KEY_VERSION => encode_key(
            version,
            &ConsumerGroupMetadataKey {
                group_id,
                ..Default::default()
            },
        ),
        CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION => encode_key(
            version,
            &ConsumerGroupPartitionMetadataKey {
                group_id,
                ..Default::default()
            },
        ),
        _ => encode_key(
            version,
            &ConsumerGroupTargetAssignmentMetadataKey {
                group_id,
                ..Default::default()
            },
        ),
    }
}

fn member_key(version: i16, group_id: &str, member_id: &str) -> Bytes {
    let (group_id, member_id) = (group_id.to_owned(), member_id.to_owned());
    match version {
        CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION => encode_key(
            version,
            &ConsumerGroupMemberMetadataKey {
                group_id,
                member_id,
                ..Default::default()
            },
        ),
        CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION => encode_key(
            version,
            &ConsumerGroupTargetAssignmentMemberKey {
                group_id,
                member_id,
                ..Default::default()
            },
        ),
        _ => encode_key(
            version,
            &ConsumerGroupCurrentMemberAssignmentKey {
                group_id,
                member_id,
                ..Default::default()
            },
        ),
    }
}

pub(crate) fn group_metadata_record(group_id: &str, epoch: i32) -> CoordinatorRecord {
    let value = ConsumerGroupMetadataValue {
        epoch,
        ..Default::default()
    };
    record(
        group_id,
        group_key(CONSUMER_GROUP_METADATA_KEY_VERSION, group_id),
        Some(encode(0, &value)),
    )
}

pub(crate) fn partition_metadata_record(
    group_id: &str,
    group: &ConsumerGroup,
) -> CoordinatorRecord {
    let value = ConsumerGroupPartitionMetadataValue {
        topics: group
            .subscription_metadata
            .iter()
            .map(|(name, (id, partitions))| TopicMetadata {
                topic_id: *id,
                topic_name: name.clone(),
                num_partitions: *partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    record(
        group_id,
        group_key(CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION, group_id),
        Some(encode(0, &value)),
    )
}

pub(crate) fn target_metadata_record(group_id: &str, assignment_epoch: i32) -> CoordinatorRecord {
    let value = ConsumerGroupTargetAssignmentMetadataValue {
        assignment_epoch,
        ..Default::default()
    };
    record(
        group_id,
        group_key(CONSUMER_GROUP_TARGET_METADATA_KEY_VERSION, group_id),
        Some(encode(0, &value)),
    )
}

pub(crate) fn member_metadata_record(group_id: &str, m: &ConsumerMember) -> CoordinatorRecord {
    let value = ConsumerGroupMemberMetadataValue {
        instance_id: m.instance_id.clone(),
        rack_id: m.rack_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        subscribed_topic_names: m.subscribed_topic_names.clone(),
        subscribed_topic_regex: m.subscribed_topic_regex.clone(),
        rebalance_timeout_ms: m.rebalance_timeout_ms,
        server_assignor: m.server_assignor.clone(),
        ..Default::default()
    };
    record(
        group_id,
        member_key(
            CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION,
            group_id,
            &m.member_id,
        ),
        Some(encode(0, &value)),
    )
}

pub(crate) fn target_member_record(
    group_id: &str,
    member_id: &str,
    assignment: &Assignment,
) -> CoordinatorRecord {
    let value = ConsumerGroupTargetAssignmentMemberValue {
        topic_partitions: assignment
            .iter()
            .map(|(t, p)| TargetTopicPartition {
                topic_id: *t,
                partitions: p.iter().copied().collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    record(
        group_id,
        member_key(
            CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION,
            group_id,
            member_id,
        ),
        Some(encode(0, &value)),
    )
}

fn current_partitions(assignment: &Assignment) -> Vec<CurrentTopicPartitions> {
    assignment
        .iter()
        .map(|(t, p)| CurrentTopicPartitions {
            topic_id: *t,
            partitions: p.iter().copied().collect(),
            ..Default::default()
        })
        .collect()
}

pub(crate) fn current_assignment_record(group_id: &str, m: &ConsumerMember) -> CoordinatorRecord {
    let value = ConsumerGroupCurrentMemberAssignmentValue {
        member_epoch: m.member_epoch,
        previous_member_epoch: m.previous_member_epoch,
        state: m.state() as i8,
        assigned_partitions: current_partitions(&m.assigned),
        partitions_pending_revocation: current_partitions(&m.pending_revocation),
        ..Default::default()
    };
    record(
        group_id,
        member_key(
            CONSUMER_GROUP_CURRENT_ASSIGNMENT_KEY_VERSION,
            group_id,
            &m.member_id,
        ),
        Some(encode(0, &value)),
    )
}

pub(crate) fn member_metadata_tombstone(group_id: &str, member_id: &str) -> CoordinatorRecord {
    record(
        group_id,
        member_key(
            CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION,
            group_id,
            member_id,
        ),
        None,
    )
}

pub(crate) fn target_member_tombstone(group_id: &str, member_id: &str) -> CoordinatorRecord {
    record(
        group_id,
        member_key(
            CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION,
            group_id,
            member_id,
        ),
        None,
    )
}

pub(crate) fn current_assignment_tombstone(group_id: &str, member_id: &str) -> CoordinatorRecord {
    record(
        group_id,
        member_key(
            CONSUMER_GROUP_CURRENT_ASSIGNMENT_KEY_VERSION,
            group_id,
            member_id,
        ),
        None,
    )
}

/// Tombstones for a whole (memberless) consumer group's own records, as Kafka writes them on
/// deletion or conversion: target assignment metadata, partition metadata, then group metadata.
pub(crate) fn group_tombstones(group_id: &str, group: &ConsumerGroup) -> Vec<CoordinatorRecord> {
    let mut out = Vec::new();
    for member_id in group.members.keys() {
        out.push(current_assignment_tombstone(group_id, member_id));
        out.push(target_member_tombstone(group_id, member_id));
        out.push(member_metadata_tombstone(group_id, member_id));
    }
    for version in [
        CONSUMER_GROUP_TARGET_METADATA_KEY_VERSION,
        CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION,
        CONSUMER_GROUP_METADATA_KEY_VERSION,
    ] {
        out.push(record(group_id, group_key(version, group_id), None));
    }
    out
}

fn to_assignment<'a>(topics: impl Iterator<Item = (Uuid, &'a Vec<i32>)>) -> Assignment {
    let mut assignment = Assignment::new();
    for (topic, partitions) in topics {
        if !partitions.is_empty() {
            assignment
                .entry(topic)
                .or_default()
                .extend(partitions.iter().copied());
        }
    }
    assignment
}

impl GroupCoordinator {
    /// Replays one KIP-848 record (key versions 3-8); `key_body` follows the version prefix.
    pub(crate) fn replay_consumer_record(
        &mut self,
        key_version: i16,
        key_body: &[u8],
        value: Option<(i16, &[u8])>,
    ) -> Result<(), CoordinatorError> {
        let (group_id, member_id) = match key_version {
            CONSUMER_GROUP_METADATA_KEY_VERSION => (
                decode_key::<ConsumerGroupMetadataKey>(key_body, "ConsumerGroupMetadataKey")?
                    .group_id,
                None,
            ),
            CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION => (
                decode_key::<ConsumerGroupPartitionMetadataKey>(
                    key_body,
                    "ConsumerGroupPartitionMetadataKey",
                )?
                .group_id,
                None,
            ),
            CONSUMER_GROUP_TARGET_METADATA_KEY_VERSION => (
                decode_key::<ConsumerGroupTargetAssignmentMetadataKey>(
                    key_body,
                    "ConsumerGroupTargetAssignmentMetadataKey",
                )?
                .group_id,
                None,
            ),
            CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION => {
                let k: ConsumerGroupMemberMetadataKey =
                    decode_key(key_body, "ConsumerGroupMemberMetadataKey")?;
                (k.group_id, Some(k.member_id))
            }
            CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION => {
                let k: ConsumerGroupTargetAssignmentMemberKey =
                    decode_key(key_body, "ConsumerGroupTargetAssignmentMemberKey")?;
                (k.group_id, Some(k.member_id))
            }
            _ => {
                let k: ConsumerGroupCurrentMemberAssignmentKey =
                    decode_key(key_body, "ConsumerGroupCurrentMemberAssignmentKey")?;
                (k.group_id, Some(k.member_id))
            }
        };
        if value.is_none() && key_version == CONSUMER_GROUP_METADATA_KEY_VERSION {
            if let Some(group) = self.groups.get_mut(&group_id) {
                group.consumer = None;
            }
            return Ok(());
        }
        let group = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id, -1));
        if group.consumer.is_none() {
            // A classic group converted (it had no members) or a new consumer group.
            group.members.clear();
            group.static_members.clear();
            group.pending_members.clear();
            group.protocol_name = None;
            group.leader_id = None;
        }
        group.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_owned());
        let consumer = group.consumer.get_or_insert_with(Default::default);
        let member_of = |consumer: &mut ConsumerGroup, id: &str| -> ConsumerMember {
            consumer
                .members
                .get(id)
                .cloned()
                .unwrap_or_else(|| ConsumerMember {
                    member_id: id.to_owned(),
                    state: Some(MemberState::Stable),
                    ..Default::default()
                })
        };
        match (key_version, value, member_id) {
            (CONSUMER_GROUP_METADATA_KEY_VERSION, Some((v, body)), _) => {
                consumer.group_epoch =
                    decode::<ConsumerGroupMetadataValue>(body, v, "ConsumerGroupMetadataValue")?
                        .epoch;
            }
            (CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION, value, _) => {
                consumer.subscription_metadata.clear();
                if let Some((v, body)) = value {
                    let value: ConsumerGroupPartitionMetadataValue =
                        decode(body, v, "ConsumerGroupPartitionMetadataValue")?;
                    for t in value.topics {
                        consumer
                            .subscription_metadata
                            .insert(t.topic_name, (t.topic_id, t.num_partitions));
                    }
                }
            }
            (CONSUMER_GROUP_TARGET_METADATA_KEY_VERSION, value, _) => {
                consumer.assignment_epoch = match value {
                    Some((v, body)) => {
                        decode::<ConsumerGroupTargetAssignmentMetadataValue>(
                            body,
                            v,
                            "ConsumerGroupTargetAssignmentMetadataValue",
                        )?
                        .assignment_epoch
                    }
                    None => 0,
                };
            }
            (CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION, Some((v, body)), Some(id)) => {
                let value: ConsumerGroupMemberMetadataValue =
                    decode(body, v, "ConsumerGroupMemberMetadataValue")?;
                let mut member = member_of(consumer, &id);
                member.instance_id = value.instance_id;
                member.rack_id = value.rack_id;
                member.client_id = value.client_id;
                member.client_host = value.client_host;
                member.subscribed_topic_names = value.subscribed_topic_names;
                member.subscribed_topic_regex = value.subscribed_topic_regex;
                member.rebalance_timeout_ms = value.rebalance_timeout_ms;
                member.server_assignor = value.server_assignor;
                consumer.members.insert(id, member);
            }
            (CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION, None, Some(id)) => {
                if let Some(m) = consumer.members.remove(&id)
                    && let Some(instance) = m.instance_id
                    && consumer.static_members.get(&instance) == Some(&id)
                {
                    consumer.static_members.remove(&instance);
                }
            }
            (CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION, Some((v, body)), Some(id)) => {
                let value: ConsumerGroupTargetAssignmentMemberValue =
                    decode(body, v, "ConsumerGroupTargetAssignmentMemberValue")?;
                consumer.target.insert(
                    id,
                    to_assignment(
                        value
                            .topic_partitions
                            .iter()
                            .map(|t| (t.topic_id, &t.partitions)),
                    ),
                );
            }
            (CONSUMER_GROUP_TARGET_MEMBER_KEY_VERSION, None, Some(id)) => {
                consumer.target.remove(&id);
            }
            (CONSUMER_GROUP_CURRENT_ASSIGNMENT_KEY_VERSION, Some((v, body)), Some(id)) => {
                let value: ConsumerGroupCurrentMemberAssignmentValue =
                    decode(body, v, "ConsumerGroupCurrentMemberAssignmentValue")?;
                let mut member = member_of(consumer, &id);
                member.member_epoch = value.member_epoch;
                member.previous_member_epoch = value.previous_member_epoch;
                member.state = Some(MemberState::from_record(value.state));
                member.assigned = to_assignment(
                    value
                        .assigned_partitions
                        .iter()
                        .map(|t| (t.topic_id, &t.partitions)),
                );
                member.pending_revocation = to_assignment(
                    value
                        .partitions_pending_revocation
                        .iter()
                        .map(|t| (t.topic_id, &t.partitions)),
                );
                consumer.members.insert(id, member);
            }
            _ => {}
        }
        Ok(())
    }

    /// After loading: owners and static members rebuilt from the members; sessions started.
    pub(crate) fn finish_loading_consumer_groups(&mut self, now_ms: i64) {
        let session_ms = i64::from(self.config.consumer_session_timeout_ms);
        let mut sessions = Vec::new();
        for (group_id, group) in &mut self.groups {
            let Some(consumer) = group.consumer.as_mut() else {
                continue;
            };
            consumer.static_members = consumer
                .members
                .values()
                .filter_map(|m| Some((m.instance_id.clone()?, m.member_id.clone())))
                .collect();
            consumer.rebuild_owners();
            for member_id in consumer.members.keys() {
                sessions.push((group_id.clone(), member_id.clone()));
            }
            group.refresh_consumer_subscribed_topics();
        }
        for (group_id, member_id) in sessions {
            self.timers.schedule(
                crate::timers::TimerKey::ConsumerSession {
                    group_id,
                    member_id,
                },
                now_ms + session_ms,
                crate::timers::TimerTask::ConsumerSessionExpiry,
            );
        }
    }
}
