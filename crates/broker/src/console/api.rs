//! The console's read-only JSON API, documented in docs/CONSOLE.md (the admin actions are
//! `admin.rs`'s):
//!
//! - `GET /v1/cluster`: cluster id, this node, the active controller, the nodes.
//! - `GET /v1/topics`: every topic with its partition count, replication factor and traffic
//!   counters (bytes and records in, bytes out, as counted on this node).
//! - `GET /v1/topics/{topic}`: configs and each partition's leader, replicas, ISR and, where
//!   hosted here, offsets and size.
//! - `GET /v1/topics/{topic}/records?partition=P&offset=O|timestamp=T&limit=N`: records.
//! - `GET /v1/groups`: every group (id, state, type, protocol).
//! - `GET /v1/groups/{group}`: members, committed offsets and lag per partition.
//!
//! Errors are `{"error": CODE_NAME, "message": ...}` with a 4xx/5xx status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use protocol::generated::{DescribeGroupsRequest, ListGroupsRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::records::{self, Start};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group_coordinator::{GroupCoordinatorService, Step};
use crate::handlers::metadata::{partition_view, registered_brokers};

/// An API error as JSON.
pub struct ApiError(pub StatusCode, pub ErrorCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.1.name(), "message": self.2});
        (self.0, Json(body)).into_response()
    }
}

impl From<BrokerError> for ApiError {
    fn from(error: BrokerError) -> Self {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            error.error_code(),
            error.to_string(),
        )
    }
}

fn not_found(code: ErrorCode, what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, code, what)
}

