//! ListOffsets and DeleteRecords as consumers and admin tools use them: earliest/latest, max
//! timestamp (KIP-734) and by-timestamp lookups resolved to the exact record inside a batch,
//! the special timestamps -4/-5, leader epochs, and the log start moved by DeleteRecords.
//! Method: a real broker on 127.0.0.1:0, batches with known record timestamps.

mod common;

use common::TestBroker;
use common::produce::{batch, create_topic, list_offset, produce, record};
use protocol::ErrorCode;
use protocol::records::{Compression, RecordBatchBuilder};

/// Three batches: offsets 0-2 at t=1000..1002, 3-5 at t=2000..2002 (gzip), 6-8 at
/// t=1500..1502.
async fn three_batches(client: &mut common::TestClient) {
    for (base, compression) in [
        (1_000, Compression::None),
        (2_000, Compression::Gzip),
        (1_500, Compression::None),
    ] {
        let records = batch(3, base).compression(compression).build().unwrap();
        let response = produce(client, 9, "t", 0, 1, records).await;
        assert_eq!(response.error_code, 0);
    }
}

#[tokio::test]
async fn by_timestamp_finds_the_exact_record() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    three_batches(&mut client).await;
    for (target, offset, timestamp) in [
        (0, 0, 1_000),
        (1_001, 1, 1_001),
        (1_003, 3, 2_000), // the first batch with a later max timestamp is the second one
        (2_001, 4, 2_001),
        (2_002, 5, 2_002),
    ] {
        let found = list_offset(&mut client, 9, "t", 0, target).await;
        assert_eq!(
            (
                found.error_code,
                found.offset,
                found.timestamp,
                found.leader_epoch
            ),
            (0, offset, timestamp, 0),
            "target {target}"
        );
    }
    let none = list_offset(&mut client, 9, "t", 0, 5_000).await;
    assert_eq!((none.error_code, none.offset, none.timestamp), (0, -1, -1));
    // -3: the record with the largest timestamp, inside the compressed batch.
    let max = list_offset(&mut client, 9, "t", 0, -3).await;
    assert_eq!((max.offset, max.timestamp), (5, 2_002));
    broker.stop().await;
}

#[tokio::test]
async fn special_timestamps_and_errors() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    // Empty log.
    assert_eq!(list_offset(&mut client, 9, "t", 0, -3).await.offset, -1);
    let mut builder = RecordBatchBuilder::new().base_timestamp(common::produce::now_ms());
    builder.push(record(0, 0, None, "a")).unwrap();
    builder.push(record(1, 5, None, "b")).unwrap();
    produce(&mut client, 9, "t", 0, 1, builder.build().unwrap()).await;
    let latest = list_offset(&mut client, 1, "t", 0, -1).await;
    assert_eq!((latest.offset, latest.timestamp), (2, -1));
    let earliest_local = list_offset(&mut client, 9, "t", 0, -4).await;
    assert_eq!((earliest_local.offset, earliest_local.leader_epoch), (0, 0));
    let latest_tiered = list_offset(&mut client, 9, "t", 0, -5).await;
    assert_eq!((latest_tiered.error_code, latest_tiered.offset), (0, -1));
    let missing = list_offset(&mut client, 9, "nope", 0, -1).await;
    assert_eq!(
        missing.error_code,
        ErrorCode::UnknownTopicOrPartition.code()
    );
    broker.stop().await;
}

async fn delete_records(client: &mut common::TestClient, offset: i64) -> (i16, i64) {
    common::admin::delete_records(client, "t", 0, offset).await
}

#[tokio::test]
async fn delete_records_moves_the_log_start_offset() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    three_batches(&mut client).await;
    assert_eq!(delete_records(&mut client, 4).await, (0, 4));
    assert_eq!(list_offset(&mut client, 9, "t", 0, -2).await.offset, 4);
    // Beyond the HighWatermark (9).
    assert_eq!(
        delete_records(&mut client, 10).await.0,
        ErrorCode::OffsetOutOfRange.code()
    );
    // -1: everything below the HighWatermark.
    assert_eq!(delete_records(&mut client, -1).await, (0, 9));
    assert_eq!(list_offset(&mut client, 9, "t", 0, -2).await.offset, 9);
    let response = produce(&mut client, 9, "t", 0, 1, batch(1, 3_000).build().unwrap()).await;
    assert_eq!((response.base_offset, response.log_start_offset), (9, 9));
    broker.stop().await;
}
