//! The console's admin actions, routed only with `http.console.admin.enable=true`:
//!
//! - `POST /v1/topics` `{"name", "partitions", "replication_factor"?, "configs"?: {k: v}}`
//! - `DELETE /v1/topics/{topic}`
//! - `POST /v1/groups/{group}/reset-offsets` `{"topic", "to": "earliest"|"latest"|"offset",
//!   "offset"?}`: only while the group has no members, as Kafka's tool requires.
//!
//! Each action is the Kafka request a client would send (CreateTopics, DeleteTopics,
//! ListOffsets, FindCoordinator, OffsetCommit), run through this broker's own handlers, or sent
//! to the partition leader or group coordinator among its peers in a cluster, so validation,
//! forwarding to the controller, quotas and ACLs are the ones Kafka clients meet. Local requests
//! run as `User:ANONYMOUS` from the HTTP client's address; requests to peers go as this broker.
//!
//! Requests must be JSON (`Content-Type: application/json`), which a page on another site
//! cannot send without a CORS preflight this listener never answers; there is no login, so the
//! HTTP listener must be reachable only by operators (docs/CONSOLE.md).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use protocol::generated::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use protocol::generated::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use protocol::generated::find_coordinator_request::FindCoordinatorRequest;
use protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use protocol::generated::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::{DescribeGroupsRequest, RequestHeader};
use protocol::{ErrorCode, RequestBody, ResponseBody, Uuid};
use security::KafkaPrincipal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::ApiError;
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinatorService;
use crate::handlers::metadata::partition_view;
use crate::handlers::{self, RequestContext};

/// Bound on each request an action makes, and the timeout CreateTopics/DeleteTopics wait for.
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The versions the actions send (each served by Runnel and by Kafka 4.4).
const CREATE_TOPICS_VERSION: i16 = 7;
const DELETE_TOPICS_VERSION: i16 = 6;
const LIST_OFFSETS_VERSION: i16 = 9;
const FIND_COORDINATOR_VERSION: i16 = 6;
const OFFSET_COMMIT_VERSION: i16 = 9;
const CLIENT_ID: &str = "runnel-console";

#[derive(Deserialize)]
pub struct NewTopic {
    name: String,
    partitions: i32,
    /// Absent: the broker's default.replication.factor.
    replication_factor: Option<i16>,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

pub async fn create_topic(
    State(broker): State<Arc<Broker>>,
    Json(topic): Json<NewTopic>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: topic.name.clone(),
            num_partitions: topic.partitions,
            replication_factor: topic.replication_factor.unwrap_or(-1),
            configs: topic
                .configs
                .into_iter()
                .map(|(name, value)| CreatableTopicConfig {
                    name,
                    value: Some(value),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: ACTION_TIMEOUT.as_millis() as i32,
        ..Default::default()
    };
    let response = local(&broker, CREATE_TOPICS_VERSION, request.into()).await?;
    let ResponseBody::CreateTopics(response) = response else {
        return Err(unexpected("CreateTopics"));
    };
    let result = response
        .topics
        .into_iter()
        .find(|t| t.name == topic.name)
        .ok_or_else(|| unexpected("CreateTopics"))?;
    refused(result.error_code, result.error_message)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "name": result.name,
            "topic_id": result.topic_id.to_string(),
            "partitions": result.num_partitions,
            "replication_factor": result.replication_factor,
        })),
    ))
}

pub async fn delete_topic(
    State(broker): State<Arc<Broker>>,
    Path(topic): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let request = DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: Some(topic.clone()),
            topic_id: Uuid::ZERO,
            ..Default::default()
        }],
        timeout_ms: ACTION_TIMEOUT.as_millis() as i32,
        ..Default::default()
    };
    let response = local(&broker, DELETE_TOPICS_VERSION, request.into()).await?;
    let ResponseBody::DeleteTopics(response) = response else {
        return Err(unexpected("DeleteTopics"));
    };
    let result = response
        .responses
        .into_iter()
        .next()
        .ok_or_else(|| unexpected("DeleteTopics"))?;
    refused(result.error_code, result.error_message)?;
    Ok(Json(json!({ "deleted": topic })))
}

