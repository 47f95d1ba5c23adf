//! What ShareFetch and ShareAcknowledge share: finding the partition a request names (by topic
//! id, led here), turning wire acknowledgement batches into the share-partition's, and applying
//! them (persisted before the answer).

use std::sync::Arc;

use protocol::{ErrorCode, Uuid};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partitions::Partition;
use crate::share::ShareKey;
use crate::share::partition::{AcknowledgeType, AcknowledgementBatch};

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
pub fn acknowledgement_batches<'a>(
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

/// Applies `member_id`'s acknowledgements to one share-partition led here and writes the
/// result to the share coordinator before returning (an acknowledgement the client sees
/// succeed survives a restart or a failover).
pub async fn acknowledge(
    broker: &Arc<Broker>,
    group_id: &str,
    member_id: &str,
    topic_id: Uuid,
    partition: i32,
    batches: &[AcknowledgementBatch],
) -> Result<(), ErrorCode> {
    leader_partition(broker, topic_id, partition).map_err(|e| e.error_code())?;
    let key = ShareKey {
        group_id: group_id.to_owned(),
        topic_id,
        partition,
    };
    let share = broker
        .shares
        .existing(&key)
        .ok_or(ErrorCode::InvalidRecordState)?;
    let now = crate::share::now_ms();
    let limits = broker.shares.limits_for(group_id);
    let result = share
        .lock()
        .unwrap()
        .acknowledge(member_id, batches, now, &limits);
    result?;
    broker.shares.notify_changed();
    broker.shares.persist(broker, &key).await
}
