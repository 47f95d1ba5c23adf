//! Writing a transaction's COMMIT or ABORT markers (Kafka's `TransactionMarkerChannelManager`):
//! a task per [`MarkerJob`] writes the marker to every partition of the transaction, to the
//! partitions this broker leads directly and to the others with one WriteTxnMarkers request
//! per leader, retrying what failed to the partitions' current leaders with a growing pause,
//! then completes the transaction on the coordinator (`markers_written`).
//!
//! A marker to a `__consumer_offsets` partition goes through the group coordinator's shard, so
//! the transaction's pending offset commits become committed (or are dropped) together with
//! the marker. The job stops without completing when this broker stops coordinating the
//! transaction (the new coordinator replays the log and runs it again), when the broker shuts
//! down, or when a partition answers that the marker is stale (INVALID_PRODUCER_EPOCH,
//! TRANSACTION_COORDINATOR_FENCED: a newer coordinator or producer epoch moved on). A partition
//! of a topic deleted meanwhile counts as written.
//!
//! Also here: the partition leader's side of WriteTxnMarkers ([`write_local`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use coordinator::OFFSETS_TOPIC;
use coordinator::txn::{MarkerJob, TRANSACTION_STATE_TOPIC};
use protocol::generated::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use protocol::generated::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use protocol::{ErrorCode, RequestBody, ResponseBody};
use storage::{TransactionMarker, TransactionResult};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::replica::BrokerId;
use crate::txn_coordinator::TxnCoordinatorService;

/// The WriteTxnMarkers version sent to other brokers.
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// Bound on one WriteTxnMarkers round trip.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a marker write waits for the ISR.
const REPLICATION_WAIT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Starts the task that writes `job`'s markers for the coordinator of
/// `__transaction_state-txn_partition`.
pub fn spawn(broker: Arc<Broker>, txn_partition: i32, job: MarkerJob) {
    tokio::spawn(async move { run(broker, txn_partition, job).await });
}

/// The storage form of a job's marker.
pub fn marker_of(job: &MarkerJob) -> TransactionMarker {
    TransactionMarker {
        producer_id: job.producer_id,
        producer_epoch: job.producer_epoch,
        result: if job.commit {
            TransactionResult::Commit
        } else {
            TransactionResult::Abort
        },
        coordinator_epoch: job.coordinator_epoch,
    }
}

/// Where a partition's marker goes.
enum Destination {
    Local,
    Remote(BrokerId),
    /// The topic no longer exists: nothing to write.
    Gone,
    /// No leader known right now: retry.
    Unknown,
}

/// What a partition answered.
enum Outcome {
    Written,
    Retry,
    /// The marker is stale: stop the job without completing it.
    Stale,
}

fn outcome_of(code: ErrorCode) -> Outcome {
    match code {
        ErrorCode::None => Outcome::Written,
        ErrorCode::InvalidProducerEpoch | ErrorCode::TransactionCoordinatorFenced => Outcome::Stale,
        _ => Outcome::Retry,
    }
}

