//! Request handlers, one module per Kafka API, named after it, and the served request surface:
//! one list (`served_apis!` below) from which both the ApiVersions table and the dispatch are
//! made, so an advertised API always has a handler. Every handler has one signature:
//! `async fn handle(&Arc<Broker>, &RequestContext, Request) -> Response`; errors of a partition
//! or topic go into that entry's error code (mapped in `error.rs`), never into a dropped
//! connection. The one request answered with nothing is Produce with acks=0, decided here.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod add_raft_voter;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_share_group_offsets;
mod alter_user_scram_credentials;
pub mod api_versions;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_share_group_offsets;
mod delete_share_group_state;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_share_group_offsets;
mod describe_topic_partitions;
mod describe_transactions;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_txn;
pub mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
mod long_poll;
pub(crate) mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
pub mod produce;
mod read_share_group_state;
mod remove_raft_voter;
mod replica_fetch;
mod sasl_authenticate;
mod sasl_handshake;
mod share_acknowledge;
mod share_common;
mod share_fetch;
mod share_group_describe;
mod share_group_heartbeat;
mod sync_group;
mod txn_errors;
mod txn_offset_commit;
mod unregister_broker;
mod write_share_group_state;
mod write_txn_markers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::generated::RequestHeader;
use protocol::{ApiKey, RequestBody, ResponseBody};
use security::KafkaPrincipal;

use crate::broker::Broker;

/// What a handler knows about the request besides its body.
#[derive(Debug)]
pub struct RequestContext {
    pub header: RequestHeader,
    pub api_version: i16,
    pub peer: SocketAddr,
    /// Who sent it: the SASL or certificate principal, or `User:ANONYMOUS`.
    pub principal: Arc<KafkaPrincipal>,
    /// The listener it came in on: Metadata and FindCoordinator answer its endpoints.
    pub listener: Arc<str>,
    /// The request's size on the wire (what a produce quota counts).
    pub request_bytes: usize,
    /// How long the connection reads nothing after this answer (a quota throttle, KIP-219).
    pub throttle_ms: AtomicU64,
}

impl RequestContext {
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }

    /// Mutes the connection for `ms` after the answer (the longest of all throttles wins).
    pub fn throttle(&self, ms: u64) {
        self.throttle_ms.fetch_max(ms, Ordering::Relaxed);
    }
}

/// Makes, from one list of `Api min..=max => module`, the served table ([`SERVED`]) and the
/// dispatch ([`dispatch`]) to `module::handle`.
macro_rules! served_apis {
    ($($api:ident $min:literal ..= $max:literal => $module:ident),* $(,)?) => {
        /// Every served API with its advertised range; the codec covers each range (tested).
        pub const SERVED: &[(ApiKey, i16, i16)] = &[$((ApiKey::$api, $min, $max)),*];

        /// Runs the handler of a served API; `Err` with the key of an API not in [`SERVED`].
        async fn dispatch(
            broker: &Arc<Broker>,
            context: &RequestContext,
            body: RequestBody,
        ) -> Result<ResponseBody, ApiKey> {
            match body {
                $(RequestBody::$api(request) => {
                    Ok($module::handle(broker, context, request).await.into())
                })*
                other => Err(other.api_key()),
            }
        }
    };
}

