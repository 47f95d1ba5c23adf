//! OffsetDelete (v0): removes a group's committed offsets of topics it does not read
//! (tombstones in `__consumer_offsets`). The rules are the coordinator's.

use std::sync::Arc;

use protocol::generated::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    _context: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group_id = request.group_id.clone();
    GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        coordinator.offset_delete(now, &request).into()
    })
    .await
    .unwrap_or_else(|error| OffsetDeleteResponse {
        error_code: error.error_code().code(),
        ..Default::default()
    })
}
