//! AlterPartitionReassignments (v0-1, KIP-455; v1's `allow_replication_factor_change` is
//! KIP-860), as `kafka-reassign-partitions --execute` and `--cancel` send it: for each named
//! partition the active controller starts a reassignment to the given replicas, or cancels the
//! one in progress when the list is null (controller `reassignment.rs`). It answers once the
//! reassignment has started, not when it completes: ListPartitionReassignments follows it.
//!
//! Errors per partition: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (empty,
//! repeated, negative or unregistered broker ids; a cancel that would leave no in-sync original
//! replica), INVALID_REPLICATION_FACTOR (another replica count with v1's flag false),
//! NO_REASSIGNMENT_IN_PROGRESS (a cancel with none). With ACLs it needs ALTER on the cluster;
//! without, every partition gets CLUSTER_AUTHORIZATION_FAILED, as in Kafka. A single node has one
//! broker: a reassignment onto it is already complete, onto any other it names an unknown broker.

use std::sync::Arc;

use controller::{ControllerError, MetadataCommand};
use protocol::ErrorCode;
use protocol::generated::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use protocol::generated::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let authorized = broker.allows_cluster(context, AclOperation::Alter);
    // v0 has no flag: changing the replica count is allowed, as before KIP-860.
    let allow_rf_change = context.api_version < 1 || request.allow_replication_factor_change;
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let result = if authorized {
                reassign(
                    broker,
                    &topic.name,
                    p.partition_index,
                    p.replicas,
                    allow_rf_change,
                )
                .await
            } else {
                Err(BrokerError::NotAuthorized(
                    ErrorCode::ClusterAuthorizationFailed,
                ))
            };
            partitions.push(ReassignablePartitionResponse {
                partition_index: p.partition_index,
                error_code: crate::error::code_of(&result),
                error_message: result.err().and_then(|e| e.message()),
                ..Default::default()
            });
        }
        responses.push(ReassignableTopicResponse {
            name: topic.name,
            partitions,
            ..Default::default()
        });
    }
    AlterPartitionReassignmentsResponse {
        throttle_time_ms: 0,
        allow_replication_factor_change: allow_rf_change,
        error_code: if authorized {
            ErrorCode::None.code()
        } else {
            ErrorCode::ClusterAuthorizationFailed.code()
        },
        error_message: None,
        responses,
        ..Default::default()
    }
}

async fn reassign(
    broker: &Broker,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
    allow_replication_factor_change: bool,
) -> Result<(), BrokerError> {
    let Some(cluster) = broker.cluster.get() else {
        return single_node(broker, topic, partition, target);
    };
    cluster
        .propose(MetadataCommand::AlterPartitionReassignment {
            topic: topic.to_string(),
            partition,
            target,
            allow_replication_factor_change,
        })
        .await
        .map(|_| ())
}

/// A single node's only possible assignment is itself, which every partition already has.
fn single_node(
    broker: &Broker,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
) -> Result<(), BrokerError> {
    broker.replicas.partition(topic, partition)?;
    let node = broker.config.node_id;
    match target {
        None => Err(BrokerError::Controller(
            ControllerError::NoReassignmentInProgress,
        )),
        Some(target) if target == [node] => Ok(()),
        Some(target) => Err(BrokerError::Controller(
            ControllerError::InvalidReplicaAssignment {
                reason: format!(
                    "the target {target:?} names brokers other than this single node ({node})"
                ),
            },
        )),
    }
}
