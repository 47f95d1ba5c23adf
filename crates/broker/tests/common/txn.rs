//! Helpers of the transaction tests (`transactions.rs`, `cluster_transactions.rs`): the
//! requests a transactional client sends, each retried or checked as a test needs.

use std::time::Duration;

use bytes::Bytes;
use protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use protocol::generated::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, FetchRequest,
    FetchResponse, InitProducerIdRequest, ListOffsetsRequest, ProduceRequest,
};
use protocol::{ErrorCode, ResponseBody};

use super::TestClient;
use super::produce::{batch, now_ms, produce_request};

pub async fn init(client: &mut TestClient, id: &str) -> (i16, i64, i16) {
    let request = InitProducerIdRequest {
        transactional_id: Some(id.into()),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    // The coordinator's topic is created on first use: retriable errors until it serves.
    for _ in 0..600 {
        let ResponseBody::InitProducerId(response) = client.send(4, request.clone()).await else {
            panic!("not an InitProducerId response");
        };
        let code = ErrorCode::from_code(response.error_code);
        if matches!(
            code,
            Some(
                ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::ConcurrentTransactions
            )
        ) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        return (
            response.error_code,
            response.producer_id,
            response.producer_epoch,
        );
    }
    panic!("InitProducerId never answered");
}

pub async fn add_partition(
    client: &mut TestClient,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
) -> i16 {
    add_partitions(client, id, pid, epoch, topic, &[0]).await[0]
}

/// AddPartitionsToTxn v3 for `partitions` of `topic`; the codes in partition order.
pub async fn add_partitions(
    client: &mut TestClient,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    partitions: &[i32],
) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: id.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: topic.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::AddPartitionsToTxn(response) = client.send(3, request).await else {
        panic!("not an AddPartitionsToTxn response");
    };
    let mut results = response.results_by_topic_v3_and_below[0]
        .results_by_partition
        .clone();
    results.sort_by_key(|r| r.partition_index);
    results.iter().map(|r| r.partition_error_code).collect()
}

/// EndTxn v3; its error code.
pub async fn end(client: &mut TestClient, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let request = EndTxnRequest {
        transactional_id: id.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: commit,
        ..Default::default()
    };
    let ResponseBody::EndTxn(response) = client.send(3, request).await else {
        panic!("not an EndTxn response");
    };
    response.error_code
}

/// Waits until the id's transaction completed (its markers are written).
pub async fn wait_state(client: &mut TestClient, id: &str, state: &str) {
    for _ in 0..200 {
        let request = DescribeTransactionsRequest {
            transactional_ids: vec![id.into()],
            ..Default::default()
        };
        let ResponseBody::DescribeTransactions(response) = client.send(0, request).await else {
            panic!("not a DescribeTransactions response");
        };
        if response.transaction_states[0].transaction_state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never reached {state}");
}

pub fn txn_batch(pid: i64, epoch: i16, sequence: i32, count: i32) -> Bytes {
    batch(count, now_ms())
        .producer(pid, epoch, sequence)
        .transactional(true)
        .build()
        .unwrap()
}

pub async fn produce_txn(
    client: &mut TestClient,
    version: i16,
    id: &str,
    topic: &str,
    records: Bytes,
) -> i16 {
    produce_txn_to(client, version, id, topic, 0, records).await
}

pub async fn produce_txn_to(
    client: &mut TestClient,
    version: i16,
    id: &str,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> i16 {
    let mut request: ProduceRequest = produce_request(topic, partition, -1, records);
    request.transactional_id = Some(id.into());
    let ResponseBody::Produce(response) = client.send(version, request).await else {
        panic!("not a produce response");
    };
    response.responses[0].partition_responses[0].error_code
}

pub async fn fetch(client: &mut TestClient, topic: &str, isolation_level: i8) -> FetchResponse {
    fetch_from(client, topic, 0, isolation_level).await
}

pub async fn fetch_from(
    client: &mut TestClient,
    topic: &str,
    partition: i32,
    isolation_level: i8,
) -> FetchResponse {
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::Fetch(response) = client.send(12, request).await else {
        panic!("not a fetch response");
    };
    response
}

pub async fn latest(client: &mut TestClient, topic: &str, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level,
        topics: vec![ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::ListOffsets(response) = client.send(7, request).await else {
        panic!("not a ListOffsets response");
    };
    response.topics[0].partitions[0].offset
}
