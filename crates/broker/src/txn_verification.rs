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
use crate::txn_coordinator::{TxnCoordinatorService, leader_epoch};

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
    if leader_epoch(broker, txn_partition).is_some() || broker.cluster.get().is_none() {
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
        return into_result(code);
    }
    remote(
        broker,
        txn_partition,
        transactional_id,
        producer,
        topic,
        partition,
        add,
    )
    .await
}

fn into_result(code: ErrorCode) -> Result<(), BrokerError> {
    match code {
        ErrorCode::None => Ok(()),
        code => Err(BrokerError::refused(code)),
    }
}

/// Asks the leader of `__transaction_state-txn_partition`.
async fn remote(
    broker: &Broker,
    txn_partition: i32,
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
    let leader = cluster
        .image()
        .partition(TRANSACTION_STATE_TOPIC, txn_partition)
        .and_then(|p| p.leader)
        .ok_or_else(|| BrokerError::refused(ErrorCode::CoordinatorNotAvailable))?;
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
    into_result(
        ErrorCode::from_code(response.error_code).unwrap_or(ErrorCode::UnknownServerError),
    )?;
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
