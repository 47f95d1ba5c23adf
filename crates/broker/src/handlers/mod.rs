//! Request handlers, one module per Kafka API, named after it, and the dispatch from a decoded
//! request body to its handler. A handler gets the broker and the request context and returns
//! the response body; errors of a partition or topic go into that entry's error code (mapped
//! in `error.rs`), never into a dropped connection.

mod alter_configs;
pub mod api_versions;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_topic_partitions;
mod elect_leaders;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod long_poll;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
pub mod produce;
mod replica_fetch;
mod sync_group;

use std::net::SocketAddr;
use std::sync::Arc;

use protocol::generated::RequestHeader;
use protocol::{RequestBody, ResponseBody};

use crate::broker::Broker;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub header: RequestHeader,
    pub api_version: i16,
    pub peer: SocketAddr,
}

impl RequestContext {
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }
}

/// Handles one request. `None` means no response is sent (Produce with acks=0).
///
/// Only APIs listed in [`api_versions::served_versions`] reach this point; the connection
/// refuses the others before decoding.
pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    body: RequestBody,
) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::ApiVersions(request) => api_versions::handle(broker, context, request).into(),
        RequestBody::Metadata(request) => metadata::handle(broker, context, request).await.into(),
        RequestBody::AlterConfigs(request) => {
            alter_configs::handle(broker, context, request).into()
        }
        RequestBody::CreatePartitions(request) => {
            create_partitions::handle(broker, context, request)
                .await
                .into()
        }
        RequestBody::CreateTopics(request) => {
            create_topics::handle(broker, context, request).await.into()
        }
        RequestBody::DeleteTopics(request) => {
            delete_topics::handle(broker, context, request).await.into()
        }
        RequestBody::DescribeCluster(request) => {
            describe_cluster::handle(broker, context, request).into()
        }
        RequestBody::DescribeConfigs(request) => {
            describe_configs::handle(broker, context, request).into()
        }
        RequestBody::DescribeLogDirs(request) => {
            describe_log_dirs::handle(broker, context, request).into()
        }
        RequestBody::DescribeTopicPartitions(request) => {
            describe_topic_partitions::handle(broker, context, request).into()
        }
        RequestBody::IncrementalAlterConfigs(request) => {
            incremental_alter_configs::handle(broker, context, request).into()
        }
        // acks=0: no response.
        RequestBody::Produce(request) => produce::handle(broker, context, request).await?.into(),
        RequestBody::InitProducerId(request) => init_producer_id::handle(broker, context, request)
            .await
            .into(),
        RequestBody::ListOffsets(request) => list_offsets::handle(broker, context, request).into(),
        RequestBody::DeleteRecords(request) => delete_records::handle(broker, context, request)
            .await
            .into(),
        RequestBody::Fetch(request) => fetch::handle(broker, context, request).await.into(),
        RequestBody::FindCoordinator(request) => {
            find_coordinator::handle(broker, context, request).into()
        }
        RequestBody::JoinGroup(request) => {
            join_group::handle(broker, context, request).await.into()
        }
        RequestBody::SyncGroup(request) => {
            sync_group::handle(broker, context, request).await.into()
        }
        RequestBody::Heartbeat(request) => heartbeat::handle(broker, context, request).await.into(),
        RequestBody::ConsumerGroupHeartbeat(request) => {
            consumer_group_heartbeat::handle(broker, context, request)
                .await
                .into()
        }
        RequestBody::ConsumerGroupDescribe(request) => {
            consumer_group_describe::handle(broker, context, request).into()
        }
        RequestBody::LeaveGroup(request) => {
            leave_group::handle(broker, context, request).await.into()
        }
        RequestBody::OffsetCommit(request) => {
            offset_commit::handle(broker, context, request).await.into()
        }
        RequestBody::OffsetFetch(request) => offset_fetch::handle(broker, context, request).into(),
        RequestBody::ElectLeaders(request) => {
            elect_leaders::handle(broker, context, request).await.into()
        }
        RequestBody::OffsetForLeaderEpoch(request) => {
            offset_for_leader_epoch::handle(broker, context, request).into()
        }
        RequestBody::OffsetDelete(request) => {
            offset_delete::handle(broker, context, request).await.into()
        }
        RequestBody::DescribeGroups(request) => {
            describe_groups::handle(broker, context, request).into()
        }
        RequestBody::ListGroups(request) => list_groups::handle(broker, context, request).into(),
        RequestBody::DeleteGroups(request) => {
            delete_groups::handle(broker, context, request).await.into()
        }
        other => {
            // A served API without a handler is a programming error; closing the connection
            // tells the client more than a silent hang.
            tracing::error!(api = ?other.api_key(), "served API has no handler");
            return None;
        }
    })
}
