//! OffsetFetch (v0-10): a group's committed offsets (v0-7 one group, v8+ several, each asked of
//! its own coordinator shard). A null topic list means every committed partition. The rules are
//! the coordinator's (`coordinator::offsets`); reads append nothing.
//!
//! v10 names topics by id: the ids are turned into names before the coordinator is asked (an id
//! that is not known answers offset -1 with UNKNOWN_TOPIC_ID), and the answer carries the ids
//! back; asked for every topic, a topic whose id is no longer known is left out, as Kafka does.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::offset_fetch_request::OffsetFetchRequestGroup;
use protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use protocol::generated::{OffsetFetchRequest, OffsetFetchResponse};

use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::GroupCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = context.api_version;
    if version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in &request.groups {
            groups.push({
                let mut group = group.clone();
                let unknown = if version >= TOPIC_IDS_VERSION {
                    names_for_ids(broker, &mut group)
                } else {
                    Vec::new()
                };
                let one = OffsetFetchRequest {
                    groups: vec![group.clone()],
                    require_stable: request.require_stable,
                    ..Default::default()
                };
                let named = group.topics.is_some();
                let mut answer = fetch(broker, context, &group.group_id, version, one)
                    .await
                    .and_then(|mut response| {
                        response.groups.pop().ok_or_else(|| {
                            BrokerError::InvalidRequest("no group in the answer".into())
                        })
                    })
                    .unwrap_or_else(|error| OffsetFetchResponseGroup {
                        group_id: group.group_id.clone(),
                        error_code: error.error_code().code(),
                        ..Default::default()
                    });
                hide_undescribable(
                    &mut answer.topics,
                    named,
                    |t| &t.name,
                    |t| {
                        for p in &mut t.partitions {
                            p.committed_offset = -1;
                            p.committed_leader_epoch = -1;
                            p.metadata = Some(String::new());
                            p.error_code = ErrorCode::TopicAuthorizationFailed.code();
                        }
                    },
                    |name| broker.allows_topic(context, AclOperation::Describe, name),
                );
                if version >= TOPIC_IDS_VERSION {
                    ids_for_names(broker, &mut answer);
                    answer.topics.extend(unknown);
                }
                answer
            });
        }
        return OffsetFetchResponse {
            groups,
            ..Default::default()
        };
    }
    let group_id = request.group_id.clone();
    let topics = request.topics.clone();
    let named = topics.is_some();
    let mut response = fetch(broker, context, &group_id, version, request)
        .await
        .unwrap_or_else(|error| {
            let code = error.error_code().code();
            // v0-1 have no top-level error: each asked partition carries it.
            let topics = topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| OffsetFetchResponseTopic {
                    name: t.name,
                    partitions: t
                        .partition_indexes
                        .into_iter()
                        .map(|partition_index| OffsetFetchResponsePartition {
                            partition_index,
                            committed_offset: -1,
                            committed_leader_epoch: -1,
                            metadata: Some(String::new()),
                            error_code: code,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            OffsetFetchResponse {
                topics,
                error_code: code,
                ..Default::default()
            }
        });
    hide_undescribable(
        &mut response.topics,
        named,
        |t| &t.name,
        |t| {
            for p in &mut t.partitions {
                p.committed_offset = -1;
                p.committed_leader_epoch = -1;
                p.metadata = Some(String::new());
                p.error_code = ErrorCode::TopicAuthorizationFailed.code();
            }
        },
        |name| broker.allows_topic(context, AclOperation::Describe, name),
    );
    response
}

/// Topics the principal may not DESCRIBE: named ones answer TOPIC_AUTHORIZATION_FAILED
/// (`deny`), and an all-topics answer leaves them out, as Kafka does.
fn hide_undescribable<T>(
    topics: &mut Vec<T>,
    named: bool,
    name: impl Fn(&T) -> &str,
    deny: impl Fn(&mut T),
    describable: impl Fn(&str) -> bool,
) {
    topics.retain_mut(|topic| {
        if describable(name(topic)) {
            return true;
        }
        deny(topic);
        named
    });
}

/// The first version that names topics by id.
const TOPIC_IDS_VERSION: i16 = 10;

/// Puts the names of `group`'s topics in place of their ids; the topics whose id is not known
/// are taken out and returned as their answer (offset -1, UNKNOWN_TOPIC_ID).
fn names_for_ids(
    broker: &Broker,
    group: &mut OffsetFetchRequestGroup,
) -> Vec<OffsetFetchResponseTopics> {
    let Some(topics) = &mut group.topics else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    topics.retain_mut(|topic| match broker.metadata.topic_by_id(topic.topic_id) {
        Some(known) => {
            topic.name = known.name;
            true
        }
        None => {
            unknown.push(OffsetFetchResponseTopics {
                topic_id: topic.topic_id,
                partitions: topic
                    .partition_indexes
                    .iter()
                    .map(|&partition_index| OffsetFetchResponsePartitions {
                        partition_index,
                        committed_offset: -1,
                        committed_leader_epoch: -1,
                        error_code: ErrorCode::UnknownTopicId.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            });
            false
        }
    });
    unknown
}

/// Gives each answered topic its id; a topic whose id is not known cannot be named at v10 and
/// is left out.
fn ids_for_names(broker: &Broker, group: &mut OffsetFetchResponseGroup) {
    group.topics.retain_mut(|topic| {
        let Some(known) = broker.metadata.topic(&topic.name) else {
            return false;
        };
        topic.topic_id = known.uuid();
        true
    });
}

/// The group's committed offsets; DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED.
async fn fetch(
    broker: &Arc<Broker>,
    context: &RequestContext,
    group_id: &str,
    version: i16,
    request: OffsetFetchRequest,
) -> Result<OffsetFetchResponse, BrokerError> {
    broker.require_group(context, AclOperation::Describe, group_id)?;
    GroupCoordinatorService::read(broker, group_id, move |coordinator| {
        coordinator.offset_fetch(version, &request)
    })
    .await
}
