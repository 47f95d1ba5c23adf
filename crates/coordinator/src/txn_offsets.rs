//! Transactional offset commits (TxnOffsetCommit, KIP-98 and KIP-447): offsets a transaction
//! commits for a group are pending until the transaction's COMMIT marker reaches
//! `__consumer_offsets`, and dropped by its ABORT marker (Kafka's `OffsetMetadataManager`).
//!
//! The broker writes the returned records as one *transactional* batch with the producer's id
//! and epoch, so the log's marker decides them; on a marker (written or replayed) it calls
//! [`GroupCoordinator::complete_transaction`]. Replay of a transactional batch's records goes
//! through [`GroupCoordinator::replay_transactional`]. OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for a partition with a pending offset.
//!
//! Bounds: a group's pending offsets count toward `group_offsets_max` like committed ones.

use std::collections::{BTreeMap, HashMap};

use protocol::ErrorCode;
use protocol::generated::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use protocol::generated::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::coordinator::GroupCoordinator;
use crate::error::CoordinatorError;
use crate::group::Group;
use crate::join::RECORD_STRING_MAX;
use crate::offsets::CommittedOffset;
use crate::records::{self, CoordinatorRecord, DecodedRecord, decode_record};

/// Offsets pending per producer id, then group, then partition.
pub(crate) type PendingOffsets =
    HashMap<i64, HashMap<String, BTreeMap<(String, i32), CommittedOffset>>>;

