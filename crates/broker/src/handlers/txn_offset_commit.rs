//! TxnOffsetCommit (v0-5): a transactional producer commits a consumer group's offsets inside
//! its transaction (consume-transform-produce). The group's `__consumer_offsets` partition must
//! be in the transaction: checked with the transaction coordinator (KIP-890 part 1) unless the
//! producer's transaction is already open on that partition, and for transactions v2 clients
//! (v5) added there (part 2, no AddOffsetsToTxn). Then the group coordinator checks the group
//! and member and writes the offsets as the producer's transactional batch: pending, visible
//! to OffsetFetch only once the COMMIT marker reaches the partition (`group_txn.rs`).
//!
//! v6 (topic ids, KIP-1319) is not served.

use std::sync::Arc;

use coordinator::OFFSETS_TOPIC;
use protocol::ErrorCode;
use protocol::generated::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use protocol::generated::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use security::acl::AclOperation;

use super::RequestContext;
use super::txn_errors::{for_version, producer};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::GroupCoordinatorService;

/// The first version of transactions v2 (the partition is added implicitly).
const TRANSACTIONS_V2_VERSION: i16 = 5;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    mut request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let version = context.api_version;
    // WRITE on the transactional id and READ on the group answer for the whole request;
    // topics without READ answer TOPIC_AUTHORIZATION_FAILED and are not committed.
    let authorized = broker
        .require_transactional_id(context, AclOperation::Write, &request.transactional_id)
        .and_then(|()| broker.require_group(context, AclOperation::Read, &request.group_id));
    let mut unreadable = Vec::new();
    if authorized.is_ok() {
        let (readable, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
            .into_iter()
            .partition(|t| broker.allows_topic(context, AclOperation::Read, &t.name));
        request.topics = readable;
        unreadable = denied;
    }
    let result = match authorized {
        Ok(()) if request.topics.is_empty() => Ok(TxnOffsetCommitResponse::default()),
        Ok(()) => match verify(broker, &request, version >= TRANSACTIONS_V2_VERSION).await {
            Ok(()) => GroupCoordinatorService::txn_offset_commit(broker, request.clone()).await,
            Err(error) => Err(error),
        },
        Err(denied) => Err(denied),
    };
    let denied_topics = unreadable.iter().map(|topic| TxnOffsetCommitResponseTopic {
        name: topic.name.clone(),
        topic_id: topic.topic_id,
        partitions: topic
            .partitions
            .iter()
            .map(|p| TxnOffsetCommitResponsePartition {
                partition_index: p.partition_index,
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    let result = result.map(|mut response| {
        response.topics.extend(denied_topics);
        response
    });
    let convert = |code: ErrorCode| {
        let code = match code {
            // Retriable for the client's TxnOffsetCommit handler, as Kafka converts them.
            ErrorCode::ConcurrentTransactions | ErrorCode::CoordinatorLoadInProgress => {
                ErrorCode::CoordinatorLoadInProgress
            }
            ErrorCode::NotEnoughReplicas => ErrorCode::CoordinatorNotAvailable,
            code => code,
        };
        for_version(code, version, 3, 4).code()
    };
    match result {
        Ok(mut response) => {
            for topic in &mut response.topics {
                for partition in &mut topic.partitions {
                    partition.error_code = ErrorCode::from_code(partition.error_code)
                        .map_or(partition.error_code, convert);
                }
            }
            response
        }
        Err(error) => {
            tracing::debug!(group_id = request.group_id, %error, "TxnOffsetCommit refused");
            let code = convert(error.error_code());
            TxnOffsetCommitResponse {
                throttle_time_ms: 0,
                topics: request
                    .topics
                    .iter()
                    .map(|topic| TxnOffsetCommitResponseTopic {
                        name: topic.name.clone(),
                        topic_id: topic.topic_id,
                        partitions: topic
                            .partitions
                            .iter()
                            .map(|p| TxnOffsetCommitResponsePartition {
                                partition_index: p.partition_index,
                                error_code: code,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        }
    }
}

/// The group's `__consumer_offsets` partition is in the producer's transaction (or, with
/// `add`, is added to it).
async fn verify(
    broker: &Arc<Broker>,
    request: &TxnOffsetCommitRequest,
    add: bool,
) -> Result<(), BrokerError> {
    let partition = broker.groups.partition_for(&request.group_id)?;
    if let Some(log) = broker.replicas.get(OFFSETS_TOPIC, partition)
        && log.in_transaction(request.producer_id, request.producer_epoch)?
    {
        return Ok(());
    }
    crate::txn_verification::verify(
        broker,
        &request.transactional_id,
        producer(request.producer_id, request.producer_epoch),
        OFFSETS_TOPIC,
        partition,
        add,
    )
    .await
}
