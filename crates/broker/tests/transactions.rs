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

/// Bad input gets Kafka's error and changes nothing: COMMIT markers from a client, the brokers' form
/// of AddPartitionsToTxn from a client, transactional records without a transactional id, an
/// unknown id, stale epochs, a timeout above `transaction.max.timeout.ms`.
#[tokio::test]
async fn bad_transactional_requests_are_refused_and_change_nothing() {
    use protocol::ResponseBody;
    use protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
    use protocol::generated::write_txn_markers_request::{
        WritableTxnMarker, WritableTxnMarkerTopic,
    };
    use protocol::generated::{
        AddPartitionsToTxnRequest, InitProducerIdRequest, WriteTxnMarkersRequest,
    };

    let broker = TestBroker::start(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    create_topic(&broker, "b", 1, &[]).await;
    let (_, pid, epoch) = init(&mut client, "bad").await;
    assert_eq!(add_partition(&mut client, "bad", pid, epoch, "b").await, 0);
    assert_eq!(
        produce_txn(&mut client, 9, "bad", "b", txn_batch(pid, epoch, 0, 2)).await,
        0
    );

    // A client's COMMIT marker would end the transaction: refused, the LSO stays.
    let markers = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id: pid,
            producer_epoch: epoch,
            transaction_result: true,
            topics: vec![WritableTxnMarkerTopic {
                name: "b".into(),
                partition_indexes: vec![0],
                ..Default::default()
            }],
            coordinator_epoch: 0,
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::WriteTxnMarkers(answer) = client.send(1, markers).await else {
        panic!("not a WriteTxnMarkers response");
    };
    assert_eq!(
        answer.markers[0].topics[0].partitions[0].error_code,
        ErrorCode::ClusterAuthorizationFailed.code()
    );
    assert_eq!(latest(&mut client, "b", 1).await, 0, "still open");
    assert_eq!(latest(&mut client, "b", 0).await, 2, "no marker appended");

    let brokers_form = AddPartitionsToTxnRequest {
        transactions: vec![AddPartitionsToTxnTransaction {
            transactional_id: "bad".into(),
            producer_id: pid,
            producer_epoch: epoch,
            verify_only: false,
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::AddPartitionsToTxn(answer) = client.send(4, brokers_form).await else {
        panic!("not an AddPartitionsToTxn response");
    };
    assert_eq!(
        answer.error_code,
        ErrorCode::ClusterAuthorizationFailed.code()
    );

    // Transactional records with no transactional id to authorize.
    let response = produce(&mut client, 9, "b", 0, -1, txn_batch(pid, epoch, 2, 1)).await;
    assert_eq!(
        response.error_code,
        ErrorCode::TransactionalIdAuthorizationFailed.code()
    );
    assert_eq!(latest(&mut client, "b", 0).await, 2, "nothing appended");

    // Unknown id, stale epochs (PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before).
    assert_eq!(
        end(&mut client, "nobody", pid, epoch, true).await,
        ErrorCode::InvalidProducerIdMapping.code()
    );
    assert_eq!(
        add_partition(&mut client, "bad", pid, epoch + 1, "b").await,
        ErrorCode::ProducerFenced.code()
    );
    let stale = protocol::generated::EndTxnRequest {
        transactional_id: "bad".into(),
        producer_id: pid,
        producer_epoch: epoch + 1,
        committed: true,
        ..Default::default()
    };
    let ResponseBody::EndTxn(answer) = client.send(1, stale).await else {
        panic!("not an EndTxn response");
    };
    assert_eq!(answer.error_code, ErrorCode::InvalidProducerEpoch.code());

    // A timeout above transaction.max.timeout.ms (900,000 by default).
    let too_long = InitProducerIdRequest {
        transactional_id: Some("slow".into()),
        transaction_timeout_ms: 900_001,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let ResponseBody::InitProducerId(answer) = client.send(4, too_long).await else {
        panic!("not an InitProducerId response");
    };
    assert_eq!(
        answer.error_code,
        ErrorCode::InvalidTransactionTimeout.code()
    );

    // The transaction is intact: it still commits.
    assert_eq!(end(&mut client, "bad", pid, epoch, true).await, 0);
    wait_state(&mut client, "bad", "CompleteCommit").await;
    assert_eq!(latest(&mut client, "b", 1).await, 3);
    broker.shutdown().await;
}

/// A first transactional batch refused by verification (here: not yet in the transaction)
/// holds back the batches behind it: they get OUT_OF_ORDER_SEQUENCE_NUMBER (retriable) until
/// the first one lands, instead of landing first and leaving the retried first batch out of
/// order for good (bench/txn-compare.sh wedged its consume-transform-produce runs on this).
#[tokio::test]
async fn batches_behind_a_refused_first_batch_wait_for_it() {
    let broker = TestBroker::start(TXN_OVERRIDES).await;
    let mut client = broker.client().await;
    create_topic(&broker, "g", 1, &[]).await;
    let (_, pid, epoch) = init(&mut client, "guard").await;
    assert_eq!(
        produce_txn(&mut client, 9, "guard", "g", txn_batch(pid, epoch, 0, 3)).await,
        ErrorCode::InvalidTxnState.code()
    );
    assert_eq!(
        add_partition(&mut client, "guard", pid, epoch, "g").await,
        0
    );
    assert_eq!(
        produce_txn(&mut client, 9, "guard", "g", txn_batch(pid, epoch, 3, 2)).await,
        ErrorCode::OutOfOrderSequenceNumber.code()
    );
    assert_eq!(latest(&mut client, "g", 0).await, 0, "nothing appended");
    assert_eq!(
        produce_txn(&mut client, 9, "guard", "g", txn_batch(pid, epoch, 0, 3)).await,
        0
    );
    assert_eq!(
        produce_txn(&mut client, 9, "guard", "g", txn_batch(pid, epoch, 3, 2)).await,
        0
    );
    assert_eq!(end(&mut client, "guard", pid, epoch, true).await, 0);
    wait_state(&mut client, "guard", "CompleteCommit").await;
    assert_eq!(latest(&mut client, "g", 1).await, 6);
    broker.shutdown().await;
}
