//! CreateTopics (v0-7): creates topics with a partition count and replication factor (-1 takes
//! the broker defaults) or explicit replica assignments, validated configs, and
//! `validate_only`. From v5 each result carries the topic's partition count, replication factor
//! and every config with its source; v7 adds the topic id.
//!
//! Kafka 4 serves v2-7; v0-1 are served too (the codec has them and they differ only in fields
//! the codec drops), so older admin clients keep working.
//!
//! On a single node the only valid replica is this broker: an assignment naming any other node
//! is INVALID_REPLICA_ASSIGNMENT, a replication factor other than 1 INVALID_REPLICATION_FACTOR.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use protocol::Uuid;
use protocol::generated::CreateTopicsRequest;
use protocol::generated::CreateTopicsResponse;
use protocol::generated::create_topics_request::CreatableTopic;
use protocol::generated::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};

use super::RequestContext;
use crate::broker::Broker;
use crate::config_admin::{topic_entries, validate_topic_overrides};
use crate::error::BrokerError;
use crate::metadata::TopicMetadata;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let duplicates = crate::config_admin::repeated(request.topics.iter().map(|t| t.name.clone()));
    let mut answered = HashSet::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        if !answered.insert(topic.name.clone()) {
            continue;
        }
        let result = if duplicates.contains(&topic.name) {
            Err(BrokerError::InvalidRequest(format!(
                "found multiple entries for topic {}",
                topic.name
            )))
        } else {
            create(broker, &topic, request.validate_only).await
        };
        topics.push(result_entry(broker, context, topic.name, result));
    }
    CreateTopicsResponse {
        throttle_time_ms: 0,
        topics,
        ..Default::default()
    }
}

async fn create(
    broker: &Broker,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<TopicMetadata, BrokerError> {
    let mut assignment = None;
    let (partitions, replication_factor) = if topic.assignments.is_empty() {
        (topic.num_partitions, topic.replication_factor)
    } else if broker.cluster.get().is_some() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "both num_partitions or replication_factor and assignments were set; \
                 only one of the two may be used"
                    .into(),
            ));
        }
        let mut sorted: Vec<_> = topic.assignments.iter().collect();
        sorted.sort_by_key(|a| a.partition_index);
        assignment = Some(sorted.iter().map(|a| a.broker_ids.clone()).collect());
        (-1, -1)
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "both num_partitions or replication_factor and assignments were set; \
                 only one of the two may be used"
                    .into(),
            ));
        }
        check_assignments(broker, topic)?
    };
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        let value = config.value.clone().ok_or_else(|| {
            BrokerError::InvalidConfig(format!("null value for config {}", config.name))
        })?;
        if configs.insert(config.name.clone(), value).is_some() {
            return Err(BrokerError::InvalidRequest(format!(
                "config {} is given more than once",
                config.name
            )));
        }
    }
    validate_topic_overrides(&configs)?;
    broker
        .create_topic_anywhere(
            &topic.name,
            partitions,
            replication_factor,
            assignment,
            configs,
            validate_only,
        )
        .await
}

/// Checks explicit assignments: partitions 0..n, each replicated on exactly this broker.
/// Returns the partition count and replication factor they imply.
fn check_assignments(broker: &Broker, topic: &CreatableTopic) -> Result<(i32, i16), BrokerError> {
    let node = broker.config.node_id;
    let count = topic.assignments.len();
    let mut indexes = HashSet::with_capacity(count);
    for assignment in &topic.assignments {
        let index = assignment.partition_index;
        if index < 0 || index as usize >= count || !indexes.insert(index) {
            return Err(BrokerError::InvalidReplicaAssignment(format!(
                "partitions must be numbered 0 to {} exactly once; got {index}",
                count - 1
            )));
        }
        if assignment.broker_ids != [node] {
            return Err(BrokerError::InvalidReplicaAssignment(format!(
                "partition {index} is assigned to brokers {:?}; this cluster has only broker {node}",
                assignment.broker_ids
            )));
        }
    }
    Ok((i32::try_from(count).unwrap_or(i32::MAX), 1))
}

fn result_entry(
    broker: &Broker,
    context: &RequestContext,
    name: String,
    result: Result<TopicMetadata, BrokerError>,
) -> CreatableTopicResult {
    match result {
        Ok(topic) => {
            let configs = topic_entries(&broker.config, &topic.configs)
                .into_iter()
                .map(|entry| CreatableTopicConfigs {
                    name: entry.name,
                    value: entry.value,
                    read_only: entry.read_only,
                    config_source: entry.source,
                    is_sensitive: entry.is_sensitive,
                    ..Default::default()
                })
                .collect();
            // A validate-only creation made no topic, so it has no id yet.
            let exists = broker.metadata.topic(&name).map(|t| t.id) == Some(topic.id.clone());
            CreatableTopicResult {
                name,
                topic_id: if exists { topic.uuid() } else { Uuid::ZERO },
                error_code: 0,
                error_message: None,
                topic_config_error_code: 0,
                num_partitions: topic.partitions,
                replication_factor: topic.replication_factor,
                configs: Some(configs),
                ..Default::default()
            }
        }
        Err(error) => {
            tracing::debug!(topic = %name, client = context.client_id(), %error, "create topic failed");
            CreatableTopicResult {
                name,
                topic_id: Uuid::ZERO,
                error_code: error.error_code().code(),
                error_message: error.message(),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            }
        }
    }
}
