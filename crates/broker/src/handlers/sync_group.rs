//! SyncGroup (v0-5, classic protocol): the leader's assignments in, each member's assignment
//! out. Followers that sync before the leader wait for it, bounded by the member's rebalance
//! timeout plus a margin, and by a shutdown. The rules are the coordinator's (`coordinator::sync`).

use std::sync::Arc;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::{SyncGroupRequest, SyncGroupResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::{GroupCoordinatorService, PARKED_WAIT_MARGIN_MS, Step, Waiter};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    match sync(broker, context, request).await {
        Ok(response) => response,
        Err(error) => error_response(error.error_code()),
    }
}

async fn sync(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: SyncGroupRequest,
) -> Result<SyncGroupResponse, BrokerError> {
    broker.require_group(context, AclOperation::Read, &request.group_id)?;
    let version = context.api_version;
    let group_id = request.group_id.clone();
    let fallback_ms = broker.groups.config().max_session_timeout_ms;
    let (answer, rebalance_timeout_ms) =
        GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
            // The member's own rebalance timeout bounds its wait (the sync deadline).
            let rebalance_timeout_ms = coordinator
                .group(&request.group_id)
                .and_then(|group| group.member(&request.member_id))
                .map_or(fallback_ms, |member| member.rebalance_timeout_ms());
            let outcome = coordinator.sync_group(now, version, &request);
            let step = Step::parking(outcome, Waiter::Sync);
            Step {
                response: (step.response, rebalance_timeout_ms),
                effects: step.effects,
                parked: step.parked,
            }
        })
        .await?;
    let bound_ms = rebalance_timeout_ms.max(0) as u64 + PARKED_WAIT_MARGIN_MS;
    GroupCoordinatorService::wait(broker, &group_id, answer, bound_ms).await
}

fn error_response(error: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: error.code(),
        protocol_type: None,
        protocol_name: None,
        assignment: Bytes::new(),
        ..Default::default()
    }
}