async fn run(broker: Arc<Broker>, txn_partition: i32, job: MarkerJob) {
    let marker = marker_of(&job);
    let started = tokio::time::Instant::now();
    let mut pending: BTreeSet<(String, i32)> = job.partitions.iter().cloned().collect();
    let mut backoff = BACKOFF_MIN;
    loop {
        if broker.is_shutting_down() || !still_coordinator(&broker, txn_partition, &job) {
            tracing::debug!(
                transactional_id = job.transactional_id,
                "marker job stopped"
            );
            return;
        }
        let mut local = Vec::new();
        let mut remote: BTreeMap<BrokerId, Vec<(String, i32)>> = BTreeMap::new();
        let mut done = Vec::new();
        for (topic, partition) in &pending {
            match destination(&broker, topic, *partition) {
                Destination::Local => local.push((topic.clone(), *partition)),
                Destination::Remote(leader) => remote
                    .entry(leader)
                    .or_default()
                    .push((topic.clone(), *partition)),
                Destination::Gone => done.push((topic.clone(), *partition)),
                Destination::Unknown => {}
            }
        }
        // The first partition that refused the marker as stale, and its answer.
        let mut stale: Option<(String, i32, ErrorCode)> = None;
        for (topic, partition) in local {
            let code = match write_local(&broker, &topic, partition, marker).await {
                Ok(()) => ErrorCode::None,
                Err(error) => {
                    tracing::debug!(topic, partition, %error, "writing a transaction marker");
                    error.error_code()
                }
            };
            match outcome_of(code) {
                Outcome::Written => done.push((topic, partition)),
                Outcome::Retry => {}
                Outcome::Stale => stale = stale.or(Some((topic, partition, code))),
            }
        }
        for (leader, partitions) in remote {
            for ((topic, partition), code) in send_remote(&broker, leader, &job, &partitions).await
            {
                match outcome_of(code) {
                    Outcome::Written => done.push((topic, partition)),
                    Outcome::Retry => {}
                    Outcome::Stale => stale = stale.or(Some((topic, partition, code))),
                }
            }
        }
        if let Some((topic, partition, code)) = stale {
            tracing::warn!(
                transactional_id = job.transactional_id,
                producer_id = job.producer_id,
                producer_epoch = job.producer_epoch,
                coordinator_epoch = job.coordinator_epoch,
                topic,
                partition,
                error = code.name(),
                "a partition refused the transaction's marker as stale; the marker job stops"
            );
            return;
        }
        for written in done {
            pending.remove(&written);
        }
        if pending.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = broker.shutdown_begun() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    tracing::debug!(
        transactional_id = job.transactional_id,
        partitions = job.partitions.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "transaction markers written"
    );
    if let Err(error) = TxnCoordinatorService::markers_written(&broker, txn_partition, job).await {
        // The next coordinator (or this one, reloaded) runs the job again.
        tracing::info!(%error, "completing a transaction after its markers");
    }
}

/// Whether this broker still coordinates the job's transaction at the job's epoch.
fn still_coordinator(broker: &Broker, txn_partition: i32, job: &MarkerJob) -> bool {
    crate::txn_coordinator::leader_epoch(broker, txn_partition) == Some(job.coordinator_epoch)
}

fn destination(broker: &Broker, topic: &str, partition: i32) -> Destination {
    let Some(cluster) = broker.cluster.get() else {
        return if broker.replicas.get(topic, partition).is_some() {
            Destination::Local
        } else if broker.metadata.topic(topic).is_none() {
            Destination::Gone
        } else {
            Destination::Unknown
        };
    };
    let image = cluster.image();
    if !image.topics.contains_key(topic) {
        return Destination::Gone;
    }
    match image.partition(topic, partition).and_then(|p| p.leader) {
        Some(leader) if leader == cluster.local_id => Destination::Local,
        Some(leader) => Destination::Remote(leader),
        None => Destination::Unknown,
    }
}

/// One WriteTxnMarkers request to `leader` for `partitions`; every partition gets a code
/// (a failed round trip is a retriable one for all).
async fn send_remote(
    broker: &Broker,
    leader: BrokerId,
    job: &MarkerJob,
    partitions: &[(String, i32)],
) -> Vec<((String, i32), ErrorCode)> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    let request = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id: job.producer_id,
            producer_epoch: job.producer_epoch,
            transaction_result: job.commit,
            topics: by_topic
                .into_iter()
                .map(|(name, partition_indexes)| WritableTxnMarkerTopic {
                    name: name.to_string(),
                    partition_indexes,
                    ..Default::default()
                })
                .collect(),
            coordinator_epoch: job.coordinator_epoch,
            ..Default::default()
        }],
        ..Default::default()
    };
    let failed = |code| partitions.iter().map(|p| (p.clone(), code)).collect();
    let Some(cluster) = broker.cluster.get() else {
        return failed(ErrorCode::NotLeaderOrFollower);
    };
    let response = cluster
        .peers
        .send(
            cluster,
            leader,
            WRITE_TXN_MARKERS_VERSION,
            RequestBody::WriteTxnMarkers(request),
            REQUEST_TIMEOUT,
        )
        .await;
    let response: WriteTxnMarkersResponse = match response {
        Ok(ResponseBody::WriteTxnMarkers(response)) => response,
        Ok(_) => return failed(ErrorCode::UnknownServerError),
        Err(error) => {
            tracing::debug!(leader, %error, "WriteTxnMarkers");
            return failed(ErrorCode::RequestTimedOut);
        }
    };
    let mut codes = Vec::with_capacity(partitions.len());
    for result in response.markers {
        for topic in result.topics {
            for partition in topic.partitions {
                let code = ErrorCode::from_code(partition.error_code)
                    .unwrap_or(ErrorCode::UnknownServerError);
                codes.push(((topic.name.clone(), partition.partition_index), code));
            }
        }
    }
    // A partition the answer left out is retried.
    codes.retain(|(p, _)| partitions.contains(p));
    codes
}

/// Writes `marker` to this broker's leader replica of `topic-partition` and, in a cluster,
/// waits until the ISR has it (Kafka appends markers with acks=all). A marker to
/// `__consumer_offsets` also completes the producer's pending offset commits there.
pub async fn write_local(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    marker: TransactionMarker,
) -> Result<(), BrokerError> {
    if topic == TRANSACTION_STATE_TOPIC {
        return Err(BrokerError::InvalidRequest(format!(
            "no transaction writes to {TRANSACTION_STATE_TOPIC}"
        )));
    }
    let now = broker.now_ms();
    let (log, info) = if topic == OFFSETS_TOPIC {
        broker
            .groups
            .write_txn_marker(broker, partition, marker)
            .await?
    } else {
        let log = broker.replicas.partition(topic, partition)?;
        let info = log.append_txn_marker(marker, now).await?;
        (log, info)
    };
    if broker.cluster.get().is_some() {
        let deadline = tokio::time::Instant::now() + REPLICATION_WAIT;
        log.wait_for_high_watermark(info.first_offset, deadline)
            .await?;
    }
    Ok(())
}
