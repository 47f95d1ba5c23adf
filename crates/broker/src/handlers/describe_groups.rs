//! DescribeGroups (v0-6): each group's state, protocol and members (with metadata and
//! assignments when Stable), asked of the group's own coordinator shard. An unknown group is
//! described as Dead; from v6 (KIP-1043) also with GROUP_ID_NOT_FOUND and a message, as Kafka
//! answers. Each group needs DESCRIBE (else GROUP_AUTHORIZATION_FAILED in its entry).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_groups_response::DescribedGroup;
use protocol::generated::{DescribeGroupsRequest, DescribeGroupsResponse};

use security::acl::{AclOperation, ResourceType};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

/// `authorizedOperations` when not requested (Kafka's `Integer.MIN_VALUE`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// The first version that answers an unknown group with GROUP_ID_NOT_FOUND.
const GROUP_ID_NOT_FOUND_VERSION: i16 = 6;
/// The state of a group that does not exist.
const DEAD: &str = "Dead";

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = context.api_version;
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in &request.groups {
        if !broker.allows_group(context, AclOperation::Describe, group_id) {
            groups.push(DescribedGroup {
                group_id: group_id.clone(),
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
                authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                ..Default::default()
            });
            continue;
        }
        groups.push({
            let one = DescribeGroupsRequest {
                groups: vec![group_id.clone()],
                include_authorized_operations: request.include_authorized_operations,
                ..Default::default()
            };
            let described = GroupCoordinatorService::read(broker, group_id, move |coordinator| {
                coordinator.describe_groups(version, &one)
            })
            .await;
            let error_entry = |code: i16| DescribedGroup {
                group_id: group_id.clone(),
                error_code: code,
                authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                ..Default::default()
            };
            let mut entry = match described {
                Ok(mut response) => response
                    .groups
                    .pop()
                    .unwrap_or_else(|| error_entry(ErrorCode::UnknownServerError.code())),
                Err(error) => error_entry(error.error_code().code()),
            };
            if version >= GROUP_ID_NOT_FOUND_VERSION
                && entry.error_code == ErrorCode::None.code()
                && entry.group_state == DEAD
            {
                entry.error_code = ErrorCode::GroupIdNotFound.code();
                entry.error_message = Some(format!("Group {group_id} not found."));
            }
            if request.include_authorized_operations && entry.error_code == ErrorCode::None.code() {
                entry.authorized_operations =
                    broker.authorized_operations(context, ResourceType::Group, group_id);
            }
            entry
        });
    }
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}
