//! ListGroups (v0-5): every group of every coordinator shard, with the v4 state and v5 type
//! filters, sorted by group id. A shard that cannot answer makes the top-level error its
//! error while the other shards' groups are still listed.

use std::sync::Arc;

use protocol::generated::{ListGroupsRequest, ListGroupsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::{GroupCoordinatorService, Step};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = context.api_version;
    let mut response = ListGroupsResponse::default();
    for partition in 0..broker.groups.partition_count() {
        let request = request.clone();
        let listed =
            GroupCoordinatorService::call_partition(broker, partition, move |coordinator, _now| {
                Step::answer(coordinator.list_groups(version, &request))
            })
            .await;
        match listed {
            Ok(shard) => response.groups.extend(shard.groups),
            Err(error) => response.error_code = error.error_code().code(),
        }
    }
    // DESCRIBE on the cluster lists every group; otherwise those the principal may DESCRIBE,
    // the others left out silently.
    if !broker.allows_cluster(context, AclOperation::Describe) {
        response
            .groups
            .retain(|g| broker.allows_group(context, AclOperation::Describe, &g.group_id));
    }
    response.groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    response
}
