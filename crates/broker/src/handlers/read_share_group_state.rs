//! ReadShareGroupState (v0, inter-broker, KIP-932): a share-partition's leader reads the state
//! this broker's share coordinator keeps (`share::persist`). Only from another broker
//! (CLUSTER_ACTION, or a peer connection without an authorizer). A key never written answers
//! StartOffset -1 with no error (Runnel's convention between its brokers; Kafka initializes
//! keys first with InitializeShareGroupState).

use std::sync::Arc;

use coordinator::share_state::ShareStateKey;
use protocol::ErrorCode;
use protocol::generated::read_share_group_state_response::{
    PartitionResult, ReadStateResult, StateBatch,
};
use protocol::generated::{ReadShareGroupStateRequest, ReadShareGroupStateResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ReadShareGroupStateRequest,
) -> ReadShareGroupStateResponse {
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
            let read = if allowed {
                crate::share::persist::read_local(broker, &key, p.leader_epoch).await
            } else {
                Err(ErrorCode::ClusterAuthorizationFailed)
            };
            partitions.push(match read {
                Ok(Some(state)) => PartitionResult {
                    partition: p.partition,
                    state_epoch: state.state_epoch,
                    start_offset: state.start_offset,
                    state_batches: state
                        .batches
                        .iter()
                        .map(|b| StateBatch {
                            first_offset: b.first_offset,
                            last_offset: b.last_offset,
                            delivery_state: b.delivery_state,
                            delivery_count: b.delivery_count,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
                Ok(None) => PartitionResult {
                    partition: p.partition,
                    state_epoch: -1,
                    start_offset: -1,
                    ..Default::default()
                },
                Err(code) => PartitionResult {
                    partition: p.partition,
                    error_code: code.code(),
                    start_offset: -1,
                    ..Default::default()
                },
            });
        }
        results.push(ReadStateResult {
            topic_id: topic.topic_id,
            partitions,
            ..Default::default()
        });
    }
    ReadShareGroupStateResponse {
        results,
        ..Default::default()
    }
}
