//! Metadata: the brokers, the cluster id, the controller, and the requested topics with their
//! partitions, leader, replicas and ISR (on a single node: this broker; in a replicated cluster:
//! the unfenced brokers and the partition states of the metadata image, with fenced replicas
//! listed as offline). Unknown topics are created (through the metadata writer,
//! with the broker's default counts) when the request allows it and `auto.create.topics.enable`
//! is on (librdkafka's and kafka-python's suites rely on it).
//!
//! Authorization (Kafka's `handleTopicMetadataRequest`): topics the principal may not DESCRIBE
//! are left out of "all topics", and named ones get TOPIC_AUTHORIZATION_FAILED whether they
//! exist or not; auto-creation needs CREATE on the cluster or the topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::generated::MetadataRequest;
use protocol::generated::MetadataResponse;
use protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use protocol::{ErrorCode, Uuid};

use security::acl::{AclOperation, CLUSTER_NAME, ResourceType};

use super::RequestContext;
use crate::broker::Broker;
use crate::metadata::TopicMetadata;
use crate::metadata_writer::NewTopic;

/// Kafka's "authorized operations not requested" marker.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: MetadataRequest,
) -> MetadataResponse {
    let version = context.api_version;
    // v0: an empty list means every topic; v1+: null means every topic.
    let all_topics = match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let with_operations = version >= 8 && request.include_topic_authorized_operations;
    let entry = |topic: &TopicMetadata| {
        let mut entry = topic_entry(broker, topic);
        if with_operations {
            entry.topic_authorized_operations =
                broker.authorized_operations(context, ResourceType::Topic, &topic.name);
        }
        entry
    };
    let describable = |name: &str| broker.allows_topic(context, AclOperation::Describe, name);
    let topics = if all_topics {
        // Topics the principal may not describe are left out silently.
        broker
            .metadata
            .topics()
            .iter()
            .filter(|t| describable(&t.name))
            .map(entry)
            .collect()
    } else {
        let mut entries = Vec::new();
        for wanted in request.topics.unwrap_or_default() {
            let entry = match (&wanted.name, wanted.topic_id) {
                // Before the existence check, so a denied name reveals nothing.
                (Some(name), _) if !describable(name) => error_entry(
                    Some(name.clone()),
                    Uuid::ZERO,
                    ErrorCode::TopicAuthorizationFailed,
                ),
                (Some(name), _) => match broker.metadata.topic(name) {
                    Some(topic) => entry(&topic),
                    None if allow_auto_create
                        && broker.config.auto_create_topics
                        && !may_create(broker, context, name) =>
                    {
                        error_entry(
                            Some(name.clone()),
                            Uuid::ZERO,
                            ErrorCode::TopicAuthorizationFailed,
                        )
                    }
                    None if allow_auto_create && broker.config.auto_create_topics => {
                        let request = NewTopic {
                            name: name.clone(),
                            partitions: -1,
                            replication_factor: -1,
                            assignment: None,
                            configs: BTreeMap::new(),
                            validate_only: false,
                        };
                        match broker.metadata_writer.create_topic(broker, request).await {
                            Ok(topic) => entry(&topic),
                            Err(error) => {
                                error_entry(Some(name.clone()), Uuid::ZERO, error.error_code())
                            }
                        }
                    }
                    None => error_entry(
                        Some(name.clone()),
                        Uuid::ZERO,
                        ErrorCode::UnknownTopicOrPartition,
                    ),
                },
                (None, id) => match broker.metadata.topic_by_id(id) {
                    // Ids are not sensitive; the name is withheld.
                    Some(topic) if !describable(&topic.name) => {
                        error_entry(None, id, ErrorCode::TopicAuthorizationFailed)
                    }
                    Some(topic) => entry(&topic),
                    None => error_entry(None, id, ErrorCode::UnknownTopicId),
                },
            };
            entries.push(entry);
        }
        entries
    };
    let (brokers, controller_id) = brokers(broker, &context.listener);
    MetadataResponse {
        throttle_time_ms: 0,
        brokers,
        cluster_id: Some(broker.metadata.cluster_id().to_string()),
        controller_id,
        topics,
        cluster_authorized_operations: if (8..=10).contains(&version)
            && request.include_cluster_authorized_operations
        {
            cluster_operations(broker, context)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        },
        ..Default::default()
    }
}

/// Whether the principal may create topic `name`: CREATE on the cluster, else on the topic.
pub fn may_create(broker: &Broker, context: &RequestContext, name: &str) -> bool {
    broker.allows_cluster(context, AclOperation::Create)
        || broker.allows_topic(context, AclOperation::Create, name)
}

