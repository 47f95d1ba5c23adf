//! ShareGroupHeartbeat (v1, KIP-932): joining, heartbeating and leaving a share group. Handed
//! to the group's coordinator shard with the cluster's topics; the rules are the
//! coordinator's (`coordinator::share_group`). A member that leaves (epoch -1) has its share
//! sessions on this broker closed and the records it held released.

use std::sync::Arc;

use coordinator::ClientInfo;
use protocol::generated::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, Step, topics_image};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    let client_id = context.client_id().to_owned();
    let client_host = format!("/{}", context.peer.ip());
    let group_id = request.group_id.clone();
    // READ on the group; every subscribed name needs DESCRIBE.
    let names = request
        .subscribed_topic_names
        .as_deref()
        .unwrap_or_default();
    if let Err(denied) = broker.require_group_member(context, &group_id, names) {
        return ShareGroupHeartbeatResponse {
            error_code: denied.error_code().code(),
            error_message: denied.message(),
            ..Default::default()
        };
    }
    let leaving = request.member_epoch == -1;
    let member_id = request.member_id.clone();
    let topics = topics_image(broker);
    let response = GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        let client = ClientInfo {
            client_id: &client_id,
            client_host: &client_host,
        };
        Step::from(coordinator.share_group_heartbeat(now, client, &topics, &request))
    })
    .await
    .unwrap_or_else(|error| ShareGroupHeartbeatResponse {
        error_code: error.error_code().code(),
        error_message: error.message(),
        ..Default::default()
    });
    if leaving {
        let limits = crate::group_configs::share_settings(broker, &group_id).limits;
        let changed = broker.shares.close_member(&group_id, &member_id, &limits);
        broker.shares.persist_later(broker, changed);
    }
    response
}
