//! ListPartitionReassignments (v0, KIP-455), as `kafka-reassign-partitions --verify` and the
//! admin client's `listPartitionReassignments` send it: the partitions with a reassignment in
//! progress, each with its merged replica list and the replicas being added and removed, from
//! this broker's metadata image. A null topic list asks for every partition; named partitions
//! that do not exist or are not being reassigned are left out, as Kafka's controller does. With
//! ACLs it needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED at the top otherwise). A
//! single node never reassigns.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use protocol::generated::{ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !broker.allows_cluster(context, AclOperation::Describe) {
        return ListPartitionReassignmentsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let Some(cluster) = broker.cluster.get() else {
        return ListPartitionReassignmentsResponse::default();
    };
    let image = cluster.image();
    let wanted: Vec<(String, Option<Vec<i32>>)> = match request.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.name, Some(t.partition_indexes)))
            .collect(),
        None => image
            .topics
            .keys()
            .map(|name| (name.clone(), None))
            .collect(),
    };
    let mut topics = Vec::new();
    for (name, indexes) in wanted {
        let Some(topic) = image.topics.get(&name) else {
            continue;
        };
        let ongoing = |index: usize| {
            let p = topic.partitions.get(index)?;
            let partition_index = i32::try_from(index).ok()?;
            p.is_reassigning().then(|| OngoingPartitionReassignment {
                partition_index,
                replicas: p.replicas.clone(),
                adding_replicas: p.adding_replicas.clone(),
                removing_replicas: p.removing_replicas.clone(),
                ..Default::default()
            })
        };
        let partitions: Vec<_> = match indexes {
            Some(indexes) => indexes
                .into_iter()
                .filter_map(|i| usize::try_from(i).ok().and_then(ongoing))
                .collect(),
            None => (0..topic.partitions.len()).filter_map(ongoing).collect(),
        };
        if !partitions.is_empty() {
            topics.push(OngoingTopicReassignment {
                name,
                partitions,
                ..Default::default()
            });
        }
    }
    ListPartitionReassignmentsResponse {
        topics,
        ..Default::default()
    }
}
