//! The `__consumer_offsets` record formats (Kafka's coordinator records) and replay.
//!
//! A record key is an int16 record type (older specs: the key version) then the key struct; a
//! value is an int16 value version then the value struct; a deletion is a tombstone (null
//! value). As Kafka writes them: offset
//! commits use key version 1 (`OffsetCommitKey`) with value version 3, or 1 when the commit
//! carries an explicit expire timestamp; group metadata uses key version 2 (`GroupMetadataKey`)
//! with value version 3. Replay reads every version the specs define (offset keys 0 and 1,
//! values 0-4) and skips other record types (KIP-848 and share groups are not served yet).

use bytes::{Buf, Bytes};
use protocol::generated::group_metadata_value::MemberMetadata;
use protocol::generated::{
    GroupMetadataKey, GroupMetadataValue, OffsetCommitKey, OffsetCommitValue,
};
use protocol::{Encoder, Message};

use crate::coordinator::{Effects, GroupCoordinator};
use crate::error::CoordinatorError;
use crate::group::{Group, GroupState};
use crate::member::{Member, Protocol};
use crate::offsets::CommittedOffset;

/// Key version of offset commit records (0 is the legacy form of the same key).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of group metadata records.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version Kafka writes for group metadata.
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// Value version Kafka writes for offset commits without an expire timestamp.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Value version Kafka writes for offset commits with an expire timestamp (OffsetCommit v2-4).
pub const OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY: i16 = 1;

/// One record for `__consumer_offsets`: append to partition `partition_for(group_id, n)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorRecord {
    pub group_id: String,
    pub key: Bytes,
    /// `None` is a tombstone.
    pub value: Option<Bytes>,
}

/// A decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedRecord {
    OffsetCommit {
        key: OffsetCommitKey,
        value: Option<OffsetCommitValue>,
    },
    GroupMetadata {
        key: GroupMetadataKey,
        value: Option<GroupMetadataValue>,
    },
    /// A KIP-848 consumer group record (key versions 3-8), replayed by `consumer_records.rs`.
    ConsumerGroup { key_version: i16 },
    /// A record type this coordinator does not serve (share groups, ...).
    Other { key_version: i16 },
}

/// A record key or value: the version as int16, then the message at that version.
pub(crate) fn encode<M: Message>(version: i16, message: &M) -> Bytes {
    let mut encoder = Encoder::new();
    encoder.put_i16(version);
    // Strings were checked against the int16 limit where requests entered (join.rs, offsets.rs,
    // consumer_heartbeat.rs).
    message
        .encode(&mut encoder, version)
        .expect("coordinator record fields fit their format");
    encoder.finish().expect("coordinator record encodes")
}

/// A record key: the record type as int16, then the key struct. Kafka 4.4's specs give each key
/// struct one version, 0 (`coordinator-key`), and the int16 names the record type (what older
/// specs called the key version; the bytes are the same).
pub(crate) fn encode_key<M: Message>(record_type: i16, key: &M) -> Bytes {
    let mut encoder = Encoder::new();
    encoder.put_i16(record_type);
    key.encode(&mut encoder, KEY_STRUCT_VERSION)
        .expect("coordinator record keys fit their format");
    encoder.finish().expect("coordinator record key encodes")
}

/// Reads the key struct after the record type written by [`encode_key`].
pub(crate) fn decode_key<M: Message>(
    bytes: &[u8],
    what: &'static str,
) -> Result<M, CoordinatorError> {
    decode(bytes, KEY_STRUCT_VERSION, what)
}

/// The one version of every coordinator key struct in Kafka 4.4's specs.
const KEY_STRUCT_VERSION: i16 = 0;

/// Reads a key or value written by [`encode`]; trailing bytes are an error.
pub(crate) fn decode<M: Message>(
    bytes: &[u8],
    version: i16,
    what: &'static str,
) -> Result<M, CoordinatorError> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let message = M::decode(&mut buf, version).map_err(|source| CoordinatorError::Decode {
        what,
        version,
        source,
    })?;
    if buf.has_remaining() {
        return Err(CoordinatorError::TrailingBytes {
            what,
            version,
            trailing: buf.remaining(),
        });
    }
    Ok(message)
}