pub async fn cluster(State(broker): State<Arc<Broker>>) -> Json<Value> {
    let listener = broker
        .config
        .broker_listeners()
        .first()
        .map(|l| l.name.to_string())
        .unwrap_or_default();
    let (nodes, controller) = registered_brokers(&broker, &listener, true);
    Json(json!({
        "cluster_id": broker.metadata.cluster_id(),
        "node_id": broker.config.node_id,
        "controller_id": controller,
        "clustered": broker.cluster.get().is_some(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": broker.started_at.elapsed().as_secs(),
        "console_admin": super::admin_enabled(&broker),
        "nodes": nodes.iter().map(|(b, fenced)| json!({
            "id": b.node_id, "host": b.host, "port": b.port, "rack": b.rack, "fenced": fenced,
        })).collect::<Vec<_>>(),
    }))
}

/// Bytes in, records in and bytes out of `topic`'s partitions hosted here.
fn traffic(broker: &Broker, topic: &str) -> Value {
    let mut sums = [0u64; 3];
    for partition in broker.replicas.topic_partitions(topic) {
        sums[0] += partition.metrics.bytes_in.load(Ordering::Relaxed);
        sums[1] += partition.metrics.messages_in.load(Ordering::Relaxed);
        sums[2] += partition.metrics.bytes_out.load(Ordering::Relaxed);
    }
    json!({"bytes_in": sums[0], "messages_in": sums[1], "bytes_out": sums[2]})
}

pub async fn topics(State(broker): State<Arc<Broker>>) -> Json<Value> {
    let mut topics = broker.metadata.topics();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Json(json!({
        "topics": topics.iter().map(|t| json!({
            "name": t.name,
            "partitions": t.partitions,
            "replication_factor": t.replication_factor,
            "internal": t.name.starts_with("__"),
            "traffic": traffic(&broker, &t.name),
        })).collect::<Vec<_>>(),
    }))
}

pub async fn topic(
    State(broker): State<Arc<Broker>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let topic = broker.metadata.topic(&name).ok_or_else(|| {
        not_found(
            ErrorCode::UnknownTopicOrPartition,
            format!("no topic {name}"),
        )
    })?;
    let mut partitions = Vec::new();
    for index in 0..topic.partitions {
        let view = partition_view(&broker, &name, index);
        let local = broker.replicas.get(&name, index).map(|p| {
            json!({
                "log_start_offset": p.log_start_offset().ok(),
                "high_watermark": p.high_watermark().ok(),
                "log_end_offset": p.log_end_offset().ok(),
                "size_bytes": p.size_bytes().ok(),
            })
        });
        partitions.push(json!({
            "partition": index,
            "leader": view.leader,
            "leader_epoch": view.leader_epoch,
            "replicas": view.replicas,
            "isr": view.isr,
            "offline_replicas": view.offline,
            "hosted_here": local,
        }));
    }
    Ok(Json(json!({
        "name": topic.name,
        "id": topic.uuid().to_string(),
        "replication_factor": topic.replication_factor,
        "configs": topic.configs,
        "partitions": partitions,
        "traffic": traffic(&broker, &name),
    })))
}

#[derive(Deserialize)]
pub struct Browse {
    #[serde(default)]
    partition: i32,
    offset: Option<i64>,
    timestamp: Option<i64>,
    limit: Option<usize>,
}

pub async fn records(
    State(broker): State<Arc<Broker>>,
    Path(name): Path<String>,
    Query(browse): Query<Browse>,
) -> Result<Json<Value>, ApiError> {
    let partition = broker
        .replicas
        .get(&name, browse.partition)
        .ok_or_else(|| {
            not_found(
                ErrorCode::UnknownTopicOrPartition,
                format!(
                    "{name}-{} is not hosted on this node (browse it on a node that hosts it)",
                    browse.partition
                ),
            )
        })?;
    let from = match (browse.offset, browse.timestamp) {
        (_, Some(timestamp)) => Start::Timestamp(timestamp),
        (offset, None) => Start::Offset(offset.unwrap_or(0)),
    };
    let limit = browse.limit.unwrap_or(20);
    let value = crate::blocking::on_blocking_pool("browsing records", move || {
        records::browse(&partition, from, limit)
    })
    .await?;
    Ok(Json(value))
}

pub async fn groups(State(broker): State<Arc<Broker>>) -> Json<Value> {
    let mut groups = Vec::new();
    for shard in 0..broker.groups.partition_count() {
        let listed = GroupCoordinatorService::call_partition(&broker, shard, |coordinator, _| {
            Step::answer(coordinator.list_groups(5, &ListGroupsRequest::default()))
        })
        .await;
        if let Ok(listed) = listed {
            groups.extend(listed.groups.into_iter().map(|g| {
                json!({
                    "group_id": g.group_id,
                    "state": g.group_state,
                    "type": g.group_type,
                    "protocol_type": g.protocol_type,
                })
            }));
        }
    }
    groups.sort_by(|a, b| a["group_id"].as_str().cmp(&b["group_id"].as_str()));
    Json(json!({ "groups": groups }))
}

pub async fn group(
    State(broker): State<Arc<Broker>>,
    Path(group_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = group_id.clone();
    let (described, offsets) =
        GroupCoordinatorService::read(&broker, &group_id, move |coordinator| {
            let request = DescribeGroupsRequest {
                groups: vec![id.clone()],
                ..Default::default()
            };
            let described = coordinator.describe_groups(5, &request);
            (described, coordinator.committed_offsets_of(&id))
        })
        .await?;
    let group = described.groups.into_iter().next();
    let Some(group) = group.filter(|g| g.group_state != "Dead" || !offsets.is_empty()) else {
        return Err(not_found(
            ErrorCode::GroupIdNotFound,
            format!("no group {group_id}"),
        ));
    };
    let mut lag_total = 0i64;
    let mut partitions: BTreeMap<(String, i32), Value> = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        let end = broker
            .replicas
            .get(&topic, partition)
            .and_then(|p| p.high_watermark().ok());
        let lag = end.map(|end| (end - offset).max(0));
        lag_total += lag.unwrap_or(0);
        partitions.insert(
            (topic.clone(), partition),
            json!({"topic": topic, "partition": partition, "committed_offset": offset,
                   "high_watermark": end, "lag": lag}),
        );
    }
    Ok(Json(json!({
        "group_id": group.group_id,
        "state": group.group_state,
        "protocol_type": group.protocol_type,
        "protocol": group.protocol_data,
        "members": group.members.iter().map(|m| json!({
            "member_id": m.member_id,
            "group_instance_id": m.group_instance_id,
            "client_id": m.client_id,
            "client_host": m.client_host,
        })).collect::<Vec<_>>(),
        "offsets": partitions.into_values().collect::<Vec<_>>(),
        "lag": lag_total,
    })))
}
