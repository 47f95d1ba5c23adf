//! Share-partition state on disk (KIP-932): the share coordinator on this broker (one
//! `coordinator::share_state::ShareStateStore` per `__share_group_state` partition it leads)
//! and the persister a share-partition's leader uses to read and write its state there, locally
//! or with ReadShareGroupState / WriteShareGroupState / DeleteShareGroupState to the broker that
//! leads the key's `__share_group_state` partition.
//!
//! A write is answered once its snapshot record is appended and, in a cluster, replicated to
//! the ISR of its `__share_group_state` partition (as the group coordinator's writes are), so an
//! acknowledgement the client saw survives a restart and a failover. Writes of one store are
//! serialised by its async lock, held from the change through the append and the replication
//! wait. A store is rebuilt by replaying its partition when first used, after a failed append,
//! and when this broker's leadership of the partition changed (its leader epoch moved), so a
//! coordinator never answers from a state its successor may have changed.
//!
//! The topic is created on first use with `share.coordinator.state.topic.num.partitions`
//! (default 50) partitions and `share.coordinator.state.topic.replication.factor` (default 3,
//! at most the registered brokers) replicas, compacted (every write is a whole snapshot).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coordinator::share_state::{
    SHARE_STATE_TOPIC, ShareState, ShareStateBatch, ShareStateKey, ShareStateStore,
};
use protocol::generated::{
    DeleteShareGroupStateRequest, ReadShareGroupStateRequest, WriteShareGroupStateRequest,
    delete_share_group_state_request as delete_req, read_share_group_state_request as read_req,
    write_share_group_state_request as write_req,
};
use protocol::{ErrorCode, RequestBody, ResponseBody};
use tokio::sync::OnceCell;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_log;

/// How long a write waits for its record to reach the ISR, and a peer for an answer.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// One `__share_group_state` partition's store, with the leader epoch it was loaded at.
type Shard = Arc<tokio::sync::Mutex<Option<(i32, ShareStateStore)>>>;

/// The share coordinator's stores on this broker.
#[derive(Debug, Default)]
pub struct ShareCoordinator {
    partitions: OnceCell<i32>,
    shards: Mutex<HashMap<i32, Shard>>,
}

impl ShareCoordinator {
    fn shard(&self, partition: i32) -> Shard {
        Arc::clone(self.shards.lock().unwrap().entry(partition).or_default())
    }
}

/// The partition count of `__share_group_state`, creating the topic on first use.
async fn partition_count(broker: &Arc<Broker>) -> Result<i32, ErrorCode> {
    broker
        .shares
        .coordinator
        .partitions
        .get_or_try_init(|| async {
            let number = |key: &str, default: i64| {
                broker
                    .config
                    .value(key)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(default)
            };
            let partitions =
                number("share.coordinator.state.topic.num.partitions", 50).clamp(1, 1_000) as i32;
            let wanted =
                number("share.coordinator.state.topic.replication.factor", 3).clamp(1, 16) as usize;
            let replication_factor = match broker.cluster.get() {
                None => 1,
                Some(cluster) => {
                    let eligible = cluster
                        .image()
                        .brokers
                        .values()
                        .filter(|b| b.is_eligible())
                        .count();
                    wanted.min(eligible.max(1))
                }
            } as i16;
            let segment_bytes = broker
                .config
                .value("share.coordinator.state.topic.segment.bytes")
                .unwrap_or("104857600")
                .to_owned();
            let configs = BTreeMap::from([
                ("cleanup.policy".to_owned(), "compact".to_owned()),
                ("segment.bytes".to_owned(), segment_bytes),
            ]);
            internal_log::ensure_topic(
                broker,
                SHARE_STATE_TOPIC,
                partitions,
                replication_factor,
                configs,
            )
            .await
            .map(|topic| topic.partitions)
            .map_err(|e| {
                tracing::debug!(error = %e, "creating {SHARE_STATE_TOPIC}");
                ErrorCode::CoordinatorNotAvailable
            })
        })
        .await
        .copied()
}

/// Where `key`'s state lives: this broker (the partition) or a peer (its id).
enum Route {
    Local,
    Peer(i32),
}

