//! CreatePartitions (v0-3): raises a topic's partition count (never lowers it), with optional
//! assignments for the new partitions, and `validate_only`. The response has one result for
//! every requested topic (another Kafka-compatible broker answered with an empty array, which
//! clients report as a missing result).
//!
//! The checks of the count and the change are the metadata writer's (`metadata_writer.rs`).
//! On a single node a new partition's only valid replica is this broker; in a cluster the
//! controller places new partitions (manual assignments are refused for now). With ACLs each
//! topic needs ALTER on itself (TOPIC_AUTHORIZATION_FAILED). The partitions added are charged to
//! the client's `controller_mutation_rate` (`client_quotas.rs`); from v3 a topic asked for while
//! that budget is overdrawn is THROTTLING_QUOTA_EXCEEDED.

use std::collections::HashSet;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::CreatePartitionsRequest;
use protocol::generated::CreatePartitionsResponse;
use protocol::generated::create_partitions_request::CreatePartitionsTopic;
use protocol::generated::create_partitions_response::CreatePartitionsTopicResult;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::metadata_writer::NewPartitions;
use security::acl::AclOperation;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicates = crate::config_admin::repeated(request.topics.iter().map(|t| t.name.clone()));
    let quota =
        broker
            .client_quotas
            .mutation_quota(&broker.metadata, context, context.api_version >= 3);
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
        } else if !broker.allows_topic(context, AclOperation::Alter, &topic.name) {
            Err(BrokerError::NotAuthorized(
                ErrorCode::TopicAuthorizationFailed,
            ))
        } else if quota
            .as_ref()
            .is_some_and(|quota| broker.client_quotas.mutations_refused(quota))
        {
            Err(BrokerError::ThrottlingQuotaExceeded)
        } else {
            let before = partition_count(broker, &topic.name);
            let result = create_partitions(broker, topic, request.validate_only).await;
            if let Some(quota) = quota.as_ref().filter(|_| result.is_ok())
                && !request.validate_only
            {
                let added = u32::try_from(topic.count)
                    .unwrap_or(0)
                    .saturating_sub(before);
                broker.client_quotas.record_mutations(quota, added);
            }
            result
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
        throttle_time_ms: broker
            .client_quotas
            .finish_mutations(quota.as_ref(), context),
        results,
        ..Default::default()
    }
}

/// The topic's partition count before the change (0 when it is unknown).
fn partition_count(broker: &Broker, topic: &str) -> u32 {
    broker
        .metadata
        .topic(topic)
        .map_or(0, |t| u32::try_from(t.partitions).unwrap_or(0))
}

async fn create_partitions(
    broker: &Arc<Broker>,
    request: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let assignment = request.assignments.as_ref().map(|assignments| {
        assignments
            .iter()
            .map(|assignment| assignment.broker_ids.clone())
            .collect()
    });
    let request = NewPartitions {
        topic: request.name.clone(),
        count: request.count,
        assignment,
        validate_only,
    };
    broker
        .metadata_writer
        .create_partitions(broker, request)
        .await
}
