//! WriteTxnMarkers (v1-2): a transaction coordinator on another broker asks this partition
//! leader to write COMMIT or ABORT markers (`txn_markers::write_local`). Partitions are written
//! concurrently; each gets its own code (NOT_LEADER_OR_FOLLOWER and the like make the
//! coordinator retry to the current leader; INVALID_PRODUCER_EPOCH and
//! TRANSACTION_COORDINATOR_FENCED tell it the marker is stale).
//!
//! Clients: Kafka's admin `abortTransaction` (`kafka-transactions.sh abort`, for a hanging
//! transaction) sends ABORT markers itself, so a request of ABORT markers only is served from
//! anyone, as Kafka serves it without an authorizer; a COMMIT marker is served only from another
//! broker (`cluster::peers::from_peer`): from a client every partition gets
//! CLUSTER_AUTHORIZATION_FAILED and nothing is written. With an authorizer, any marker needs
//! ALTER or CLUSTER_ACTION on the cluster, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use protocol::generated::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use storage::{TransactionMarker, TransactionResult};

use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::txn_markers::write_local;

/// Most partitions one request may name.
const PARTITIONS_MAX: usize = 10_000;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let only_aborts = request.markers.iter().all(|m| !m.transaction_result);
    let allowed = if broker.authorization_enabled() {
        broker.allows_cluster(context, AclOperation::Alter)
            || broker.allows_cluster(context, AclOperation::ClusterAction)
    } else {
        // A COMMIT from a client would publish another producer's records.
        only_aborts || broker.allows_inter_broker(context)
    };
    if !allowed {
        return refused(&request, ErrorCode::ClusterAuthorizationFailed);
    }
    let partitions: usize = request
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .map(|t| t.partition_indexes.len())
        .sum();
    let too_many = partitions > PARTITIONS_MAX;
    let mut writes = tokio::task::JoinSet::new();
    for (index, marker) in request.markers.iter().enumerate() {
        let written = TransactionMarker {
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            result: if marker.transaction_result {
                TransactionResult::Commit
            } else {
                TransactionResult::Abort
            },
            coordinator_epoch: marker.coordinator_epoch,
        };
        for topic in &marker.topics {
            for &partition in &topic.partition_indexes {
                let (broker, name) = (broker.clone(), topic.name.clone());
                writes.spawn(async move {
                    let code = if too_many {
                        ErrorCode::InvalidRequest
                    } else {
                        match write_local(&broker, &name, partition, written).await {
                            Ok(()) => ErrorCode::None,
                            Err(error) => {
                                tracing::debug!(topic = name, partition, %error, "WriteTxnMarkers");
                                error.error_code()
                            }
                        }
                    };
                    (index, name, partition, code)
                });
            }
        }
    }
    let mut results: Vec<BTreeMap<String, Vec<WritableTxnMarkerPartitionResult>>> =
        vec![BTreeMap::new(); request.markers.len()];
    while let Some(done) = writes.join_next().await {
        let Ok((index, topic, partition_index, code)) = done else {
            continue;
        };
        results[index]
            .entry(topic)
            .or_default()
            .push(WritableTxnMarkerPartitionResult {
                partition_index,
                error_code: code.code(),
                ..Default::default()
            });
    }
    WriteTxnMarkersResponse {
        markers: request
            .markers
            .iter()
            .zip(results)
            .map(|(marker, topics)| WritableTxnMarkerResult {
                producer_id: marker.producer_id,
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| WritableTxnMarkerTopicResult {
                        name,
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every partition of `request` answered with `code`, nothing written.
fn refused(request: &WriteTxnMarkersRequest, code: ErrorCode) -> WriteTxnMarkersResponse {
    WriteTxnMarkersResponse {
        markers: request
            .markers
            .iter()
            .map(|marker| WritableTxnMarkerResult {
                producer_id: marker.producer_id,
                topics: marker
                    .topics
                    .iter()
                    .map(|topic| WritableTxnMarkerTopicResult {
                        name: topic.name.clone(),
                        partitions: topic
                            .partition_indexes
                            .iter()
                            .map(|&partition_index| WritableTxnMarkerPartitionResult {
                                partition_index,
                                error_code: code.code(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