/// TxnOffsetCommit's answer and the records to append as one transactional batch of
/// `producer_id` at `producer_epoch` (none when every partition was refused).
#[derive(Debug)]
pub struct TxnCommitOutcome {
    pub response: TxnOffsetCommitResponse,
    pub records: Vec<CoordinatorRecord>,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl GroupCoordinator {
    /// Handles TxnOffsetCommit. The transaction coordinator has already added the group's
    /// partition to the transaction (AddOffsetsToTxn); this only validates the group and
    /// member, and records the offsets as pending for the producer.
    pub fn txn_offset_commit(
        &mut self,
        now_ms: i64,
        request: &TxnOffsetCommitRequest,
    ) -> TxnCommitOutcome {
        let group_error = self.validate_txn_commit(now_ms, request).err();
        let mut records = Vec::new();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let code = group_error.unwrap_or_else(|| {
                    let metadata = p.committed_metadata.clone().unwrap_or_default();
                    let offset = CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        commit_timestamp_ms: now_ms,
                        expire_timestamp_ms: None,
                    };
                    self.pend(
                        request,
                        &topic.name,
                        p.partition_index,
                        offset,
                        &mut records,
                    )
                });
                partitions.push(TxnOffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: code.code(),
                    ..Default::default()
                });
            }
            topics.push(TxnOffsetCommitResponseTopic {
                name: topic.name.clone(),
                partitions,
                ..Default::default()
            });
        }
        TxnCommitOutcome {
            response: TxnOffsetCommitResponse {
                topics,
                ..Default::default()
            },
            records,
            producer_id: request.producer_id,
            producer_epoch: request.producer_epoch,
        }
    }

    fn validate_txn_commit(
        &mut self,
        now_ms: i64,
        request: &TxnOffsetCommitRequest,
    ) -> Result<(), ErrorCode> {
        if request.group_id.is_empty() || request.group_id.len() > RECORD_STRING_MAX {
            return Err(ErrorCode::InvalidGroupId);
        }
        if request.producer_id < 0 || request.producer_epoch < 0 {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        let generation_id = request.generation_id_or_member_epoch;
        if !self.groups.contains_key(&request.group_id) {
            if generation_id >= 0 {
                return Err(ErrorCode::IllegalGeneration);
            }
            if self.groups.len() >= self.config.groups_max {
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
            // A simple group, as for OffsetCommit with generation -1.
            self.groups.insert(
                request.group_id.clone(),
                Group::new(&request.group_id, now_ms),
            );
        }
        let group = &self.groups[&request.group_id];
        if group.consumer.is_some() {
            // Any TxnOffsetCommit version is fine for a KIP-848 member (the OffsetCommit v9+ rule
            // does not apply to transactional commits), and TxnOffsetCommit has no
            // STALE_MEMBER_EPOCH: Kafka answers ILLEGAL_GENERATION instead.
            return group
                .validate_consumer_offset_commit(&request.member_id, generation_id, i16::MAX)
                .map_err(|code| match code {
                    ErrorCode::StaleMemberEpoch => ErrorCode::IllegalGeneration,
                    code => code,
                });
        }
        group.validate_offset_commit(
            &request.member_id,
            request.group_instance_id.as_deref(),
            generation_id,
        )
    }

    fn pend(
        &mut self,
        request: &TxnOffsetCommitRequest,
        topic: &str,
        partition: i32,
        offset: CommittedOffset,
        records: &mut Vec<CoordinatorRecord>,
    ) -> ErrorCode {
        if offset.metadata.len() > self.config.offset_metadata_max_bytes
            || offset.metadata.len() > RECORD_STRING_MAX
        {
            return ErrorCode::OffsetMetadataTooLarge;
        }
        if topic.len() > RECORD_STRING_MAX {
            return ErrorCode::InvalidTopicException;
        }
        let pending_in_group = self.pending_count(&request.group_id);
        let group = &self.groups[&request.group_id];
        if group.committed_offset(topic, partition).is_none()
            && group.offsets_len + pending_in_group >= self.config.group_offsets_max
        {
            return ErrorCode::InvalidCommitOffsetSize;
        }
        records.push(records::offset_commit_record(
            &request.group_id,
            topic,
            partition,
            &offset,
        ));
        self.pending_txn_offsets
            .entry(request.producer_id)
            .or_default()
            .entry(request.group_id.clone())
            .or_default()
            .insert((topic.to_string(), partition), offset);
        ErrorCode::None
    }

    fn pending_count(&self, group_id: &str) -> usize {
        self.pending_txn_offsets
            .values()
            .filter_map(|groups| groups.get(group_id))
            .map(BTreeMap::len)
            .sum()
    }

    /// A COMMIT (`commit`) or ABORT marker of `producer_id` reached this shard's partition:
    /// its pending offsets become the groups' committed offsets, or are dropped.
    pub fn complete_transaction(&mut self, producer_id: i64, commit: bool) {
        let Some(groups) = self.pending_txn_offsets.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (group_id, offsets) in groups {
            let Some(group) = self.groups.get_mut(&group_id) else {
                continue; // deleted meanwhile
            };
            for ((topic, partition), offset) in offsets {
                group.put_offset(&topic, partition, offset);
            }
        }
    }

    /// Replays one record of a transactional batch of `producer_id` in `__consumer_offsets`:
    /// offset commits become pending until the batch's marker is replayed.
    pub fn replay_transactional(
        &mut self,
        producer_id: i64,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), CoordinatorError> {
        match decode_record(key, value)? {
            DecodedRecord::OffsetCommit {
                key,
                value: Some(value),
            } => {
                self.groups
                    .entry(key.group.clone())
                    .or_insert_with(|| Group::new(&key.group, value.commit_timestamp));
                let offset = CommittedOffset {
                    offset: value.offset,
                    leader_epoch: value.leader_epoch,
                    metadata: value.metadata,
                    commit_timestamp_ms: value.commit_timestamp,
                    expire_timestamp_ms: (value.expire_timestamp != -1)
                        .then_some(value.expire_timestamp),
                };
                self.pending_txn_offsets
                    .entry(producer_id)
                    .or_default()
                    .entry(key.group)
                    .or_default()
                    .insert((key.topic, key.partition), offset);
                Ok(())
            }
            // Anything else in a transactional batch is replayed as Kafka would apply it.
            _ => self.replay(key, value),
        }
    }

    /// Whether a transaction has an offset pending for this partition of `group_id`
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let wanted = (topic.to_string(), partition);
        self.pending_txn_offsets
            .values()
            .filter_map(|groups| groups.get(group_id))
            .any(|offsets| offsets.contains_key(&wanted))
    }
}
