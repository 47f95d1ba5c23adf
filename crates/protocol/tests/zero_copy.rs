//! Record bytes are never copied on the Produce and Fetch paths: a decoded `records` field is a
//! slice of the received frame, and `encode_response_frame` passes the records on as a chunk of
//! their own (the same memory), not a copy.
//!
//! Goal: issue 2's "record-byte copies on those paths: zero". Method: pointer checks, at every
//! version of Produce requests and Fetch responses, with 1 MiB of records in one partition (as
//! in benches/codec.rs): the decoded `Records::Bytes` lies inside the frame buffer, and one
//! chunk of the encoded response frame starts at the records' pointer with their length.

use std::ops::Range;

use bytes::Bytes;
use protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use protocol::generated::{FetchResponse, ProduceRequest, RequestHeader};
use protocol::{ApiKey, FrameChunk, Records, RequestBody, ResponseBody, Uuid};

const RECORDS_BYTES: usize = 1024 * 1024;

/// Record data: opaque to the codec, so any bytes do; a pattern makes a wrong slice visible.
fn records() -> Bytes {
    (0..RECORDS_BYTES)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn produce_request(version: i16, records: &Bytes) -> (RequestHeader, RequestBody) {
    let header = RequestHeader {
        request_api_key: ApiKey::Produce as i16,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some("zero-copy".to_owned()),
        ..RequestHeader::default()
    };
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            // v13+ names the topic by id only.
            name: if version < 13 {
                "zero-copy".to_owned()
            } else {
                String::new()
            },
            topic_id: if version < 13 {
                Uuid::ZERO
            } else {
                Uuid([7; 16])
            },
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records.clone().into()),
                ..PartitionProduceData::default()
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    });
    (header, body)
}

fn fetch_response(records: &Bytes) -> ResponseBody {
    ResponseBody::Fetch(FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "zero-copy".to_owned(),
            topic_id: Uuid([7; 16]),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: 1_000,
                records: Some(records.clone().into()),
                ..PartitionData::default()
            }],
            ..FetchableTopicResponse::default()
        }],
        ..FetchResponse::default()
    })
}

/// The records of the only partition of a Fetch response.
fn fetch_records(body: &ResponseBody) -> &Bytes {
    let ResponseBody::Fetch(fetch) = body else {
        panic!("not a Fetch response: {body:?}");
    };
    match &fetch.responses[0].partitions[0].records {
        Some(Records::Bytes(bytes)) => bytes,
        other => panic!("records not in memory: {other:?}"),
    }
}

fn assert_inside(part: &Bytes, whole: Range<*const u8>, what: &str) {
    let part = part.as_ptr_range();
    assert!(
        whole.start <= part.start && part.end <= whole.end,
        "{what}: records at {part:?} are not inside the frame at {whole:?}: copied"
    );
}

/// The chunks of a response frame hold `records` itself, as one chunk.
fn assert_records_chunk(chunks: &[FrameChunk], records: &Bytes, what: &str) {
    let found = chunks.iter().any(|chunk| match chunk {
        FrameChunk::Bytes(bytes) => {
            bytes.as_ptr() == records.as_ptr() && bytes.len() == records.len()
        }
        FrameChunk::File(_) => false,
    });
    assert!(found, "{what}: no chunk is the records' own memory: copied");
}

#[test]
fn decoded_produce_records_are_slices_of_the_request_frame() {
    let records = records();
    let (min, max) = ApiKey::Produce.versions();
    for version in min..=max {
        let (header, body) = produce_request(version, &records);
        let frame = protocol::encode_request(&header, &body).expect("encodes");
        let request = protocol::decode_request(frame.clone()).expect("decodes");
        assert_eq!(request.body, body, "Produce v{version} round-trips");
        let RequestBody::Produce(produce) = &request.body else {
            unreachable!();
        };
        let Some(Records::Bytes(decoded)) = &produce.topic_data[0].partition_data[0].records else {
            panic!("Produce v{version}: records not bytes");
        };
        assert_eq!(decoded.len(), RECORDS_BYTES);
        assert_inside(
            decoded,
            frame.as_ptr_range(),
            &format!("Produce v{version}"),
        );
    }
}

#[test]
fn fetch_records_are_neither_copied_by_decoding_nor_by_encoding_the_frame() {
    let records = records();
    let (min, max) = ApiKey::Fetch.versions();
    for version in min..=max {
        let what = format!("Fetch v{version}");
        let body = fetch_response(&records);

        // Encoding: the records go out as their own chunk, and the chunks make the right frame.
        let chunks = protocol::encode_response_frame(7, version, &body).expect("encodes");
        assert_records_chunk(&chunks, &records, &what);
        let mut frame = Vec::new();
        for chunk in &chunks {
            let FrameChunk::Bytes(bytes) = chunk else {
                panic!("{what}: a file chunk from in-memory records");
            };
            frame.extend_from_slice(bytes);
        }
        let payload = protocol::frame::encode_response(7, version, &body).expect("encodes");
        assert_eq!(
            frame[..4],
            (payload.len() as i32).to_be_bytes(),
            "{what}: size prefix"
        );
        assert_eq!(frame[4..], payload[..], "{what}: chunks are the frame");

        // Decoding: the records are a slice of the received payload...
        let (correlation_id, decoded) =
            protocol::decode_response(ApiKey::Fetch, version, payload.clone()).expect("decodes");
        assert_eq!(correlation_id, 7);
        let decoded_records = fetch_records(&decoded);
        assert_eq!(decoded_records, &records, "{what}: records round-trip");
        assert_inside(decoded_records, payload.as_ptr_range(), &what);

        // ...and re-encoding the decoded response still sends that same memory.
        let chunks = protocol::encode_response_frame(7, version, &decoded).expect("encodes");
        assert_records_chunk(&chunks, decoded_records, &format!("{what} re-encoded"));
    }
}
