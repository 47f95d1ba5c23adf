//! DescribeCluster (v0-2, KIP-700): the brokers, the cluster id, the active controller and,
//! when asked, the cluster operations the client may perform. v1's `endpoint_type` 1 asks for
//! broker endpoints; 2 (controllers, KIP-919) is UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker
//! answers it (only controllers serve it). v2 (KIP-1073) lists fenced brokers too when asked
//! (`include_fenced_brokers`), each marked `is_fenced`.
//!
//! There is no authorizer, so every cluster operation is authorized, as Kafka reports without
//! one.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::DescribeClusterRequest;
use protocol::generated::DescribeClusterResponse;
use protocol::generated::describe_cluster_response::DescribeClusterBroker;

use super::RequestContext;
use crate::broker::Broker;

/// Kafka's "authorized operations not requested" marker.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
/// KIP-919 endpoint types.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let endpoint_type = if context.api_version >= 1 {
        request.endpoint_type
    } else {
        ENDPOINT_TYPE_BROKERS
    };
    if endpoint_type != ENDPOINT_TYPE_BROKERS {
        return DescribeClusterResponse {
            error_code: ErrorCode::UnsupportedEndpointType.code(),
            error_message: Some(format!(
                "endpoint type {endpoint_type} is not served by brokers; only 1 (brokers) is"
            )),
            endpoint_type,
            cluster_id: broker.metadata.cluster_id().to_string(),
            controller_id: -1,
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            ..Default::default()
        };
    }
    let include_fenced = context.api_version >= 2 && request.include_fenced_brokers;
    let (brokers, controller_id) =
        super::metadata::registered_brokers(broker, &context.listener, include_fenced);
    DescribeClusterResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None.code(),
        error_message: None,
        endpoint_type,
        cluster_id: broker.metadata.cluster_id().to_string(),
        controller_id,
        brokers: brokers
            .into_iter()
            .map(|(b, is_fenced)| DescribeClusterBroker {
                broker_id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
                is_fenced,
                ..Default::default()
            })
            .collect(),
        // No check on a broker beyond the bitfield (Kafka's too): 0 without DESCRIBE.
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            super::metadata::cluster_operations(broker, context)
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        },
        ..Default::default()
    }
}
