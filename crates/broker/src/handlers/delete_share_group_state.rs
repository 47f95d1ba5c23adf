//! DeleteShareGroupState (v0, inter-broker, KIP-932): forgets share-partition states kept by
//! this broker's share coordinator (a tombstone each), for DeleteGroups and
//! DeleteShareGroupOffsets. Only from another broker.

use std::sync::Arc;

use coordinator::share_state::ShareStateKey;
use protocol::ErrorCode;
use protocol::generated::delete_share_group_state_response::{DeleteStateResult, PartitionResult};
use protocol::generated::{DeleteShareGroupStateRequest, DeleteShareGroupStateResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DeleteShareGroupStateRequest,
) -> DeleteShareGroupStateResponse {
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
            let deleted = if allowed {
                crate::share::persist::delete_local(broker, &key).await
            } else {
                Err(ErrorCode::ClusterAuthorizationFailed)
            };
            partitions.push(PartitionResult {
                partition: p.partition,
                error_code: deleted.err().unwrap_or(ErrorCode::None).code(),
                ..Default::default()
            });
        }
        results.push(DeleteStateResult {
            topic_id: topic.topic_id,
            partitions,
            ..Default::default()
        });
    }
    DeleteShareGroupStateResponse {
        results,
        ..Default::default()
    }
}
