//! Committed offsets: OffsetCommit (with the classic generation and member checks, and simple
//! commits by standalone consumers and admin tools), OffsetFetch (single- and multi-group forms),
//! OffsetDelete. The retention purge is in `retention.rs`.

use protocol::ErrorCode;
use protocol::generated::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use protocol::generated::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use protocol::generated::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};

use crate::coordinator::{Effects, GroupCoordinator, Outcome};
use crate::group::{CONSUMER_PROTOCOL_TYPE, Group, GroupState};
use crate::join::RECORD_STRING_MAX;
use crate::records;

/// One committed offset, as OffsetCommitValue stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when the client did not send one.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set only by OffsetCommit v2-4 with an explicit retention time (record value version 1).
    pub expire_timestamp_ms: Option<i64>,
}

/// One partition's answer in OffsetFetch, before it is shaped for the request's version.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    /// `require_stable` and a transaction has an offset pending here.
    unstable: bool,
}

impl Fetched {
    fn error_code(&self) -> i16 {
        if self.unstable {
            ErrorCode::UnstableOffsetCommit.code()
        } else {
            0
        }
    }
}

impl Group {
    pub fn committed_offset(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets.get(topic)?.get(&partition)
    }

    pub fn committed_offset_count(&self) -> usize {
        self.offsets_len
    }

    pub(crate) fn put_offset(&mut self, topic: &str, partition: i32, offset: CommittedOffset) {
        let previous = self
            .offsets
            .entry(topic.to_owned())
            .or_default()
            .insert(partition, offset);
        if previous.is_none() {
            self.offsets_len += 1;
        }
    }

    pub(crate) fn remove_offset(&mut self, topic: &str, partition: i32) -> bool {
        let Some(partitions) = self.offsets.get_mut(topic) else {
            return false;
        };
        let removed = partitions.remove(&partition).is_some();
        if partitions.is_empty() {
            self.offsets.remove(topic);
        }
        if removed {
            self.offsets_len -= 1;
        }
        removed
    }

    /// Kafka's `ClassicGroup.validateOffsetCommit` (non-transactional).
    pub(crate) fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        // Generation -1 into an Empty group: a standalone consumer or an admin tool.
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        if self.state == GroupState::CompletingRebalance {
            // The member has its JoinGroup response but not yet its assignment.
            return Err(ErrorCode::RebalanceInProgress);
        }
        Ok(())
    }
}

