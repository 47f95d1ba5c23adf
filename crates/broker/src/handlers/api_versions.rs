//! ApiVersions: the APIs and versions this broker serves, and KIP-511's answer to a version
//! above ours (a v0 body with UNSUPPORTED_VERSION and our ranges).
//!
//! The served table (`handlers::SERVED`) is made from the same list as the dispatch, so an API
//! is advertised only when its handler exists.
//!
//! v3+ carries features (KIP-584): `transaction.version` 0-2 supported, 2 finalized, so Java
//! 4.x clients speak transactions v2; librdkafka and older clients ignore it and speak v1.
//! `share.version` 0-1 supported, 1 finalized: share groups (KIP-932) are served.
//!
//! v5 (KIP-1242): a client that knows the cluster sends its cluster id and the node id it
//! believes it reached; when the cluster id is set and either differs from this broker's, the
//! answer is REBOOTSTRAP_REQUIRED with no API list, and the client rebootstraps (Kafka's
//! `KafkaApis.handleApiVersionsRequest`).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::ApiVersionsRequest;
use protocol::generated::ApiVersionsResponse;
use protocol::generated::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};

use super::RequestContext;
use crate::broker::Broker;

fn api_keys() -> Vec<ApiVersion> {
    super::SERVED
        .iter()
        .map(|(key, min, max)| ApiVersion {
            api_key: *key as i16,
            min_version: *min,
            max_version: *max,
            ..Default::default()
        })
        .collect()
}

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    if context.api_version >= 5
        && let Some(cluster_id) = &request.cluster_id
        && (cluster_id != broker.metadata.cluster_id() || request.node_id != broker.config.node_id)
    {
        return ApiVersionsResponse {
            error_code: ErrorCode::RebootstrapRequired.code(),
            ..Default::default()
        };
    }
    let features = context.api_version >= FEATURES_VERSION;
    // kraft.version 1 (KIP-853) is finalized on a dynamic quorum; level 0 is left out, as Kafka
    // leaves out every feature at level 0.
    let dynamic_quorum = broker
        .cluster
        .get()
        .is_some_and(|c| !c.config.bootstrap_servers.is_empty());
    let mut finalized = vec![
        FinalizedFeatureKey {
            name: TRANSACTION_VERSION_FEATURE.to_string(),
            max_version_level: TRANSACTION_VERSION,
            min_version_level: TRANSACTION_VERSION,
            ..Default::default()
        },
        // Share groups (KIP-932) are on, as `share.version=1` turns them on in Kafka.
        FinalizedFeatureKey {
            name: SHARE_VERSION_FEATURE.to_string(),
            max_version_level: SHARE_VERSION,
            min_version_level: SHARE_VERSION,
            ..Default::default()
        },
    ];
    if dynamic_quorum {
        finalized.push(FinalizedFeatureKey {
            name: KRAFT_VERSION_FEATURE.to_string(),
            max_version_level: 1,
            min_version_level: 1,
            ..Default::default()
        });
    }
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: api_keys(),
        throttle_time_ms: 0,
        supported_features: if features {
            vec![
                SupportedFeatureKey {
                    name: TRANSACTION_VERSION_FEATURE.to_string(),
                    min_version: 0,
                    max_version: TRANSACTION_VERSION,
                    ..Default::default()
                },
                SupportedFeatureKey {
                    name: SHARE_VERSION_FEATURE.to_string(),
                    min_version: 0,
                    max_version: SHARE_VERSION,
                    ..Default::default()
                },
                SupportedFeatureKey {
                    name: KRAFT_VERSION_FEATURE.to_string(),
                    min_version: 0,
                    max_version: 1,
                    ..Default::default()
                },
            ]
        } else {
            Vec::new()
        },
        finalized_features_epoch: if features {
            FINALIZED_FEATURES_EPOCH
        } else {
            -1
        },
        finalized_features: if features { finalized } else { Vec::new() },
        ..Default::default()
    }
}

/// The first ApiVersions version with features (KIP-584).
const FEATURES_VERSION: i16 = 3;
/// Kafka's feature that selects the transaction protocol clients use.
const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";
/// Transactions v2 (KIP-890 part 2), finalized as a new Kafka 4.x cluster has it: Java 4.x
/// clients then end transactions with EndTxn v5 and add partitions through Produce v12+.
const TRANSACTION_VERSION: i16 = 2;
/// The metadata quorum's protocol: 0 static (`controller.quorum.voters`), 1 dynamic (KIP-853).
const KRAFT_VERSION_FEATURE: &str = "kraft.version";
/// Kafka's feature that enables share groups (KIP-932), and the level Runnel serves.
const SHARE_VERSION_FEATURE: &str = "share.version";
const SHARE_VERSION: i16 = 1;
/// The epoch of the finalized features (they never change on a Runnel cluster yet).
const FINALIZED_FEATURES_EPOCH: i64 = 1;

/// The answer to an ApiVersions request of a version above ours, to be encoded at v0.
pub fn unsupported_version_response() -> protocol::ResponseBody {
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: api_keys(),
        ..Default::default()
    }
    .into()
}
