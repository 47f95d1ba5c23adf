//! Micro-benchmarks of the wire codec on the two paths that carry record data: a Produce request
//! and a Fetch response, each with 1 MiB of records in one partition, decoded and encoded.
//!
//! Throughput counts the whole frame's bytes. Decoding keeps the records as a slice of the
//! frame, so its cost does not grow with the record bytes; `encode_response_frame` hands the
//! records over as their own chunk, uncopied. `encode_request` writes one contiguous buffer (as
//! a client does), so it copies the records once: that path is not the broker's.
//! Run: `cargo bench -p protocol --bench codec`; figures in docs/BENCHMARKS.md.

use bytes::Bytes;
use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use protocol::generated::fetch_response::{FetchableTopicResponse, PartitionData};
use protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use protocol::generated::{FetchResponse, ProduceRequest, RequestHeader};
use protocol::records::{Record, RecordBatchBuilder};
use protocol::{ApiKey, RequestBody, ResponseBody, Uuid};

fn main() {
    divan::main();
}

/// Record bytes each benchmarked message carries.
const RECORDS_BYTES: usize = 1024 * 1024;
/// One record's value; 1 KiB records are typical of the workloads we size for.
const VALUE_BYTES: usize = 1000;

/// One uncompressed v2 batch of about `RECORDS_BYTES` (the records' own overhead included).
fn record_batch() -> Bytes {
    let mut builder = RecordBatchBuilder::new().base_timestamp(1_700_000_000_000);
    let mut offset_delta = 0;
    while builder.clone().build().map_or(0, |b| b.len()) < RECORDS_BYTES - VALUE_BYTES - 64 {
        builder
            .push(Record {
                offset_delta,
                timestamp_delta: i64::from(offset_delta),
                key: Some(Bytes::from(format!("key-{offset_delta}"))),
                value: Some(Bytes::from(vec![b'v'; VALUE_BYTES])),
                headers: Vec::new(),
            })
            .expect("records push");
        offset_delta += 1;
    }
    builder.build().expect("batch builds")
}

fn produce_request(version: i16) -> (RequestHeader, RequestBody) {
    let header = RequestHeader {
        request_api_key: ApiKey::Produce as i16,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some("bench".to_owned()),
        ..RequestHeader::default()
    };
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".to_owned(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(record_batch().into()),
                ..PartitionProduceData::default()
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    });
    (header, body)
}

fn fetch_response() -> ResponseBody {
    ResponseBody::Fetch(FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".to_owned(),
            topic_id: Uuid([7; 16]),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: 1_000,
                last_stable_offset: 1_000,
                log_start_offset: 0,
                records: Some(record_batch().into()),
                ..PartitionData::default()
            }],
            ..FetchableTopicResponse::default()
        }],
        ..FetchResponse::default()
    })
}

#[divan::bench(args = [9, 11])]
fn decode_produce_request(bencher: Bencher, version: i16) {
    let (header, body) = produce_request(version);
    let frame = protocol::encode_request(&header, &body).expect("encodes");
    bencher
        .counter(BytesCount::new(frame.len()))
        .bench(|| protocol::decode_request(black_box(frame.clone())).expect("decodes"));
}

#[divan::bench(args = [9, 11])]
fn encode_produce_request(bencher: Bencher, version: i16) {
    let (header, body) = produce_request(version);
    let frame_len = protocol::encode_request(&header, &body)
        .expect("encodes")
        .len();
    bencher
        .counter(BytesCount::new(frame_len))
        .bench(|| protocol::encode_request(black_box(&header), black_box(&body)).expect("encodes"));
}

#[divan::bench(args = [12, 16])]
fn decode_fetch_response(bencher: Bencher, version: i16) {
    let payload = protocol::frame::encode_response(7, version, &fetch_response()).expect("encodes");
    bencher.counter(BytesCount::new(payload.len())).bench(|| {
        protocol::decode_response(ApiKey::Fetch, version, black_box(payload.clone()))
            .expect("decodes")
    });
}

#[divan::bench(args = [12, 16])]
fn encode_fetch_response_frame(bencher: Bencher, version: i16) {
    let body = fetch_response();
    let frame_len: usize = protocol::encode_response_frame(7, version, &body)
        .expect("encodes")
        .iter()
        .map(|chunk| chunk.len())
        .sum();
    bencher.counter(BytesCount::new(frame_len)).bench(|| {
        protocol::encode_response_frame(7, black_box(version), black_box(&body)).expect("encodes")
    });
}