impl GroupCoordinator {
    /// Handles OffsetCommit. Accepted partitions are applied now and returned as records; the
    /// caller acknowledges the commit only after appending them.
    pub fn offset_commit(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &OffsetCommitRequest,
    ) -> Outcome<OffsetCommitResponse> {
        let mut fx = Effects::default();
        let group_error = self.validate_commit(now_ms, version, request).err();
        let retention_ms = request.retention_time_ms;
        let expire_timestamp_ms =
            (version >= 2 && retention_ms != -1).then(|| now_ms + retention_ms);
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let code = match group_error {
                    Some(code) => code,
                    None => self.commit_partition(
                        now_ms,
                        version,
                        request,
                        &topic.name,
                        p,
                        expire_timestamp_ms,
                        &mut fx,
                    ),
                };
                partitions.push(OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: code.code(),
                    ..Default::default()
                });
            }
            topics.push(OffsetCommitResponseTopic {
                name: topic.name.clone(),
                partitions,
                ..Default::default()
            });
        }
        Outcome::new(
            OffsetCommitResponse {
                topics,
                ..Default::default()
            },
            fx,
        )
    }

    fn validate_commit(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &OffsetCommitRequest,
    ) -> Result<(), ErrorCode> {
        if request.group_id.is_empty() || request.group_id.len() > RECORD_STRING_MAX {
            return Err(ErrorCode::InvalidGroupId);
        }
        if self.is_share_group(&request.group_id) {
            return Err(ErrorCode::GroupIdNotFound);
        }
        let generation_id = request.generation_id_or_member_epoch;
        if !self.groups.contains_key(&request.group_id) {
            if generation_id >= 0 {
                // v9+ says so; older clients expect ILLEGAL_GENERATION.
                return Err(if version >= 9 {
                    ErrorCode::GroupIdNotFound
                } else {
                    ErrorCode::IllegalGeneration
                });
            }
            if self.groups.len() >= self.config.groups_max {
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
            // A "simple" group: offsets without membership.
            self.groups.insert(
                request.group_id.clone(),
                Group::new(&request.group_id, now_ms),
            );
        }
        let instance = if version >= 7 {
            request.group_instance_id.as_deref()
        } else {
            None
        };
        let group = &self.groups[&request.group_id];
        if group.consumer.is_some() {
            return group.validate_consumer_offset_commit(
                &request.member_id,
                generation_id,
                version,
            );
        }
        self.groups[&request.group_id].validate_offset_commit(
            &request.member_id,
            instance,
            generation_id,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_partition(
        &mut self,
        now_ms: i64,
        version: i16,
        request: &OffsetCommitRequest,
        topic: &str,
        p: &protocol::generated::offset_commit_request::OffsetCommitRequestPartition,
        expire_timestamp_ms: Option<i64>,
        fx: &mut Effects,
    ) -> ErrorCode {
        let metadata = p.committed_metadata.clone().unwrap_or_default();
        if metadata.len() > self.config.offset_metadata_max_bytes
            || metadata.len() > RECORD_STRING_MAX
        {
            return ErrorCode::OffsetMetadataTooLarge;
        }
        if topic.len() > RECORD_STRING_MAX {
            return ErrorCode::InvalidTopicException;
        }
        let group = self.groups.get_mut(&request.group_id).expect("validated");
        if group.committed_offset(topic, p.partition_index).is_none()
            && group.offsets_len >= self.config.group_offsets_max
        {
            return ErrorCode::InvalidCommitOffsetSize;
        }
        let commit_timestamp_ms = if version == 1 && p.commit_timestamp != -1 {
            p.commit_timestamp
        } else {
            now_ms
        };
        let offset = CommittedOffset {
            offset: p.committed_offset,
            leader_epoch: p.committed_leader_epoch,
            metadata,
            commit_timestamp_ms,
            expire_timestamp_ms,
        };
        fx.records.push(records::offset_commit_record(
            &request.group_id,
            topic,
            p.partition_index,
            &offset,
        ));
        group.put_offset(topic, p.partition_index, offset);
        ErrorCode::None
    }

    /// Handles OffsetFetch: v0-7 name one group, v8+ any number. Partitions without a committed
    /// offset answer offset -1; with `require_stable` (v7+), a partition a transaction has an
    /// offset pending for answers UNSTABLE_OFFSET_COMMIT (the client retries).
    pub fn offset_fetch(&self, version: i16, request: &OffsetFetchRequest) -> OffsetFetchResponse {
        if version >= 8 {
            let groups = request
                .groups
                .iter()
                .map(|g| {
                    let member_check = match self.groups.get(&g.group_id) {
                        Some(group) if version >= 9 => group
                            .validate_consumer_offset_fetch(g.member_id.as_deref(), g.member_epoch),
                        _ => Ok(()),
                    };
                    if let Err(code) = member_check {
                        return OffsetFetchResponseGroup {
                            group_id: g.group_id.clone(),
                            error_code: code.code(),
                            ..Default::default()
                        };
                    }
                    let wanted = g.topics.as_ref().map(|topics| {
                        topics
                            .iter()
                            .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                            .collect::<Vec<_>>()
                    });
                    let topics = self
                        .fetch_group(&g.group_id, wanted, request.require_stable)
                        .into_iter()
                        .map(|(name, partitions)| OffsetFetchResponseTopics {
                            name,
                            partitions: partitions
                                .into_iter()
                                .map(|f| OffsetFetchResponsePartitions {
                                    error_code: f.error_code(),
                                    partition_index: f.partition,
                                    committed_offset: f.offset,
                                    committed_leader_epoch: f.leader_epoch,
                                    metadata: Some(f.metadata),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    OffsetFetchResponseGroup {
                        group_id: g.group_id.clone(),
                        topics,
                        ..Default::default()
                    }
                })
                .collect();
            return OffsetFetchResponse {
                groups,
                ..Default::default()
            };
        }
        let wanted = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        let topics = self
            .fetch_group(
                &request.group_id,
                wanted,
                version >= 7 && request.require_stable,
            )
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|f| OffsetFetchResponsePartition {
                        error_code: f.error_code(),
                        partition_index: f.partition,
                        committed_offset: f.offset,
                        committed_leader_epoch: f.leader_epoch,
                        metadata: Some(f.metadata),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        OffsetFetchResponse {
            topics,
            ..Default::default()
        }
    }

    /// The requested partitions' offsets (or every committed offset when `wanted` is `None`).
    fn fetch_group(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> Vec<(String, Vec<Fetched>)> {
        let group = self.groups.get(group_id);
        let lookup = |topic: &str, partition: i32| {
            let found = group.and_then(|g| g.committed_offset(topic, partition));
            Fetched {
                partition,
                offset: found.map_or(-1, |o| o.offset),
                leader_epoch: found.map_or(-1, |o| o.leader_epoch),
                metadata: found.map(|o| o.metadata.clone()).unwrap_or_default(),
                unstable: require_stable && self.has_pending_offset(group_id, topic, partition),
            }
        };
        match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(name, partitions)| {
                    let fetched = partitions.iter().map(|p| lookup(&name, *p)).collect();
                    (name, fetched)
                })
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|(name, partitions)| {
                            (
                                name.clone(),
                                partitions.keys().map(|p| lookup(name, *p)).collect(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Handles OffsetDelete: removes offsets of topics the group does not read. A non-empty
    /// group that is not a `consumer` group cannot say what it reads, so it is refused.
    pub fn offset_delete(
        &mut self,
        _now_ms: i64,
        request: &OffsetDeleteRequest,
    ) -> Outcome<OffsetDeleteResponse> {
        let mut fx = Effects::default();
        let fail = |code: ErrorCode, fx| {
            Outcome::new(
                OffsetDeleteResponse {
                    error_code: code.code(),
                    ..Default::default()
                },
                fx,
            )
        };
        if request.group_id.is_empty() {
            return fail(ErrorCode::InvalidGroupId, fx);
        }
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return fail(ErrorCode::GroupIdNotFound, fx);
        };
        match group.state {
            GroupState::Dead => return fail(ErrorCode::GroupIdNotFound, fx),
            GroupState::Stable
            | GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
                if group.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) =>
            {
                return fail(ErrorCode::NonEmptyGroup, fx);
            }
            _ => {}
        }
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let subscribed = group.is_subscribed_to_topic(&topic.name);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let code = if subscribed {
                        ErrorCode::GroupSubscribedToTopic
                    } else {
                        if group.remove_offset(&topic.name, p.partition_index) {
                            fx.records.push(records::offset_commit_tombstone(
                                &request.group_id,
                                &topic.name,
                                p.partition_index,
                            ));
                        }
                        ErrorCode::None
                    };
                    OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                        ..Default::default()
                    }
                })
                .collect();
            topics.push(OffsetDeleteResponseTopic {
                name: topic.name.clone(),
                partitions,
                ..Default::default()
            });
        }
        Outcome::new(
            OffsetDeleteResponse {
                topics,
                ..Default::default()
            },
            fx,
        )
    }
}
