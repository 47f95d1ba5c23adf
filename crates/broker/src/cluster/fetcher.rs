//! Follower fetchers: one task per leader broker, fetching every partition this broker follows
//! from that leader with Fetch v15 (topic ids, `replica_state` with this node's id and broker
//! epoch for KIP-903, `last_fetched_epoch` for KIP-320 divergence), appending what comes back with the leader's offsets and epochs, and taking the
//! leader's high watermark.
//!
//! A `diverging_epoch` answer truncates the local log to where that epoch ends on the leader
//! (never to a high watermark), and the next fetch goes on from there. Errors that mean the
//! leader moved (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH) wait for
//! metadata; connection errors reconnect after a pause. A partition whose answer could not be
//! applied sits out the next rounds for a pause (Kafka's `replica.fetch.backoff.ms` delays only
//! that partition), while the others go on fetching at full speed. A partition under a follower
//! replication throttle (`replication_quota.rs`) that is behind the leader's high watermark is
//! left out while the throttled rate is over its bound. A task ends when no partition follows
//! its leader any more, or at shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::generated::FetchRequest;
use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use protocol::{RequestBody, ResponseBody};

use super::Cluster;
use super::client::BrokerConnection;
use crate::broker::Broker;
use crate::partitions::Partition;
use crate::replica::BrokerId;
use crate::replication_quota::{FOLLOWER_RATE, FOLLOWER_REPLICAS, bound, throttles};
use crate::replication_rules::FetchPosition;

/// The Fetch version followers use: the first with the follower's broker epoch.
const REPLICA_FETCH_VERSION: i16 = 15;
/// Pause after a failed connection or call before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// An idle fetcher (no partitions follow its leader) ends after this long.
const IDLE_EXIT: Duration = Duration::from_secs(5);
/// How long a fetcher whose every partition is held back by the follower throttle waits.
const THROTTLE_PAUSE: Duration = Duration::from_millis(100);
/// Bytes one fetch response may carry in all.
const FETCH_RESPONSE_BYTES_MAX: i32 = 10 * 1024 * 1024;

/// Starts the fetcher for `leader` unless one runs.
pub fn ensure(broker: &Arc<Broker>, cluster: &Arc<Cluster>, leader: BrokerId) {
    let mut fetchers = cluster.fetchers.lock().unwrap_or_else(|p| p.into_inner());
    if fetchers
        .get(&leader)
        .is_some_and(|task| !task.is_finished())
    {
        return;
    }
    let task = tokio::spawn(run(broker.clone(), cluster.clone(), leader));
    fetchers.insert(leader, task);
}

fn followed_from(broker: &Broker, leader: BrokerId) -> Vec<(Arc<Partition>, i32)> {
    broker
        .replicas
        .all()
        .into_iter()
        .filter_map(|p| match p.followed_leader() {
            // An offline log (its directory failed) takes no more appends: not fetched.
            Some((l, epoch)) if l == leader && p.offline_reason().is_none() => Some((p, epoch)),
            _ => None,
        })
        .collect()
}

