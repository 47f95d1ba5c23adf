//! OffsetCommit (v0-9): a group's consumed positions, checked against its generation and
//! members, appended to `__consumer_offsets` before the answer (so an acknowledged commit
//! survives a crash). The rules are the coordinator's (`coordinator::offsets`).
//!
//! Served from v0 (Kafka 4.2 advertises 2-10): librdkafka's balanced consumer needs v1-2, and
//! the coordinator handles every version the codec has (v1 commit timestamps, v2-4 retention).

use std::sync::Arc;

use protocol::generated::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use protocol::generated::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let version = context.api_version;
    let group_id = request.group_id.clone();
    // Kept for an error answer: every partition gets the error.
    let shape: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
            (t.name.clone(), partitions)
        })
        .collect();
    GroupCoordinatorService::call(broker, &group_id, move |coordinator, now| {
        coordinator.offset_commit(now, version, &request).into()
    })
    .await
    .unwrap_or_else(|error| {
        let code = error.error_code().code();
        OffsetCommitResponse {
            topics: shape
                .into_iter()
                .map(|(name, partitions)| OffsetCommitResponseTopic {
                    name,
                    partitions: partitions
                        .into_iter()
                        .map(|partition_index| OffsetCommitResponsePartition {
                            partition_index,
                            error_code: code,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    })
}
