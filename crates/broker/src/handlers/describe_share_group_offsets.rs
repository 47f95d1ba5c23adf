//! DescribeShareGroupOffsets (v0-1, KIP-932): each share-partition's start offset and, from
//! v1, its lag (the high watermark less the start offset less the records already
//! acknowledged or archived above it, Kafka's KIP-1226 lag). Topics null means every
//! share-partition of the group. A partition without state answers start offset -1, as Kafka's
//! does for an uninitialized one. DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED) and on
//! each topic (else TOPIC_AUTHORIZATION_FAILED per partition).
//!
//! The state is this broker's (`share::ShareState`): on a single node that is all of it; in a
//! cluster only the partitions this node leads answer with offsets (share state is not yet
//! persisted in `__share_group_state` where any coordinator could read it).

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use protocol::generated::{DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::share::ShareKey;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let groups = request
        .groups
        .iter()
        .map(|group| {
            if !broker.allows_group(context, AclOperation::Describe, &group.group_id) {
                return DescribeShareGroupOffsetsResponseGroup {
                    group_id: group.group_id.clone(),
                    error_code: ErrorCode::GroupAuthorizationFailed.code(),
                    ..Default::default()
                };
            }
            // Which partitions: the named ones, or every share-partition of the group.
            let wanted: Vec<(String, Vec<i32>)> = match &group.topics {
                Some(topics) => topics
                    .iter()
                    .map(|t| (t.topic_name.clone(), t.partitions.clone()))
                    .collect(),
                None => {
                    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (key, _) in broker.shares.of_group(&group.group_id) {
                        if let Some(name) = broker.metadata.topic_name(key.topic_id) {
                            by_topic.entry(name).or_default().push(key.partition);
                        }
                    }
                    by_topic.into_iter().collect()
                }
            };
            let topics = wanted
                .into_iter()
                .map(|(name, partitions)| {
                    describe_topic(broker, context, &group.group_id, name, partitions)
                })
                .collect();
            DescribeShareGroupOffsetsResponseGroup {
                group_id: group.group_id.clone(),
                topics,
                ..Default::default()
            }
        })
        .collect();
    DescribeShareGroupOffsetsResponse {
        groups,
        ..Default::default()
    }
}

fn describe_topic(
    broker: &Broker,
    context: &RequestContext,
    group_id: &str,
    name: String,
    partitions: Vec<i32>,
) -> DescribeShareGroupOffsetsResponseTopic {
    let topic_id = broker
        .metadata
        .topic(&name)
        .map(|t| t.uuid())
        .unwrap_or_default();
    let readable = broker.allows_topic(context, AclOperation::Describe, &name);
    let partitions = partitions
        .into_iter()
        .map(|index| {
            let unknown = DescribeShareGroupOffsetsResponsePartition {
                partition_index: index,
                start_offset: -1,
                leader_epoch: -1,
                lag: -1,
                ..Default::default()
            };
            if !readable {
                return DescribeShareGroupOffsetsResponsePartition {
                    error_code: ErrorCode::TopicAuthorizationFailed.code(),
                    ..unknown
                };
            }
            let key = ShareKey {
                group_id: group_id.to_owned(),
                topic_id,
                partition: index,
            };
            let Some(share) = broker.shares.existing(&key) else {
                return unknown;
            };
            let (start, done) = {
                let share = share.lock().unwrap();
                (share.start_offset(), share.done_in_window() as i64)
            };
            let partition = broker.replicas.get(&name, index);
            let high_watermark = partition.as_ref().and_then(|p| p.high_watermark().ok());
            DescribeShareGroupOffsetsResponsePartition {
                start_offset: start,
                leader_epoch: partition.map_or(-1, |p| p.leader_epoch()),
                lag: high_watermark.map_or(-1, |hw| (hw - start - done).max(0)),
                ..unknown
            }
        })
        .collect();
    DescribeShareGroupOffsetsResponseTopic {
        topic_name: name,
        topic_id,
        partitions,
        ..Default::default()
    }
}
