//! Differential tests against the `kafka-protocol` crate (a dev-dependency only): for every
//! message both codecs define, at every version both define, random values encoded by our codec
//! decode with `kafka-protocol` and re-encode to the same bytes, and those bytes decode with our
//! codec and re-encode unchanged. Byte equality after a decode/encode through the other codec
//! means both read the same values (each codec's own round trip is checked in round_trip.rs).
//!
//! Messages only our specs have (LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown,
//! ListClientMetricsResources, the coordinator records) are not in `kafka-protocol` 0.18.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};
use protocol::Encoder;
use protocol::codec::testing::TestRng;

const SEEDS: u64 = 24;

/// Messages where `kafka-protocol` 0.18 (generated from Kafka 4.1 specs) cannot serve as an
/// oracle, each with the reason (checked by hand against the JSON specs).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "LeaderChangeMessage",
        "kafka-protocol's decoder reads the message's own `Version` field into the variable holding \
         the decode version, then refuses its own input",
    ),
    (
        "VotersRecord",
        "same as LeaderChangeMessage: a `Version` field shadows the decode version in kafka-protocol",
    ),
    (
        "ReadShareGroupStateSummaryResponse",
        "an unstable API in the 4.0 specs; Kafka 4.1 (kafka-protocol's specs) added LeaderEpoch to v0",
    ),
];

