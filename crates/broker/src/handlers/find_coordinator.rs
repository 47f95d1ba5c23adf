//! FindCoordinator (v0-6): which broker coordinates a group (or a transactional id). v0-3 ask
//! for one key, v4+ for a batch (`coordinator_keys`, answered one entry per key).
//!
//! Key types: 0 (group) is always this node, which hosts every `__consumer_offsets` partition;
//! 1 (transaction) answers UNSUPPORTED_VERSION until the transaction coordinator exists, so
//! `initTransactions` fails at once instead of retrying (idempotent producers do not ask);
//! 2 (share, KIP-932) and unknown types get
//! INVALID_REQUEST, as Kafka answers types it does not serve.

use std::sync::Arc;

use protocol::generated::find_coordinator_response::Coordinator;
use protocol::generated::{FindCoordinatorRequest, FindCoordinatorResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

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
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| match locate(broker, key_type, &key) {
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
            })
            .collect();
        return FindCoordinatorResponse {
            coordinators,
            ..Default::default()
        };
    }
    match locate(broker, key_type, &request.key) {
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

fn locate(broker: &Broker, key_type: i8, key: &str) -> Result<Location, BrokerError> {
    match key_type {
        KEY_TYPE_GROUP if broker.cluster.get().is_some() => {
            // The leader of the group's __consumer_offsets partition coordinates it.
            let partition = broker.groups.partition_for(key)?;
            let cluster = broker.cluster.get().expect("checked above");
            let image = cluster.image();
            let leader = image
                .partition(coordinator::OFFSETS_TOPIC, partition)
                .and_then(|p| p.leader)
                .ok_or_else(|| {
                    BrokerError::CoordinatorNotAvailable(format!(
                        "{}-{partition} has no leader",
                        coordinator::OFFSETS_TOPIC
                    ))
                })?;
            let (brokers, _) = super::metadata::brokers(broker);
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
        KEY_TYPE_GROUP => {
            // Every shard is local; one that failed to load answers its own requests.
            broker.groups.partition_for("")?;
            let listener = broker.config.advertised_client_listener();
            Ok(Location {
                node_id: broker.config.node_id,
                host: listener.host.clone(),
                port: i32::from(listener.port),
            })
        }
        // A retriable error here makes transactional clients retry until their own timeout
        // (franz-go's TestTxnEtl hung on it); UNSUPPORTED_VERSION fails initTransactions at once.
        KEY_TYPE_TRANSACTION => Err(BrokerError::Unsupported(
            "transactions are not supported by this broker yet".into(),
        )),
        other => Err(BrokerError::InvalidRequest(format!(
            "coordinator key type {other} is not served"
        ))),
    }
}
