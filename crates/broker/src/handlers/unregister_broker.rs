//! UnregisterBroker (v0, KIP-631), as `kafka-cluster unregister --id N` sends it: the active
//! controller removes the broker's registration (controller `UnregisterBroker`): it leaves every
//! ISR and leadership, as when fenced, and no new replica is placed on it. This is the last step
//! of retiring a broker, after its replicas were moved away (`kafka-reassign-partitions`). A
//! broker still running registers again with its next heartbeat, as in Kafka.
//!
//! BROKER_ID_NOT_REGISTERED for an unknown id. With ACLs it needs ALTER on the cluster. A single
//! node is its only broker and cannot unregister itself (INVALID_REQUEST).

use std::sync::Arc;

use controller::{ControllerError, MetadataCommand};
use protocol::ErrorCode;
use protocol::generated::{UnregisterBrokerRequest, UnregisterBrokerResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let result = if broker.allows_cluster(context, AclOperation::Alter) {
        unregister(broker, request.broker_id).await
    } else {
        Err(BrokerError::NotAuthorized(
            ErrorCode::ClusterAuthorizationFailed,
        ))
    };
    UnregisterBrokerResponse {
        throttle_time_ms: 0,
        error_code: crate::error::code_of(&result),
        error_message: result.err().and_then(|e| e.message()),
        ..Default::default()
    }
}

async fn unregister(broker: &Broker, broker_id: i32) -> Result<(), BrokerError> {
    let Some(cluster) = broker.cluster.get() else {
        if broker_id == broker.config.node_id {
            return Err(BrokerError::InvalidRequest(
                "a single node cannot unregister itself, its only broker".into(),
            ));
        }
        return Err(BrokerError::Controller(ControllerError::UnknownBroker {
            broker_id,
        }));
    };
    cluster
        .propose(MetadataCommand::UnregisterBroker { broker_id })
        .await
        .map(|_| ())
}
