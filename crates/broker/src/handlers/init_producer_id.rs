//! InitProducerId for idempotent producers: a fresh producer id (unique across restarts, see
//! `producer_ids.rs`) with epoch 0.
//!
//! As Kafka does for a null transactional id, every request gets a new id, including one that
//! names an existing producer id and epoch (KIP-360's epoch bump is only defined for
//! transactional producers; an idempotent producer that resets simply starts a new id).
//! A non-null transactional id is answered with COORDINATOR_NOT_AVAILABLE, the retriable error
//! Kafka gives while no transaction coordinator serves it: transactions are not built yet.
//! In a replicated cluster ids come from blocks the active controller allocates
//! (`AllocateProducerIds`), so they are unique across brokers.

use std::sync::Arc;

use protocol::generated::InitProducerIdRequest;
use protocol::generated::InitProducerIdResponse;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

pub async fn handle(
    broker: &Arc<Broker>,
    _context: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let result = match &request.transactional_id {
        Some(id) => Err(BrokerError::CoordinatorNotAvailable(format!(
            "transactional id {id:?}: transactions are not supported yet"
        ))),
        None => match broker.cluster.get() {
            Some(cluster) => clustered_producer_id(broker, cluster).await,
            None => broker.producer_ids.generate(),
        },
    };
    match result {
        Ok(producer_id) => InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: 0,
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        },
        Err(error) => {
            tracing::debug!(%error, "InitProducerId refused");
            InitProducerIdResponse {
                throttle_time_ms: 0,
                error_code: error.error_code().code(),
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            }
        }
    }
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