/// The cluster's authorized-operations bitfield: 0 without DESCRIBE on the cluster, as Kafka.
pub fn cluster_operations(broker: &Broker, context: &RequestContext) -> i32 {
    if broker.allows_cluster(context, AclOperation::Describe) {
        broker.authorized_operations(context, ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    }
}

fn error_entry(name: Option<String>, topic_id: Uuid, error: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: error.code(),
        name,
        topic_id,
        topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}

/// The brokers clients of `listener` may use and the controller id.
pub fn brokers(broker: &Broker, listener: &str) -> (Vec<MetadataResponseBroker>, i32) {
    let (brokers, controller_id) = registered_brokers(broker, listener, false);
    (brokers.into_iter().map(|(b, _)| b).collect(), controller_id)
}

/// The registered brokers at their `listener` endpoints (Kafka answers a request with the
/// endpoints of the listener it came in on), each with whether it is fenced (fenced ones only
/// when `include_fenced`), and the controller id.
pub fn registered_brokers(
    broker: &Broker,
    listener_name: &str,
    include_fenced: bool,
) -> (Vec<(MetadataResponseBroker, bool)>, i32) {
    let Some(cluster) = broker.cluster.get() else {
        let advertised = broker.config.advertised_listener(listener_name);
        let this = MetadataResponseBroker {
            node_id: broker.config.node_id,
            host: advertised.host.clone(),
            port: i32::from(advertised.port),
            rack: broker.config.broker_rack.clone(),
            ..Default::default()
        };
        return (vec![(this, false)], broker.config.node_id);
    };
    let image = cluster.image();
    let brokers = image
        .brokers
        .values()
        .filter(|b| include_fenced || !b.fenced)
        .filter_map(|b| {
            let listener = b
                .listeners
                .iter()
                .find(|l| l.name == listener_name)
                .or_else(|| b.listeners.first())?;
            let described = MetadataResponseBroker {
                node_id: b.broker_id,
                host: listener.host.clone(),
                port: i32::from(listener.port),
                rack: b.rack.clone(),
                ..Default::default()
            };
            Some((described, b.fenced))
        })
        .collect();
    (brokers, cluster.active_controller().unwrap_or(-1))
}

/// What clients are told of one partition.
pub struct PartitionView {
    pub error: ErrorCode,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas on fenced (or unknown) brokers, or on brokers whose log directory failed.
    pub offline: Vec<i32>,
    /// Eligible leader replicas and the last known ELR (KIP-966; DescribeTopicPartitions).
    pub elr: Vec<i32>,
    pub last_known_elr: Vec<i32>,
}

/// A partition as Metadata and DescribeTopicPartitions describe it: this broker alone on a
/// single node; the metadata image's state in a cluster (leader -1 with LEADER_NOT_AVAILABLE
/// when offline).
pub fn partition_view(broker: &Broker, topic: &str, index: i32) -> PartitionView {
    let Some(cluster) = broker.cluster.get() else {
        let node = broker.config.node_id;
        return PartitionView {
            error: ErrorCode::None,
            leader: node,
            leader_epoch: broker
                .replicas
                .get(topic, index)
                .map_or(0, |p| p.leader_epoch()),
            replicas: vec![node],
            isr: vec![node],
            offline: Vec::new(),
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
    };
    let image = cluster.image();
    let Some(p) = image.partition(topic, index) else {
        return PartitionView {
            error: ErrorCode::UnknownTopicOrPartition,
            leader: -1,
            leader_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            offline: Vec::new(),
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
    };
    PartitionView {
        error: if p.leader.is_some() {
            ErrorCode::None
        } else {
            ErrorCode::LeaderNotAvailable
        },
        leader: p.leader.unwrap_or(-1),
        leader_epoch: p.leader_epoch,
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        offline: p
            .replicas
            .iter()
            .copied()
            .filter(|r| {
                image
                    .brokers
                    .get(r)
                    .is_none_or(|b| b.fenced || b.log_dir_failed)
            })
            .collect(),
        elr: p.elr.clone(),
        last_known_elr: p.last_known_elr.clone(),
    }
}

fn topic_entry(broker: &Broker, topic: &TopicMetadata) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions)
        .map(|index| {
            let view = partition_view(broker, &topic.name, index);
            MetadataResponsePartition {
                error_code: view.error.code(),
                partition_index: index,
                leader_id: view.leader,
                leader_epoch: view.leader_epoch,
                replica_nodes: view.replicas,
                isr_nodes: view.isr,
                offline_replicas: view.offline,
                ..Default::default()
            }
        })
        .collect();
    MetadataResponseTopic {
        error_code: ErrorCode::None.code(),
        name: Some(topic.name.clone()),
        topic_id: topic.uuid(),
        is_internal: topic.name.starts_with("__"),
        partitions,
        topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}