#[derive(Deserialize)]
pub struct ResetOffsets {
    topic: String,
    /// `earliest`, `latest` or `offset` (with `offset`).
    to: String,
    offset: Option<i64>,
}

pub async fn reset_offsets(
    State(broker): State<Arc<Broker>>,
    Path(group): Path<String>,
    Json(reset): Json<ResetOffsets>,
) -> Result<Json<Value>, ApiError> {
    let invalid =
        |message: String| ApiError(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message);
    let timestamp = match (reset.to.as_str(), reset.offset) {
        ("earliest", None) => Some(-2),
        ("latest", None) => Some(-1),
        ("offset", Some(offset)) if offset >= 0 => None,
        _ => {
            return Err(invalid(
                "`to` is earliest, latest, or offset with a non-negative `offset`".into(),
            ));
        }
    };
    let topic = broker.metadata.topic(&reset.topic).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownTopicOrPartition,
            format!("no topic {}", reset.topic),
        )
    })?;
    ensure_empty(&broker, &group).await?;
    let mut offsets = BTreeMap::new();
    for partition in 0..topic.partitions {
        let offset = match timestamp {
            Some(timestamp) => list_offset(&broker, &topic.name, partition, timestamp).await?,
            None => reset.offset.unwrap_or(0),
        };
        offsets.insert(partition, offset);
    }
    let request = OffsetCommitRequest {
        group_id: group.clone(),
        // An admin commit: no generation, no member (the group must be empty).
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.name.clone(),
            topic_id: topic.uuid(),
            partitions: offsets
                .iter()
                .map(
                    |(&partition_index, &committed_offset)| OffsetCommitRequestPartition {
                        partition_index,
                        committed_offset,
                        committed_metadata: Some(String::new()),
                        ..Default::default()
                    },
                )
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let coordinator = coordinator(&broker, &group).await?;
    let response = send_to(&broker, coordinator, OFFSET_COMMIT_VERSION, request.into()).await?;
    let ResponseBody::OffsetCommit(response) = response else {
        return Err(unexpected("OffsetCommit"));
    };
    for partition in response.topics.iter().flat_map(|t| &t.partitions) {
        refused(partition.error_code, None)?;
    }
    Ok(Json(json!({
        "group_id": group,
        "topic": topic.name,
        "offsets": offsets.iter().map(|(p, o)| json!({"partition": p, "offset": o})).collect::<Vec<_>>(),
    })))
}

/// Refuses a reset while the group has members (Kafka's tool does the same).
async fn ensure_empty(broker: &Arc<Broker>, group: &str) -> Result<(), ApiError> {
    let id = group.to_string();
    let described = GroupCoordinatorService::read(broker, group, move |coordinator| {
        let request = DescribeGroupsRequest {
            groups: vec![id.clone()],
            ..Default::default()
        };
        coordinator.describe_groups(5, &request)
    })
    .await;
    // Another node coordinates the group: its OffsetCommit refuses a non-empty group.
    let Ok(described) = described else {
        return Ok(());
    };
    match described.groups.first() {
        Some(g) if !g.members.is_empty() => Err(ApiError(
            StatusCode::CONFLICT,
            ErrorCode::NonEmptyGroup,
            format!(
                "group {group} has {} active members (state {}); offsets can be reset only when it is empty",
                g.members.len(),
                g.group_state
            ),
        )),
        _ => Ok(()),
    }
}

