//! Transactions on one broker at the protocol level (KIP-98, KIP-890): InitProducerId with a
//! transactional id bumps the epoch and fences, a v1 transaction (AddPartitionsToTxn, produce,
//! EndTxn) commits or aborts through markers, read_committed fetches stop at the last stable
//! offset and name aborted transactions, produce verification refuses a partition that is not
//! in the transaction, and the coordinator's state survives a restart.
//! Method: a real broker on 127.0.0.1:0 with `__transaction_state` of 2 partitions; the same
//! requests a client sends.

mod common;

use common::TestBroker;
use common::produce::{batch, create_topic, now_ms, produce};
use common::txn::*;
use protocol::ErrorCode;

const TXN_OVERRIDES: &[(&str, &str)] = &[("transaction.state.log.num.partitions", "2")];

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
