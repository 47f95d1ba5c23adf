//! Bad input at the connection level (reliability.md B1-B7): oversized, negative, truncated and
//! too-short frames, unknown API keys, unsupported versions, counts larger than the frame and
//! garbage bodies each end only their own connection, with nothing allocated for the lie; an
//! ApiVersions request of a future version gets KIP-511's v0 answer; and after all of it the
//! broker still serves a new client. Method: raw bytes over TCP to a broker on 127.0.0.1:0.

mod common;

use std::time::Duration;

use common::{TestBroker, TestClient};
use protocol::generated::ApiVersionsRequest;
use protocol::generated::{ApiVersionsResponse, ResponseHeader};
use protocol::{ErrorCode, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the broker to close a connection.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

fn header(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&api_key.to_be_bytes());
    bytes.extend_from_slice(&version.to_be_bytes());
    bytes.extend_from_slice(&correlation_id.to_be_bytes());
    bytes.extend_from_slice(&(-1i16).to_be_bytes()); // null client id (header v1)
    bytes
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

/// Sends `bytes` on a new connection and expects the broker to close it without a response.
async fn expect_closed(broker: &TestBroker, bytes: &[u8], case: &str) {
    let mut stream = TcpStream::connect(broker.addr()).await.unwrap();
    // The broker may close before reading everything; a failed write is fine.
    let _ = stream.write_all(bytes).await;
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(CLOSE_WAIT, stream.read(&mut buffer))
        .await
        .unwrap_or_else(|_| panic!("{case}: the connection stayed open"));
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("{case}: got {n} bytes instead of a closed connection"),
    }
}

async fn still_serves(broker: &TestBroker) {
    let mut client = TestClient::connect(broker.addr()).await;
    let response = expect_response!(
        client.send(3, ApiVersionsRequest::default()).await,
        ApiVersions
    );
    assert_eq!(response.error_code, ErrorCode::None.code());
    assert!(!response.api_keys.is_empty());
}

#[tokio::test]
async fn malformed_frames_close_only_their_connection() {
    let broker = TestBroker::start(&[("socket.request.max.bytes", "4096")]).await;

    // B1: larger than socket.request.max.bytes, refused from the size alone.
    expect_closed(&broker, &0x7fff_ffffu32.to_be_bytes(), "2 GiB frame").await;
    expect_closed(&broker, &4097u32.to_be_bytes(), "one byte over the limit").await;
    // B3: a negative size, and a frame shorter than a request header.
    expect_closed(&broker, &0xffff_ffffu32.to_be_bytes(), "negative size").await;
    expect_closed(&broker, &framed(&[0, 3, 0]), "3-byte frame").await;
    // B4: unknown API key; B6: a served API at a version we do not serve.
    expect_closed(&broker, &framed(&header(999, 0, 1)), "unknown API key").await;
    expect_closed(&broker, &framed(&header(3, 99, 2)), "Metadata v99").await;
    // An API the broker does not serve at all (Envelope is inter-broker).
    expect_closed(&broker, &framed(&header(58, 0, 3)), "Envelope").await;
    // B7: Metadata v1 claiming 2^31-1 topics in a 14-byte body.
    let mut lying = header(3, 1, 4);
    lying.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
    expect_closed(&broker, &framed(&lying), "count larger than the frame").await;
    // A string length larger than what remains.
    let mut lying = header(3, 1, 5);
    lying.extend_from_slice(&1i32.to_be_bytes());
    lying.extend_from_slice(&0x7fffi16.to_be_bytes());
    lying.extend_from_slice(b"abc");
    expect_closed(
        &broker,
        &framed(&lying),
        "string length larger than the frame",
    )
    .await;
    // B4: garbage after a valid Produce v9 header.
    let mut garbage = header(0, 9, 6);
    garbage.truncate(8);
    garbage.extend_from_slice(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x13, 0x37]);
    expect_closed(&broker, &framed(&garbage), "garbage Produce body").await;

    still_serves(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn truncated_and_idle_connections_are_reaped() {
    let broker = TestBroker::start(&[("connections.max.idle.ms", "300")]).await;
    // A frame that promises 100 bytes and sends 10, then goes quiet: reaped when idle.
    let mut partial = 100u32.to_be_bytes().to_vec();
    partial.extend_from_slice(&[0u8; 10]);
    expect_closed(&broker, &partial, "truncated frame").await;
    // A connection that never sends anything.
    expect_closed(&broker, &[], "idle connection").await;
    still_serves(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn api_versions_of_a_future_version_gets_a_v0_answer() {
    // KIP-511: reply v0-encoded with UNSUPPORTED_VERSION and the ranges we serve.
    let broker = TestBroker::start(&[]).await;
    let mut stream = TcpStream::connect(broker.addr()).await.unwrap();
    let mut request = header(18, 77, 42);
    request.truncate(8);
    request.extend_from_slice(&[0x00, 0x00, 0x00]); // header v2 tail: null client id, no tags
    stream.write_all(&framed(&request)).await.unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.unwrap();
    let mut payload = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut payload).await.unwrap();
    let mut payload = bytes::Bytes::from(payload);
    let header = ResponseHeader::decode(&mut payload, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let body = ApiVersionsResponse::decode(&mut payload, 0).unwrap();
    assert_eq!(body.error_code, ErrorCode::UnsupportedVersion.code());
    let api_versions = body.api_keys.iter().find(|k| k.api_key == 18).unwrap();
    assert_eq!((api_versions.min_version, api_versions.max_version), (0, 5));
    assert!(
        body.api_keys
            .iter()
            .any(|k| k.api_key == 0 && k.min_version == 0)
    );
    still_serves(&broker).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn many_bad_connections_leave_the_broker_serving() {
    // A bounded storm: 200 connections each sending a different lie, concurrently.
    let broker = TestBroker::start(&[("socket.request.max.bytes", "65536")]).await;
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let addr = broker.addr();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let bytes: Vec<u8> = match i % 4 {
                0 => (0x1000_0000u32 + i).to_be_bytes().to_vec(),
                1 => framed(&header((i % 100) as i16 + 200, 0, i as i32)),
                2 => framed(&[(i % 7) as u8; 9]),
                _ => {
                    let mut body = header(3, (i % 12) as i16 + 1, i as i32);
                    body.extend_from_slice(&(i32::MAX - i as i32).to_be_bytes());
                    framed(&body)
                }
            };
            let _ = stream.write_all(&bytes).await;
            let mut buffer = [0u8; 16];
            let _ = tokio::time::timeout(CLOSE_WAIT, stream.read(&mut buffer)).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    still_serves(&broker).await;
    broker.shutdown().await;
}
