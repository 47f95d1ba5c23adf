//! DeleteShareGroupOffsets (v0, KIP-932): forgets a share group's state for whole topics
//! (`kafka-share-groups --delete-offsets`), so the group starts them again at
//! `share.auto.offset.reset`. The group must exist (GROUP_ID_NOT_FOUND) and have no members
//! (NON_EMPTY_GROUP), both top-level; an unknown topic is UNKNOWN_TOPIC_OR_PARTITION. DELETE on
//! the group, READ on each topic.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use protocol::generated::{DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use super::share_common::share_group_offsets_check;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    let group_id = request.group_id.clone();
    let top = |code: ErrorCode| DeleteShareGroupOffsetsResponse {
        error_code: code.code(),
        ..Default::default()
    };
    if let Err(code) =
        share_group_offsets_check(broker, context, AclOperation::Delete, &group_id, false).await
    {
        return top(code);
    }
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let metadata = broker.metadata.topic(&topic.topic_name);
        let code = if !broker.allows_topic(context, AclOperation::Read, &topic.topic_name) {
            ErrorCode::TopicAuthorizationFailed
        } else {
            match &metadata {
                None => ErrorCode::UnknownTopicOrPartition,
                Some(t) => {
                    broker.shares.remove_topic(&group_id, t.uuid());
                    let mut code = ErrorCode::None;
                    for partition in 0..t.partitions {
                        let key = coordinator::share_state::ShareStateKey {
                            group_id: group_id.clone(),
                            topic_id: t.uuid(),
                            partition,
                        };
                        if let Err(failed) = crate::share::persist::delete(broker, &key).await {
                            code = failed;
                        }
                    }
                    code
                }
            }
        };
        responses.push(DeleteShareGroupOffsetsResponseTopic {
            topic_name: topic.topic_name.clone(),
            topic_id: metadata.map(|t| t.uuid()).unwrap_or_default(),
            error_code: code.code(),
            ..Default::default()
        });
    }
    DeleteShareGroupOffsetsResponse {
        responses,
        ..Default::default()
    }
}