async fn route(broker: &Arc<Broker>, key: &ShareStateKey) -> Result<Route, ErrorCode> {
    let partition = key.state_partition(partition_count(broker).await?);
    let leads = broker
        .replicas
        .get(SHARE_STATE_TOPIC, partition)
        .is_some_and(|p| p.check_serving_leader().is_ok());
    if leads {
        return Ok(Route::Local);
    }
    let Some(cluster) = broker.cluster.get() else {
        return Err(ErrorCode::CoordinatorNotAvailable);
    };
    match cluster
        .image()
        .partition(SHARE_STATE_TOPIC, partition)
        .and_then(|p| p.leader)
    {
        Some(leader) if leader != cluster.local_id => Ok(Route::Peer(leader)),
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

/// The store of `partition`, loaded (or reloaded after a leadership change), locked.
async fn loaded(
    broker: &Arc<Broker>,
    partition: i32,
) -> Result<tokio::sync::OwnedMutexGuard<Option<(i32, ShareStateStore)>>, ErrorCode> {
    let log = broker
        .replicas
        .get(SHARE_STATE_TOPIC, partition)
        .ok_or(ErrorCode::NotCoordinator)?;
    let epoch = log
        .check_serving_leader()
        .map_err(|_| ErrorCode::NotCoordinator)?;
    let mut guard = broker
        .shares
        .coordinator
        .shard(partition)
        .lock_owned()
        .await;
    if guard
        .as_ref()
        .is_none_or(|(loaded_at, _)| *loaded_at != epoch)
    {
        let replayed = crate::blocking::on_blocking_pool("loading share state", move || {
            let mut store = ShareStateStore::default();
            internal_log::replay(&log, |item| {
                if let internal_log::ReplayItem::Record { key, value, .. } = item
                    && let Err(error) = store.replay(key, value)
                {
                    tracing::warn!(%error, "skipping a {SHARE_STATE_TOPIC} record");
                }
                true
            })?;
            Ok(store)
        })
        .await;
        match replayed {
            Ok(store) => *guard = Some((epoch, store)),
            Err(error) => {
                tracing::warn!(partition, %error, "loading {SHARE_STATE_TOPIC}");
                return Err(ErrorCode::CoordinatorLoadInProgress);
            }
        }
    }
    Ok(guard)
}

/// Appends a store's record and waits for it to reach the ISR; on failure the store is
/// dropped (rebuilt by the next use).
async fn append(
    broker: &Arc<Broker>,
    partition: i32,
    guard: &mut Option<(i32, ShareStateStore)>,
    record: coordinator::share_state::ShareStateRecord,
) -> Result<(), ErrorCode> {
    let Some(log) = broker.replicas.get(SHARE_STATE_TOPIC, partition) else {
        *guard = None;
        return Err(ErrorCode::NotCoordinator);
    };
    let now = (broker.clock)();
    let appended = {
        let log = Arc::clone(&log);
        crate::blocking::on_blocking_pool("writing share state", move || {
            internal_log::append(&log, std::iter::once(record), now, None)?;
            log.log_end_offset()
        })
        .await
    };
    let end = match appended {
        Ok(end) => end,
        Err(error) => {
            tracing::warn!(partition, %error, "appending to {SHARE_STATE_TOPIC}");
            *guard = None;
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
    };
    let deadline = tokio::time::Instant::now() + WRITE_WAIT;
    match log.wait_for_high_watermark(end - 1, deadline).await {
        Ok(()) => Ok(()),
        Err(BrokerError::NotLeaderOrFollower { .. }) => {
            *guard = None;
            Err(ErrorCode::NotCoordinator)
        }
        Err(_) => {
            *guard = None;
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}

/// ReadShareGroupState on this broker's store (the RPC's handler and local reads).
pub async fn read_local(
    broker: &Arc<Broker>,
    key: &ShareStateKey,
    leader_epoch: i32,
) -> Result<Option<ShareState>, ErrorCode> {
    let partition = key.state_partition(partition_count(broker).await?);
    let mut guard = loaded(broker, partition).await?;
    let (_, store) = guard.as_mut().expect("loaded");
    store.read(key, leader_epoch).map(|s| s.cloned())
}

/// WriteShareGroupState on this broker's store.
pub async fn write_local(
    broker: &Arc<Broker>,
    key: &ShareStateKey,
    leader_epoch: i32,
    start_offset: i64,
    batches: Vec<ShareStateBatch>,
) -> Result<(), ErrorCode> {
    let partition = key.state_partition(partition_count(broker).await?);
    let mut guard = loaded(broker, partition).await?;
    let now = (broker.clock)();
    let record = {
        let (_, store) = guard.as_mut().expect("loaded");
        store.write(key, leader_epoch, 0, start_offset, batches, now)?
    };
    append(broker, partition, &mut guard, record).await
}

/// DeleteShareGroupState on this broker's store.
pub async fn delete_local(broker: &Arc<Broker>, key: &ShareStateKey) -> Result<(), ErrorCode> {
    let partition = key.state_partition(partition_count(broker).await?);
    let mut guard = loaded(broker, partition).await?;
    let record = {
        let (_, store) = guard.as_mut().expect("loaded");
        store.delete(key)
    };
    match record {
        Some(record) => append(broker, partition, &mut guard, record).await,
        None => Ok(()),
    }
}

/// Reads `key`'s persisted state wherever it lives (`None`: never written).
pub async fn read(
    broker: &Arc<Broker>,
    key: &ShareStateKey,
    leader_epoch: i32,
) -> Result<Option<ShareState>, ErrorCode> {
    match route(broker, key).await? {
        Route::Local => read_local(broker, key, leader_epoch).await,
        Route::Peer(peer) => {
            let request = ReadShareGroupStateRequest {
                group_id: key.group_id.clone(),
                topics: vec![read_req::ReadStateData {
                    topic_id: key.topic_id,
                    partitions: vec![read_req::PartitionData {
                        partition: key.partition,
                        leader_epoch,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let response =
                match send(broker, peer, RequestBody::ReadShareGroupState(request)).await? {
                    ResponseBody::ReadShareGroupState(response) => response,
                    _ => return Err(ErrorCode::UnknownServerError),
                };
            let result = response
                .results
                .into_iter()
                .flat_map(|r| r.partitions)
                .next()
                .ok_or(ErrorCode::UnknownServerError)?;
            wire_result(result.error_code)?;
            if result.start_offset < 0 {
                return Ok(None);
            }
            Ok(Some(ShareState {
                snapshot_epoch: 0,
                state_epoch: result.state_epoch,
                leader_epoch,
                start_offset: result.start_offset,
                batches: result
                    .state_batches
                    .iter()
                    .map(|b| ShareStateBatch {
                        first_offset: b.first_offset,
                        last_offset: b.last_offset,
                        delivery_state: b.delivery_state,
                        delivery_count: b.delivery_count,
                    })
                    .collect(),
            }))
        }
    }
}

/// Writes `key`'s state wherever it lives.
pub async fn write(
    broker: &Arc<Broker>,
    key: &ShareStateKey,
    leader_epoch: i32,
    start_offset: i64,
    batches: Vec<ShareStateBatch>,
) -> Result<(), ErrorCode> {
    match route(broker, key).await? {
        Route::Local => write_local(broker, key, leader_epoch, start_offset, batches).await,
        Route::Peer(peer) => {
            let request = WriteShareGroupStateRequest {
                group_id: key.group_id.clone(),
                topics: vec![write_req::WriteStateData {
                    topic_id: key.topic_id,
                    partitions: vec![write_req::PartitionData {
                        partition: key.partition,
                        leader_epoch,
                        start_offset,
                        state_batches: batches
                            .iter()
                            .map(|b| write_req::StateBatch {
                                first_offset: b.first_offset,
                                last_offset: b.last_offset,
                                delivery_state: b.delivery_state,
                                delivery_count: b.delivery_count,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            match send(broker, peer, RequestBody::WriteShareGroupState(request)).await? {
                ResponseBody::WriteShareGroupState(response) => response
                    .results
                    .into_iter()
                    .flat_map(|r| r.partitions)
                    .map(|p| p.error_code)
                    .try_for_each(wire_result),
                _ => Err(ErrorCode::UnknownServerError),
            }
        }
    }
}

/// Deletes `key`'s state wherever it lives.
pub async fn delete(broker: &Arc<Broker>, key: &ShareStateKey) -> Result<(), ErrorCode> {
    match route(broker, key).await? {
        Route::Local => delete_local(broker, key).await,
        Route::Peer(peer) => {
            let request = DeleteShareGroupStateRequest {
                group_id: key.group_id.clone(),
                topics: vec![delete_req::DeleteStateData {
                    topic_id: key.topic_id,
                    partitions: vec![delete_req::PartitionData {
                        partition: key.partition,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            match send(broker, peer, RequestBody::DeleteShareGroupState(request)).await? {
                ResponseBody::DeleteShareGroupState(response) => response
                    .results
                    .into_iter()
                    .flat_map(|r| r.partitions)
                    .map(|p| p.error_code)
                    .try_for_each(wire_result),
                _ => Err(ErrorCode::UnknownServerError),
            }
        }
    }
}

async fn send(
    broker: &Arc<Broker>,
    peer: i32,
    body: RequestBody,
) -> Result<ResponseBody, ErrorCode> {
    let cluster = broker
        .cluster
        .get()
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    cluster
        .peers
        .send(cluster, peer, 0, body, WRITE_WAIT)
        .await
        .map_err(|error| {
            tracing::debug!(peer, %error, "share state request");
            ErrorCode::CoordinatorNotAvailable
        })
}

/// Deletes every persisted state of `group_id`: the keys given (share-partitions this broker
/// held, wherever their state lives) and every key of the group in the stores this broker
/// leads (a group deleted after a restart has nothing in memory). States kept by other
/// brokers for share-partitions this broker never served stay until their topic is deleted.
pub async fn delete_group(broker: &Arc<Broker>, group_id: &str, known: Vec<ShareStateKey>) {
    for key in known {
        if let Err(code) = delete(broker, &key).await {
            tracing::debug!(?key, ?code, "deleting share state");
        }
    }
    let Ok(count) = partition_count(broker).await else {
        return;
    };
    for partition in 0..count {
        let leads = broker
            .replicas
            .get(SHARE_STATE_TOPIC, partition)
            .is_some_and(|p| p.check_serving_leader().is_ok());
        if !leads {
            continue;
        }
        let Ok(mut guard) = loaded(broker, partition).await else {
            continue;
        };
        let keys = guard.as_ref().expect("loaded").1.keys_of_group(group_id);
        for key in keys {
            let record = guard.as_mut().expect("loaded").1.delete(&key);
            if let Some(record) = record
                && let Err(code) = append(broker, partition, &mut guard, record).await
            {
                tracing::debug!(?key, ?code, "deleting share state");
                break;
            }
        }
    }
}

/// A peer's error code as a result (an unknown code is UNKNOWN_SERVER_ERROR).
fn wire_result(code: i16) -> Result<(), ErrorCode> {
    match code {
        0 => Ok(()),
        code => Err(ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError)),
    }
}