fn split_version(bytes: &[u8], key: bool) -> Result<(i16, &[u8]), CoordinatorError> {
    if bytes.len() < 2 {
        return Err(if key {
            CoordinatorError::KeyTooShort { len: bytes.len() }
        } else {
            CoordinatorError::ValueTooShort { len: bytes.len() }
        });
    }
    Ok((i16::from_be_bytes([bytes[0], bytes[1]]), &bytes[2..]))
}

/// Decodes a record key and (unless a tombstone) its value.
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<DecodedRecord, CoordinatorError> {
    let (key_version, key_body) = split_version(key, true)?;
    let value = value.map(|v| split_version(v, false)).transpose()?;
    match key_version {
        0 | 1 => Ok(DecodedRecord::OffsetCommit {
            key: decode_key(key_body, "OffsetCommitKey")?,
            value: value
                .map(|(v, body)| decode(body, v, "OffsetCommitValue"))
                .transpose()?,
        }),
        2 => Ok(DecodedRecord::GroupMetadata {
            key: decode_key(key_body, "GroupMetadataKey")?,
            value: value
                .map(|(v, body)| decode(body, v, "GroupMetadataValue"))
                .transpose()?,
        }),
        3..=8 => Ok(DecodedRecord::ConsumerGroup { key_version }),
        other => Ok(DecodedRecord::Other { key_version: other }),
    }
}

pub(crate) fn offset_commit_key(group_id: &str, topic: &str, partition: i32) -> Bytes {
    let key = OffsetCommitKey {
        group: group_id.to_owned(),
        topic: topic.to_owned(),
        partition,
        ..Default::default()
    };
    encode_key(OFFSET_COMMIT_KEY_VERSION, &key)
}

pub(crate) fn offset_commit_record(
    group_id: &str,
    topic: &str,
    partition: i32,
    offset: &CommittedOffset,
) -> CoordinatorRecord {
    let value = OffsetCommitValue {
        offset: offset.offset,
        leader_epoch: offset.leader_epoch,
        metadata: offset.metadata.clone(),
        commit_timestamp: offset.commit_timestamp_ms,
        expire_timestamp: offset.expire_timestamp_ms.unwrap_or(-1),
        ..Default::default()
    };
    let version = if offset.expire_timestamp_ms.is_some() {
        OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY
    } else {
        OFFSET_COMMIT_VALUE_VERSION
    };
    CoordinatorRecord {
        group_id: group_id.to_owned(),
        key: offset_commit_key(group_id, topic, partition),
        value: Some(encode(version, &value)),
    }
}

pub(crate) fn offset_commit_tombstone(
    group_id: &str,
    topic: &str,
    partition: i32,
) -> CoordinatorRecord {
    CoordinatorRecord {
        group_id: group_id.to_owned(),
        key: offset_commit_key(group_id, topic, partition),
        value: None,
    }
}

fn group_metadata_key(group_id: &str) -> Bytes {
    encode_key(
        GROUP_METADATA_KEY_VERSION,
        &GroupMetadataKey {
            group: group_id.to_owned(),
            ..Default::default()
        },
    )
}

