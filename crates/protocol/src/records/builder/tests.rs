//! Unit tests of the batch builder: header fields, attributes, derived fields and limits.
//! The builder -> parse -> records property tests are in `tests/records_round_trip.rs`.

use super::*;
use crate::records::{RecordBatchHeader, RecordHeader, decode_batch_records};

fn record(offset_delta: i32, timestamp_delta: i64) -> Record {
    Record {
        offset_delta,
        timestamp_delta,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: vec![RecordHeader {
            key: Bytes::from_static(b"h"),
            value: None,
        }],
    }
}

#[test]
fn header_fields_are_written_where_kafka_reads_them() {
    let mut builder = RecordBatchBuilder::new()
        .base_offset(1000)
        .partition_leader_epoch(9)
        .producer(77, 3, 12)
        .base_timestamp(5_000)
        .transactional(true);
    builder.push(record(0, 10)).expect("push");
    builder.push(record(1, 30)).expect("push");
    builder.push(record(4, 20)).expect("push");
    let batch = builder.build().expect("build");

    let header = RecordBatchHeader::parse(&batch).expect("parse");
    header.verify_crc().expect("CRC");
    assert_eq!(header.size_bytes(), batch.len());
    assert_eq!(header.base_offset(), 1000);
    assert_eq!(header.partition_leader_epoch(), 9);
    assert_eq!(header.producer_id(), 77);
    assert_eq!(header.producer_epoch(), 3);
    assert_eq!(header.base_sequence(), 12);
    assert_eq!(header.base_timestamp(), 5_000);
    assert_eq!(header.max_timestamp(), 5_030);
    assert_eq!(header.last_offset_delta(), 4);
    assert_eq!(header.last_offset(), 1004);
    assert_eq!(header.records_count(), 3);
    assert!(header.is_transactional());
    assert!(!header.is_control());
    assert_eq!(header.compression(), Some(Compression::None));
    assert_eq!(header.timestamp_type(), TimestampType::CreateTime);
}

#[test]
fn attributes_carry_codec_timestamp_type_and_flags() {
    let builder = RecordBatchBuilder::new()
        .compression(Compression::Zstd)
        .timestamp_type(TimestampType::LogAppendTime)
        .transactional(true)
        .control(true);
    assert_eq!(builder.attributes(), 0x04 | 0x08 | 0x10 | 0x20);
    let batch = builder.build().expect("build");
    let header = RecordBatchHeader::parse(&batch).expect("parse");
    assert_eq!(header.compression(), Some(Compression::Zstd));
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    assert!(header.is_control() && header.is_transactional());
}

#[test]
fn max_timestamp_can_be_set_for_log_append_time() {
    let mut builder = RecordBatchBuilder::new()
        .base_timestamp(100)
        .timestamp_type(TimestampType::LogAppendTime)
        .max_timestamp(9_999);
    builder.push(record(0, 5)).expect("push");
    let batch = builder.build().expect("build");
    let header = RecordBatchHeader::parse(&batch).expect("parse");
    assert_eq!(header.max_timestamp(), 9_999);
}

#[test]
fn an_empty_batch_is_well_formed() {
    let batch = RecordBatchBuilder::new().build().expect("build");
    assert_eq!(batch.len(), RECORD_BATCH_HEADER_BYTES);
    let header = RecordBatchHeader::parse(&batch).expect("parse");
    header.verify_crc().expect("CRC");
    assert_eq!(header.records_count(), 0);
    assert_eq!(header.producer_id(), NO_PRODUCER_ID);
    assert_eq!(header.max_timestamp(), NO_TIMESTAMP);
}

#[test]
fn offset_deltas_must_increase() {
    let mut builder = RecordBatchBuilder::new();
    assert_eq!(
        builder.push(record(-1, 0)),
        Err(RecordsError::OffsetDeltaNotIncreasing {
            previous: -1,
            offset_delta: -1
        })
    );
    builder.push(record(2, 0)).expect("gaps are allowed");
    assert_eq!(builder.next_offset_delta(), 3);
    assert_eq!(
        builder.push(record(2, 0)),
        Err(RecordsError::OffsetDeltaNotIncreasing {
            previous: 2,
            offset_delta: 2
        })
    );
    assert_eq!(builder.records_count(), 1);
}

#[test]
fn compressed_batches_decode_to_the_pushed_records() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut builder = RecordBatchBuilder::new().compression(codec);
        let pushed: Vec<Record> = (0..50).map(|i| record(i, i64::from(i))).collect();
        for record in &pushed {
            builder.push(record.clone()).expect("push");
        }
        let batch = builder.build().expect("build");
        let header = RecordBatchHeader::parse(&batch).expect("parse");
        header.verify_crc().expect("CRC");
        let decoded: Vec<Record> = decode_batch_records(&header, &batch, 1 << 20)
            .expect("decompress")
            .collect::<Result<_, _>>()
            .expect("records");
        assert_eq!(decoded, pushed, "{codec}");
    }
}

#[test]
fn uncompressed_records_are_slices_of_the_batch() {
    let mut builder = RecordBatchBuilder::new();
    builder.push(record(0, 0)).expect("push");
    let batch = builder.build().expect("build");
    let header = RecordBatchHeader::parse(&batch).expect("parse");
    let decoded: Vec<Record> = decode_batch_records(&header, &batch, 0)
        .expect("no decompression, so no cap")
        .collect::<Result<_, _>>()
        .expect("records");
    let range = batch.as_ptr() as usize..batch.as_ptr() as usize + batch.len();
    let key = decoded[0].key.as_ref().expect("key");
    assert!(range.contains(&(key.as_ptr() as usize)));

    // Given a buffer that does not hold the batch, the records are copied, still correct.
    let elsewhere = Bytes::from_static(b"unrelated");
    let copied: Vec<Record> = decode_batch_records(&header, &elsewhere, 0)
        .expect("copy")
        .collect::<Result<_, _>>()
        .expect("records");
    assert_eq!(copied, decoded);
}

#[test]
fn unknown_codec_is_refused() {
    let batch = RecordBatchBuilder::new().build().expect("build");
    let mut bytes = batch.to_vec();
    bytes[22] |= 0x07;
    let bytes = Bytes::from(bytes);
    let header = RecordBatchHeader::parse(&bytes).expect("parse");
    assert!(matches!(
        decode_batch_records(&header, &bytes, 100),
        Err(RecordsError::UnknownCompression { id: 7 })
    ));
}

#[test]
fn a_rewritten_batch_keeps_its_offset_range_and_delete_horizon() {
    let mut builder = RecordBatchBuilder::new()
        .base_offset(100)
        .base_timestamp(5_000)
        .last_offset_delta(9)
        .delete_horizon(true);
    builder.push(record(3, -10)).unwrap();
    let batch = builder.build().unwrap();
    let header = RecordBatchHeader::parse(&batch).unwrap();
    header.verify_crc().unwrap();
    assert_eq!(header.last_offset(), 109);
    assert_eq!(header.records_count(), 1);
    assert!(header.has_delete_horizon());
    assert_eq!(header.base_timestamp(), 5_000);
    assert_eq!(header.max_timestamp(), 4_990);

    let mut short = RecordBatchBuilder::new().last_offset_delta(2);
    short.push(record(3, 0)).unwrap();
    assert!(matches!(
        short.build(),
        Err(RecordsError::OffsetDeltaNotIncreasing {
            previous: 3,
            offset_delta: 2
        })
    ));
}
