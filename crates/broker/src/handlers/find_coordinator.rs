//! FindCoordinator (v0-6): which broker coordinates a group (or a transactional id). v0-3 ask
//! for one key, v4+ for a batch (`coordinator_keys`, answered one entry per key).
//!
//! Key types: 0 (group): the leader of the group's `__consumer_offsets` partition (this node
//! on a single node); 1 (transaction): the leader of the transactional id's
//! `__transaction_state` partition, creating that topic on first use as Kafka does (until it
//! has a leader the answer is COORDINATOR_NOT_AVAILABLE, retriable); 2 (share, KIP-932) and
//! unknown types get INVALID_REQUEST, as Kafka answers types it does not serve.

use std::sync::Arc;

use protocol::generated::find_coordinator_response::Coordinator;
use protocol::generated::{FindCoordinatorRequest, FindCoordinatorResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::txn_coordinator::TxnCoordinatorService;
use coordinator::txn::TRANSACTION_STATE_TOPIC;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Where the coordinator of one key is.
struct Location {
    node_id: i32,
    host: String,
    port: i32,
}

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let key_type = if context.api_version >= 1 {
        request.key_type
    } else {
        KEY_TYPE_GROUP
    };
    if context.api_version >= 4 {
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in request.coordinator_keys {
            coordinators.push(match locate(broker, context, key_type, &key).await {
                Ok(location) => Coordinator {
                    key,
                    node_id: location.node_id,
                    host: location.host,
                    port: location.port,
                    ..Default::default()
                },
                Err(error) => Coordinator {
                    key,
                    node_id: -1,
                    host: String::new(),
                    port: -1,
                    error_code: error.error_code().code(),
                    error_message: error.message(),
                    ..Default::default()
                },
            });
        }
        return FindCoordinatorResponse {
            coordinators,
            ..Default::default()
        };
    }
    match locate(broker, context, key_type, &request.key).await {
        Ok(location) => FindCoordinatorResponse {
            node_id: location.node_id,
            host: location.host,
            port: location.port,
            ..Default::default()
        },
        Err(error) => FindCoordinatorResponse {
            error_code: error.error_code().code(),
            error_message: error.message(),
            node_id: -1,
            host: String::new(),
            port: -1,
            ..Default::default()
        },
    }
}

/// Where the coordinator of `key` is, once the principal may DESCRIBE the group or
/// transactional id (a share key needs CLUSTER_ACTION).
async fn locate(
    broker: &Arc<Broker>,
    context: &RequestContext,
    key_type: i8,
    key: &str,
) -> Result<Location, BrokerError> {
    match key_type {
        KEY_TYPE_GROUP => broker.require_group(context, AclOperation::Describe, key)?,
        KEY_TYPE_TRANSACTION => {
            broker.require_transactional_id(context, AclOperation::Describe, key)?
        }
        _ => broker.require_cluster(context, AclOperation::ClusterAction)?,
    }
    let listener: &str = &context.listener;
    match key_type {
        KEY_TYPE_GROUP if broker.cluster.get().is_some() => {
            // The leader of the group's __consumer_offsets partition coordinates it.
            let partition = broker.groups.partition_for(key)?;
            leader_location(broker, listener, coordinator::OFFSETS_TOPIC, partition)
        }
        KEY_TYPE_GROUP => {
            // Every shard is local; one that failed to load answers its own requests.
            broker.groups.partition_for("")?;
            Ok(local(broker, listener))
        }
        KEY_TYPE_TRANSACTION => {
            let partition = TxnCoordinatorService::partition_for(broker, key).await?;
            if broker.cluster.get().is_some() {
                leader_location(broker, listener, TRANSACTION_STATE_TOPIC, partition)
            } else {
                Ok(local(broker, listener))
            }
        }
        other => Err(BrokerError::InvalidRequest(format!(
            "coordinator key type {other} is not served"
        ))),
    }
}

fn local(broker: &Broker, listener: &str) -> Location {
    let listener = broker.config.advertised_listener(listener);
    Location {
        node_id: broker.config.node_id,
        host: listener.host.clone(),
        port: i32::from(listener.port),
    }
}

/// The client address of the leader of `topic-partition` in a cluster.
fn leader_location(
    broker: &Broker,
    listener: &str,
    topic: &str,
    partition: i32,
) -> Result<Location, BrokerError> {
    let cluster = broker
        .cluster
        .get()
        .expect("a cluster: checked by the caller");
    let leader = cluster
        .image()
        .partition(topic, partition)
        .and_then(|p| p.leader)
        .ok_or_else(|| {
            BrokerError::CoordinatorNotAvailable(format!("{topic}-{partition} has no leader"))
        })?;
    let (brokers, _) = super::metadata::brokers(broker, listener);
    let found = brokers
        .into_iter()
        .find(|b| b.node_id == leader)
        .ok_or_else(|| {
            BrokerError::CoordinatorNotAvailable(format!("broker {leader} is fenced"))
        })?;
    Ok(Location {
        node_id: found.node_id,
        host: found.host,
        port: found.port,
    })
}
