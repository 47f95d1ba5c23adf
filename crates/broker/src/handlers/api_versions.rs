//! ApiVersions: the APIs and versions this broker serves, and KIP-511's answer to a version
//! above ours (a v0 body with UNSUPPORTED_VERSION and our ranges).
//!
//! The served table is the broker's contract with clients: an API is listed only when its
//! handler exists. Produce is advertised from v0 although v0-2 are answered with
//! UNSUPPORTED_VERSION: librdkafka disables compression when Produce's minimum is above 0.

use std::sync::Arc;

use protocol::generated::ApiVersionsRequest;
use protocol::generated::ApiVersionsResponse;
use protocol::generated::api_versions_response::ApiVersion;
use protocol::{ApiKey, ErrorCode};

use super::RequestContext;
use crate::broker::Broker;

/// The versions of `api_key` this broker serves, or `None` when it does not serve it.
pub fn served_versions(api_key: ApiKey) -> Option<(i16, i16)> {
    SERVED
        .iter()
        .find(|(key, _, _)| *key == api_key)
        .map(|(_, min, max)| (*min, *max))
}

/// Every served API with its advertised range; the codec must cover each range.
const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::DescribeLogDirs, 0, 4),
    (ApiKey::ElectLeaders, 0, 2),
    // Advertised from v0 (librdkafka); v0-2 are answered with UNSUPPORTED_VERSION (produce.rs).
    (ApiKey::Produce, 0, 11),
    (ApiKey::InitProducerId, 0, 5),
    // v0's offsets array is not served (list_offsets.rs).
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::DeleteRecords, 0, 2),
    // Consumers check their position after a leader change (offset_for_leader_epoch.rs).
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    // Fetch v0-3 carry message formats v0/v1 semantics; record batch v2 clients use v4+.
    (ApiKey::Fetch, 4, 17),
    // Consumer groups (group_coordinator.rs). JoinGroup and OffsetCommit from v0: librdkafka's
    // balanced consumer needs JoinGroup v0 and OffsetCommit v1-2 (Kafka 4.2 advertises 2-10).
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    // KIP-848 (coordinator::consumer_heartbeat).
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 0),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
];

fn api_keys() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|(key, min, max)| ApiVersion {
            api_key: *key as i16,
            min_version: *min,
            max_version: *max,
            ..Default::default()
        })
        .collect()
}

pub fn handle(
    _broker: &Arc<Broker>,
    _context: &RequestContext,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: api_keys(),
        throttle_time_ms: 0,
        ..Default::default()
    }
}

/// The answer to an ApiVersions request of a version above ours, to be encoded at v0.
pub fn unsupported_version_response() -> protocol::ResponseBody {
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: api_keys(),
        ..Default::default()
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_range_is_within_the_codec() {
        for (key, min, max) in SERVED {
            let (codec_min, codec_max) = key.versions();
            assert!(codec_min <= *min && max <= &codec_max, "{key:?}");
        }
    }
}
