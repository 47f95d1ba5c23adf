//! CreateTopics (v0-7): creates topics with a partition count and replication factor (-1 takes
//! the broker defaults) or explicit replica assignments, validated configs, and
//! `validate_only`. From v5 each result carries the topic's partition count, replication factor
//! and every config with its source; v7 adds the topic id.
//!
//! Kafka 4 serves v2-7; v0-1 are served too (the codec has them and they differ only in fields
//! the codec drops), so older admin clients keep working.
//!
//! This file owns the request's own rules (entries named twice, counts and assignments given
//! together, assignment numbering, null or repeated configs); the checks of the topic itself
//! and the change are the metadata writer's (`metadata_writer.rs`). On a single node the only
//! valid replica is this broker: an assignment naming any other node is
//! INVALID_REPLICA_ASSIGNMENT, a replication factor other than 1 INVALID_REPLICATION_FACTOR.
//!
//! Each created partition is charged to the client's `controller_mutation_rate`
//! (`client_quotas.rs`); from v6 a topic asked for while that budget is overdrawn is
//! THROTTLING_QUOTA_EXCEEDED.
//!
//! With ACLs a topic needs CREATE on the cluster or on itself (TOPIC_AUTHORIZATION_FAILED), and
//! its counts and configs are answered only with DESCRIBE_CONFIGS on it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use protocol::generated::CreateTopicsRequest;
use protocol::generated::CreateTopicsResponse;
use protocol::generated::create_topics_request::CreatableTopic;
use protocol::generated::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use protocol::{ErrorCode, Uuid};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::config_admin::topic_entries;
use crate::error::BrokerError;
use crate::metadata::TopicMetadata;
use crate::metadata_writer::NewTopic;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let duplicates = crate::config_admin::repeated(request.topics.iter().map(|t| t.name.clone()));
    let quota =
        broker
            .client_quotas
            .mutation_quota(&broker.metadata, context, context.api_version >= 6);
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
        } else if !may_create(broker, context, &topic.name) {
            Err(BrokerError::NotAuthorized(
                ErrorCode::TopicAuthorizationFailed,
            ))
        } else if quota
            .as_ref()
            .is_some_and(|quota| broker.client_quotas.mutations_refused(quota))
        {
            Err(BrokerError::ThrottlingQuotaExceeded)
        } else {
            create(broker, &topic, request.validate_only).await
        };
        if let (Some(quota), Ok(created)) = (&quota, &result)
            && !request.validate_only
        {
            let partitions = u32::try_from(created.partitions).unwrap_or(0);
            broker.client_quotas.record_mutations(quota, partitions);
        }
        topics.push(result_entry(broker, context, topic.name, result));
    }
    CreateTopicsResponse {
        throttle_time_ms: broker
            .client_quotas
            .finish_mutations(quota.as_ref(), context),
        topics,
        ..Default::default()
    }
}

/// CREATE on the cluster or on the topic (Kafka's rule for CreateTopics).
fn may_create(broker: &Broker, context: &RequestContext, topic: &str) -> bool {
    broker.allows_cluster(context, AclOperation::Create)
        || broker.allows_topic(context, AclOperation::Create, topic)
}

async fn create(
    broker: &Arc<Broker>,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<TopicMetadata, BrokerError> {
    let assignment = if topic.assignments.is_empty() {
        None
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "both num_partitions or replication_factor and assignments were set; \
                 only one of the two may be used"
                    .into(),
            ));
        }
        Some(assignment_by_partition(topic)?)
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
    let request = NewTopic {
        name: topic.name.clone(),
        partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        assignment,
        configs,
        validate_only,
    };
    broker.metadata_writer.create_topic(broker, request).await
}

/// The explicit assignments as the brokers of partition `i` at index `i`: the partitions must
/// be numbered 0 to n-1, each exactly once (Kafka's INVALID_REPLICA_ASSIGNMENT otherwise).
fn assignment_by_partition(topic: &CreatableTopic) -> Result<Vec<Vec<i32>>, BrokerError> {
    let count = topic.assignments.len();
    let mut by_partition: Vec<Option<Vec<i32>>> = vec![None; count];
    for assignment in &topic.assignments {
        let index = assignment.partition_index;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| by_partition.get_mut(i))
            .filter(|slot| slot.is_none())
            .ok_or_else(|| {
                BrokerError::InvalidReplicaAssignment(format!(
                    "partitions must be numbered 0 to {} exactly once; got {index}",
                    count - 1
                ))
            })?;
        *slot = Some(assignment.broker_ids.clone());
    }
    // Every slot is filled: `count` distinct indexes below `count`.
    Ok(by_partition.into_iter().flatten().collect())
}

/// The new topic's id (zero after a validate-only creation, which made no topic).
fn created_id(broker: &Broker, name: &str, topic: &TopicMetadata) -> Uuid {
    if broker.metadata.topic(name).map(|t| t.id) == Some(topic.id.clone()) {
        topic.uuid()
    } else {
        Uuid::ZERO
    }
}

fn result_entry(
    broker: &Broker,
    context: &RequestContext,
    name: String,
    result: Result<TopicMetadata, BrokerError>,
) -> CreatableTopicResult {
    match result {
        Ok(topic) if !broker.allows_topic(context, AclOperation::DescribeConfigs, &name) => {
            // Created, but the principal may not see its configs (Kafka answers the topic
            // without counts or configs, with TOPIC_AUTHORIZATION_FAILED as the config error).
            CreatableTopicResult {
                topic_id: created_id(broker, &name, &topic),
                name,
                error_code: 0,
                error_message: None,
                topic_config_error_code: ErrorCode::TopicAuthorizationFailed.code(),
                num_partitions: -1,
                replication_factor: -1,
                configs: None,
                ..Default::default()
            }
        }
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
            CreatableTopicResult {
                topic_id: created_id(broker, &name, &topic),
                name,
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

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::generated::create_topics_request::CreatableReplicaAssignment;

    fn with_assignments(assignments: &[(i32, &[i32])]) -> CreatableTopic {
        CreatableTopic {
            name: "t".into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: assignments
                .iter()
                .map(|(partition_index, brokers)| CreatableReplicaAssignment {
                    partition_index: *partition_index,
                    broker_ids: brokers.to_vec(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Goal: explicit assignments come out in partition order whatever order the request gives
    /// them in, and numbering with a gap, a repeat or a negative index is
    /// INVALID_REPLICA_ASSIGNMENT (Kafka's `ReplicationControlManager.createTopic`).
    #[test]
    fn assignments_are_ordered_by_partition_and_numbered_from_zero() {
        let topic = with_assignments(&[(1, &[2, 3]), (0, &[1, 2])]);
        assert_eq!(
            assignment_by_partition(&topic).unwrap(),
            vec![vec![1, 2], vec![2, 3]]
        );
        for bad in [
            with_assignments(&[(0, &[1]), (2, &[1])]),
            with_assignments(&[(0, &[1]), (0, &[1])]),
            with_assignments(&[(-1, &[1])]),
        ] {
            assert!(matches!(
                assignment_by_partition(&bad),
                Err(BrokerError::InvalidReplicaAssignment(_))
            ));
        }
    }
}
