//! Unit and property tests of the record iterator and record encoding.

use super::*;
use proptest::prelude::*;

fn record(offset_delta: i32, key: Option<&'static [u8]>, value: Option<&'static [u8]>) -> Record {
    Record {
        offset_delta,
        timestamp_delta: i64::from(offset_delta) * 10,
        key: key.map(Bytes::from_static),
        value: value.map(Bytes::from_static),
        headers: Vec::new(),
    }
}

fn encode_all(records: &[Record]) -> Bytes {
    let mut out = Vec::new();
    for record in records {
        record.encode(&mut out).expect("test records fit");
    }
    Bytes::from(out)
}

fn decode_all(bytes: Bytes, count: i32) -> Result<Vec<Record>, RecordsError> {
    Records::new(bytes, count).collect()
}

#[test]
fn decodes_a_record_written_by_hand() {
    // Goal: the decoder reads Kafka's DefaultRecord layout field by field.
    // length 11, attributes 0, timestampDelta 1, offsetDelta 0, key "k", value null,
    // 1 header: key "h" value "v".
    let bytes = Bytes::from_static(&[
        22, // length 11 (zigzag)
        0, 2, 0, // attributes, timestampDelta 1, offsetDelta 0
        2, b'k', // key "k"
        1,    // value null
        2,    // 1 header
        2, b'h', 2, b'v',
    ]);
    let records = decode_all(bytes, 1).expect("valid record");
    assert_eq!(
        records,
        vec![Record {
            offset_delta: 0,
            timestamp_delta: 1,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![RecordHeader {
                key: Bytes::from_static(b"h"),
                value: Some(Bytes::from_static(b"v")),
            }],
        }]
    );
}

#[test]
fn keys_and_values_are_slices_of_the_input() {
    // Goal: zero copy. Method: compare the key's pointer with the input's range.
    let bytes = encode_all(&[record(0, Some(b"key"), Some(b"value"))]);
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    let records = decode_all(bytes.clone(), 1).expect("valid");
    let key = records[0].key.as_ref().expect("key");
    assert!(range.contains(&(key.as_ptr() as usize)));
}

#[test]
fn duplicate_header_keys_are_kept_in_order() {
    let mut with_headers = record(0, None, Some(b"v"));
    with_headers.headers = vec![
        RecordHeader {
            key: Bytes::from_static(b"a"),
            value: Some(Bytes::from_static(b"1")),
        },
        RecordHeader {
            key: Bytes::from_static(b"a"),
            value: None,
        },
        RecordHeader {
            key: Bytes::from_static(b"a"),
            value: Some(Bytes::from_static(b"3")),
        },
    ];
    let decoded = decode_all(encode_all(std::slice::from_ref(&with_headers)), 1).expect("valid");
    assert_eq!(decoded, vec![with_headers]);
}

#[test]
fn count_must_match_the_records_present() {
    let bytes = encode_all(&[record(0, None, None), record(1, None, None)]);
    assert_eq!(
        decode_all(bytes.clone(), 3),
        Err(RecordsError::RecordsCountMismatch {
            declared: 3,
            found: 2
        })
    );
    assert!(matches!(
        decode_all(bytes.clone(), 1),
        Err(RecordsError::TrailingBytesAfterRecords {
            records_count: 1,
            ..
        })
    ));
    assert!(matches!(
        decode_all(bytes, -1),
        Err(RecordsError::InvalidLength {
            field: "records count",
            length: -1
        })
    ));
    assert_eq!(decode_all(Bytes::new(), 0), Ok(Vec::new()));
}

#[test]
fn record_length_must_match_its_fields() {
    // A record whose length says 8 but whose fields take 6, followed by 2 stray bytes.
    let bytes = Bytes::from_static(&[16, 0, 0, 0, 1, 1, 0, 0, 0]);
    assert_eq!(
        decode_all(bytes, 1),
        Err(RecordsError::RecordLengthMismatch {
            declared: 8,
            consumed: 6
        })
    );
}