/// The group's metadata with each member's current assignment and selected-protocol metadata.
pub(crate) fn group_metadata_record(group: &Group) -> CoordinatorRecord {
    let protocol = group.protocol_name.as_deref().unwrap_or_default();
    let value = GroupMetadataValue {
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation: group.generation_id,
        protocol: group.protocol_name.clone(),
        leader: group.leader_id.clone(),
        current_state_timestamp: group.state_timestamp_ms.unwrap_or(-1),
        members: group
            .members
            .values()
            .map(|m| MemberMetadata {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: m.metadata(protocol),
                assignment: m.assignment.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    CoordinatorRecord {
        group_id: group.group_id.clone(),
        key: group_metadata_key(&group.group_id),
        value: Some(encode(GROUP_METADATA_VALUE_VERSION, &value)),
    }
}

pub(crate) fn group_metadata_tombstone(group_id: &str) -> CoordinatorRecord {
    CoordinatorRecord {
        group_id: group_id.to_owned(),
        key: group_metadata_key(group_id),
        value: None,
    }
}

impl GroupCoordinator {
    /// Applies one record read back from `__consumer_offsets`, in log order, while loading.
    /// Records of other types are skipped. Call [`GroupCoordinator::finish_loading`] after the
    /// last one.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), CoordinatorError> {
        match decode_record(key, value)? {
            DecodedRecord::OffsetCommit { key, value } => match value {
                Some(value) => {
                    // A group known only by its offsets began with its first commit.
                    let created_ms = value.commit_timestamp;
                    let group = self
                        .groups
                        .entry(key.group.clone())
                        .or_insert_with(|| Group::new(&key.group, created_ms));
                    let offset = CommittedOffset {
                        offset: value.offset,
                        leader_epoch: value.leader_epoch,
                        metadata: value.metadata,
                        commit_timestamp_ms: value.commit_timestamp,
                        expire_timestamp_ms: (value.expire_timestamp != -1)
                            .then_some(value.expire_timestamp),
                    };
                    group.put_offset(&key.topic, key.partition, offset);
                }
                None => {
                    if let Some(group) = self.groups.get_mut(&key.group) {
                        group.remove_offset(&key.topic, key.partition);
                    }
                }
            },
            DecodedRecord::GroupMetadata { key, value } => match value {
                Some(value) => self.replay_group_metadata(&key.group, value),
                None => {
                    self.groups.remove(&key.group);
                }
            },
            DecodedRecord::ConsumerGroup { key_version } => {
                let value = value.map(|v| split_version(v, false)).transpose()?;
                self.replay_consumer_record(key_version, &key[2..], value)?;
            }
            DecodedRecord::Other { .. } => {}
        }
        Ok(())
    }

    fn replay_group_metadata(&mut self, group_id: &str, value: GroupMetadataValue) {
        let mut group = Group::new(group_id, value.current_state_timestamp);
        if let Some(previous) = self.groups.remove(group_id) {
            group.offsets = previous.offsets;
            group.offsets_len = previous.offsets_len;
        }
        group.generation_id = value.generation;
        group.protocol_type =
            (!value.protocol_type.is_empty()).then_some(value.protocol_type.clone());
        group.protocol_name = value.protocol.clone();
        group.state_timestamp_ms =
            (value.current_state_timestamp != -1).then_some(value.current_state_timestamp);
        group.state = if value.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group.previous_state = group.state;
        for m in value.members {
            group.add_member(Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                // Version 0 records have no rebalance timeout: Kafka uses the session timeout.
                rebalance_timeout_ms: if m.rebalance_timeout == -1 {
                    m.session_timeout
                } else {
                    m.rebalance_timeout
                },
                session_timeout_ms: m.session_timeout,
                protocol_type: value.protocol_type.clone(),
                protocols: vec![Protocol {
                    name: value.protocol.clone().unwrap_or_default(),
                    metadata: m.subscription,
                }],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
            });
        }
        // add_member picks the first member as leader; the record names the real one.
        group.leader_id = value
            .leader
            .filter(|leader| group.members.contains_key(leader));
        if group.leader_id.is_none() {
            group.leader_id = group.members.keys().next().cloned();
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        self.groups.insert(group_id.to_owned(), group);
    }

    /// Ends loading: starts every loaded member's session, and rebalances groups larger than
    /// `group.max.size` (the limit may have shrunk) so their members can commit and rejoin.
    pub fn finish_loading(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        self.finish_loading_consumer_groups(now_ms);
        let mut group_ids: Vec<String> = self.groups.keys().cloned().collect();
        group_ids.sort();
        for group_id in group_ids {
            let sessions: Vec<(String, i32)> = self.groups[&group_id]
                .members
                .values()
                .map(|m| (m.member_id.clone(), m.session_timeout_ms))
                .collect();
            for (member_id, session_ms) in &sessions {
                self.reschedule_heartbeat(now_ms, &group_id, member_id, *session_ms);
            }
            if sessions.len() > self.config.group_max_size {
                self.prepare_rebalance(now_ms, &group_id, &mut fx);
            }
        }
        fx
    }
}
