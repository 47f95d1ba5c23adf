//! ConsumerGroupHeartbeat (v0-1, KIP-848): the consumer protocol's single API for joining,
//! heartbeating, reconciling and leaving. Handed to the group's coordinator shard with the
//! cluster's topics (`group_coordinator::topics_image`), answered after its records are in
//! `__consumer_offsets`. Never parks: members learn of changes on their next heartbeat.
//! The rules are the coordinator's (`coordinator::consumer_heartbeat`).

use std::sync::Arc;

use coordinator::ClientInfo;
use protocol::generated::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, Step, topics_image};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let version = context.api_version;
    let client_id = context.client_id().to_owned();
    let client_host = format!("/{}", context.peer.ip());
    let group_id = request.group_id.clone();
    // READ on the group; every subscribed name needs DESCRIBE, or the whole answer is
    // TOPIC_AUTHORIZATION_FAILED.
    let names = request
        .subscribed_topic_names
        .as_deref()
        .unwrap_or_default();
    if let Err(denied) = broker.require_group_member(context, &group_id, names) {
        return ConsumerGroupHeartbeatResponse {
            error_code: denied.error_code().code(),
            error_message: denied.message(),
            ..Default::default()
        };
    }
    let topics = topics_image(broker);
    GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        let client = ClientInfo {
            client_id: &client_id,
            client_host: &client_host,
        };
        Step::from(coordinator.consumer_group_heartbeat(now, version, client, &topics, &request))
    })
    .await
    .unwrap_or_else(|error| ConsumerGroupHeartbeatResponse {
        error_code: error.error_code().code(),
        error_message: error.message(),
        ..Default::default()
    })
}
