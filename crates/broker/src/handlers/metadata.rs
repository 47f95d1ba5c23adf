//! Metadata: the brokers (this one), the cluster id, the controller, and the requested topics
//! with their partitions, leader and replicas. Unknown topics are created when the request
//! allows it and `auto.create.topics.enable` is on (librdkafka's and kafka-python's suites rely
//! on it).

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

/// Kafka's "authorized operations not requested" marker.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub fn handle(
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
        request
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|wanted| match (&wanted.name, wanted.topic_id) {
                (Some(name), _) => match broker.metadata.topic(name) {
                    Some(topic) => topic_entry(broker, &topic),
                    None if allow_auto_create && broker.config.auto_create_topics => {
                        match broker.create_topic(name, -1, -1, BTreeMap::new(), false) {
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
            })
            .collect()
    };
    let advertised = broker.config.advertised_client_listener();
    MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: broker.config.node_id,
            host: advertised.host.clone(),
            port: i32::from(advertised.port),
            rack: broker.config.broker_rack.clone(),
            ..Default::default()
        }],
        cluster_id: Some(broker.metadata.cluster_id().to_string()),
        controller_id: broker.config.node_id,
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

fn topic_entry(broker: &Broker, topic: &TopicMetadata) -> MetadataResponseTopic {
    let node = broker.config.node_id;
    let partitions = broker
        .replicas
        .topic_partitions(&topic.name)
        .iter()
        .map(|partition| MetadataResponsePartition {
            error_code: ErrorCode::None.code(),
            partition_index: partition.topic_partition.partition,
            leader_id: node,
            leader_epoch: partition.leader_epoch(),
            replica_nodes: vec![node],
            isr_nodes: vec![node],
            offline_replicas: Vec::new(),
            ..Default::default()
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
