//! DescribeTopicPartitions (v0, KIP-966): the paginated topic listing Kafka 4's admin client
//! and `kafka-topics --describe` use when the broker advertises it. Topics (the requested ones,
//! or all when none are named) are answered in name order from the cursor, with at most
//! `response_partition_limit` partitions (capped at Kafka's default
//! `max.request.partition.size.limit`, 2000); `next_cursor` says where the next page starts.
//!
//! On a single node every partition's leader, replicas and ISR are this broker and the eligible
//! leader replicas and last known ELR are empty; in a cluster all come from the metadata image
//! (KIP-966; `controller::partition`).
//! Topics need DESCRIBE: named ones get TOPIC_AUTHORIZATION_FAILED, a listing leaves them out.

use std::collections::BTreeSet;
use std::sync::Arc;

use protocol::generated::DescribeTopicPartitionsRequest;
use protocol::generated::DescribeTopicPartitionsResponse;
use protocol::generated::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use protocol::{ErrorCode, Uuid};

use security::acl::{AclOperation, ResourceType};

use super::RequestContext;
use crate::broker::Broker;

/// Kafka's default `max.request.partition.size.limit`.
pub const RESPONSE_PARTITIONS_MAX: i32 = 2000;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let mut remaining = request
        .response_partition_limit
        .clamp(1, RESPONSE_PARTITIONS_MAX);
    let (cursor_topic, cursor_partition) = match &request.cursor {
        Some(cursor) => (cursor.topic_name.clone(), cursor.partition_index.max(0)),
        None => (String::new(), 0),
    };
    let describable = |name: &str| broker.allows_topic(context, AclOperation::Describe, name);
    // Name order; a BTreeSet also drops duplicate names. Listing all leaves out what the
    // principal may not describe.
    let names: BTreeSet<String> = if request.topics.is_empty() {
        broker
            .metadata
            .topics()
            .into_iter()
            .map(|t| t.name)
            .filter(|name| describable(name))
            .collect()
    } else {
        request.topics.into_iter().map(|t| t.name).collect()
    };
    let mut names = names
        .into_iter()
        .filter(|name| name.as_str() >= cursor_topic.as_str())
        .peekable();
    let mut topics = Vec::new();
    let mut next_cursor = None;
    while let Some(name) = names.next() {
        let operations = broker.authorized_operations(context, ResourceType::Topic, &name);
        let topic = match broker.metadata.topic(&name) {
            Some(topic) if describable(&name) => topic,
            found => {
                let code = if found.is_some() || !describable(&name) {
                    ErrorCode::TopicAuthorizationFailed
                } else {
                    ErrorCode::UnknownTopicOrPartition
                };
                topics.push(DescribeTopicPartitionsResponseTopic {
                    error_code: code.code(),
                    name: Some(name),
                    topic_id: Uuid::ZERO,
                    topic_authorized_operations: operations,
                    ..Default::default()
                });
                continue;
            }
        };
        let first = if name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        let last = topic.partitions.min(first.saturating_add(remaining));
        let partitions: Vec<_> = (first..last)
            .map(|index| {
                let view = super::metadata::partition_view(broker, &name, index);
                DescribeTopicPartitionsResponsePartition {
                    error_code: view.error.code(),
                    partition_index: index,
                    leader_id: view.leader,
                    leader_epoch: view.leader_epoch,
                    replica_nodes: view.replicas,
                    isr_nodes: view.isr,
                    eligible_leader_replicas: Some(view.elr),
                    last_known_elr: Some(view.last_known_elr),
                    offline_replicas: view.offline,
                    ..Default::default()
                }
            })
            .collect();
        remaining -= (last - first).max(0);
        topics.push(DescribeTopicPartitionsResponseTopic {
            error_code: ErrorCode::None.code(),
            name: Some(name.clone()),
            topic_id: topic.uuid(),
            is_internal: name.starts_with("__"),
            partitions,
            topic_authorized_operations: operations,
            ..Default::default()
        });
        if last < topic.partitions {
            next_cursor = Some(Cursor {
                topic_name: name,
                partition_index: last,
                ..Default::default()
            });
            break;
        }
        if remaining == 0 {
            next_cursor = names.peek().map(|next| Cursor {
                topic_name: next.clone(),
                partition_index: 0,
                ..Default::default()
            });
            break;
        }
    }
    DescribeTopicPartitionsResponse {
        throttle_time_ms: 0,
        topics,
        next_cursor,
        ..Default::default()
    }
}
