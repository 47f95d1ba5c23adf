//! AlterShareGroupOffsets (v0, KIP-932): sets the start offset of a share group's
//! share-partitions (`kafka-share-groups --reset-offsets --execute`). The group is created when
//! missing and must have no members (NON_EMPTY_GROUP, top-level); a partition the topic does
//! not have is UNKNOWN_TOPIC_OR_PARTITION. READ on the group and on each topic.
//!
//! Each start offset is set on the partition's leader, which must be this broker (in a cluster,
//! a partition led elsewhere is refused with NOT_LEADER_OR_FOLLOWER: Kafka's coordinator writes
//! the share coordinator directly, Runnel's leaders own their share-partitions), and written to
//! the share coordinator before the answer.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use protocol::generated::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use super::share_common::share_group_offsets_check;
use crate::broker::Broker;
use crate::share::ShareKey;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    let group_id = request.group_id.clone();
    let top = |code: ErrorCode| AlterShareGroupOffsetsResponse {
        error_code: code.code(),
        ..Default::default()
    };
    if let Err(code) =
        share_group_offsets_check(broker, context, AclOperation::Read, &group_id, true).await
    {
        return top(code);
    }
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let metadata = broker.metadata.topic(&topic.topic_name);
        let readable = broker.allows_topic(context, AclOperation::Read, &topic.topic_name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let outcome = if !readable {
                Err(ErrorCode::TopicAuthorizationFailed)
            } else {
                match &metadata {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    Some(t) if p.partition_index < 0 || p.partition_index >= t.partitions => {
                        Err(ErrorCode::UnknownTopicOrPartition)
                    }
                    Some(t) => {
                        alter_one(broker, &group_id, t, p.partition_index, p.start_offset).await
                    }
                }
            };
            partitions.push(AlterShareGroupOffsetsResponsePartition {
                partition_index: p.partition_index,
                error_code: outcome.err().unwrap_or(ErrorCode::None).code(),
                ..Default::default()
            });
        }
        responses.push(AlterShareGroupOffsetsResponseTopic {
            topic_name: topic.topic_name.clone(),
            topic_id: metadata.as_ref().map(|t| t.uuid()).unwrap_or_default(),
            partitions,
            ..Default::default()
        });
    }
    AlterShareGroupOffsetsResponse {
        responses,
        ..Default::default()
    }
}

async fn alter_one(
    broker: &Arc<Broker>,
    group_id: &str,
    topic: &crate::metadata::TopicMetadata,
    partition: i32,
    start_offset: i64,
) -> Result<(), ErrorCode> {
    let hosted = broker
        .replicas
        .get(&topic.name, partition)
        .ok_or(ErrorCode::NotLeaderOrFollower)?;
    hosted.check_serving_leader().map_err(|e| e.error_code())?;
    // -1 is "latest" (Kafka's reset tool sends resolved offsets; a negative one means the end).
    let offset = if start_offset < 0 {
        hosted.high_watermark().map_err(|e| e.error_code())?
    } else {
        start_offset
    };
    let key = ShareKey {
        group_id: group_id.to_owned(),
        topic_id: topic.uuid(),
        partition,
    };
    broker.shares.reset(broker, &key, &hosted, offset).await
}