served_apis! {
    ApiVersions 0..=5 => api_versions,
    // The exchange is the connection's (server/sasl.rs); these answer after it or on listeners
    // without SASL. SaslHandshake v0 (raw tokens) is not served.
    SaslHandshake 1..=1 => sasl_handshake,
    SaslAuthenticate 0..=2 => sasl_authenticate,
    // SCRAM credentials (scram_credentials.rs).
    DescribeUserScramCredentials 0..=0 => describe_user_scram_credentials,
    AlterUserScramCredentials 0..=0 => alter_user_scram_credentials,
    // ACLs (acl_store.rs, authorization.rs); v0 is gone from Kafka 4.
    DescribeAcls 1..=3 => describe_acls,
    CreateAcls 1..=3 => create_acls,
    DeleteAcls 1..=3 => delete_acls,
    DescribeClientQuotas 0..=1 => describe_client_quotas,
    AlterClientQuotas 0..=1 => alter_client_quotas,
    Metadata 0..=13 => metadata,
    CreateTopics 0..=7 => create_topics,
    DeleteTopics 0..=6 => delete_topics,
    CreatePartitions 0..=3 => create_partitions,
    DescribeConfigs 0..=4 => describe_configs,
    AlterConfigs 0..=2 => alter_configs,
    IncrementalAlterConfigs 0..=1 => incremental_alter_configs,
    DescribeCluster 0..=2 => describe_cluster,
    DescribeTopicPartitions 0..=0 => describe_topic_partitions,
    DescribeLogDirs 0..=5 => describe_log_dirs,
    ElectLeaders 0..=2 => elect_leaders,
    // Partition reassignment (controller reassignment.rs).
    AlterPartitionReassignments 0..=1 => alter_partition_reassignments,
    ListPartitionReassignments 0..=0 => list_partition_reassignments,
    // The metadata quorum, from the active controller (controller raft/quorum_state.rs).
    DescribeQuorum 0..=2 => describe_quorum,
    UnregisterBroker 0..=0 => unregister_broker,
    // A dynamic quorum's voters (KIP-853), forwarded to the active controller (controller raft/voters.rs).
    AddRaftVoter 0..=1 => add_raft_voter,
    RemoveRaftVoter 0..=0 => remove_raft_voter,
    // Advertised from v0: librdkafka disables compression when Produce's minimum is above 0
    // (KAFKA-18659); v0-2 are answered with UNSUPPORTED_VERSION (produce.rs).
    Produce 0..=13 => produce,
    // v6 (two-phase commit, KIP-939) is unstable in Kafka 4.4 and not advertised there either.
    InitProducerId 0..=5 => init_producer_id,
    // v0's offsets array is not served (list_offsets.rs).
    ListOffsets 1..=11 => list_offsets,
    DeleteRecords 0..=2 => delete_records,
    // Consumers check their position after a leader change.
    OffsetForLeaderEpoch 0..=4 => offset_for_leader_epoch,
    // Fetch v0-3 carry message formats v0/v1; record batch v2 clients use v4+.
    Fetch 4..=18 => fetch,
    // Consumer groups (group_coordinator.rs). JoinGroup and OffsetCommit from v0: librdkafka's
    // balanced consumer needs JoinGroup v0 and OffsetCommit v1-2 (Kafka 4.4 advertises 2-10).
    FindCoordinator 0..=6 => find_coordinator,
    JoinGroup 0..=9 => join_group,
    SyncGroup 0..=5 => sync_group,
    Heartbeat 0..=4 => heartbeat,
    ShareGroupHeartbeat 1..=1 => share_group_heartbeat,
    ShareGroupDescribe 1..=1 => share_group_describe,
    ShareFetch 1..=2 => share_fetch,
    ShareAcknowledge 1..=2 => share_acknowledge,
    DescribeShareGroupOffsets 0..=1 => describe_share_group_offsets,
    AlterShareGroupOffsets 0..=0 => alter_share_group_offsets,
    DeleteShareGroupOffsets 0..=0 => delete_share_group_offsets,
    ReadShareGroupState 0..=0 => read_share_group_state,
    WriteShareGroupState 0..=1 => write_share_group_state,
    DeleteShareGroupState 0..=0 => delete_share_group_state,
    LeaveGroup 0..=5 => leave_group,
    OffsetCommit 0..=10 => offset_commit,
    OffsetFetch 0..=10 => offset_fetch,
    DescribeGroups 0..=6 => describe_groups,
    ListGroups 0..=5 => list_groups,
    // KIP-848 (coordinator::consumer_heartbeat).
    ConsumerGroupHeartbeat 0..=1 => consumer_group_heartbeat,
    ConsumerGroupDescribe 0..=1 => consumer_group_describe,
    DeleteGroups 0..=3 => delete_groups,
    OffsetDelete 0..=0 => offset_delete,
    // Transactions (txn_coordinator.rs). TxnOffsetCommit v6 (topic ids, KIP-1319) and
    // ListTransactions v2 (an id pattern) are not served.
    AddPartitionsToTxn 0..=5 => add_partitions_to_txn,
    AddOffsetsToTxn 0..=4 => add_offsets_to_txn,
    EndTxn 0..=5 => end_txn,
    TxnOffsetCommit 0..=5 => txn_offset_commit,
    WriteTxnMarkers 1..=2 => write_txn_markers,
    DescribeTransactions 0..=0 => describe_transactions,
    ListTransactions 0..=1 => list_transactions,
    DescribeProducers 0..=0 => describe_producers,
}

/// The versions of `api_key` this broker serves, or `None` when it does not serve it.
pub fn served_versions(api_key: ApiKey) -> Option<(i16, i16)> {
    SERVED
        .iter()
        .find(|(key, _, _)| *key == api_key)
        .map(|(_, min, max)| (*min, *max))
}

/// Handles one request: `Ok(None)` for Produce with acks=0, which gets no response; `Err` for
/// an API that is not served (the connection refuses those before decoding, so this is a
/// second line, and the caller closes the connection rather than leave the client waiting).
pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    body: RequestBody,
) -> Result<Option<ResponseBody>, ApiKey> {
    let silent = matches!(&body, RequestBody::Produce(produce) if produce.acks == 0);
    let response = dispatch(broker, context, body).await?;
    Ok((!silent).then_some(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_range_is_within_the_codec() {
        for (key, min, max) in SERVED {
            let (codec_min, codec_max) = key.versions();
            assert!(
                codec_min <= *min && min <= max && max <= &codec_max,
                "{key:?}"
            );
        }
    }

    #[test]
    fn every_api_is_served_once() {
        for (index, (key, _, _)) in SERVED.iter().enumerate() {
            assert!(
                SERVED[index + 1..].iter().all(|(other, _, _)| other != key),
                "{key:?} listed twice"
            );
        }
    }
}
