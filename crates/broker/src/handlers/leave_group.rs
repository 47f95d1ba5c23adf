//! LeaveGroup (v0-5, classic protocol): members leaving (v0-2 one member, v3+ a batch, by
//! member id or, for static members, by group instance id). Leaving rebalances the group; the
//! remaining members' parked JoinGroups may be answered by this call.

use std::sync::Arc;

use protocol::generated::leave_group_response::MemberResponse;
use protocol::generated::{LeaveGroupRequest, LeaveGroupResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = context.api_version;
    let group_id = request.group_id.clone();
    let members: Vec<MemberResponse> = request
        .members
        .iter()
        .map(|m| MemberResponse {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            ..Default::default()
        })
        .collect();
    let answer = match broker.require_group(context, AclOperation::Read, &group_id) {
        Ok(()) => {
            GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
                coordinator.leave_group(now, version, &request).into()
            })
            .await
        }
        Err(denied) => Err(denied),
    };
    answer.unwrap_or_else(|error| {
        let code = error.error_code().code();
        LeaveGroupResponse {
            error_code: code,
            members: members
                .into_iter()
                .map(|m| MemberResponse {
                    error_code: code,
                    ..m
                })
                .collect(),
            ..Default::default()
        }
    })
}
