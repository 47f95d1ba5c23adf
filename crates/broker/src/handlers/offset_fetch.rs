//! OffsetFetch (v0-9): a group's committed offsets (v0-7 one group, v8+ several, each asked of
//! its own coordinator shard). A null topic list means every committed partition. The rules are
//! the coordinator's (`coordinator::offsets`); reads append nothing.

use std::sync::Arc;

use protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use protocol::generated::{OffsetFetchRequest, OffsetFetchResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::Step;

pub fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = context.api_version;
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|group| {
                let one = OffsetFetchRequest {
                    groups: vec![group.clone()],
                    require_stable: request.require_stable,
                    ..Default::default()
                };
                fetch(broker, &group.group_id, version, one)
                    .and_then(|mut response| {
                        response.groups.pop().ok_or_else(|| {
                            BrokerError::InvalidRequest("no group in the answer".into())
                        })
                    })
                    .unwrap_or_else(|error| OffsetFetchResponseGroup {
                        group_id: group.group_id.clone(),
                        error_code: error.error_code().code(),
                        ..Default::default()
                    })
            })
            .collect();
        return OffsetFetchResponse {
            groups,
            ..Default::default()
        };
    }
    let group_id = request.group_id.clone();
    let topics = request.topics.clone();
    fetch(broker, &group_id, version, request).unwrap_or_else(|error| {
        let code = error.error_code().code();
        // v0-1 have no top-level error: each asked partition carries it.
        let topics = topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| OffsetFetchResponseTopic {
                name: t.name,
                partitions: t
                    .partition_indexes
                    .into_iter()
                    .map(|partition_index| OffsetFetchResponsePartition {
                        partition_index,
                        committed_offset: -1,
                        committed_leader_epoch: -1,
                        metadata: Some(String::new()),
                        error_code: code,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        OffsetFetchResponse {
            topics,
            error_code: code,
            ..Default::default()
        }
    })
}

fn fetch(
    broker: &Broker,
    group_id: &str,
    version: i16,
    request: OffsetFetchRequest,
) -> Result<OffsetFetchResponse, BrokerError> {
    let partition = broker.groups.partition_for(group_id)?;
    broker
        .groups
        .execute(broker, partition, |coordinator, _now| {
            Step::answer(coordinator.offset_fetch(version, &request))
        })
}