async fn run(broker: Arc<Broker>, cluster: Arc<Cluster>, leader: BrokerId) {
    let mut connection: Option<BrokerConnection> = None;
    let mut idle_since = tokio::time::Instant::now();
    let wait_ms = cluster.config.replica_fetch_wait_max_ms;
    // Partitions whose last answer failed to apply, and until when they sit out.
    let mut delayed: BTreeMap<(protocol::Uuid, i32), tokio::time::Instant> = BTreeMap::new();
    loop {
        if broker.is_shutting_down() {
            return;
        }
        // Created before the check, so an image applied in between wakes the wait below.
        let roles_changed = cluster.roles_changed.notified();
        let now = tokio::time::Instant::now();
        delayed.retain(|_, until| *until > now);
        let (partitions, sitting_out): (Vec<_>, Vec<_>) = followed_from(&broker, leader)
            .into_iter()
            .partition(|(p, _)| !delayed.contains_key(&partition_key(p)));
        if partitions.is_empty() && !sitting_out.is_empty() {
            let until = delayed.values().min().copied().unwrap_or(now + RETRY_PAUSE);
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = broker.shutdown_begun() => return,
            }
            continue;
        }
        if partitions.is_empty() {
            let Some(remaining) = IDLE_EXIT.checked_sub(idle_since.elapsed()) else {
                return;
            };
            tokio::select! {
                _ = roles_changed => {}
                _ = tokio::time::sleep(remaining) => {}
                _ = broker.shutdown_begun() => return,
            }
            continue;
        }
        idle_since = tokio::time::Instant::now();
        // The follower's replication throttle holds back partitions it lists that are behind.
        let limit = bound(
            cluster
                .image()
                .broker_config(cluster.local_id, FOLLOWER_RATE),
        );
        let partitions = if broker
            .replication_quotas
            .follower
            .exceeded(limit, broker.replica_now_ms())
        {
            let (held, kept): (Vec<_>, Vec<_>) = partitions
                .into_iter()
                .partition(|(p, _)| follower_throttled(&broker, p) && behind(p));
            if kept.is_empty() && !held.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(THROTTLE_PAUSE) => {}
                    _ = broker.shutdown_begun() => return,
                }
                continue;
            }
            kept
        } else {
            partitions
        };
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => {
                let Some(address) = cluster.endpoint(leader) else {
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                };
                let client_id = format!("broker-{}-fetcher-{leader}", cluster.local_id);
                match BrokerConnection::connect(
                    &address,
                    client_id,
                    Duration::from_secs(3),
                    &cluster.config.peer_security,
                )
                .await
                {
                    Ok(conn) => connection.insert(conn),
                    Err(error) => {
                        tracing::debug!(leader, %error, "replica fetcher cannot connect");
                        tokio::time::sleep(RETRY_PAUSE).await;
                        continue;
                    }
                }
            }
        };
        let request = match fetch_request(&cluster, &partitions, wait_ms) {
            Ok(request) => request,
            Err(error) => {
                tracing::warn!(leader, %error, "building a replica fetch");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        let timeout = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(500) + 10_000);
        let sent = tokio::select! {
            sent = conn.send(REPLICA_FETCH_VERSION, RequestBody::Fetch(request), timeout) => sent,
            _ = broker.shutdown_begun() => return,
        };
        let response = match sent {
            Ok(ResponseBody::Fetch(response)) => response,
            Ok(_) => {
                connection = None;
                continue;
            }
            Err(error) => {
                tracing::debug!(leader, %error, "replica fetch failed");
                connection = None;
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        let by_id: BTreeMap<(protocol::Uuid, i32), (Arc<Partition>, i32)> = partitions
            .into_iter()
            .map(|(p, epoch)| (partition_key(&p), (p, epoch)))
            .collect();
        let mut answers = Vec::new();
        let mut throttled_bytes = 0u64;
        for topic in response.responses {
            for data in topic.partitions {
                let key = (topic.topic_id, data.partition_index);
                let Some((partition, epoch)) = by_id.get(&key) else {
                    continue;
                };
                // Leadership may have moved while the fetch was out.
                if partition.followed_leader() != Some((leader, *epoch)) {
                    continue;
                }
                if follower_throttled(&broker, partition) {
                    throttled_bytes += crate::handlers::fetch::records_bytes(&data) as u64;
                }
                answers.push((partition.clone(), data));
            }
        }
        broker
            .replication_quotas
            .follower
            .record(throttled_bytes, broker.replica_now_ms());
        let keys: Vec<_> = answers
            .iter()
            .map(|(p, _)| (partition_key(p), p.topic_partition.clone()))
            .collect();
        let applied = Partition::apply_fetched(answers).await;
        let retry_at = tokio::time::Instant::now() + RETRY_PAUSE;
        for ((key, name), applied) in keys.into_iter().zip(applied) {
            if let Err(error) = applied {
                tracing::debug!(partition = ?name, %error, "replica fetch answer not applied");
                delayed.insert(key, retry_at);
            }
        }
    }
}

/// Whether this follower throttles the partition (`follower.replication.throttled.replicas`).
fn follower_throttled(broker: &Broker, partition: &Partition) -> bool {
    throttles(partition, FOLLOWER_REPLICAS, broker.config.node_id)
}

/// Whether the replica is behind the leader's high watermark as last fetched (Kafka's
/// `isReplicaInSync` is the opposite): only such a replica is held back by a throttle.
fn behind(partition: &Partition) -> bool {
    match (partition.high_watermark(), partition.log_end_offset()) {
        (Ok(high_watermark), Ok(log_end)) => log_end < high_watermark,
        _ => false,
    }
}

fn partition_key(partition: &Partition) -> (protocol::Uuid, i32) {
    (partition.topic_id, partition.topic_partition.partition)
}

fn fetch_request(
    cluster: &Cluster,
    partitions: &[(Arc<Partition>, i32)],
    wait_ms: i32,
) -> Result<FetchRequest, crate::error::BrokerError> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    let per_partition = cluster.config.replica_fetch_max_bytes;
    for (partition, epoch) in partitions {
        let id = partition.topic_id;
        if topics.last().is_none_or(|t| t.topic_id != id) {
            topics.push(FetchTopic {
                topic_id: id,
                ..Default::default()
            });
        }
        let position =
            FetchPosition::of_log(partition.log_end_offset()?, partition.latest_epoch()?);
        let fetch = FetchPartition {
            partition: partition.topic_partition.partition,
            current_leader_epoch: *epoch,
            fetch_offset: position.fetch_offset,
            last_fetched_epoch: position.last_fetched_epoch,
            log_start_offset: partition.log_start_offset()?,
            partition_max_bytes: per_partition,
            ..Default::default()
        };
        topics
            .last_mut()
            .expect("pushed above")
            .partitions
            .push(fetch);
    }
    Ok(FetchRequest {
        replica_state: protocol::generated::fetch_request::ReplicaState {
            replica_id: cluster.local_id,
            replica_epoch: cluster.broker_epoch(),
            ..Default::default()
        },
        max_wait_ms: wait_ms,
        min_bytes: 1,
        max_bytes: FETCH_RESPONSE_BYTES_MAX,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..Default::default()
    })
}