#[test]
fn lengths_past_the_end_are_refused_before_slicing() {
    // Key length 1,000,000 in a 6-byte record.
    let bytes = Bytes::from_static(&[12, 0, 0, 0, 0x80, 0x89, 0x7a]);
    assert!(matches!(
        decode_all(bytes, 1),
        Err(RecordsError::RecordTruncated {
            field: "key length",
            needed: 1_000_000,
            ..
        })
    ));
    // Record length past the end of the buffer.
    let bytes = Bytes::from_static(&[0xfe, 0x01, 0]);
    assert!(matches!(
        decode_all(bytes, 1),
        Err(RecordsError::RecordTruncated {
            field: "record",
            needed: 127,
            available: 1
        })
    ));
}

#[test]
fn huge_header_counts_are_refused_before_allocating() {
    // headersCount i32::MAX (zigzag 0xfffffffe) with no header bytes behind it.
    let bytes = Bytes::from_static(&[20, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(
        decode_all(bytes, 1),
        Err(RecordsError::TooManyHeaders {
            count: i32::MAX,
            remaining_bytes: 0
        })
    );
}

#[test]
fn negative_lengths_are_refused() {
    // Record length -1.
    assert!(matches!(
        decode_all(Bytes::from_static(&[1]), 1),
        Err(RecordsError::InvalidLength {
            field: "record length",
            length: -1
        })
    ));
    // Key length -2.
    assert!(matches!(
        decode_all(Bytes::from_static(&[12, 0, 0, 0, 3, 1, 0]), 1),
        Err(RecordsError::InvalidLength {
            field: "key length",
            length: -2
        })
    ));
    // Header key length -1 (a null header key).
    assert!(matches!(
        decode_all(Bytes::from_static(&[16, 0, 0, 0, 1, 1, 2, 1, 0]), 1),
        Err(RecordsError::InvalidLength {
            field: "header key length",
            length: -1
        })
    ));
    // Headers count -1.
    assert!(matches!(
        decode_all(Bytes::from_static(&[12, 0, 0, 0, 1, 1, 1]), 1),
        Err(RecordsError::InvalidLength {
            field: "headers count",
            length: -1
        })
    ));
}

#[test]
fn an_error_ends_the_iteration() {
    let mut records = Records::new(Bytes::from_static(&[1, 2, 3]), 5);
    assert!(matches!(records.next(), Some(Err(_))));
    assert!(records.next().is_none());
}

pub(crate) fn arbitrary_bytes(size_max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..size_max).prop_map(Bytes::from)
}

/// Records with null and empty keys and values and headers drawn from a few keys, so that
/// duplicate header keys are common.
pub(crate) fn arbitrary_record() -> impl Strategy<Value = Record> {
    let header = (
        prop::sample::select(vec![&b""[..], b"a", b"b", b"trace-id"]),
        prop::option::of(arbitrary_bytes(8)),
    )
        .prop_map(|(key, value)| RecordHeader {
            key: Bytes::from_static(key),
            value,
        });
    (
        any::<i32>(),
        any::<i64>(),
        prop::option::of(arbitrary_bytes(32)),
        prop::option::of(arbitrary_bytes(64)),
        prop::collection::vec(header, 0..5),
    )
        .prop_map(
            |(offset_delta, timestamp_delta, key, value, headers)| Record {
                offset_delta,
                timestamp_delta,
                key,
                value,
                headers,
            },
        )
}

proptest! {
    #[test]
    fn records_round_trip(records in prop::collection::vec(arbitrary_record(), 0..8)) {
        let bytes = encode_all(&records);
        let expected_size: usize =
            records.iter().map(|r| r.encoded_size().expect("fits")).sum();
        prop_assert_eq!(bytes.len(), expected_size);
        let decoded = decode_all(bytes, records.len() as i32);
        prop_assert_eq!(decoded, Ok(records));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in arbitrary_bytes(256), count in -2i32..10) {
        for item in Records::new(bytes, count) {
            let _ = item;
        }
    }

    #[test]
    fn mutated_records_never_panic(
        records in prop::collection::vec(arbitrary_record(), 1..4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_all(&records).to_vec();
        for (index, byte) in flips {
            let at = index.index(bytes.len());
            bytes[at] ^= byte;
        }
        bytes.truncate(truncate.index(bytes.len() + 1));
        for item in Records::new(Bytes::from(bytes), records.len() as i32) {
            let _ = item;
        }
    }
}
