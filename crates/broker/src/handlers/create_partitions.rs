//! CreatePartitions (v0-3): raises a topic's partition count (never lowers it), with optional
//! assignments for the new partitions, and `validate_only`. The response has one result for
//! every requested topic (another Kafka-compatible broker answered with an empty array, which
//! clients report as a missing result).
//!
//! On a single node a new partition's only valid replica is this broker.

use std::collections::HashSet;
use std::sync::Arc;

use protocol::generated::CreatePartitionsRequest;
use protocol::generated::CreatePartitionsResponse;
use protocol::generated::create_partitions_request::CreatePartitionsTopic;
use protocol::generated::create_partitions_response::CreatePartitionsTopicResult;

use super::RequestContext;
use crate::broker::{Broker, TOPIC_PARTITIONS_MAX};
use crate::error::BrokerError;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicates = crate::config_admin::repeated(request.topics.iter().map(|t| t.name.clone()));
    let mut answered = HashSet::new();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        if !answered.insert(topic.name.clone()) {
            continue;
        }
        let result = if duplicates.contains(&topic.name) {
            Err(BrokerError::InvalidRequest(format!(
                "found multiple entries for topic {}",
                topic.name
            )))
        } else {
            create_partitions(broker, topic, request.validate_only).await
        };
        if let Err(error) = &result {
            tracing::debug!(topic = %topic.name, client = context.client_id(), %error, "create partitions failed");
        }
        results.push(CreatePartitionsTopicResult {
            name: topic.name.clone(),
            error_code: crate::error::code_of(&result),
            error_message: result.err().and_then(|error| error.message()),
            ..Default::default()
        });
    }
    CreatePartitionsResponse {
        throttle_time_ms: 0,
        results,
        ..Default::default()
    }
}

async fn create_partitions(
    broker: &Broker,
    request: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let count = request.count;
    // Checked against the current count inside the metadata update, so two concurrent
    // requests cannot both add the same partitions.
    let check = |current: i32| -> Result<(), BrokerError> {
        if count <= current {
            return Err(BrokerError::InvalidPartitionCount(format!(
                "topic {} has {current} partitions, which is not fewer than the requested {count}; \
                 partitions can only be added",
                request.name
            )));
        }
        if count > TOPIC_PARTITIONS_MAX {
            return Err(BrokerError::InvalidPartitionCount(format!(
                "at most {TOPIC_PARTITIONS_MAX} partitions per topic"
            )));
        }
        if let Some(assignments) = &request.assignments {
            let added = (count - current) as usize;
            if assignments.len() != added {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "{} assignments given for {added} new partitions",
                    assignments.len()
                )));
            }
            if broker.cluster.get().is_some() {
                return Err(BrokerError::InvalidReplicaAssignment(
                    "manual assignments of new partitions are not supported in a cluster yet \
                     (omit them and the controller places the replicas)"
                        .into(),
                ));
            }
            let node = broker.config.node_id;
            if let Some(bad) = assignments.iter().find(|a| a.broker_ids != [node]) {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "new partitions assigned to brokers {:?}; this cluster has only broker {node}",
                    bad.broker_ids
                )));
            }
        }
        Ok(())
    };
    if validate_only {
        let topic = broker
            .metadata
            .topic(&request.name)
            .ok_or_else(|| BrokerError::UnknownTopic(request.name.clone()))?;
        return check(topic.partitions);
    }
    if let Some(cluster) = broker.cluster.get() {
        let topic = broker
            .metadata
            .topic(&request.name)
            .ok_or_else(|| BrokerError::UnknownTopic(request.name.clone()))?;
        check(topic.partitions)?;
        cluster
            .propose(controller::MetadataCommand::CreatePartitions {
                name: request.name.clone(),
                count,
            })
            .await?;
        let name = &request.name;
        return cluster
            .wait_for_image(crate::cluster::PROPOSE_TIMEOUT, |image| {
                image
                    .topics
                    .get(name)
                    .is_some_and(|t| t.partitions.len() >= count as usize)
            })
            .await;
    }
    let mut previous = 0;
    let topic = broker.metadata.update_topic(&request.name, |topic| {
        check(topic.partitions)?;
        previous = topic.partitions;
        topic.partitions = count;
        Ok(())
    })?;
    let config = broker.topic_config(&topic.configs)?;
    broker
        .replicas
        .open_partitions(&topic.name, topic.uuid(), previous, count, config)?;
    tracing::info!(topic = %topic.name, from = previous, to = count, "added partitions");
    Ok(())
}
