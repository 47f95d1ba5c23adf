//! OffsetDelete (v0): removes a group's committed offsets of topics it does not read
//! (tombstones in `__consumer_offsets`). The rules are the coordinator's.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use protocol::generated::{OffsetDeleteRequest, OffsetDeleteResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    mut request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group_id = request.group_id.clone();
    if let Err(denied) = broker.require_group(context, AclOperation::Delete, &group_id) {
        return OffsetDeleteResponse {
            error_code: denied.error_code().code(),
            ..Default::default()
        };
    }
    // Topics the principal may not READ keep their offsets and answer
    // TOPIC_AUTHORIZATION_FAILED.
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| broker.allows_topic(context, AclOperation::Read, &t.name));
    request.topics = allowed;
    let mut response = GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        coordinator.offset_delete(now, &request).into()
    })
    .await
    .unwrap_or_else(|error| OffsetDeleteResponse {
        error_code: error.error_code().code(),
        ..Default::default()
    });
    if response.error_code == ErrorCode::None.code() {
        response.topics.extend(denied.into_iter().map(|t| {
            OffsetDeleteResponseTopic {
                name: t.name,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetDeleteResponsePartition {
                        partition_index: p.partition_index,
                        error_code: ErrorCode::TopicAuthorizationFailed.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        }));
    }
    response
}