/// Checks one message type over the versions both codecs define: the number of values checked,
/// or the first disagreement.
fn check<K: Encodable + Decodable + kafka_protocol::protocol::Message>(
    name: &str,
    ours: (i16, i16),
    random_encoded: impl Fn(&mut TestRng, i16) -> Bytes,
    ours_round_trip: impl Fn(Bytes, i16) -> Bytes,
) -> Result<usize, String> {
    let min = ours.0.max(K::VERSIONS.min);
    let max = ours.1.min(K::VERSIONS.max);
    let mut checked = 0;
    for version in min..=max {
        for seed in 0..SEEDS {
            let context = format!("{name} v{version} seed {seed}");
            let mut rng = TestRng::new(seed.wrapping_mul(0x9e37) ^ version as u64);
            let ours_bytes = random_encoded(&mut rng, version);
            let mut input = ours_bytes.clone();
            let theirs = K::decode(&mut input, version)
                .map_err(|e| format!("{context}: kafka-protocol cannot decode our bytes: {e}"))?;
            if !input.is_empty() {
                return Err(format!(
                    "{context}: kafka-protocol left {} bytes",
                    input.len()
                ));
            }
            let mut theirs_bytes = BytesMut::new();
            theirs
                .encode(&mut theirs_bytes, version)
                .map_err(|e| format!("{context}: kafka-protocol cannot encode: {e}"))?;
            let theirs_bytes = theirs_bytes.freeze();
            if ours_bytes != theirs_bytes {
                return Err(format!(
                    "{context}: encodings differ\n ours:   {ours_bytes:?}\n theirs: {theirs_bytes:?}"
                ));
            }
            if ours_round_trip(theirs_bytes.clone(), version) != theirs_bytes {
                return Err(format!(
                    "{context}: our re-encoding of kafka-protocol's bytes differs"
                ));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

macro_rules! differential {
    ($($module:ident :: $ty:ident),* $(,)?) => {{
        let mut checked = 0;
        let mut types = 0;
        let mut failures: Vec<(&str, String)> = Vec::new();
        $(
            {
                use protocol::generated::$module::$ty as Ours;
                let result = check::<kafka_protocol::messages::$module::$ty>(
                    stringify!($ty),
                    <Ours as protocol::Message>::VERSIONS,
                    |rng, version| {
                        let mut encoder = Encoder::new();
                        Ours::random(rng, version).encode_at(&mut encoder, version).unwrap();
                        encoder.finish().unwrap()
                    },
                    |bytes, version| {
                        let mut input = bytes;
                        let value = Ours::decode_at(&mut input, version).unwrap();
                        assert!(input.is_empty());
                        let mut encoder = Encoder::new();
                        value.encode_at(&mut encoder, version).unwrap();
                        encoder.finish().unwrap()
                    },
                );
                match result {
                    Ok(count) => checked += count,
                    Err(message) => failures.push((stringify!($ty), message)),
                }
                types += 1;
            }
        )*
        (types, checked, failures)
    }};
}

#[test]
fn our_codec_and_kafka_protocol_agree_byte_for_byte() {
    let (types, checked, failures) = differential!(
        add_offsets_to_txn_request::AddOffsetsToTxnRequest,
        add_offsets_to_txn_response::AddOffsetsToTxnResponse,
        add_partitions_to_txn_request::AddPartitionsToTxnRequest,
        add_partitions_to_txn_response::AddPartitionsToTxnResponse,
        add_raft_voter_request::AddRaftVoterRequest,
        add_raft_voter_response::AddRaftVoterResponse,
        allocate_producer_ids_request::AllocateProducerIdsRequest,
        allocate_producer_ids_response::AllocateProducerIdsResponse,
        alter_client_quotas_request::AlterClientQuotasRequest,
        alter_client_quotas_response::AlterClientQuotasResponse,
        alter_configs_request::AlterConfigsRequest,
        alter_configs_response::AlterConfigsResponse,
        alter_partition_reassignments_request::AlterPartitionReassignmentsRequest,
        alter_partition_reassignments_response::AlterPartitionReassignmentsResponse,
        alter_partition_request::AlterPartitionRequest,
        alter_partition_response::AlterPartitionResponse,
        alter_replica_log_dirs_request::AlterReplicaLogDirsRequest,
        alter_replica_log_dirs_response::AlterReplicaLogDirsResponse,
        alter_user_scram_credentials_request::AlterUserScramCredentialsRequest,
        alter_user_scram_credentials_response::AlterUserScramCredentialsResponse,
        api_versions_request::ApiVersionsRequest,
        api_versions_response::ApiVersionsResponse,
        assign_replicas_to_dirs_request::AssignReplicasToDirsRequest,
        assign_replicas_to_dirs_response::AssignReplicasToDirsResponse,
        begin_quorum_epoch_request::BeginQuorumEpochRequest,
        begin_quorum_epoch_response::BeginQuorumEpochResponse,
        broker_heartbeat_request::BrokerHeartbeatRequest,
        broker_heartbeat_response::BrokerHeartbeatResponse,
        broker_registration_request::BrokerRegistrationRequest,
        broker_registration_response::BrokerRegistrationResponse,
        consumer_group_describe_request::ConsumerGroupDescribeRequest,
        consumer_group_describe_response::ConsumerGroupDescribeResponse,
        consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest,
        consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse,
        consumer_protocol_assignment::ConsumerProtocolAssignment,
        consumer_protocol_subscription::ConsumerProtocolSubscription,
        controller_registration_request::ControllerRegistrationRequest,
        controller_registration_response::ControllerRegistrationResponse,
        create_acls_request::CreateAclsRequest,
        create_acls_response::CreateAclsResponse,
        create_delegation_token_request::CreateDelegationTokenRequest,
        create_delegation_token_response::CreateDelegationTokenResponse,
        create_partitions_request::CreatePartitionsRequest,
        create_partitions_response::CreatePartitionsResponse,
        create_topics_request::CreateTopicsRequest,
        create_topics_response::CreateTopicsResponse,
        default_principal_data::DefaultPrincipalData,
        delete_acls_request::DeleteAclsRequest,
        delete_acls_response::DeleteAclsResponse,
        delete_groups_request::DeleteGroupsRequest,
        delete_groups_response::DeleteGroupsResponse,
        delete_records_request::DeleteRecordsRequest,
        delete_records_response::DeleteRecordsResponse,
        delete_share_group_state_request::DeleteShareGroupStateRequest,
        delete_share_group_state_response::DeleteShareGroupStateResponse,
        delete_topics_request::DeleteTopicsRequest,
        delete_topics_response::DeleteTopicsResponse,
        describe_acls_request::DescribeAclsRequest,
        describe_acls_response::DescribeAclsResponse,
        describe_client_quotas_request::DescribeClientQuotasRequest,
        describe_client_quotas_response::DescribeClientQuotasResponse,
        describe_cluster_request::DescribeClusterRequest,
        describe_cluster_response::DescribeClusterResponse,
        describe_configs_request::DescribeConfigsRequest,
        describe_configs_response::DescribeConfigsResponse,
        describe_delegation_token_request::DescribeDelegationTokenRequest,
        describe_delegation_token_response::DescribeDelegationTokenResponse,
        describe_groups_request::DescribeGroupsRequest,
        describe_groups_response::DescribeGroupsResponse,
        describe_log_dirs_request::DescribeLogDirsRequest,
        describe_log_dirs_response::DescribeLogDirsResponse,
        describe_producers_request::DescribeProducersRequest,
        describe_producers_response::DescribeProducersResponse,
        describe_quorum_request::DescribeQuorumRequest,
        describe_quorum_response::DescribeQuorumResponse,
        describe_topic_partitions_request::DescribeTopicPartitionsRequest,
        describe_topic_partitions_response::DescribeTopicPartitionsResponse,
        describe_transactions_request::DescribeTransactionsRequest,
        describe_transactions_response::DescribeTransactionsResponse,
        describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest,
        describe_user_scram_credentials_response::DescribeUserScramCredentialsResponse,
        elect_leaders_request::ElectLeadersRequest,
        elect_leaders_response::ElectLeadersResponse,
        end_quorum_epoch_request::EndQuorumEpochRequest,
        end_quorum_epoch_response::EndQuorumEpochResponse,
        end_txn_request::EndTxnRequest,
        end_txn_response::EndTxnResponse,
        envelope_request::EnvelopeRequest,
        envelope_response::EnvelopeResponse,
        expire_delegation_token_request::ExpireDelegationTokenRequest,
        expire_delegation_token_response::ExpireDelegationTokenResponse,
        fetch_request::FetchRequest,
        fetch_response::FetchResponse,
        fetch_snapshot_request::FetchSnapshotRequest,
        fetch_snapshot_response::FetchSnapshotResponse,
        find_coordinator_request::FindCoordinatorRequest,
        find_coordinator_response::FindCoordinatorResponse,
        get_telemetry_subscriptions_request::GetTelemetrySubscriptionsRequest,
        get_telemetry_subscriptions_response::GetTelemetrySubscriptionsResponse,
        heartbeat_request::HeartbeatRequest,
        heartbeat_response::HeartbeatResponse,
        incremental_alter_configs_request::IncrementalAlterConfigsRequest,
        incremental_alter_configs_response::IncrementalAlterConfigsResponse,
        init_producer_id_request::InitProducerIdRequest,
        init_producer_id_response::InitProducerIdResponse,
        initialize_share_group_state_request::InitializeShareGroupStateRequest,
        initialize_share_group_state_response::InitializeShareGroupStateResponse,
        join_group_request::JoinGroupRequest,
        join_group_response::JoinGroupResponse,
        k_raft_version_record::KRaftVersionRecord,
        leader_change_message::LeaderChangeMessage,
        leave_group_request::LeaveGroupRequest,
        leave_group_response::LeaveGroupResponse,
        list_groups_request::ListGroupsRequest,
        list_groups_response::ListGroupsResponse,
        list_offsets_request::ListOffsetsRequest,
        list_offsets_response::ListOffsetsResponse,
        list_partition_reassignments_request::ListPartitionReassignmentsRequest,
        list_partition_reassignments_response::ListPartitionReassignmentsResponse,
        list_transactions_request::ListTransactionsRequest,
        list_transactions_response::ListTransactionsResponse,
        metadata_request::MetadataRequest,
        metadata_response::MetadataResponse,
        offset_commit_request::OffsetCommitRequest,
        offset_commit_response::OffsetCommitResponse,
        offset_delete_request::OffsetDeleteRequest,
        offset_delete_response::OffsetDeleteResponse,
        offset_fetch_request::OffsetFetchRequest,
        offset_fetch_response::OffsetFetchResponse,
        offset_for_leader_epoch_request::OffsetForLeaderEpochRequest,
        offset_for_leader_epoch_response::OffsetForLeaderEpochResponse,
        produce_request::ProduceRequest,
        produce_response::ProduceResponse,
        push_telemetry_request::PushTelemetryRequest,
        push_telemetry_response::PushTelemetryResponse,
        read_share_group_state_request::ReadShareGroupStateRequest,
        read_share_group_state_response::ReadShareGroupStateResponse,
        read_share_group_state_summary_request::ReadShareGroupStateSummaryRequest,
        read_share_group_state_summary_response::ReadShareGroupStateSummaryResponse,
        remove_raft_voter_request::RemoveRaftVoterRequest,
        remove_raft_voter_response::RemoveRaftVoterResponse,
        renew_delegation_token_request::RenewDelegationTokenRequest,
        renew_delegation_token_response::RenewDelegationTokenResponse,
        request_header::RequestHeader,
        response_header::ResponseHeader,
        sasl_authenticate_request::SaslAuthenticateRequest,
        sasl_authenticate_response::SaslAuthenticateResponse,
        sasl_handshake_request::SaslHandshakeRequest,
        sasl_handshake_response::SaslHandshakeResponse,
        share_acknowledge_request::ShareAcknowledgeRequest,
        share_acknowledge_response::ShareAcknowledgeResponse,
        share_fetch_request::ShareFetchRequest,
        share_fetch_response::ShareFetchResponse,
        share_group_describe_request::ShareGroupDescribeRequest,
        share_group_describe_response::ShareGroupDescribeResponse,
        share_group_heartbeat_request::ShareGroupHeartbeatRequest,
        share_group_heartbeat_response::ShareGroupHeartbeatResponse,
        snapshot_footer_record::SnapshotFooterRecord,
        snapshot_header_record::SnapshotHeaderRecord,
        sync_group_request::SyncGroupRequest,
        sync_group_response::SyncGroupResponse,
        txn_offset_commit_request::TxnOffsetCommitRequest,
        txn_offset_commit_response::TxnOffsetCommitResponse,
        unregister_broker_request::UnregisterBrokerRequest,
        unregister_broker_response::UnregisterBrokerResponse,
        update_features_request::UpdateFeaturesRequest,
        update_features_response::UpdateFeaturesResponse,
        update_raft_voter_request::UpdateRaftVoterRequest,
        update_raft_voter_response::UpdateRaftVoterResponse,
        vote_request::VoteRequest,
        vote_response::VoteResponse,
        voters_record::VotersRecord,
        write_share_group_state_request::WriteShareGroupStateRequest,
        write_share_group_state_response::WriteShareGroupStateResponse,
        write_txn_markers_request::WriteTxnMarkersRequest,
        write_txn_markers_response::WriteTxnMarkersResponse
    );
    println!("differential: {types} message types, {checked} values agree");
    let unexpected: Vec<_> = failures
        .iter()
        .filter(|(name, _)| !KNOWN_DIFFERENCES.iter().any(|(known, _)| known == name))
        .collect();
    for (name, message) in &failures {
        println!("difference in {name}: {message}");
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected differences: {unexpected:#?}",
        unexpected.len()
    );
    assert!(types >= 170);
}
