//! DescribeGroups (v0-5): each group's state, protocol and members (with metadata and
//! assignments when Stable), asked of the group's own coordinator shard. An unknown group is
//! described as Dead, as Kafka does before v6.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_groups_response::DescribedGroup;
use protocol::generated::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::Step;

/// `authorizedOperations` when not requested (Kafka's `Integer.MIN_VALUE`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = context.api_version;
    let groups = request
        .groups
        .iter()
        .map(|group_id| {
            let one = DescribeGroupsRequest {
                groups: vec![group_id.clone()],
                include_authorized_operations: request.include_authorized_operations,
                ..Default::default()
            };
            let described = broker.groups.partition_for(group_id).and_then(|partition| {
                broker
                    .groups
                    .execute(broker, partition, |coordinator, _now| {
                        Step::answer(coordinator.describe_groups(version, &one))
                    })
            });
            let error_entry = |code: i16| DescribedGroup {
                group_id: group_id.clone(),
                error_code: code,
                authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                ..Default::default()
            };
            match described {
                Ok(mut response) => response
                    .groups
                    .pop()
                    .unwrap_or_else(|| error_entry(ErrorCode::UnknownServerError.code())),
                Err(error) => error_entry(error.error_code().code()),
            }
        })
        .collect();
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}
