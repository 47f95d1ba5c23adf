//! Produce as a client sees it: offsets assigned and listed back, and every batch validation
//! error with its Kafka error code, with nothing appended on refusal and the broker still up.
//! Method: a real broker on 127.0.0.1:0, raw Produce/ListOffsets requests built with the
//! protocol crate, batches built as clients build them (then corrupted where a test needs it).

mod common;

use bytes::Bytes;
use common::TestBroker;
use common::produce::{batch, create_topic, fix_crc, list_offset, now_ms, produce, record};
use protocol::ErrorCode;
use protocol::records::{Compression, Record, RecordBatchBuilder, TimestampType};

const LATEST: i64 = -1;

fn code(error: ErrorCode) -> i16 {
    error.code()
}

#[tokio::test]
async fn produce_assigns_offsets_and_list_offsets_reads_them_back() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "orders", 2, &[]).await;
    let mut client = broker.client().await;
    let base = now_ms();
    for (version, expected_base) in [(3, 0), (9, 3), (11, 6)] {
        let records = batch(3, base + expected_base).build().unwrap();
        let response = produce(&mut client, version, "orders", 1, -1, records).await;
        assert_eq!(
            response.error_code, 0,
            "v{version}: {:?}",
            response.error_message
        );
        assert_eq!(response.base_offset, expected_base, "v{version}");
        if version >= 5 {
            assert_eq!(response.log_start_offset, 0);
        }
        assert_eq!(response.log_append_time_ms, -1, "CreateTime topic");
    }
    let latest = list_offset(&mut client, 9, "orders", 1, LATEST).await;
    assert_eq!(
        (latest.error_code, latest.offset, latest.leader_epoch),
        (0, 9, 0)
    );
    let earliest = list_offset(&mut client, 1, "orders", 1, -2).await;
    assert_eq!((earliest.error_code, earliest.offset), (0, 0));
    // Partition 0 was not written.
    assert_eq!(
        list_offset(&mut client, 9, "orders", 0, LATEST)
            .await
            .offset,
        0
    );
    broker.stop().await;
}

