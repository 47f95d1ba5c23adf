//! DeleteTopics (v0-6): deletes topics by name (v0-5 `topic_names`, v6 `topics`) or by topic id
//! (v6), through the metadata writer (`metadata_writer.rs`): the topic leaves the metadata,
//! then its partition logs are closed and their data deleted (`ReplicaManager::delete_topic`:
//! renamed first, removed in the background).
//!
//! Kafka 4 serves v1-6; v0 is served too (it differs only in the response's throttle time).
//! With `delete.topic.enable=false` every entry is TOPIC_DELETION_DISABLED (v3+) or
//! INVALID_REQUEST (v0-2, which predate that code), as Kafka answers. With ACLs each topic
//! needs DELETE on itself (TOPIC_AUTHORIZATION_FAILED). The deleted partitions are charged to
//! the client's `controller_mutation_rate` (`client_quotas.rs`); from v5 a topic asked for
//! while that budget is overdrawn is THROTTLING_QUOTA_EXCEEDED.

use std::sync::Arc;

use protocol::generated::DeleteTopicsRequest;
use protocol::generated::DeleteTopicsResponse;
use protocol::generated::delete_topics_response::DeletableTopicResult;
use protocol::{ErrorCode, Uuid};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::client_quotas::MutationQuota;
use crate::error::BrokerError;
use crate::metadata::TopicMetadata;

/// A topic to delete, as the request names it.
enum Target {
    Name(String),
    Id(Uuid),
}

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let targets: Vec<Target> = if context.api_version >= 6 {
        request
            .topics
            .into_iter()
            .map(|topic| match topic.name {
                Some(name) if topic.topic_id == Uuid::ZERO => Target::Name(name),
                _ => Target::Id(topic.topic_id),
            })
            .collect()
    } else {
        request.topic_names.into_iter().map(Target::Name).collect()
    };
    let quota =
        broker
            .client_quotas
            .mutation_quota(&broker.metadata, context, context.api_version >= 5);
    let mut responses = Vec::with_capacity(targets.len());
    for target in targets {
        let (name, id) = match &target {
            Target::Name(name) => (Some(name.clone()), Uuid::ZERO),
            Target::Id(id) => (None, *id),
        };
        let result = delete(broker, context, target, quota.as_ref()).await;
        if let (Some(quota), Ok(topic)) = (&quota, &result) {
            let partitions = u32::try_from(topic.partitions).unwrap_or(0);
            broker.client_quotas.record_mutations(quota, partitions);
        }
        responses.push(match result {
            Ok(topic) => DeletableTopicResult {
                name: Some(topic.name.clone()),
                topic_id: topic.uuid(),
                error_code: 0,
                error_message: None,
                ..Default::default()
            },
            Err(error) => DeletableTopicResult {
                name,
                topic_id: id,
                error_code: error.error_code().code(),
                error_message: error.message(),
                ..Default::default()
            },
        });
    }
    DeleteTopicsResponse {
        throttle_time_ms: broker
            .client_quotas
            .finish_mutations(quota.as_ref(), context),
        responses,
        ..Default::default()
    }
}

async fn delete(
    broker: &Arc<Broker>,
    context: &RequestContext,
    target: Target,
    quota: Option<&MutationQuota>,
) -> Result<TopicMetadata, BrokerError> {
    if !broker.config.delete_topic_enable {
        return Err(if context.api_version < 3 {
            BrokerError::InvalidRequest("topic deletion is disabled".into())
        } else {
            BrokerError::TopicDeletionDisabled
        });
    }
    let name = match target {
        Target::Name(name) => name,
        Target::Id(id) => {
            broker
                .metadata
                .topic_by_id(id)
                .ok_or(BrokerError::UnknownTopicId(id))?
                .name
        }
    };
    // DELETE implies DESCRIBE, so a topic named by id stays unnamed in the answer when denied.
    if !broker.allows_topic(context, AclOperation::Delete, &name) {
        return Err(BrokerError::NotAuthorized(
            ErrorCode::TopicAuthorizationFailed,
        ));
    }
    if quota.is_some_and(|quota| broker.client_quotas.mutations_refused(quota)) {
        return Err(BrokerError::ThrottlingQuotaExceeded);
    }
    let topic = broker.metadata_writer.delete_topic(broker, &name).await?;
    tracing::info!(topic = %name, client = context.client_id(), "deleted topic");
    Ok(topic)
}
