//! ElectLeaders (KIP-460, `kafka-leader-election`): asks the active controller to elect the
//! preferred replica (type 0) or, for a partition without a leader, any replica (type 1,
//! unclean: acknowledged writes may be lost) for the named partitions, or for every partition
//! when the list is null. Each partition gets its own result: ELECTION_NOT_NEEDED when the
//! preferred replica already leads, PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
//! UNKNOWN_TOPIC_OR_PARTITION. On a single node every existing partition is led by its only
//! (preferred) replica: ELECTION_NOT_NEEDED. With ACLs it needs ALTER on the cluster.

use std::sync::Arc;

use controller::{ElectionType, MetadataCommand};
use protocol::ErrorCode;
use protocol::generated::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use protocol::generated::{ElectLeadersRequest, ElectLeadersResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use security::acl::AclOperation;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    if !broker.allows_cluster(context, AclOperation::Alter) {
        return refused(request);
    }
    let election = match request.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            return ElectLeadersResponse {
                error_code: ErrorCode::InvalidRequest.code(),
                replica_election_results: vec![ReplicaElectionResult {
                    topic: format!("election type {other} is not defined"),
                    ..Default::default()
                }],
                ..Default::default()
            };
        }
    };
    let wanted: Vec<(String, Vec<i32>)> = match request.topic_partitions {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.topic, t.partitions))
            .collect(),
        None => broker
            .metadata
            .topics()
            .into_iter()
            .map(|t| (t.name, (0..t.partitions).collect()))
            .collect(),
    };
    let mut results = Vec::with_capacity(wanted.len());
    for (topic, partitions) in wanted {
        let mut partition_result = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let result = elect(broker, &topic, partition, election).await;
            partition_result.push(PartitionResult {
                partition_id: partition,
                error_code: crate::error::code_of(&result),
                error_message: result.err().and_then(|e| e.message()),
                ..Default::default()
            });
        }
        results.push(ReplicaElectionResult {
            topic,
            partition_result,
            ..Default::default()
        });
    }
    ElectLeadersResponse {
        throttle_time_ms: 0,
        error_code: 0,
        replica_election_results: results,
        ..Default::default()
    }
}

/// The answer without ALTER on the cluster: CLUSTER_AUTHORIZATION_FAILED at the top and for
/// every named partition, as Kafka answers.
fn refused(request: ElectLeadersRequest) -> ElectLeadersResponse {
    let denied = ErrorCode::ClusterAuthorizationFailed.code();
    ElectLeadersResponse {
        error_code: denied,
        replica_election_results: request
            .topic_partitions
            .unwrap_or_default()
            .into_iter()
            .map(|topic| ReplicaElectionResult {
                topic: topic.topic,
                partition_result: topic
                    .partitions
                    .into_iter()
                    .map(|partition_id| PartitionResult {
                        partition_id,
                        error_code: denied,
                        error_message: None,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn elect(
    broker: &Broker,
    topic: &str,
    partition: i32,
    election: ElectionType,
) -> Result<(), BrokerError> {
    let Some(cluster) = broker.cluster.get() else {
        broker.replicas.partition(topic, partition)?;
        return Err(BrokerError::Controller(
            controller::ControllerError::ElectionNotNeeded,
        ));
    };
    cluster
        .propose(MetadataCommand::ElectLeader {
            topic: topic.to_string(),
            partition,
            election,
        })
        .await
        .map(|_| ())
}
