//! Idempotent produce as the Java producer uses it (KIP-98, default since KIP-679):
//! InitProducerId hands out ids unique across restarts, a retried batch is answered with its
//! original offsets and not appended twice, a gap in sequences is OUT_OF_ORDER_SEQUENCE_NUMBER,
//! an older epoch is INVALID_PRODUCER_EPOCH, and producer state survives a restart.
//! Method: a real broker on 127.0.0.1:0; batches carry producer id, epoch and base sequence.

mod common;

use bytes::Bytes;
use common::TestBroker;
use common::produce::{batch, create_topic, list_offset, now_ms, produce};
use protocol::generated::InitProducerIdRequest;
use protocol::{ErrorCode, ResponseBody};

async fn init_producer_id(client: &mut common::TestClient, version: i16) -> (i16, i64, i16) {
    let request = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let ResponseBody::InitProducerId(response) = client.send(version, request).await else {
        panic!("not an InitProducerId response");
    };
    (
        response.error_code,
        response.producer_id,
        response.producer_epoch,
    )
}

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, count: i32) -> Bytes {
    batch(count, now_ms())
        .producer(producer_id, epoch, sequence)
        .build()
        .unwrap()
}

#[tokio::test]
async fn init_producer_id_gives_distinct_ids() {
    let broker = TestBroker::start(&[]).await;
    let mut client = broker.client().await;
    let mut ids = Vec::new();
    for version in 0..=5 {
        let (error, id, epoch) = init_producer_id(&mut client, version).await;
        assert_eq!((error, epoch), (0, 0), "v{version}");
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    broker.stop().await;
}

/// A retry of the last batch gets the original base offset and appends nothing; a sequence
/// gap is refused; a stale epoch is refused.
#[tokio::test]
async fn duplicates_get_the_original_offset_and_gaps_are_out_of_order() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    let (_, producer_id, epoch) = init_producer_id(&mut client, 4).await;
    let first = idempotent_batch(producer_id, epoch, 0, 3);
    let response = produce(&mut client, 9, "t", 0, -1, first.clone()).await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        idempotent_batch(producer_id, epoch, 3, 2),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 3));
    // The retry of the first batch.
    let response = produce(&mut client, 9, "t", 0, -1, first).await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    assert_eq!(list_offset(&mut client, 9, "t", 0, -1).await.offset, 5);
    // Sequence 5 is next; 7 leaves a gap.
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        idempotent_batch(producer_id, epoch, 7, 1),
    )
    .await;
    assert_eq!(
        response.error_code,
        ErrorCode::OutOfOrderSequenceNumber.code()
    );
    // A new epoch starts at sequence 0; after it the old epoch is fenced.
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        idempotent_batch(producer_id, epoch + 1, 0, 1),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 5));
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        idempotent_batch(producer_id, epoch, 5, 1),
    )
    .await;
    assert_eq!(response.error_code, ErrorCode::InvalidProducerEpoch.code());
    assert_eq!(list_offset(&mut client, 9, "t", 0, -1).await.offset, 6);
    broker.stop().await;
}

/// Producer state and the producer id block survive a clean restart: the retried batch is
/// still a duplicate, the next sequence is accepted, and a new producer id is not reused.
#[tokio::test]
async fn producer_state_survives_a_restart() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    let (_, producer_id, epoch) = init_producer_id(&mut client, 4).await;
    let first = idempotent_batch(producer_id, epoch, 0, 4);
    let response = produce(&mut client, 9, "t", 0, -1, first.clone()).await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    drop(client);

    let broker = TestBroker::start_in(broker.stop().await, &[]).await;
    let mut client = broker.client().await;
    assert_eq!(list_offset(&mut client, 9, "t", 0, -1).await.offset, 4);
    let response = produce(&mut client, 9, "t", 0, -1, first).await;
    assert_eq!(
        (response.error_code, response.base_offset),
        (0, 0),
        "retry after restart"
    );
    assert_eq!(list_offset(&mut client, 9, "t", 0, -1).await.offset, 4);
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        idempotent_batch(producer_id, epoch, 6, 1),
    )
    .await;
    assert_eq!(
        response.error_code,
        ErrorCode::OutOfOrderSequenceNumber.code()
    );
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        idempotent_batch(producer_id, epoch, 4, 1),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 4));
    let (_, new_id, _) = init_producer_id(&mut client, 4).await;
    assert_ne!(new_id, producer_id);
    broker.stop().await;
}
