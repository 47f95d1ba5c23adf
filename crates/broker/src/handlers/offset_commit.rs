//! OffsetCommit (v0-10): a group's consumed positions, checked against its generation and
//! members, appended to `__consumer_offsets` before the answer (so an acknowledged commit
//! survives a crash). The rules are the coordinator's (`coordinator::offsets`).
//!
//! Before the coordinator sees them, the partitions are checked against the metadata, as
//! Kafka's `KafkaApis.handleOffsetCommitRequest` does: a topic id that is not known (v10 names
//! topics by id) gets UNKNOWN_TOPIC_ID, a topic or partition that does not exist gets
//! UNKNOWN_TOPIC_OR_PARTITION, and only the others are committed.
//!
//! Served from v0 (Kafka 4.4 advertises 2-10): librdkafka's balanced consumer needs v1-2, and
//! the coordinator handles every version the codec has (v1 commit timestamps, v2-4 retention).

use std::sync::Arc;

use protocol::generated::offset_commit_request::OffsetCommitRequestTopic;
use protocol::generated::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use protocol::generated::{OffsetCommitRequest, OffsetCommitResponse};
use protocol::{ErrorCode, Uuid};

use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

/// The first version that names topics by id.
const TOPIC_IDS_VERSION: i16 = 10;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    mut request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let version = context.api_version;
    let mut refused = Vec::new();
    let mut accepted = Vec::with_capacity(request.topics.len());
    // READ on the group, else every partition is GROUP_AUTHORIZATION_FAILED.
    let group_allowed = broker.allows_group(context, AclOperation::Read, &request.group_id);
    for mut topic in std::mem::take(&mut request.topics) {
        if !group_allowed {
            refused.push(refuse(&topic, ErrorCode::GroupAuthorizationFailed));
            continue;
        }
        let known = if version >= TOPIC_IDS_VERSION {
            broker.metadata.topic_by_id(topic.topic_id)
        } else {
            broker.metadata.topic(&topic.name)
        };
        // READ on the topic, checked before its existence.
        let name = known
            .as_ref()
            .map_or(topic.name.as_str(), |k| k.name.as_str());
        if (known.is_some() || version < TOPIC_IDS_VERSION)
            && !broker.allows_topic(context, AclOperation::Read, name)
        {
            refused.push(refuse(&topic, ErrorCode::TopicAuthorizationFailed));
            continue;
        }
        let Some(known) = known else {
            let code = if version >= TOPIC_IDS_VERSION {
                ErrorCode::UnknownTopicId
            } else {
                ErrorCode::UnknownTopicOrPartition
            };
            refused.push(refuse(&topic, code));
            continue;
        };
        topic.name = known.name.clone();
        topic.topic_id = known.uuid();
        let (valid, missing): (Vec<_>, Vec<_>) = std::mem::take(&mut topic.partitions)
            .into_iter()
            .partition(|p| (0..known.partitions).contains(&p.partition_index));
        if !missing.is_empty() {
            let mut absent = topic.clone();
            absent.partitions = missing;
            refused.push(refuse(&absent, ErrorCode::UnknownTopicOrPartition));
        }
        if !valid.is_empty() {
            topic.partitions = valid;
            accepted.push(topic);
        }
    }
    let mut response = if accepted.is_empty() {
        OffsetCommitResponse::default()
    } else {
        request.topics = accepted;
        commit(broker, version, request).await
    };
    response.topics.extend(refused);
    response
}

/// Commits the partitions that exist; the answer carries each topic's id as well as its name.
async fn commit(
    broker: &Arc<Broker>,
    version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_id = request.group_id.clone();
    // Kept for an error answer (every partition gets the error) and to put the ids back.
    let shape = request.topics.clone();
    let mut response = GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        coordinator.offset_commit(now, version, &request).into()
    })
    .await
    .unwrap_or_else(|error| {
        let code = error.error_code();
        OffsetCommitResponse {
            topics: shape.iter().map(|t| refuse(t, code)).collect(),
            ..Default::default()
        }
    });
    for topic in &mut response.topics {
        topic.topic_id = shape
            .iter()
            .find(|t| t.name == topic.name)
            .map_or(Uuid::ZERO, |t| t.topic_id);
    }
    response
}

/// The answer for every partition of `topic`: `code`.
fn refuse(topic: &OffsetCommitRequestTopic, code: ErrorCode) -> OffsetCommitResponseTopic {
    OffsetCommitResponseTopic {
        name: topic.name.clone(),
        topic_id: topic.topic_id,
        partitions: topic
            .partitions
            .iter()
            .map(|p| OffsetCommitResponsePartition {
                partition_index: p.partition_index,
                error_code: code.code(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
