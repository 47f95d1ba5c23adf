//! InitProducerId: a fresh producer id (unique across restarts, see `producer_ids.rs`) with
//! epoch 0 for an idempotent producer; for a transactional id, the transaction coordinator's
//! answer (`coordinator::txn`): a new id, or the id's epoch bumped, fencing the previous
//! producer instance and aborting its open transaction (CONCURRENT_TRANSACTIONS until the
//! abort completes), KIP-360 recovery when the request names the producer's current id and
//! epoch (v3+). v6 (two-phase commit, KIP-939) is not advertised.
//!
//! As Kafka does for a null transactional id, every request gets a new id, including one that
//! names an existing producer id and epoch. In a replicated cluster ids come from blocks the
//! active controller allocates (`AllocateProducerIds`), so they are unique across brokers.

use std::sync::Arc;

use protocol::generated::InitProducerIdRequest;
use protocol::generated::InitProducerIdResponse;

use coordinator::txn::ProducerIdAndEpoch;
use protocol::ErrorCode;
use security::acl::{AclOperation, ResourceType};

use super::RequestContext;
use super::txn_errors::{for_version, producer};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::txn_coordinator::TxnCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let result = match request.transactional_id.clone() {
        Some(id) => match broker.require_transactional_id(context, AclOperation::Write, &id) {
            Ok(()) => transactional(broker, id, &request).await,
            Err(denied) => Err(denied),
        },
        // An idempotent producer: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
        None if !broker.allows_cluster(context, AclOperation::IdempotentWrite)
            && !broker.allows_any(context, AclOperation::Write, ResourceType::Topic) =>
        {
            Err(BrokerError::NotAuthorized(
                ErrorCode::ClusterAuthorizationFailed,
            ))
        }
        None => new_producer_id(broker)
            .await
            .map(|producer_id| ProducerIdAndEpoch {
                producer_id,
                producer_epoch: 0,
            }),
    };
    match result {
        Ok(answer) => InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: 0,
            producer_id: answer.producer_id,
            producer_epoch: answer.producer_epoch,
            ..Default::default()
        },
        Err(error) => {
            tracing::debug!(%error, "InitProducerId refused");
            let code = for_version(error.error_code(), context.api_version, 4, i16::MAX);
            InitProducerIdResponse {
                throttle_time_ms: 0,
                error_code: code.code(),
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            }
        }
    }
}

async fn new_producer_id(broker: &Broker) -> Result<i64, BrokerError> {
    match broker.cluster.get() {
        Some(cluster) => clustered_producer_id(broker, cluster).await,
        None => broker.producer_ids.generate(),
    }
}

/// The transaction coordinator's answer for `id`. A producer id is allocated up front (the
/// allocation may wait on the controller, the coordinator's call may not) and used only when
/// the coordinator needs a new one.
async fn transactional(
    broker: &Arc<Broker>,
    id: String,
    request: &InitProducerIdRequest,
) -> Result<ProducerIdAndEpoch, BrokerError> {
    if id.is_empty() {
        return Err(BrokerError::InvalidRequest(
            "an empty transactional id".into(),
        ));
    }
    let mut spare = Some(new_producer_id(broker).await?);
    let expected =
        (request.producer_id >= 0).then(|| producer(request.producer_id, request.producer_epoch));
    let timeout_ms = request.transaction_timeout_ms;
    let result = TxnCoordinatorService::call(broker, &id.clone(), move |coordinator, now| {
        let mut allocate = || spare.take().ok_or(ErrorCode::CoordinatorNotAvailable);
        coordinator.init_producer_id(&id, timeout_ms, expected, now, &mut allocate)
    })
    .await?;
    tracing::debug!(?expected, ?result, "InitProducerId for a transactional id");
    result.map_err(BrokerError::refused)
}

async fn clustered_producer_id(
    broker: &Broker,
    cluster: &crate::cluster::Cluster,
) -> Result<i64, BrokerError> {
    for _ in 0..3 {
        if let Some(id) = broker.producer_ids.take_from_block() {
            return Ok(id);
        }
        let outcome = cluster
            .propose(controller::MetadataCommand::AllocateProducerIds {
                broker_id: cluster.local_id,
                broker_epoch: cluster.broker_epoch(),
            })
            .await?;
        if let controller::Outcome::ProducerIdsAllocated {
            first_producer_id,
            len,
        } = outcome
        {
            broker.producer_ids.install_block(first_producer_id, len);
        }
    }
    Err(BrokerError::CoordinatorNotAvailable(
        "no producer id block could be allocated".into(),
    ))
}
