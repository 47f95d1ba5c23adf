//! OffsetForLeaderEpoch (KIP-101/320): for each partition, the largest leader epoch at or below
//! the requested one in this leader's log and the offset where it ends (the log end offset for
//! the latest epoch). Consumers use it to check their position after a leader change (a
//! position past the end of its epoch was truncated away). Only the leader answers
//! (NOT_LEADER_OR_FOLLOWER elsewhere), after checking the caller's current leader epoch
//! (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). An epoch older than the log's first gives
//! epoch -1 and offset -1, as Kafka answers.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use protocol::generated::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // A follower (CLUSTER_ACTION) may ask of any topic, a consumer of those it may DESCRIBE.
    let cluster_action = broker.allows_cluster(context, AclOperation::ClusterAction);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let allowed = cluster_action
                || broker.allows_topic(context, AclOperation::Describe, &topic.topic);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = if allowed {
                        end_offset(
                            broker,
                            &topic.topic,
                            p.partition,
                            p.current_leader_epoch,
                            p.leader_epoch,
                        )
                    } else {
                        Err(BrokerError::NotAuthorized(
                            ErrorCode::TopicAuthorizationFailed,
                        ))
                    };
                    match result {
                        Ok((leader_epoch, end_offset)) => EpochEndOffset {
                            partition: p.partition,
                            leader_epoch,
                            end_offset,
                            ..Default::default()
                        },
                        Err(error) => EpochEndOffset {
                            error_code: error.error_code().code(),
                            partition: p.partition,
                            leader_epoch: -1,
                            end_offset: -1,
                            ..Default::default()
                        },
                    }
                })
                .collect();
            OffsetForLeaderTopicResult {
                topic: topic.topic,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics,
        ..Default::default()
    }
}

fn end_offset(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> Result<(i32, i64), BrokerError> {
    let partition = broker.replicas.partition(topic, index)?;
    partition.check_serving_leader_epoch(current_leader_epoch)?;
    partition.end_offset_for_epoch(leader_epoch)
}
