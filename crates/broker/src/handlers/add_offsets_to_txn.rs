//! AddOffsetsToTxn (v0-4, transactions v1): the group's `__consumer_offsets` partition joins
//! the producer's transaction, so the transaction's marker decides the offsets TxnOffsetCommit
//! then writes there. Transactions v2 clients skip it (TxnOffsetCommit v5 adds the partition).

use std::sync::Arc;

use coordinator::OFFSETS_TOPIC;
use protocol::ErrorCode;
use protocol::generated::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use security::acl::AclOperation;

use super::RequestContext;
use super::txn_errors::{for_version, producer};
use crate::broker::Broker;
use crate::txn_coordinator::TxnCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let authorized = broker
        .require_transactional_id(context, AclOperation::Write, &request.transactional_id)
        .and_then(|()| broker.require_group(context, AclOperation::Read, &request.group_id));
    let code = match authorized.and_then(|()| broker.groups.partition_for(&request.group_id)) {
        Ok(partition) => {
            let id = request.transactional_id.clone();
            let asked = producer(request.producer_id, request.producer_epoch);
            let result =
                TxnCoordinatorService::call(broker, &id.clone(), move |coordinator, now| {
                    let partitions = [(OFFSETS_TOPIC.to_string(), partition)];
                    let (result, effects) =
                        coordinator.add_partitions(&id, asked, &partitions, now);
                    (result.err().unwrap_or(ErrorCode::None), effects)
                })
                .await;
            result.unwrap_or_else(|error| error.error_code())
        }
        Err(error) => error.error_code(),
    };
    AddOffsetsToTxnResponse {
        throttle_time_ms: 0,
        error_code: for_version(code, context.api_version, 2, i16::MAX).code(),
        ..Default::default()
    }
}
