//! JoinGroup (v0-9, classic protocol): hands the request to the group's coordinator shard and,
//! when the member must wait for the rebalance, waits for its answer (bounded by the member's
//! rebalance timeout, or the new-member join timeout, plus a margin; and by a shutdown).
//!
//! v0 is served although Kafka 4.0 dropped it (4.1 restored it, KAFKA-19444): librdkafka's
//! balanced consumer needs it. The rules are the coordinator's (`coordinator::join`).

use std::sync::Arc;

use coordinator::ClientInfo;
use protocol::ErrorCode;
use protocol::generated::{JoinGroupRequest, JoinGroupResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::{GroupCoordinatorService, PARKED_WAIT_MARGIN_MS, Step, Waiter};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = context.api_version;
    let member_id = request.member_id.clone();
    match join(broker, context, request).await {
        Ok(response) => response,
        Err(error) => error_response(&member_id, version, error.error_code()),
    }
}

async fn join(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: JoinGroupRequest,
) -> Result<JoinGroupResponse, BrokerError> {
    broker.require_group(context, AclOperation::Read, &request.group_id)?;
    let version = context.api_version;
    let client_id = context.client_id().to_owned();
    let client_host = format!("/{}", context.peer.ip());
    // v0 has no rebalance timeout: the session timeout stands in, as in the coordinator.
    let rebalance_timeout_ms = if version == 0 {
        request.session_timeout_ms
    } else {
        request.rebalance_timeout_ms
    };
    let new_member_ms = broker.groups.config().new_member_join_timeout_ms;
    let bound_ms = rebalance_timeout_ms.max(new_member_ms).max(0) as u64 + PARKED_WAIT_MARGIN_MS;
    let group_id = request.group_id.clone();
    let answer = GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        let client = ClientInfo {
            client_id: &client_id,
            client_host: &client_host,
        };
        let outcome = coordinator.join_group(now, client, version, &request);
        Step::parking(outcome, Waiter::Join)
    })
    .await?;
    GroupCoordinatorService::wait(broker, &group_id, answer, bound_ms).await
}

/// Kafka's JoinGroup error: generation -1, no leader, the member id as sent.
fn error_response(member_id: &str, version: i16, error: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: error.code(),
        generation_id: -1,
        protocol_type: None,
        // v0-6 cannot encode a null protocol name.
        protocol_name: (version < 7).then(String::new),
        leader: String::new(),
        member_id: member_id.to_owned(),
        ..Default::default()
    }
}
