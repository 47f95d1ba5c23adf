//! The harness of the broker's integration tests: a real broker started in-process on
//! 127.0.0.1:0 with a temporary log directory, and a minimal client that sends one request at a
//! time with `protocol::encode_request` and decodes the answer with `protocol::decode_response`.
//! Shared by every test file; add to it, keep it small.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use protocol::generated::RequestHeader;
use protocol::{RequestBody, ResponseBody};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use broker::{BrokerConfig, RunningBroker};

pub mod acl;
pub mod cluster;
pub mod pki;
pub mod sasl;
pub mod txn;

/// Largest response the test client accepts.
const RESPONSE_BYTES_MAX: usize = 64 << 20;

/// A broker running in this process, and the directory it keeps its data in.
pub struct TestBroker {
    pub running: RunningBroker,
    pub log_dir: tempfile::TempDir,
}

impl TestBroker {
    /// Starts a broker with `overrides` (Kafka key names) over the test defaults.
    pub async fn start(overrides: &[(&str, &str)]) -> TestBroker {
        let log_dir = tempfile::tempdir().expect("a temporary directory");
        Self::start_in(log_dir, overrides).await
    }

    /// Starts a broker on an existing log directory (for restart tests).
    pub async fn start_in(log_dir: tempfile::TempDir, overrides: &[(&str, &str)]) -> TestBroker {
        let mut properties: BTreeMap<String, String> = BTreeMap::new();
        properties.insert("listeners".into(), "PLAINTEXT://127.0.0.1:0".into());
        properties.insert(
            "log.dirs".into(),
            log_dir.path().to_string_lossy().into_owned(),
        );
        for (key, value) in overrides {
            properties.insert(key.to_string(), value.to_string());
        }
        let config = BrokerConfig::from_properties(&properties).expect("a valid test config");
        let mut running = broker::run(config).await.expect("the broker starts");
        running.wait_for_groups().await;
        TestBroker { running, log_dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    pub async fn client(&self) -> TestClient {
        TestClient::connect(self.addr()).await
    }

    /// Stops the broker cleanly and hands back its log directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.shutdown().await;
        self.log_dir
    }

    /// Stops the broker cleanly; its log directory is removed.
    pub async fn shutdown(self) {
        self.stop().await;
    }

    /// Stops the broker cleanly and starts a new one on the same log directory.
    pub async fn restart_with(self, overrides: &[(&str, &str)]) -> TestBroker {
        let log_dir = self.stop().await;
        Self::start_in(log_dir, overrides).await
    }

    /// The broker's shared state, for checks a client cannot make.
    pub fn broker(&self) -> &std::sync::Arc<broker::Broker> {
        &self.running.broker
    }
}

/// A plain or TLS connection.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientStream for T {}

/// One connection, one request at a time.
pub struct TestClient {
    stream: Box<dyn ClientStream>,
    correlation_id: i32,
    client_id: String,
}

impl TestClient {
    pub async fn connect(addr: SocketAddr) -> TestClient {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the broker");
        // As Kafka's clients do: without it a request written in two parts waits for the
        // broker's delayed ACK (~40 ms on Linux).
        stream.set_nodelay(true).expect("TCP_NODELAY");
        TestClient {
            stream: Box::new(stream),
            correlation_id: 0,
            client_id: "runnel-test".into(),
        }
    }

    /// A client over an established stream (a TLS one).
    pub fn over(stream: impl ClientStream + 'static) -> TestClient {
        TestClient {
            stream: Box::new(stream),
            correlation_id: 0,
            client_id: "runnel-test".into(),
        }
    }

    /// The same connection sending requests with this client id (quotas are per client id).
    pub fn with_client_id(mut self, client_id: &str) -> TestClient {
        self.client_id = client_id.to_string();
        self
    }

    /// Sends `body` at `version` and returns the decoded response body.
    pub async fn send(&mut self, version: i16, body: impl Into<RequestBody>) -> ResponseBody {
        let body = body.into();
        let api_key = body.api_key();
        self.correlation_id += 1;
        let header = RequestHeader {
            request_api_key: api_key as i16,
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let payload = protocol::encode_request(&header, &body).expect("encode the request");
        self.send_raw(&payload).await;
        let response = self.read_frame().await.expect("a response frame");
        let (correlation_id, body) =
            protocol::decode_response(api_key, version, response).expect("decode the response");
        assert_eq!(correlation_id, self.correlation_id, "correlation id");
        body
    }

    /// Sends `body` at `version` without reading a response (Produce with acks=0).
    pub async fn send_no_response(&mut self, version: i16, body: impl Into<RequestBody>) {
        let body = body.into();
        self.correlation_id += 1;
        let header = RequestHeader {
            request_api_key: body.api_key() as i16,
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let payload = protocol::encode_request(&header, &body).expect("encode the request");
        self.send_raw(&payload).await;
    }

    /// Writes one frame: the size prefix, then `payload`.
    pub async fn send_raw(&mut self, payload: &[u8]) {
        let size = u32::try_from(payload.len()).expect("a frame under 4 GiB");
        self.stream.write_all(&size.to_be_bytes()).await.unwrap();
        self.stream.write_all(payload).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Reads one response frame without its size prefix; `None` when the broker closed.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).await.ok()?;
        let size = u32::from_be_bytes(size) as usize;
        assert!(size <= RESPONSE_BYTES_MAX, "response of {size} bytes");
        let mut payload = vec![0u8; size];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some(Bytes::from(payload))
    }
}

/// Unwraps a response body of the expected kind: `expect_response!(body, CreateTopics)`.
#[macro_export]
macro_rules! expect_response {
    ($body:expr, $variant:ident) => {
        match $body {
            protocol::ResponseBody::$variant(response) => response,
            other => panic!(
                "expected {}, got {:?}",
                stringify!($variant),
                other.api_key()
            ),
        }
    };
}

pub mod admin;
pub mod produce;
