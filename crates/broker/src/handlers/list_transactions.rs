//! ListTransactions (v0-1): the transactional ids of every `__transaction_state` partition this
//! broker coordinates, filtered by state, producer id and (v1, KIP-994) running time
//! (`kafka-transactions.sh list`). A state filter Kafka does not know is returned in
//! `unknown_state_filters`. v2 (a transactional id pattern) is not served.

use std::sync::Arc;

use coordinator::txn::TxnState;
use protocol::generated::list_transactions_response::TransactionState;
use protocol::generated::{ListTransactionsRequest, ListTransactionsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::txn_coordinator::TxnCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let known: Vec<&str> = (0..=i8::MAX)
        .filter_map(TxnState::from_id)
        .map(TxnState::name)
        .collect();
    let unknown_state_filters: Vec<String> = request
        .state_filters
        .iter()
        .filter(|s| !known.contains(&s.as_str()))
        .cloned()
        .collect();
    let min_duration_ms = if context.api_version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let mut transaction_states = Vec::new();
    for partition in broker.transactions.loaded_partitions() {
        let (states, producers) = (
            request.state_filters.clone(),
            request.producer_id_filters.clone(),
        );
        let listed = TxnCoordinatorService::read_partition(broker, partition, move |c, now| {
            c.list(&states, &producers, min_duration_ms, now)
                .into_iter()
                .map(|m| TransactionState {
                    transactional_id: m.transactional_id.clone(),
                    producer_id: m.producer_id,
                    transaction_state: m.state.name().to_string(),
                    ..Default::default()
                })
                .collect::<Vec<_>>()
        })
        .await;
        // A shard that moved or failed meanwhile is left out, as Kafka skips loading ones.
        transaction_states.extend(listed.unwrap_or_default());
    }
    // Ids the principal may not describe are left out silently.
    transaction_states.retain(|t| {
        broker.allows_transactional_id(context, AclOperation::Describe, &t.transactional_id)
    });
    transaction_states.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    ListTransactionsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        unknown_state_filters,
        transaction_states,
        ..Default::default()
    }
}
