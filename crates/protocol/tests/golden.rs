//! Golden tests: request and response frames captured from real clients (Java kafka-clients
//! 4.4.0, librdkafka, franz-go) talking to a real Apache Kafka broker (tests/golden/, made by
//! compat/capture/capture.sh) decode to the values the clients sent and re-encode byte for byte.
//!
//! Each client must have at least ApiVersions, Metadata, Produce, Fetch and JoinGroup covered.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use protocol::frame::peek_request_prefix;
use protocol::generated::{ApiVersionsResponse, ResponseHeader};
use protocol::records::RecordBatches;
use protocol::{ApiKey, Encoder, Message, RequestBody, ResponseBody};

struct Exchange {
    name: String,
    api_key: ApiKey,
    version: i16,
    request: Bytes,
    response: Bytes,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn exchanges(client: &str) -> Vec<Exchange> {
    let dir = golden_dir().join(client);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".req.bin"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|file| {
            let stem = file.trim_end_matches(".req.bin").to_string();
            // NNN-<ApiName>-v<version>
            let mut parts = stem.rsplitn(2, "-v");
            let version: i16 = parts.next().unwrap().parse().unwrap();
            let api_name = parts.next().unwrap().split_once('-').unwrap().1.to_string();
            let api_key = *ApiKey::ALL
                .iter()
                .find(|key| key.name() == api_name)
                .unwrap_or_else(|| panic!("unknown API {api_name}"));
            let request = Bytes::from(std::fs::read(dir.join(&file)).unwrap());
            let response =
                Bytes::from(std::fs::read(dir.join(format!("{stem}.resp.bin"))).unwrap());
            Exchange {
                name: format!("{client}/{stem}"),
                api_key,
                version,
                request,
                response,
            }
        })
        .collect()
}

fn in_range(api_key: ApiKey, version: i16) -> bool {
    let (min, max) = api_key.versions();
    (min..=max).contains(&version)
}

/// Checks one exchange; returns whether it was decoded (versions beyond the specs are refused).
fn check(exchange: &Exchange) -> bool {
    let prefix = peek_request_prefix(&exchange.request).expect("request prefix");
    assert_eq!(prefix.api_key, exchange.api_key as i16, "{}", exchange.name);
    assert_eq!(prefix.api_version, exchange.version, "{}", exchange.name);

    if exchange.api_key == ApiKey::ApiVersions && answered_unsupported(exchange) {
        // The reference broker did not serve this version (Kafka 4.3.1 and franz-go's
        // ApiVersions v5 probe): its KIP-511 answer, a v0 body. The request still decodes when
        // our specs define the version.
        check_unsupported_api_versions_answer(exchange);
        let decoded = protocol::decode_request(exchange.request.clone());
        if !in_range(exchange.api_key, exchange.version) {
            assert!(decoded.is_err(), "{}", exchange.name);
            return false;
        }
        let request = decoded.unwrap_or_else(|e| panic!("{}: {e}", exchange.name));
        let reencoded = protocol::encode_request(&request.header, &request.body).unwrap();
        assert_eq!(reencoded, exchange.request, "{}", exchange.name);
        return true;
    }
    if !in_range(exchange.api_key, exchange.version) {
        let error = protocol::decode_request(exchange.request.clone()).unwrap_err();
        assert!(
            matches!(error, protocol::DecodeError::UnsupportedVersion { .. }),
            "{}: {error}",
            exchange.name
        );
        if exchange.api_key == ApiKey::ApiVersions {
            check_unsupported_api_versions_answer(exchange);
        }
        return false;
    }

    let request = protocol::decode_request(exchange.request.clone())
        .unwrap_or_else(|e| panic!("{}: request does not decode: {e}", exchange.name));
    let reencoded = protocol::encode_request(&request.header, &request.body).unwrap();
    assert_eq!(
        reencoded, exchange.request,
        "{}: request re-encoding differs",
        exchange.name
    );
    check_request_values(exchange, &request.body);

    let (correlation_id, response) = protocol::decode_response(
        exchange.api_key,
        exchange.version,
        exchange.response.clone(),
    )
    .unwrap_or_else(|e| panic!("{}: response does not decode: {e}", exchange.name));
    assert_eq!(
        correlation_id, request.header.correlation_id,
        "{}",
        exchange.name
    );
    let reencoded =
        protocol::frame::encode_response(correlation_id, exchange.version, &response).unwrap();
    assert_eq!(
        reencoded, exchange.response,
        "{}: response re-encoding differs",
        exchange.name
    );
    check_response_values(exchange, &response);
    true
}

/// A broker answers an ApiVersions request of a version it lacks with a v0 body and
/// UNSUPPORTED_VERSION (KIP-511); the captured answer must decode that way.
/// Whether an ApiVersions response carries UNSUPPORTED_VERSION (35) right after the v0 header.
fn answered_unsupported(exchange: &Exchange) -> bool {
    exchange.response.get(4..6) == Some(&35i16.to_be_bytes()[..])
}

