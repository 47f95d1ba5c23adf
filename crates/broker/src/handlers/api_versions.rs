//! ApiVersions: the APIs and versions this broker serves, and KIP-511's answer to a version
//! above ours (a v0 body with UNSUPPORTED_VERSION and our ranges).
//!
//! The served table (`handlers::SERVED`) is made from the same list as the dispatch, so an API
//! is advertised only when its handler exists.
//!
//! v5 (KIP-1242): a client that knows the cluster sends its cluster id and the node id it
//! believes it reached; when the cluster id is set and either differs from this broker's, the
//! answer is REBOOTSTRAP_REQUIRED with no API list, and the client rebootstraps (Kafka's
//! `KafkaApis.handleApiVersionsRequest`).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::ApiVersionsRequest;
use protocol::generated::ApiVersionsResponse;
use protocol::generated::api_versions_response::ApiVersion;

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
