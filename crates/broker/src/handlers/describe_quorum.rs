//! DescribeQuorum (v0-2, KIP-595, KIP-836, KIP-853), as `kafka-metadata-quorum describe
//! --status --replication` and the admin client's `describeMetadataQuorum` send it: the metadata
//! quorum's leader, epoch, high watermark, voters with how far each has replicated and when it
//! last answered, observers, and (v2) each voter's controller listener. A broker asks the
//! active controller (controller `raft/quorum_state.rs`), as a Kafka broker forwards it.
//!
//! Only `__cluster_metadata` partition 0 exists (others: UNKNOWN_TOPIC_OR_PARTITION). A dynamic
//! quorum (KIP-853) reports each controller's directory id and lists observer controllers; a
//! static one reports the zero uuid, as Kafka's kraft.version 0. With ACLs it needs DESCRIBE on the
//! cluster (CLUSTER_AUTHORIZATION_FAILED at the top). A single node is its own quorum of one:
//! itself the leader at epoch 0 with every offset its metadata holds, known to be caught up.

use std::sync::Arc;
use std::time::Duration;

use protocol::ErrorCode;
use protocol::Uuid;
use protocol::generated::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use protocol::generated::{DescribeQuorumRequest, DescribeQuorumResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;

/// The metadata log's topic.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// How long the active controller is looked for.
const TIMEOUT: Duration = Duration::from_secs(10);

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    if !broker.allows_cluster(context, AclOperation::Describe) {
        return refused(ErrorCode::ClusterAuthorizationFailed, None);
    }
    let description = match broker.cluster.get() {
        Some(cluster) => match cluster.quorum.describe_quorum(TIMEOUT).await {
            Ok(description) => description,
            Err(error) => {
                return refused(ErrorCode::NotController, Some(error.to_string()));
            }
        },
        None => single_node(broker),
    };
    let replica = |r: &controller::QuorumReplica| ReplicaState {
        replica_id: i32::try_from(r.replica_id).unwrap_or(-1),
        replica_directory_id: r
            .directory_id
            .as_deref()
            .and_then(Uuid::parse)
            .unwrap_or(Uuid::ZERO),
        log_end_offset: r.log_end_offset,
        last_fetch_timestamp: r.last_fetch_timestamp,
        last_caught_up_timestamp: r.last_caught_up_timestamp,
        ..Default::default()
    };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let known = topic.topic_name == METADATA_TOPIC;
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    if !known || p.partition_index != 0 {
                        return PartitionData {
                            partition_index: p.partition_index,
                            error_code: ErrorCode::UnknownTopicOrPartition.code(),
                            leader_id: -1,
                            leader_epoch: -1,
                            high_watermark: -1,
                            ..Default::default()
                        };
                    }
                    PartitionData {
                        partition_index: 0,
                        error_code: 0,
                        leader_id: i32::try_from(description.leader_id).unwrap_or(-1),
                        leader_epoch: i32::try_from(description.leader_epoch).unwrap_or(i32::MAX),
                        high_watermark: description.high_watermark,
                        current_voters: description.voters.iter().map(replica).collect(),
                        observers: description.observers.iter().map(replica).collect(),
                        ..Default::default()
                    }
                })
                .collect();
            TopicData {
                topic_name: topic.topic_name,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    DescribeQuorumResponse {
        error_code: 0,
        error_message: None,
        topics,
        nodes: voter_nodes(broker, &description),
        ..Default::default()
    }
}

fn refused(code: ErrorCode, message: Option<String>) -> DescribeQuorumResponse {
    DescribeQuorumResponse {
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}

/// Each voter's controller listener (v2's `Nodes`), from the quorum's membership and the
/// first of `controller.listener.names`.
fn voter_nodes(broker: &Broker, description: &controller::QuorumDescription) -> Vec<Node> {
    let name = broker
        .config
        .value("controller.listener.names")
        .and_then(|names| names.split(',').next())
        .unwrap_or("CONTROLLER")
        .trim()
        .to_string();
    if broker.cluster.get().is_none() {
        return Vec::new();
    }
    description
        .voters
        .iter()
        .filter_map(|voter| {
            let address = description.voter_addresses.get(&voter.replica_id)?;
            let (host, port) = address.rsplit_once(':')?;
            Some(Node {
                node_id: i32::try_from(voter.replica_id).ok()?,
                listeners: vec![Listener {
                    name: name.clone(),
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                    port: port.parse().ok()?,
                    ..Default::default()
                }],
                ..Default::default()
            })
        })
        .collect()
}

/// A single node's quorum of one.
fn single_node(broker: &Broker) -> controller::QuorumDescription {
    let node = u64::try_from(broker.config.node_id).unwrap_or(0);
    let now = broker.now_ms();
    controller::QuorumDescription {
        leader_id: node,
        leader_epoch: 0,
        high_watermark: 0,
        voters: vec![controller::QuorumReplica {
            replica_id: node,
            log_end_offset: 0,
            last_fetch_timestamp: -1,
            last_caught_up_timestamp: now,
            directory_id: None,
        }],
        observers: Vec::new(),
        voter_addresses: Default::default(),
        dynamic: false,
    }
}
