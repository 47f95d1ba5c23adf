//! DescribeTransactions (v0): the state of transactional ids this broker coordinates
//! (`kafka-transactions.sh describe`). An id of another coordinator gets NOT_COORDINATOR, an
//! unknown one TRANSACTIONAL_ID_NOT_FOUND, as Kafka answers.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_transactions_response::{TopicData, TransactionState};
use protocol::generated::{DescribeTransactionsRequest, DescribeTransactionsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::txn_coordinator::TxnCoordinatorService;

/// Most ids one request may name.
const IDS_MAX: usize = 10_000;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut transaction_states = Vec::with_capacity(request.transactional_ids.len().min(IDS_MAX));
    for (index, id) in request.transactional_ids.into_iter().enumerate() {
        let state = if index >= IDS_MAX {
            failed(id, ErrorCode::InvalidRequest)
        } else if !broker.allows_transactional_id(context, AclOperation::Describe, &id) {
            failed(id, ErrorCode::TransactionalIdAuthorizationFailed)
        } else {
            let mut state = describe(broker, id).await;
            // Topics the principal may not describe are left out silently.
            state
                .topics
                .retain(|t| broker.allows_topic(context, AclOperation::Describe, &t.topic));
            state
        };
        transaction_states.push(state);
    }
    DescribeTransactionsResponse {
        throttle_time_ms: 0,
        transaction_states,
        ..Default::default()
    }
}

async fn describe(broker: &Arc<Broker>, id: String) -> TransactionState {
    let partition = match TxnCoordinatorService::partition_for(broker, &id).await {
        Ok(partition) => partition,
        Err(error) => return failed(id, error.error_code()),
    };
    let key = id.clone();
    let found =
        TxnCoordinatorService::read_partition(broker, partition, move |c, _| c.get(&key).cloned())
            .await;
    match found {
        Ok(Some(metadata)) => TransactionState {
            error_code: 0,
            transaction_state: metadata.state.name().to_string(),
            transaction_timeout_ms: metadata.timeout_ms,
            transaction_start_time_ms: metadata.start_timestamp_ms,
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
            topics: metadata
                .partitions_by_topic()
                .into_iter()
                .map(|(topic, partitions)| TopicData {
                    topic,
                    partitions,
                    ..Default::default()
                })
                .collect(),
            transactional_id: id,
            ..Default::default()
        },
        Ok(None) => failed(id, ErrorCode::TransactionalIdNotFound),
        Err(error) => failed(id, error.error_code()),
    }
}

fn failed(transactional_id: String, code: ErrorCode) -> TransactionState {
    TransactionState {
        error_code: code.code(),
        transactional_id,
        transaction_state: String::new(),
        transaction_start_time_ms: -1,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    }
}
