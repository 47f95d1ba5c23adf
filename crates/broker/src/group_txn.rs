//! The group coordinator's part in transactions: TxnOffsetCommit appends a producer's offset
//! commits to the group's `__consumer_offsets` partition as one transactional batch (pending
//! until the transaction ends), and a transaction's marker on that partition is written under
//! the same shard lock that then commits or drops them, so the log and the coordinator agree
//! on the order (Kafka's `GroupCoordinatorShard.replayEndTransactionMarker`).

use std::sync::Arc;

use protocol::generated::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use storage::{LogAppendInfo, TransactionMarker, TransactionResult};

use crate::broker::Broker;
use crate::consumer_offsets;
use crate::error::BrokerError;
use crate::group_coordinator::GroupCoordinatorService;
use crate::internal_log::TransactionalProducer;
use crate::partitions::Partition;

impl GroupCoordinatorService {
    /// TxnOffsetCommit on the group's shard: the coordinator's checks, then its records as the
    /// producer's transactional batch. In a cluster, answered once the ISR has the batch.
    pub async fn txn_offset_commit(
        broker: &Arc<Broker>,
        request: TxnOffsetCommitRequest,
    ) -> Result<TxnOffsetCommitResponse, BrokerError> {
        let partition = broker.groups.partition_for(&request.group_id)?;
        Self::with_loaded(broker, partition, move |coordinator, log, now| {
            let outcome = coordinator.txn_offset_commit(now, &request);
            if !outcome.records.is_empty() {
                let producer = TransactionalProducer {
                    producer_id: outcome.producer_id,
                    producer_epoch: outcome.producer_epoch,
                };
                consumer_offsets::append(log, &outcome.records, now, Some(producer))?;
            }
            Ok(outcome.response)
        })
        .await
    }

    /// Writes a transaction's marker to `__consumer_offsets-partition` (this broker leads it)
    /// and commits or drops the producer's pending offsets of that shard.
    pub async fn write_txn_marker(
        &self,
        broker: &Arc<Broker>,
        partition: i32,
        marker: TransactionMarker,
    ) -> Result<(Arc<Partition>, LogAppendInfo), BrokerError> {
        let log = broker
            .replicas
            .partition(coordinator::OFFSETS_TOPIC, partition)?;
        // A refused marker (stale epoch, lost leadership) changed nothing here: it is answered
        // without rebuilding the shard, which `with_loaded` does for its own errors.
        let info = Self::with_loaded(broker, partition, move |coordinator, log, now| {
            Ok(log.append_txn_marker_blocking(&marker, now).inspect(|_| {
                coordinator.complete_transaction(
                    marker.producer_id,
                    marker.result == TransactionResult::Commit,
                );
            }))
        })
        .await??;
        Ok((log, info))
    }
}