/// The earliest (-2) or latest (-1) offset of one partition, from its leader.
async fn list_offset(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, ApiError> {
    let leader = partition_view(broker, topic, partition).leader;
    let request = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: vec![ListOffsetsPartition {
                partition_index: partition,
                timestamp,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = send_to(broker, leader, LIST_OFFSETS_VERSION, request.into()).await?;
    let ResponseBody::ListOffsets(response) = response else {
        return Err(unexpected("ListOffsets"));
    };
    let answer = response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| unexpected("ListOffsets"))?;
    refused(answer.error_code, None)?;
    Ok(answer.offset)
}

/// The node coordinating `group`, from this broker's FindCoordinator.
async fn coordinator(broker: &Arc<Broker>, group: &str) -> Result<i32, ApiError> {
    let request = FindCoordinatorRequest {
        key_type: 0,
        coordinator_keys: vec![group.to_string()],
        ..Default::default()
    };
    let response = local(broker, FIND_COORDINATOR_VERSION, request.into()).await?;
    let ResponseBody::FindCoordinator(response) = response else {
        return Err(unexpected("FindCoordinator"));
    };
    let found = response
        .coordinators
        .into_iter()
        .next()
        .ok_or_else(|| unexpected("FindCoordinator"))?;
    refused(found.error_code, found.error_message)?;
    Ok(found.node_id)
}

/// Sends to `node`: this broker's handlers when it is this node, else the peer.
async fn send_to(
    broker: &Arc<Broker>,
    node: i32,
    version: i16,
    body: RequestBody,
) -> Result<ResponseBody, ApiError> {
    match broker.cluster.get() {
        Some(cluster) if node != cluster.local_id => cluster
            .peers
            .send(cluster, node, version, body, ACTION_TIMEOUT)
            .await
            .map_err(|error| {
                ApiError(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::NetworkException,
                    error.to_string(),
                )
            }),
        _ => local(broker, version, body).await,
    }
}

/// Runs a request through this broker's handlers, as `User:ANONYMOUS`.
async fn local(
    broker: &Arc<Broker>,
    version: i16,
    body: RequestBody,
) -> Result<ResponseBody, ApiError> {
    let api = body.api_key();
    let context = RequestContext {
        header: RequestHeader {
            request_api_key: api as i16,
            request_api_version: version,
            correlation_id: 0,
            client_id: Some(CLIENT_ID.into()),
            ..Default::default()
        },
        api_version: version,
        peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        principal: Arc::new(KafkaPrincipal::anonymous()),
        listener: broker
            .config
            .broker_listeners()
            .first()
            .map(|l| Arc::from(l.name.to_string()))
            .unwrap_or_else(|| Arc::from("")),
        request_bytes: 0,
        throttle_ms: AtomicU64::new(0),
    };
    match tokio::time::timeout(ACTION_TIMEOUT, handlers::handle(broker, &context, body)).await {
        Ok(Ok(Some(response))) => Ok(response),
        Ok(_) => Err(unexpected(api.name())),
        Err(_) => Err(ApiError(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::RequestTimedOut,
            format!(
                "{} did not complete in {} s",
                api.name(),
                ACTION_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// A Kafka error code as an API error: 404 for what does not exist, 409 for a conflict, 403
/// for an authorization failure, 400 otherwise.
fn refused(code: i16, message: Option<String>) -> Result<(), ApiError> {
    if code == 0 {
        return Ok(());
    }
    let error = ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError);
    let status = match error {
        ErrorCode::UnknownTopicOrPartition | ErrorCode::UnknownTopicId => StatusCode::NOT_FOUND,
        ErrorCode::TopicAlreadyExists | ErrorCode::NonEmptyGroup => StatusCode::CONFLICT,
        ErrorCode::TopicAuthorizationFailed
        | ErrorCode::GroupAuthorizationFailed
        | ErrorCode::ClusterAuthorizationFailed => StatusCode::FORBIDDEN,
        ErrorCode::RequestTimedOut => StatusCode::GATEWAY_TIMEOUT,
        _ if error.is_retriable() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| error.name().to_string());
    Err(ApiError(status, error, message))
}

fn unexpected(api: &str) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::UnknownServerError,
        format!("{api}: no answer for the request"),
    )
}
