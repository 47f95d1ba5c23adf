//! Metadata: the brokers, the cluster id, the controller, and the requested topics with their
//! partitions, leader, replicas and ISR (on a single node: this broker; in a replicated cluster:
//! the unfenced brokers and the partition states of the metadata image, with fenced replicas
//! listed as offline). Unknown topics are created (through the metadata writer,
//! with the broker's default counts) when the request allows it and `auto.create.topics.enable`
//! is on (librdkafka's and kafka-python's suites rely on it).

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::generated::MetadataRequest;
use protocol::generated::MetadataResponse;
use protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use protocol::{ErrorCode, Uuid};

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
    let topics = if all_topics {
        broker
            .metadata
            .topics()
            .iter()
            .map(|t| topic_entry(broker, t))
            .collect()
    } else {
        let mut entries = Vec::new();
        for wanted in request.topics.unwrap_or_default() {
            let entry = match (&wanted.name, wanted.topic_id) {
                (Some(name), _) => match broker.metadata.topic(name) {
                    Some(topic) => topic_entry(broker, &topic),
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
                            Ok(topic) => topic_entry(broker, &topic),
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
                    Some(topic) => topic_entry(broker, &topic),
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
        cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
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
    /// Replicas on fenced (or unknown) brokers.
    pub offline: Vec<i32>,
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
            .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
            .collect(),
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
