//! Heartbeat (v0-4, classic protocol): keeps a member's session alive and tells it when the
//! group rebalances (REBALANCE_IN_PROGRESS). The rules are the coordinator's (`coordinator::sync`).

use std::sync::Arc;

use protocol::generated::{HeartbeatRequest, HeartbeatResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, Step};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let version = context.api_version;
    let group_id = request.group_id.clone();
    let answer = match broker.require_group(context, AclOperation::Read, &group_id) {
        Ok(()) => {
            GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
                Step::answer(coordinator.heartbeat(now, version, &request))
            })
            .await
        }
        Err(denied) => Err(denied),
    };
    answer.unwrap_or_else(|error| HeartbeatResponse {
        error_code: error.error_code().code(),
        ..Default::default()
    })
}