fn check_unsupported_api_versions_answer(exchange: &Exchange) {
    let mut payload = exchange.response.clone();
    ResponseHeader::decode(&mut payload, 0).unwrap();
    let body = ApiVersionsResponse::decode(&mut payload, 0).unwrap();
    assert_eq!(body.error_code, 35, "{}", exchange.name);
    assert!(!body.api_keys.is_empty());
}

fn check_request_values(exchange: &Exchange, body: &RequestBody) {
    match body {
        RequestBody::Produce(produce) => {
            let mut batches = 0;
            for topic in &produce.topic_data {
                for partition in &topic.partition_data {
                    let records = partition.records.as_ref().expect("produce carries records");
                    let bytes = records.as_bytes().expect("decoded records are bytes");
                    // Zero copy: the records are a slice of the received frame.
                    let frame = exchange.request.as_ptr_range();
                    assert!(
                        frame.contains(&bytes.as_ptr()),
                        "{}: records copied",
                        exchange.name
                    );
                    for batch in RecordBatches::new(bytes) {
                        let batch = batch.unwrap();
                        batch.verify_crc().unwrap();
                        batches += 1;
                    }
                }
            }
            assert!(batches > 0, "{}: no batches", exchange.name);
        }
        RequestBody::Metadata(_) | RequestBody::ApiVersions(_) | RequestBody::Fetch(_) => {}
        RequestBody::JoinGroup(join) => {
            assert!(!join.group_id.is_empty());
            assert!(
                !join.protocols.is_empty(),
                "{}: no protocols",
                exchange.name
            );
        }
        _ => {}
    }
}

fn check_response_values(exchange: &Exchange, body: &ResponseBody) {
    match body {
        ResponseBody::ApiVersions(versions) => {
            assert_eq!(versions.error_code, 0);
            assert!(versions.api_keys.iter().any(|key| key.api_key == 0));
        }
        ResponseBody::Fetch(fetch) => {
            for topic in &fetch.responses {
                for partition in &topic.partitions {
                    if let Some(records) = &partition.records {
                        let bytes = records.as_bytes().unwrap();
                        for batch in RecordBatches::allowing_partial_tail(bytes) {
                            batch.unwrap().verify_crc().unwrap();
                        }
                    }
                }
            }
        }
        _ => {}
    }
    let _ = exchange;
}

fn check_client(client: &str) {
    let exchanges = exchanges(client);
    let mut covered = BTreeSet::new();
    let mut decoded = 0;
    for exchange in &exchanges {
        if check(exchange) {
            decoded += 1;
            covered.insert(exchange.api_key.name());
        }
    }
    println!(
        "{client}: {decoded} of {} exchanges decoded and re-encoded byte for byte; {covered:?}",
        exchanges.len()
    );
    for required in ["ApiVersions", "Metadata", "Produce", "Fetch", "JoinGroup"] {
        assert!(
            covered.contains(required),
            "{client}: no {required} exchange within our versions"
        );
    }
}

#[test]
fn java_kafka_clients_frames() {
    check_client("java");
    // Kafka 4.4.0's client at Kafka 4.4's protocol level: topics by id in Produce and in the
    // consumer protocol's offset requests.
    let captured: BTreeSet<(ApiKey, i16)> = exchanges("java")
        .iter()
        .map(|e| (e.api_key, e.version))
        .collect();
    for wanted in [
        (ApiKey::ApiVersions, 5),
        (ApiKey::Metadata, 13),
        (ApiKey::Produce, 13),
        (ApiKey::Fetch, 18),
        (ApiKey::ListOffsets, 11),
        (ApiKey::OffsetCommit, 10),
        (ApiKey::OffsetFetch, 10),
    ] {
        assert!(captured.contains(&wanted), "no Java frame for {wanted:?}");
    }
}

#[test]
fn librdkafka_frames() {
    check_client("librdkafka");
}

#[test]
fn franz_go_frames() {
    check_client("franz-go");
}

#[test]
fn librdkafka_gzip_produce_and_fetch() {
    for exchange in exchanges("librdkafka-gzip") {
        assert!(check(&exchange), "{}", exchange.name);
    }
}

#[test]
fn encoder_zero_copy_mode_keeps_golden_fetch_records_out_of_the_buffer() {
    for client in ["java", "librdkafka", "franz-go"] {
        for exchange in exchanges(client) {
            if exchange.api_key != ApiKey::Fetch || !in_range(ApiKey::Fetch, exchange.version) {
                continue;
            }
            let (correlation_id, body) = protocol::decode_response(
                ApiKey::Fetch,
                exchange.version,
                exchange.response.clone(),
            )
            .unwrap();
            let chunks =
                protocol::encode_response_frame(correlation_id, exchange.version, &body).unwrap();
            let mut joined = Vec::new();
            for chunk in &chunks {
                match chunk {
                    protocol::FrameChunk::Bytes(bytes) => joined.extend_from_slice(bytes),
                    protocol::FrameChunk::File(_) => unreachable!(),
                }
            }
            assert_eq!(&joined[4..], &exchange.response[..]);
            assert_eq!(
                i32::from_be_bytes(joined[..4].try_into().unwrap()) as usize,
                exchange.response.len()
            );
            let _ = Encoder::new();
        }
    }
}
