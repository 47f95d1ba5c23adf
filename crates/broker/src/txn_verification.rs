//! A partition leader asks the transaction coordinator about a transactional write before it
//! accepts it (KIP-890): whether the partition is in the producer's ongoing transaction
//! (part 1, "verify only"), or, for transactions v2 clients (Produce v12+, TxnOffsetCommit v5+),
//! to add it (part 2: no AddPartitionsToTxn from the client). The coordinator is this broker's
//! own shard when it leads the transactional id's `__transaction_state` partition, else the
//! leader of that partition, asked with AddPartitionsToTxn v5 (the brokers' batched form).
//!
//! Errors come back as the coordinator's codes; the caller converts them for its API.

use std::sync::Arc;
use std::time::Duration;

use coordinator::txn::{ProducerIdAndEpoch, TRANSACTION_STATE_TOPIC};
use protocol::generated::AddPartitionsToTxnRequest;
use protocol::generated::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::replica::BrokerId;
use crate::txn_coordinator::TxnCoordinatorService;

/// The AddPartitionsToTxn version brokers send (batched, with `verify_only`).
const ADD_PARTITIONS_BROKER_VERSION: i16 = 5;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts while the coordinator answers CONCURRENT_TRANSACTIONS.
const RETRY_BACKOFF: Duration = Duration::from_millis(20);
/// How long a verification keeps retrying CONCURRENT_TRANSACTIONS.
const RETRY_MAX: Duration = Duration::from_millis(100);

/// Verifies (or with `add`, adds) `topic-partition` in `transactional_id`'s ongoing
/// transaction of `producer`.
pub async fn verify(
    broker: &Arc<Broker>,
    transactional_id: &str,
    producer: ProducerIdAndEpoch,
    topic: &str,
    partition: i32,
    add: bool,
) -> Result<(), BrokerError> {
    // The previous transaction's markers are usually written within milliseconds: retry here
    // (Kafka's `add.partitions.to.txn.retry.backoff.ms` 20 ms, up to `...max.ms` 100 ms) rather
    // than make the client wait its own retry backoff (100 ms by default).
    let deadline = tokio::time::Instant::now() + RETRY_MAX;
    loop {
        let result = verify_once(broker, transactional_id, producer, topic, partition, add).await;
        let busy = matches!(
            &result,
            Err(error) if error.error_code() == ErrorCode::ConcurrentTransactions
        );
        if !busy || tokio::time::Instant::now() + RETRY_BACKOFF > deadline {
            return result;
        }
        tokio::time::sleep(RETRY_BACKOFF).await;
    }
}

async fn verify_once(
    broker: &Arc<Broker>,
    transactional_id: &str,
    producer: ProducerIdAndEpoch,
    topic: &str,
    partition: i32,
    add: bool,
) -> Result<(), BrokerError> {
    let txn_partition = TxnCoordinatorService::partition_for(broker, transactional_id).await?;
    let partitions = vec![(topic.to_string(), partition)];
    let located = match broker.cluster.get() {
        None => locate(None, None),
        Some(cluster) => locate(
            Some(cluster.local_id),
            cluster
                .image()
                .partition(TRANSACTION_STATE_TOPIC, txn_partition)
                .and_then(|p| p.leader),
        ),
    };
    if let Coordinator::Remote(leader) = located? {
        return remote(
            broker,
            leader,
            transactional_id,
            producer,
            topic,
            partition,
            add,
        )
        .await;
    }
    {
        let id = transactional_id.to_string();
        let code = if add {
            TxnCoordinatorService::call(broker, transactional_id, move |coordinator, now| {
                let (result, effects) = coordinator.add_partitions(&id, producer, &partitions, now);
                (result.err().unwrap_or(ErrorCode::None), effects)
            })
            .await?
        } else {
            TxnCoordinatorService::read_partition(broker, txn_partition, move |coordinator, _| {
                coordinator
                    .verify_partitions(&id, producer, &partitions)
                    .into_iter()
                    .find(|code| *code != ErrorCode::None)
                    .unwrap_or(ErrorCode::None)
            })
            .await?
        };
        into_result(code)
    }
}

