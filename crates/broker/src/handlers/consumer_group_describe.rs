//! ConsumerGroupDescribe (v0, KIP-848): each consumer group's epochs, assignor and members with
//! their current and target assignments (topic names from the cluster's topics), asked of the
//! group's own coordinator shard. Classic and unknown groups answer GROUP_ID_NOT_FOUND. Each
//! group needs DESCRIBE (else GROUP_AUTHORIZATION_FAILED); Kafka's further check that the
//! principal may describe every assigned topic is not made.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::consumer_group_describe_response::DescribedGroup;
use protocol::generated::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use security::acl::{AclOperation, ResourceType};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, topics_image};

/// `authorizedOperations` when not requested (Kafka's `Integer.MIN_VALUE`).
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let topics = Arc::new(topics_image(broker));
    let mut groups = Vec::with_capacity(request.group_ids.len());
    for group_id in &request.group_ids {
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
            let one = ConsumerGroupDescribeRequest {
                group_ids: vec![group_id.clone()],
                include_authorized_operations: request.include_authorized_operations,
                ..Default::default()
            };
            let topics = Arc::clone(&topics);
            let described = GroupCoordinatorService::read(broker, group_id, move |coordinator| {
                coordinator.consumer_group_describe(&topics, &one)
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
            if request.include_authorized_operations && entry.error_code == ErrorCode::None.code() {
                entry.authorized_operations =
                    broker.authorized_operations(context, ResourceType::Group, group_id);
            }
            entry
        });
    }
    ConsumerGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}
