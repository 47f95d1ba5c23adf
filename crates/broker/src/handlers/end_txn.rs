//! EndTxn (v0-5): commit or abort the producer's ongoing transaction (the coordinator's rules,
//! `coordinator::txn`). The answer comes once the PREPARE record is in `__transaction_state`
//! (and in a cluster, in its ISR); the markers are written afterwards by a marker job, and the
//! producer's next call meanwhile gets CONCURRENT_TRANSACTIONS (retriable). v5 is transactions
//! v2 (KIP-890 part 2): every end bumps the producer epoch, and the answer carries it.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::{EndTxnRequest, EndTxnResponse};
use security::acl::AclOperation;

use super::RequestContext;
use super::txn_errors::{for_version, producer};
use crate::broker::Broker;
use crate::txn_coordinator::TxnCoordinatorService;

/// The first EndTxn version of transactions v2.
const TRANSACTIONS_V2_VERSION: i16 = 5;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let version = context.api_version;
    let client_version = if version >= TRANSACTIONS_V2_VERSION {
        2
    } else {
        1
    };
    let id = request.transactional_id.clone();
    let asked = producer(request.producer_id, request.producer_epoch);
    let commit = request.committed;
    let result = match broker.require_transactional_id(context, AclOperation::Write, &id) {
        Ok(()) => {
            TxnCoordinatorService::call(broker, &id.clone(), move |coordinator, now| {
                coordinator.end_txn(&id, asked, commit, client_version, now)
            })
            .await
        }
        Err(denied) => Err(denied),
    };
    let (code, answered) = match result {
        Ok(Ok(answered)) => (ErrorCode::None, Some(answered)),
        Ok(Err(code)) => (code, None),
        Err(error) => (error.error_code(), None),
    };
    if let Some(answered) = answered {
        tracing::debug!(
            transactional_id = request.transactional_id,
            commit,
            epoch = request.producer_epoch,
            answered = answered.producer_epoch,
            "EndTxn"
        );
    }
    if code != ErrorCode::None && tracing::enabled!(tracing::Level::DEBUG) {
        let id = request.transactional_id.clone();
        let current = match TxnCoordinatorService::partition_for(broker, &id).await {
            Ok(partition) => {
                TxnCoordinatorService::read_partition(broker, partition, move |c, _| {
                    c.get(&id)
                        .map(|m| (m.state.name(), m.producer_epoch, m.last_producer_epoch))
                })
                .await
                .ok()
                .flatten()
            }
            Err(_) => None,
        };
        tracing::debug!(
            transactional_id = request.transactional_id,
            ?code,
            commit,
            epoch = request.producer_epoch,
            ?current,
            "EndTxn refused"
        );
    }
    EndTxnResponse {
        throttle_time_ms: 0,
        error_code: for_version(code, version, 2, i16::MAX).code(),
        producer_id: answered.map_or(-1, |a| a.producer_id),
        producer_epoch: answered.map_or(-1, |a| a.producer_epoch),
        ..Default::default()
    }
}