/// Where a transactional id's coordinator is.
#[derive(Debug, PartialEq)]
enum Coordinator {
    /// This broker's shard, which answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS
    /// itself while it cannot serve (not yet the leader locally, loading, stranded).
    Local,
    Remote(BrokerId),
}

/// The coordinator by the metadata image's leader of the `__transaction_state` partition (as
/// markers are routed), never by this broker's own replica state: a leader this broker has
/// not taken up yet, or cannot serve, is still this broker, and a request to itself would be
/// refused as not from a peer (CLUSTER_AUTHORIZATION_FAILED, fatal for the producer). On a
/// single node (`local_id` None) it is always this broker.
fn locate(
    local_id: Option<BrokerId>,
    leader: Option<BrokerId>,
) -> Result<Coordinator, BrokerError> {
    match (local_id, leader) {
        (None, _) => Ok(Coordinator::Local),
        (Some(local), Some(leader)) if leader == local => Ok(Coordinator::Local),
        (Some(_), Some(leader)) => Ok(Coordinator::Remote(leader)),
        (Some(_), None) => Err(BrokerError::refused(ErrorCode::CoordinatorNotAvailable)),
    }
}

fn into_result(code: ErrorCode) -> Result<(), BrokerError> {
    match code {
        ErrorCode::None => Ok(()),
        code => Err(BrokerError::refused(code)),
    }
}

/// Asks `leader`, the leader of the transactional id's `__transaction_state` partition.
async fn remote(
    broker: &Broker,
    leader: BrokerId,
    transactional_id: &str,
    producer: ProducerIdAndEpoch,
    topic: &str,
    partition: i32,
    add: bool,
) -> Result<(), BrokerError> {
    let cluster = broker
        .cluster
        .get()
        .expect("a cluster: checked by the caller");
    let request = AddPartitionsToTxnRequest {
        transactions: vec![AddPartitionsToTxnTransaction {
            transactional_id: transactional_id.to_string(),
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            verify_only: !add,
            topics: vec![AddPartitionsToTxnTopic {
                name: topic.to_string(),
                partitions: vec![partition],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = cluster
        .peers
        .send(
            cluster,
            leader,
            ADD_PARTITIONS_BROKER_VERSION,
            RequestBody::AddPartitionsToTxn(request),
            REQUEST_TIMEOUT,
        )
        .await;
    let response = match response {
        Ok(ResponseBody::AddPartitionsToTxn(response)) => response,
        Ok(_) => return Err(BrokerError::refused(ErrorCode::UnknownServerError)),
        Err(error) => {
            tracing::debug!(leader, %error, "AddPartitionsToTxn to the transaction coordinator");
            return Err(BrokerError::refused(ErrorCode::CoordinatorNotAvailable));
        }
    };
    into_result(match ErrorCode::from_code(response.error_code) {
        // Kafka's AddPartitionsToTxnManager: a client is not shown the brokers' own
        // authorization failure; the verification did not complete.
        Some(ErrorCode::ClusterAuthorizationFailed) => ErrorCode::InvalidTxnState,
        Some(code) => code,
        None => ErrorCode::UnknownServerError,
    })?;
    let code = response
        .results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| &t.results_by_partition)
        .map(|p| {
            ErrorCode::from_code(p.partition_error_code).unwrap_or(ErrorCode::UnknownServerError)
        })
        .find(|code| *code != ErrorCode::None)
        .unwrap_or(ErrorCode::None);
    into_result(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_is_located_by_the_image_leader() {
        // A single node always answers itself.
        assert_eq!(locate(None, None).unwrap(), Coordinator::Local);
        // The image names this broker: its own shard answers (NOT_COORDINATOR while it cannot
        // serve), never a request to itself.
        assert_eq!(locate(Some(3), Some(3)).unwrap(), Coordinator::Local);
        assert_eq!(locate(Some(3), Some(1)).unwrap(), Coordinator::Remote(1));
        let error = locate(Some(3), None).unwrap_err();
        assert_eq!(error.error_code(), ErrorCode::CoordinatorNotAvailable);
    }
}
