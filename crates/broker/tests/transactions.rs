//! Transactions on one broker at the protocol level (KIP-98, KIP-890): InitProducerId with a
//! transactional id bumps the epoch and fences, a v1 transaction (AddPartitionsToTxn, produce,
//! EndTxn) commits or aborts through markers, read_committed fetches stop at the last stable
//! offset and name aborted transactions, produce verification refuses a partition that is not
//! in the transaction, and the coordinator's state survives a restart.
//! Method: a real broker on 127.0.0.1:0 with `__transaction_state` of 2 partitions; the same
//! requests a client sends.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::produce::{batch, create_topic, now_ms, produce};
use common::{TestBroker, TestClient};
use protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use protocol::generated::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use protocol::generated::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, FetchRequest,
    FetchResponse, InitProducerIdRequest, ListOffsetsRequest, ProduceRequest,
};
use protocol::{ErrorCode, ResponseBody};

const TXN_OVERRIDES: &[(&str, &str)] = &[("transaction.state.log.num.partitions", "2")];

async fn init(client: &mut TestClient, id: &str) -> (i16, i64, i16) {
    let request = InitProducerIdRequest {
        transactional_id: Some(id.into()),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    // The coordinator's topic is created on first use: retriable errors until it serves.
    for _ in 0..100 {
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

async fn add_partition(
    client: &mut TestClient,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
) -> i16 {
    let request = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: id.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: topic.into(),
            partitions: vec![0],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::AddPartitionsToTxn(response) = client.send(3, request).await else {
        panic!("not an AddPartitionsToTxn response");
    };
    response.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

/// EndTxn, retried while the previous transaction's markers are being written.
async fn end(client: &mut TestClient, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
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
async fn wait_state(client: &mut TestClient, id: &str, state: &str) {
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

fn txn_batch(pid: i64, epoch: i16, sequence: i32, count: i32) -> Bytes {
    batch(count, now_ms())
        .producer(pid, epoch, sequence)
        .transactional(true)
        .build()
        .unwrap()
}

async fn produce_txn(
    client: &mut TestClient,
    version: i16,
    id: &str,
    topic: &str,
    records: Bytes,
) -> i16 {
    let mut request: ProduceRequest = common::produce::produce_request(topic, 0, -1, records);
    request.transactional_id = Some(id.into());
    let ResponseBody::Produce(response) = client.send(version, request).await else {
        panic!("not a produce response");
    };
    response.responses[0].partition_responses[0].error_code
}

async fn fetch(client: &mut TestClient, topic: &str, isolation_level: i8) -> FetchResponse {
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
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

async fn latest(client: &mut TestClient, topic: &str, isolation_level: i8) -> i64 {
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

#[tokio::test]
async fn init_producer_id_bumps_the_epoch_of_a_transactional_id() {
    let broker = TestBroker::start(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    let (code, pid, epoch) = init(&mut client, "app-1").await;
    assert_eq!((code, epoch), (0, 0));
    let (code, again, bumped) = init(&mut client, "app-1").await;
    assert_eq!((code, again, bumped), (0, pid, 1), "same id, next epoch");
    // The fenced instance's EndTxn is refused (v3 knows PRODUCER_FENCED).
    assert_eq!(
        end(&mut client, "app-1", pid, 0, true).await,
        ErrorCode::ProducerFenced.code()
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_committed_and_an_aborted_transaction_as_read_committed_sees_them() {
    let broker = TestBroker::start(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    create_topic(&broker, "t", 1, &[]).await;
    let (_, pid, epoch) = init(&mut client, "app").await;
    assert_eq!(add_partition(&mut client, "app", pid, epoch, "t").await, 0);
    assert_eq!(
        produce_txn(&mut client, 9, "app", "t", txn_batch(pid, epoch, 0, 3)).await,
        0
    );
    // Open: read_committed stops at the transaction's first offset.
    assert_eq!(latest(&mut client, "t", 1).await, 0, "the LSO");
    assert_eq!(latest(&mut client, "t", 0).await, 3, "the high watermark");
    let open = fetch(&mut client, "t", 1).await;
    assert_eq!(open.responses[0].partitions[0].last_stable_offset, 0);
    assert_eq!(end(&mut client, "app", pid, epoch, true).await, 0);
    wait_state(&mut client, "app", "CompleteCommit").await;
    // Records 0-2 and the marker at 3.
    assert_eq!(latest(&mut client, "t", 1).await, 4);
    let committed = fetch(&mut client, "t", 1).await;
    let data = &committed.responses[0].partitions[0];
    assert_eq!(data.last_stable_offset, 4);
    assert_eq!(data.aborted_transactions.as_deref(), Some(&[][..]));

    assert_eq!(add_partition(&mut client, "app", pid, epoch, "t").await, 0);
    assert_eq!(
        produce_txn(&mut client, 9, "app", "t", txn_batch(pid, epoch, 3, 2)).await,
        0
    );
    assert_eq!(end(&mut client, "app", pid, epoch, false).await, 0);
    wait_state(&mut client, "app", "CompleteAbort").await;
    let aborted = fetch(&mut client, "t", 1).await;
    let data = &aborted.responses[0].partitions[0];
    assert_eq!(data.last_stable_offset, 7);
    let listed = data
        .aborted_transactions
        .clone()
        .expect("a list for read_committed");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].producer_id, listed[0].first_offset), (pid, 4));
    let uncommitted = fetch(&mut client, "t", 0).await;
    assert!(
        uncommitted.responses[0].partitions[0]
            .aborted_transactions
            .is_none()
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_partition_outside_the_transaction_is_refused_until_added() {
    let broker = TestBroker::start(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    create_topic(&broker, "v", 1, &[]).await;
    let (_, pid, epoch) = init(&mut client, "verify").await;
    // Transactions v1 (Produce v9): not added, so refused; older versions know no
    // TRANSACTION_ABORTABLE and get INVALID_TXN_STATE.
    assert_eq!(
        produce_txn(&mut client, 9, "verify", "v", txn_batch(pid, epoch, 0, 1)).await,
        ErrorCode::InvalidTxnState.code()
    );
    assert_eq!(
        produce_txn(&mut client, 11, "verify", "v", txn_batch(pid, epoch, 0, 1)).await,
        ErrorCode::TransactionAbortable.code()
    );
    assert_eq!(
        produce(
            &mut client,
            9,
            "v",
            0,
            -1,
            batch(1, now_ms()).build().unwrap()
        )
        .await
        .base_offset,
        0
    );
    // Transactions v2 (Produce v12): the write adds the partition.
    assert_eq!(
        produce_txn(&mut client, 12, "verify", "v", txn_batch(pid, epoch, 0, 1)).await,
        0
    );
    wait_state(&mut client, "verify", "Ongoing").await;
    broker.shutdown().await;
}

#[tokio::test]
async fn an_open_transaction_and_its_coordinator_survive_a_restart() {
    let broker = TestBroker::start(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    create_topic(&broker, "r", 1, &[]).await;
    let (_, pid, epoch) = init(&mut client, "restart").await;
    assert_eq!(
        add_partition(&mut client, "restart", pid, epoch, "r").await,
        0
    );
    assert_eq!(
        produce_txn(&mut client, 9, "restart", "r", txn_batch(pid, epoch, 0, 2)).await,
        0
    );
    drop(client);
    let broker = broker.restart_with(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    // The coordinator loads from __transaction_state; the partition still holds the LSO.
    wait_state(&mut client, "restart", "Ongoing").await;
    assert_eq!(latest(&mut client, "r", 1).await, 0);
    assert_eq!(end(&mut client, "restart", pid, epoch, true).await, 0);
    wait_state(&mut client, "restart", "CompleteCommit").await;
    assert_eq!(latest(&mut client, "r", 1).await, 3);
    broker.shutdown().await;
}
