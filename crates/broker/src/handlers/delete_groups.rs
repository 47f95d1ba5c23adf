//! DeleteGroups (v0-2): deletes Empty groups with their offsets (tombstones in
//! `__consumer_offsets`); groups with members get NON_EMPTY_GROUP. The groups of one
//! coordinator shard are deleted in one operation (one append); results keep request order.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::generated::delete_groups_response::DeletableGroupResult;
use protocol::generated::{DeleteGroupsRequest, DeleteGroupsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let version = context.api_version;
    let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut results: BTreeMap<String, i16> = BTreeMap::new();
    for group_id in &request.groups_names {
        if let Err(denied) = broker.require_group(context, AclOperation::Delete, group_id) {
            results.insert(group_id.clone(), denied.error_code().code());
            continue;
        }
        match broker.groups.partition_for(group_id) {
            Ok(partition) => by_partition
                .entry(partition)
                .or_default()
                .push(group_id.clone()),
            Err(error) => {
                results.insert(group_id.clone(), error.error_code().code());
            }
        }
    }
    for (partition, groups_names) in by_partition {
        let shard_request = DeleteGroupsRequest {
            groups_names: groups_names.clone(),
            ..Default::default()
        };
        // Answered once the tombstones reach the ISR (in a cluster).
        let deleted = GroupCoordinatorService::write(broker, partition, move |coordinator, now| {
            let share_groups: Vec<String> = shard_request
                .groups_names
                .iter()
                .filter(|g| coordinator.is_share_group(g))
                .cloned()
                .collect();
            let outcome = coordinator.delete_groups(now, version, &shard_request);
            crate::group_coordinator::Step {
                response: (outcome.response, share_groups),
                effects: coordinator::Effects {
                    records: outcome.records,
                    completed: outcome.completed,
                },
                parked: None,
            }
        })
        .await;
        match deleted {
            Ok((response, shard_share_groups)) => {
                for result in response.results {
                    // A deleted share group's share-partitions and persisted states go with it.
                    if result.error_code == 0 && shard_share_groups.contains(&result.group_id) {
                        let known = broker.shares.remove_group(&result.group_id);
                        crate::share::persist::delete_group(
                            broker,
                            &result.group_id,
                            known.iter().map(crate::share::state_key).collect(),
                        )
                        .await;
                    }
                    results.insert(result.group_id, result.error_code);
                }
            }
            Err(error) => {
                for group_id in groups_names {
                    results.insert(group_id, error.error_code().code());
                }
            }
        }
    }
    DeleteGroupsResponse {
        results: request
            .groups_names
            .into_iter()
            .map(|group_id| DeletableGroupResult {
                error_code: results.get(&group_id).copied().unwrap_or_default(),
                group_id,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
