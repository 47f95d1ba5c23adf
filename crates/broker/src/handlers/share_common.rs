//! What ShareFetch and ShareAcknowledge share: finding the partition a request names (by topic
//! id, led here), turning wire acknowledgement batches into the share-partition's, and applying
//! them (persisted before the answer).

use std::sync::Arc;

use protocol::{ErrorCode, Uuid};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::{GroupCoordinatorService, Step};
use crate::partitions::Partition;
use crate::share::ShareKey;
use crate::share::partition::{AcknowledgeType, AcknowledgementBatch, SharePartitionLimits};

/// The most acknowledgement batches one partition of one request may carry.
pub const ACK_BATCHES_MAX: usize = 10_000;
/// The most offsets one acknowledgement batch may cover (bounded by the in-flight window).
pub const ACK_BATCH_SPAN_MAX: i64 = 1 << 20;

/// The partition `topic_id`/`partition`, if this broker leads it.
pub fn leader_partition(
    broker: &Broker,
    topic_id: Uuid,
    partition: i32,
) -> Result<Arc<Partition>, BrokerError> {
    let topic = broker
        .metadata
        .topic_name(topic_id)
        .ok_or(BrokerError::UnknownTopicId(topic_id))?;
    let found = broker
        .replicas
        .get(&topic, partition)
        .filter(|p| p.topic_id == topic_id)
        .ok_or(BrokerError::UnknownTopicOrPartition { topic, partition })?;
    found.check_serving_leader()?;
    Ok(found)
}

/// The wire batches as the share-partition takes them; INVALID_REQUEST for unknown types,
/// inverted or oversized ranges, or too many batches.
fn acknowledgement_batches<'a>(
    wire: impl ExactSizeIterator<Item = (i64, i64, &'a [i8])>,
    renew_allowed: bool,
) -> Result<Vec<AcknowledgementBatch>, ErrorCode> {
    if wire.len() > ACK_BATCHES_MAX {
        return Err(ErrorCode::InvalidRequest);
    }
    wire.map(|(first, last, types)| {
        if first < 0 || last < first || last - first >= ACK_BATCH_SPAN_MAX {
            return Err(ErrorCode::InvalidRequest);
        }
        let types = types
            .iter()
            .map(|t| AcknowledgeType::from_wire(*t))
            .collect::<Option<Vec<_>>>()
            .ok_or(ErrorCode::InvalidRequest)?;
        if !renew_allowed && types.contains(&AcknowledgeType::Renew) {
            return Err(ErrorCode::InvalidRequest);
        }
        Ok(AcknowledgementBatch {
            first_offset: first,
            last_offset: last,
            types,
        })
    })
    .collect()
}

/// Who acknowledges, with the group's limits and whether RENEW is allowed (v2 with
/// `IsRenewAck`).
pub struct Acknowledger<'a> {
    pub group_id: &'a str,
    pub member_id: &'a str,
    pub limits: SharePartitionLimits,
    pub renew_allowed: bool,
}

/// Checks what ShareFetch and ShareAcknowledge first check: a group and a member id
/// (INVALID_REQUEST), and READ on the group (GROUP_AUTHORIZATION_FAILED).
pub fn check_member(
    broker: &Broker,
    context: &RequestContext,
    group_id: &str,
    member_id: &str,
) -> Result<(), (ErrorCode, &'static str)> {
    if group_id.is_empty() || member_id.is_empty() {
        return Err((
            ErrorCode::InvalidRequest,
            "GroupId and MemberId are required.",
        ));
    }
    if !broker.allows_group(context, AclOperation::Read, group_id) {
        return Err((
            ErrorCode::GroupAuthorizationFailed,
            "Not authorized to read the group.",
        ));
    }
    Ok(())
}

/// Applies one partition's acknowledgement batches as they came on the wire (first, last,
/// types) to its share-partition, led here, and writes the result to the share coordinator
/// before returning (an acknowledgement the client sees succeed survives a restart or a
/// failover).
pub async fn acknowledge<'w>(
    broker: &Arc<Broker>,
    who: &Acknowledger<'_>,
    topic_id: Uuid,
    partition: i32,
    wire: impl ExactSizeIterator<Item = (i64, i64, &'w [i8])>,
) -> Result<(), ErrorCode> {
    let batches = acknowledgement_batches(wire, who.renew_allowed)?;
    leader_partition(broker, topic_id, partition).map_err(|e| e.error_code())?;
    let key = ShareKey {
        group_id: who.group_id.to_owned(),
        topic_id,
        partition,
    };
    let share = broker
        .shares
        .existing(&key)
        .ok_or(ErrorCode::InvalidRecordState)?;
    let now = crate::share::now_ms();
    share
        .lock()
        .unwrap()
        .acknowledge(who.member_id, &batches, now, &who.limits)?;
    broker.shares.notify_changed();
    broker.shares.persist(broker, &key).await
}

/// What the share-offset admin APIs check first: `operation` on the group
/// (GROUP_AUTHORIZATION_FAILED), then, on its coordinator shard, that it is an empty share group
/// (`GroupCoordinator::share_group_offsets_check`, created when `create`).
pub async fn share_group_offsets_check(
    broker: &Arc<Broker>,
    context: &RequestContext,
    operation: AclOperation,
    group_id: &str,
    create: bool,
) -> Result<(), ErrorCode> {
    if !broker.allows_group(context, operation, group_id) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    let id = group_id.to_owned();
    let checked = GroupCoordinatorService::call(broker, group_id, move |coordinator, _now| {
        Step::answer(coordinator.share_group_offsets_check(&id, create))
    })
    .await;
    match checked {
        Ok(ErrorCode::None) => Ok(()),
        Ok(code) => Err(code),
        Err(error) => Err(error.error_code()),
    }
}
