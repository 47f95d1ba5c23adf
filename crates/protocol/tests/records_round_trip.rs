//! Property tests of whole batches through the public API: what `RecordBatchBuilder` writes,
//! `RecordBatchHeader::parse`, `verify_crc` and `decode_batch_records` read back exactly, for
//! every codec; and corrupted batches (flipped bytes, truncation) never panic any reader.
//!
//! Method: proptest draws batch fields and records (null and empty keys and values, headers
//! drawn from a few keys so duplicates are common, offset deltas with gaps), builds, then reads.

use bytes::Bytes;
use proptest::prelude::*;
use protocol::records::{
    Compression, Record, RecordBatchBuilder, RecordBatchHeader, RecordBatches, RecordHeader,
    TimestampType, decode_batch_records, set_log_append_time,
};

const CAP_BYTES: usize = 1 << 20;

fn arbitrary_bytes(size_max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..size_max).prop_map(Bytes::from)
}

fn arbitrary_codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(vec![
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ])
}

/// Records with increasing offset deltas (gaps allowed) and any timestamp deltas.
fn arbitrary_records() -> impl Strategy<Value = Vec<Record>> {
    let header = (
        prop::sample::select(vec![&b""[..], b"a", b"b", b"traceparent"]),
        prop::option::of(arbitrary_bytes(8)),
    )
        .prop_map(|(key, value)| RecordHeader {
            key: Bytes::from_static(key),
            value,
        });
    let record = (
        1i32..4,
        -1_000i64..1_000_000,
        prop::option::of(arbitrary_bytes(24)),
        prop::option::of(arbitrary_bytes(100)),
        prop::collection::vec(header, 0..4),
    );
    prop::collection::vec(record, 0..12).prop_map(|drawn| {
        let mut offset_delta = -1;
        drawn
            .into_iter()
            .map(|(gap, timestamp_delta, key, value, headers)| {
                offset_delta += gap;
                Record {
                    offset_delta,
                    timestamp_delta,
                    key,
                    value,
                    headers,
                }
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
struct BatchFields {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: i64,
    log_append_time: bool,
    transactional: bool,
    control: bool,
    compression: Compression,
}

fn arbitrary_fields() -> impl Strategy<Value = BatchFields> {
    (
        (0i64..i64::MAX / 2, -1i32..1000, -1i64..1 << 40, -1i16..100),
        (-1i32..1 << 30, 0i64..1 << 42),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            arbitrary_codec(),
        ),
    )
        .prop_map(
            |(
                (base_offset, partition_leader_epoch, producer_id, producer_epoch),
                (base_sequence, base_timestamp),
                (log_append_time, transactional, control, compression),
            )| BatchFields {
                base_offset,
                partition_leader_epoch,
                producer_id,
                producer_epoch,
                base_sequence,
                base_timestamp,
                log_append_time,
                transactional,
                control,
                compression,
            },
        )
}

fn build(fields: &BatchFields, records: &[Record]) -> Bytes {
    let timestamp_type = if fields.log_append_time {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    let mut builder = RecordBatchBuilder::new()
        .base_offset(fields.base_offset)
        .partition_leader_epoch(fields.partition_leader_epoch)
        .producer(
            fields.producer_id,
            fields.producer_epoch,
            fields.base_sequence,
        )
        .base_timestamp(fields.base_timestamp)
        .timestamp_type(timestamp_type)
        .transactional(fields.transactional)
        .control(fields.control)
        .compression(fields.compression);
    for record in records {
        builder
            .push(record.clone())
            .expect("increasing offset deltas");
    }
    builder.build().expect("small batch")
}

/// Reads every record of every batch in `bytes`, ignoring errors; only panics matter.
fn read_everything(bytes: &Bytes) {
    for batch in RecordBatches::new(bytes) {
        let Ok(header) = batch else { return };
        let _ = header.verify_crc();
        let _ = header.compression();
        if let Ok(records) = decode_batch_records(&header, bytes, 64 * 1024) {
            for record in records {
                let _ = record;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn built_batches_read_back_as_pushed(
        fields in arbitrary_fields(),
        records in arbitrary_records(),
    ) {
        let batch = build(&fields, &records);
        let header = RecordBatchHeader::parse(&batch).expect("built batch parses");
        prop_assert_eq!(header.verify_crc(), Ok(()));
        prop_assert_eq!(header.size_bytes(), batch.len());
        prop_assert_eq!(header.base_offset(), fields.base_offset);
        prop_assert_eq!(header.partition_leader_epoch(), fields.partition_leader_epoch);
        prop_assert_eq!(header.producer_id(), fields.producer_id);
        prop_assert_eq!(header.producer_epoch(), fields.producer_epoch);
        prop_assert_eq!(header.base_sequence(), fields.base_sequence);
        prop_assert_eq!(header.base_timestamp(), fields.base_timestamp);
        prop_assert_eq!(header.compression(), Some(fields.compression));
        prop_assert_eq!(header.is_transactional(), fields.transactional);
        prop_assert_eq!(header.is_control(), fields.control);
        prop_assert_eq!(
            header.timestamp_type() == TimestampType::LogAppendTime,
            fields.log_append_time
        );
        prop_assert_eq!(header.records_count() as usize, records.len());
        let last_offset_delta = records.last().map_or(0, |record| record.offset_delta);
        prop_assert_eq!(header.last_offset_delta(), last_offset_delta);
        let max_timestamp = records
            .iter()
            .map(|record| fields.base_timestamp + record.timestamp_delta)
            .max()
            .unwrap_or(fields.base_timestamp);
        prop_assert_eq!(header.max_timestamp(), max_timestamp);

        let decoded: Result<Vec<Record>, _> = decode_batch_records(&header, &batch, CAP_BYTES)
            .expect("decompresses")
            .collect();
        prop_assert_eq!(decoded, Ok(records));
    }

    #[test]
    fn corrupted_batches_never_panic(
        fields in arbitrary_fields(),
        records in arbitrary_records(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
        truncate in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = build(&fields, &records).to_vec();
        for (index, mask) in flips {
            let at = index.index(bytes.len());
            bytes[at] ^= mask;
        }
        if let Some(truncate) = truncate {
            bytes.truncate(truncate.index(bytes.len() + 1));
        }
        read_everything(&Bytes::from(bytes));
    }

    #[test]
    fn corrupted_records_behind_a_valid_header_never_panic(
        fields in arbitrary_fields(),
        records in arbitrary_records(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
    ) {
        // Flip bytes after the header only, keeping batchLength and magic intact, so the
        // decompressors and the record iterator see the damage.
        let mut bytes = build(&fields, &records).to_vec();
        if bytes.len() > 61 {
            for (index, mask) in flips {
                let at = 61 + index.index(bytes.len() - 61);
                bytes[at] ^= mask;
            }
        }
        read_everything(&Bytes::from(bytes));
    }
}

/// Goal: the LogAppendTime rewrite (Kafka's `setMaxTimestamp(LOG_APPEND_TIME, now)`) leaves a
/// batch whose CRC verifies, whose maxTimestamp is the broker's time and whose base timestamp and
/// records are as produced; bytes after the batch are not touched.
#[test]
fn log_append_time_rewrite_keeps_the_crc_valid() {
    let mut builder = RecordBatchBuilder::new().base_timestamp(1_000);
    builder
        .push(Record {
            offset_delta: 0,
            timestamp_delta: 5,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Vec::new(),
        })
        .unwrap();
    let built = builder.build().unwrap();
    let mut bytes = built.to_vec();
    bytes.extend_from_slice(b"after");
    set_log_append_time(&mut bytes, 42);
    assert_eq!(&bytes[built.len()..], b"after");
    let bytes = Bytes::from(bytes);
    let header = RecordBatchHeader::parse(&bytes).unwrap();
    header.verify_crc().unwrap();
    assert_eq!(header.max_timestamp(), 42);
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(header.base_timestamp(), 1_000);
    let records: Vec<Record> = decode_batch_records(&header, &bytes, CAP_BYTES)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
}