#[tokio::test]
async fn produce_v0_to_v2_is_unsupported_and_unknown_topics_are_not_created() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    let response = produce(
        &mut client,
        2,
        "t",
        0,
        1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!(response.error_code, code(ErrorCode::UnsupportedVersion));
    let response = produce(
        &mut client,
        9,
        "nope",
        0,
        1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!(
        response.error_code,
        code(ErrorCode::UnknownTopicOrPartition)
    );
    let response = produce(
        &mut client,
        9,
        "t",
        7,
        1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!(
        response.error_code,
        code(ErrorCode::UnknownTopicOrPartition)
    );
    assert!(broker.running.broker.metadata.topic("nope").is_none());
    assert_eq!(list_offset(&mut client, 9, "t", 0, LATEST).await.offset, 0);
    broker.stop().await;
}

#[tokio::test]
async fn invalid_acks_are_refused_for_every_partition() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    for acks in [2, -2, 5] {
        let response = produce(
            &mut client,
            9,
            "t",
            0,
            acks,
            batch(1, now_ms()).build().unwrap(),
        )
        .await;
        assert_eq!(
            response.error_code,
            code(ErrorCode::InvalidRequiredAcks),
            "acks={acks}"
        );
    }
    assert_eq!(list_offset(&mut client, 9, "t", 0, LATEST).await.offset, 0);
    broker.stop().await;
}

/// A corrupted byte under the CRC: CORRUPT_MESSAGE, nothing appended, the next good batch
/// takes offset 0.
#[tokio::test]
async fn bad_crc_is_corrupt_message_and_nothing_is_appended() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    let mut bytes = batch(2, now_ms()).build().unwrap().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let response = produce(&mut client, 9, "t", 0, 1, bytes.into()).await;
    assert_eq!(response.error_code, code(ErrorCode::CorruptMessage));
    assert_eq!(response.base_offset, -1);
    assert!(response.error_message.is_some());
    assert_eq!(list_offset(&mut client, 9, "t", 0, LATEST).await.offset, 0);
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        1,
        batch(2, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

/// Framing and header rules (Kafka's ProduceRequest.validateRecords and LogValidator):
/// INVALID_RECORD for a missing batch, two batches, a non-v2 magic, a count that disagrees
/// with lastOffsetDelta, a control batch, and an idempotent batch without a sequence.
#[tokio::test]
async fn malformed_batches_are_invalid_record() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    let good = batch(2, now_ms()).build().unwrap();
    let two_batches: Bytes = [good.clone(), good.clone()].concat().into();
    let mut magic_1 = good.to_vec();
    magic_1[16] = 1;
    let mut count_mismatch = good.to_vec();
    count_mismatch[57..61].copy_from_slice(&5i32.to_be_bytes());
    fix_crc(&mut count_mismatch);
    let control = RecordBatchBuilder::new().control(true);
    let mut control = control;
    control.push(record(0, 0, Some("k"), "v")).unwrap();
    let mut no_sequence = RecordBatchBuilder::new().producer(7, 0, -1);
    no_sequence.push(record(0, 0, None, "v")).unwrap();
    let cases: Vec<(&str, Bytes)> = vec![
        ("empty", Bytes::new()),
        ("two batches", two_batches),
        ("magic 1", magic_1.into()),
        ("count mismatch", count_mismatch.into()),
        ("control batch", control.build().unwrap()),
        ("producer id without sequence", no_sequence.build().unwrap()),
    ];
    for (name, records) in cases {
        let response = produce(&mut client, 9, "t", 0, 1, records).await;
        assert_eq!(
            response.error_code,
            code(ErrorCode::InvalidRecord),
            "{name}"
        );
    }
    // A truncated batch (length says more than is there) is corrupt.
    let truncated = good.slice(..good.len() - 3);
    let response = produce(&mut client, 9, "t", 0, 1, truncated).await;
    assert_eq!(response.error_code, code(ErrorCode::CorruptMessage));
    assert_eq!(list_offset(&mut client, 9, "t", 0, LATEST).await.offset, 0);
    broker.stop().await;
}

#[tokio::test]
async fn batch_larger_than_max_message_bytes_is_message_too_large() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "small", 1, &[("max.message.bytes", "200")]).await;
    let mut client = broker.client().await;
    let big = batch(20, now_ms()).build().unwrap();
    assert!(big.len() > 200);
    let response = produce(&mut client, 9, "small", 0, 1, big).await;
    assert_eq!(response.error_code, code(ErrorCode::MessageTooLarge));
    let response = produce(
        &mut client,
        9,
        "small",
        0,
        1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

#[tokio::test]
async fn zstd_needs_produce_v7() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    let zstd = batch(3, now_ms())
        .compression(Compression::Zstd)
        .build()
        .unwrap();
    let response = produce(&mut client, 6, "t", 0, 1, zstd.clone()).await;
    assert_eq!(
        response.error_code,
        code(ErrorCode::UnsupportedCompressionType)
    );
    let response = produce(&mut client, 7, "t", 0, 1, zstd).await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

/// Compacted topics refuse records without a key, naming the record (v8+ record_errors).
#[tokio::test]
async fn compacted_topic_refuses_null_keys() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "compacted", 1, &[("cleanup.policy", "compact")]).await;
    let mut client = broker.client().await;
    let mut builder = RecordBatchBuilder::new()
        .base_timestamp(now_ms())
        .compression(Compression::Lz4);
    builder.push(record(0, 0, Some("a"), "1")).unwrap();
    builder.push(record(1, 0, None, "2")).unwrap();
    let response = produce(&mut client, 9, "compacted", 0, 1, builder.build().unwrap()).await;
    assert_eq!(response.error_code, code(ErrorCode::InvalidRecord));
    assert_eq!(response.record_errors.len(), 1);
    assert_eq!(response.record_errors[0].batch_index, 1);
    let keyed = batch(2, now_ms())
        .compression(Compression::Gzip)
        .build()
        .unwrap();
    let response = produce(&mut client, 9, "compacted", 0, 1, keyed).await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

