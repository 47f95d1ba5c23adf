//! WriteShareGroupState (v0-1, inter-broker, KIP-932): a share-partition's leader writes its
//! state to this broker's share coordinator (`share::persist`), answered once the snapshot
//! record is in `__share_group_state` and replicated. Only from another broker; a leader epoch
//! below the stored one is FENCED_LEADER_EPOCH.

use std::sync::Arc;

use coordinator::share_state::{ShareStateBatch, ShareStateKey};
use protocol::ErrorCode;
use protocol::generated::write_share_group_state_response::{PartitionResult, WriteStateResult};
use protocol::generated::{WriteShareGroupStateRequest, WriteShareGroupStateResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: WriteShareGroupStateRequest,
) -> WriteShareGroupStateResponse {
    let allowed = broker.allows_inter_broker(context);
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let key = ShareStateKey {
                group_id: request.group_id.clone(),
                topic_id: topic.topic_id,
                partition: p.partition,
            };
            let batches = p
                .state_batches
                .iter()
                .map(|b| ShareStateBatch {
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                    delivery_state: b.delivery_state,
                    delivery_count: b.delivery_count,
                })
                .collect();
            let written = if allowed {
                crate::share::persist::write_local(
                    broker,
                    &key,
                    p.leader_epoch,
                    p.start_offset,
                    batches,
                )
                .await
            } else {
                Err(ErrorCode::ClusterAuthorizationFailed)
            };
            partitions.push(PartitionResult {
                partition: p.partition,
                error_code: written.err().unwrap_or(ErrorCode::None).code(),
                ..Default::default()
            });
        }
        results.push(WriteStateResult {
            topic_id: topic.topic_id,
            partitions,
            ..Default::default()
        });
    }
    WriteShareGroupStateResponse {
        results,
        ..Default::default()
    }
}
