//! ShareGroupDescribe (v1, KIP-932): each share group's epochs, assignor and members with their
//! assignments, asked of the group's coordinator shard. Unknown groups and groups of other
//! types answer GROUP_ID_NOT_FOUND; each group needs DESCRIBE (else
//! GROUP_AUTHORIZATION_FAILED).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::share_group_describe_response::DescribedGroup;
use protocol::generated::{ShareGroupDescribeRequest, ShareGroupDescribeResponse};
use security::acl::{AclOperation, ResourceType};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, topics_image};

/// `authorizedOperations` when not requested (Kafka's `Integer.MIN_VALUE`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let topics = Arc::new(topics_image(broker));
    let mut groups = Vec::with_capacity(request.group_ids.len());
    for group_id in &request.group_ids {
        let error_entry = |code: i16| DescribedGroup {
            group_id: group_id.clone(),
            error_code: code,
            authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            ..Default::default()
        };
        if !broker.allows_group(context, AclOperation::Describe, group_id) {
            groups.push(error_entry(ErrorCode::GroupAuthorizationFailed.code()));
            continue;
        }
        let one = ShareGroupDescribeRequest {
            group_ids: vec![group_id.clone()],
            ..Default::default()
        };
        let topics = Arc::clone(&topics);
        let described = GroupCoordinatorService::read(broker, group_id, move |coordinator| {
            coordinator.share_group_describe(&one, &topics)
        })
        .await;
        let mut entry = match described {
            Ok(mut response) => response
                .groups
                .pop()
                .unwrap_or_else(|| error_entry(ErrorCode::UnknownServerError.code())),
            Err(error) => error_entry(error.error_code().code()),
        };
        if request.include_authorized_operations && entry.error_code == ErrorCode::None.code() {
            entry.authorized_operations =
                broker.authorized_operations(context, ResourceType::Group, group_id);
        }
        groups.push(entry);
    }
    ShareGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}