/// A zstd batch whose one record decompresses to 40 MiB of zeros (a few KiB on the wire) on a
/// topic whose rules need the records: refused past the decompression cap, broker stays up.
#[tokio::test]
async fn decompression_bomb_is_refused_and_the_broker_stays_up() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "compacted", 1, &[("cleanup.policy", "compact")]).await;
    let mut client = broker.client().await;
    let mut bomb = RecordBatchBuilder::new()
        .base_timestamp(now_ms())
        .compression(Compression::Zstd);
    bomb.push(Record {
        offset_delta: 0,
        timestamp_delta: 0,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from(vec![0u8; 40 << 20])),
        headers: Vec::new(),
    })
    .unwrap();
    let bomb = bomb.build().unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes on the wire", bomb.len());
    let response = produce(&mut client, 9, "compacted", 0, 1, bomb).await;
    assert_eq!(response.error_code, code(ErrorCode::InvalidRecord));
    let mut next = broker.client().await;
    let response = produce(
        &mut next,
        9,
        "compacted",
        0,
        1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

/// KIP-937 bounds: a record timestamp too far in the future or past is INVALID_TIMESTAMP
/// with the record named; LogAppendTime set by a client on a CreateTime topic too.
#[tokio::test]
async fn timestamps_outside_the_topic_bounds_are_invalid_timestamp() {
    let broker = TestBroker::start(&[]).await;
    create_topic(
        &broker,
        "t",
        1,
        &[
            ("message.timestamp.after.max.ms", "60000"),
            ("message.timestamp.before.max.ms", "60000"),
        ],
    )
    .await;
    let mut client = broker.client().await;
    let now = now_ms();
    for (name, base) in [("future", now + 3_600_000), ("past", now - 3_600_000)] {
        let response = produce(&mut client, 9, "t", 0, 1, batch(2, base).build().unwrap()).await;
        assert_eq!(
            response.error_code,
            code(ErrorCode::InvalidTimestamp),
            "{name}"
        );
        assert_eq!(response.record_errors.len(), 2, "{name}");
    }
    let mut log_append = batch(1, now).timestamp_type(TimestampType::LogAppendTime);
    log_append = log_append.max_timestamp(now);
    let response = produce(&mut client, 9, "t", 0, 1, log_append.build().unwrap()).await;
    assert_eq!(response.error_code, code(ErrorCode::InvalidTimestamp));
    let response = produce(&mut client, 9, "t", 0, 1, batch(2, now).build().unwrap()).await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

/// LogAppendTime topics stamp the append time into the batch and the response, and
/// ListOffsets by timestamp then finds records by that time.
#[tokio::test]
async fn log_append_time_topic_reports_the_append_time() {
    let broker = TestBroker::start(&[]).await;
    create_topic(
        &broker,
        "t",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .await;
    let mut client = broker.client().await;
    let before = now_ms();
    let response = produce(&mut client, 9, "t", 0, 1, batch(3, 1_000).build().unwrap()).await;
    assert_eq!(response.error_code, 0);
    assert!(
        response.log_append_time_ms >= before,
        "{}",
        response.log_append_time_ms
    );
    let found = list_offset(&mut client, 9, "t", 0, before).await;
    assert_eq!(
        (found.offset, found.timestamp),
        (0, response.log_append_time_ms)
    );
    broker.stop().await;
}

#[tokio::test]
async fn acks_all_needs_min_insync_replicas_of_one() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[("min.insync.replicas", "2")]).await;
    let mut client = broker.client().await;
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        -1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!(response.error_code, code(ErrorCode::NotEnoughReplicas));
    let response = produce(
        &mut client,
        9,
        "t",
        0,
        1,
        batch(1, now_ms()).build().unwrap(),
    )
    .await;
    assert_eq!((response.error_code, response.base_offset), (0, 0));
    broker.stop().await;
}

/// acks=0: no response is sent, the batch is appended, and the next request on the same
/// connection gets its own response (the harness checks the correlation id).
#[tokio::test]
async fn acks_zero_appends_without_a_response() {
    let broker = TestBroker::start(&[]).await;
    create_topic(&broker, "t", 1, &[]).await;
    let mut client = broker.client().await;
    for _ in 0..3 {
        let request =
            common::produce::produce_request("t", 0, 0, batch(2, now_ms()).build().unwrap());
        client.send_no_response(9, request).await;
    }
    assert_eq!(list_offset(&mut client, 9, "t", 0, LATEST).await.offset, 6);
    broker.stop().await;
}
