//! One TCP connection to one broker: the ApiVersions exchange that opens it, the version chosen
//! for each request, and request/response round trips one at a time, in order.
//!
//! Bounds: a response frame's size is checked against `RESPONSE_BYTES_MAX` before anything is
//! buffered, and the codec bounds every count and length inside it; every round trip runs under
//! a timeout. A connection whose round trip failed midway (timeout, I/O error, a cancelled
//! future) may hold half a response, so the owner drops it (`Client` does) and connects anew.
//!
//! Security as a Kafka client does it: on SSL and SASL_SSL the TLS handshake first (rustls, the
//! configuration from `security::client`), then ApiVersions, then on SASL_PLAINTEXT and SASL_SSL
//! SaslHandshake and SaslAuthenticate with PLAIN or SCRAM (`security::client::SaslClient` makes
//! the tokens).
//!
//! Not here: choosing which broker to ask (`Client`), retries.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::generated::RequestHeader;
use protocol::generated::api_versions_request::ApiVersionsRequest;
use protocol::generated::api_versions_response::ApiVersionsResponse;
use protocol::generated::{SaslAuthenticateRequest, SaslHandshakeRequest};
use protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use security::client::{ClientSecurity, SaslClient, SaslCredentials};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::error::ClientError;
use crate::versions;

/// Largest response frame accepted (fetches ask for far less: `FETCH_BYTES_MAX`).
pub(crate) const RESPONSE_BYTES_MAX: usize = 128 << 20;

/// The software name and version sent in ApiVersions v3+ (KIP-511's pattern:
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`).
const CLIENT_SOFTWARE_NAME: &str = "runnel-client";
const CLIENT_SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A finalized feature from the broker's ApiVersions answer (`metadata.version`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedFeature {
    pub name: String,
    pub min_version_level: i16,
    pub max_version_level: i16,
}

/// The byte stream under a connection: TCP, or TLS over TCP.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

pub(crate) struct Connection {
    address: String,
    stream: Box<dyn Transport>,
    correlation_id: i32,
    client_id: String,
    request_timeout: Duration,
    /// The broker's advertised ranges, from ApiVersions.
    broker_versions: HashMap<i16, (i16, i16)>,
    pub(crate) finalized_features: Vec<FinalizedFeature>,
    pub(crate) finalized_features_epoch: i64,
}

impl Connection {
    /// Connects (with TLS when the protocol asks), learns the broker's API versions and
    /// authenticates (SASL) when the protocol asks.
    pub(crate) async fn open(
        address: &str,
        client_id: &str,
        request_timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<Connection, ClientError> {
        let connect_error = |source| ClientError::Connect {
            address: address.to_string(),
            source,
        };
        let stream = tokio::time::timeout(request_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                connect_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out",
                ))
            })?
            .map_err(connect_error)?;
        // As Kafka's clients do: a request is one write, and no delayed ACK holds it back.
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Transport> = match &security.tls {
            None => Box::new(stream),
            Some(config) => {
                let tls_error = |reason: String| ClientError::Tls {
                    address: address.to_string(),
                    reason,
                };
                let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name =
                    ServerName::try_from(host.to_string()).map_err(|e| tls_error(e.to_string()))?;
                let connector = TlsConnector::from(config.clone());
                let handshake =
                    tokio::time::timeout(request_timeout, connector.connect(name, stream));
                Box::new(
                    handshake
                        .await
                        .map_err(|_| tls_error("the handshake timed out".into()))?
                        .map_err(|e| tls_error(e.to_string()))?,
                )
            }
        };
        let mut connection = Connection {
            address: address.to_string(),
            stream,
            correlation_id: 0,
            client_id: client_id.to_string(),
            request_timeout,
            broker_versions: HashMap::new(),
            finalized_features: Vec::new(),
            finalized_features_epoch: -1,
        };
        connection.negotiate_versions().await?;
        if let Some(credentials) = &security.sasl {
            connection.authenticate(credentials).await?;
        }
        Ok(connection)
    }

    /// SaslHandshake with the mechanism, then SaslAuthenticate until the exchange completes.
    async fn authenticate(&mut self, credentials: &SaslCredentials) -> Result<(), ClientError> {
        let mechanism = credentials.mechanism.name();
        let context = format!("{}: SASL {mechanism}", self.address);
        let handshake = SaslHandshakeRequest {
            mechanism: mechanism.to_string(),
            ..Default::default()
        };
        let version = self.version(ApiKey::SaslHandshake)?;
        let ResponseBody::SaslHandshake(answer) =
            self.send(version, handshake.into(), Duration::ZERO).await?
        else {
            unreachable!("decoded as SaslHandshake");
        };
        let enabled = answer.mechanisms.join(", ");
        crate::error::check(
            || context.clone(),
            answer.error_code,
            Some(&format!("the broker enables {enabled}")),
        )?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| ClientError::Authentication {
            address: self.address.clone(),
            reason: e.to_string(),
        })?;
        let (mut exchange, mut token) = SaslClient::start(credentials, &nonce);
        let version = self.version(ApiKey::SaslAuthenticate)?;
        loop {
            let request = SaslAuthenticateRequest {
                auth_bytes: Bytes::from(token),
                ..Default::default()
            };
            let ResponseBody::SaslAuthenticate(answer) =
                self.send(version, request.into(), Duration::ZERO).await?
            else {
                unreachable!("decoded as SaslAuthenticate");
            };
            crate::error::check(
                || context.clone(),
                answer.error_code,
                answer.error_message.as_ref(),
            )?;
            match exchange.answer(&answer.auth_bytes) {
                Ok(Some(next)) => token = next,
                Ok(None) => return Ok(()),
                Err(error) => {
                    return Err(ClientError::Authentication {
                        address: self.address.clone(),
                        reason: error.to_string(),
                    });
                }
            }
        }
    }

    /// ApiVersions at the newest version this client speaks; a broker that does not serve it
    /// answers in v0's layout with UNSUPPORTED_VERSION and its own range (KIP-511), and the
    /// request is sent again at the newest version both serve.
    async fn negotiate_versions(&mut self) -> Result<(), ClientError> {
        let (client_min, client_max) =
            versions::client_range(ApiKey::ApiVersions).expect("ApiVersions is in the table");
        let mut version = client_max;
        for _ in 0..2 {
            let request = ApiVersionsRequest {
                client_software_name: CLIENT_SOFTWARE_NAME.into(),
                client_software_version: CLIENT_SOFTWARE_VERSION.into(),
                ..Default::default()
            };
            let payload = self.round_trip_raw(version, request.into()).await?;
            let response =
                match protocol::decode_response(ApiKey::ApiVersions, version, payload.clone()) {
                    Ok((_, ResponseBody::ApiVersions(response)))
                        if response.error_code != ErrorCode::UnsupportedVersion.code() =>
                    {
                        response
                    }
                    _ => {
                        // The v0 layout: error code, then the broker's ranges.
                        let (_, body) = protocol::decode_response(ApiKey::ApiVersions, 0, payload)
                            .map_err(|source| self.decode_error(ApiKey::ApiVersions, 0, source))?;
                        let ResponseBody::ApiVersions(response) = body else {
                            unreachable!("decoded as ApiVersions");
                        };
                        let broker = response
                            .api_keys
                            .iter()
                            .find(|key| key.api_key == ApiKey::ApiVersions as i16)
                            .map(|key| (key.min_version, key.max_version));
                        match broker.and_then(|b| versions::pick((client_min, client_max), b)) {
                            Some(next) if next < version => {
                                version = next;
                                continue;
                            }
                            _ => {
                                return Err(ClientError::from_code(
                                    format!("{}: ApiVersions", self.address),
                                    response.error_code,
                                    None,
                                ));
                            }
                        }
                    }
                };
            self.learn(response)?;
            return Ok(());
        }
        Err(ClientError::Invalid(format!(
            "{}: ApiVersions did not settle on a version",
            self.address
        )))
    }

    fn learn(&mut self, response: ApiVersionsResponse) -> Result<(), ClientError> {
        crate::error::check(
            || format!("{}: ApiVersions", self.address),
            response.error_code,
            None,
        )?;
        self.broker_versions = response
            .api_keys
            .iter()
            .map(|key| (key.api_key, (key.min_version, key.max_version)))
            .collect();
        self.finalized_features = response
            .finalized_features
            .iter()
            .map(|feature| FinalizedFeature {
                name: feature.name.clone(),
                min_version_level: feature.min_version_level,
                max_version_level: feature.max_version_level,
            })
            .collect();
        self.finalized_features_epoch = response.finalized_features_epoch;
        Ok(())
    }

    /// Whether the broker advertises `api` at all.
    pub(crate) fn serves(&self, api: ApiKey) -> bool {
        self.broker_versions.contains_key(&(api as i16))
    }

    /// The newest version of `api` both this client and the broker serve.
    pub(crate) fn version(&self, api: ApiKey) -> Result<i16, ClientError> {
        let (client_min, client_max) = versions::client_range(api).ok_or_else(|| {
            ClientError::Invalid(format!("this client does not send {}", api.name()))
        })?;
        let broker = self.broker_versions.get(&(api as i16)).copied();
        broker
            .and_then(|broker| versions::pick((client_min, client_max), broker))
            .ok_or_else(|| ClientError::UnsupportedVersion {
                address: self.address.clone(),
                api: api.name(),
                broker: match broker {
                    Some((min, max)) => format!("v{min}-v{max}"),
                    None => "not at all".into(),
                },
                client_min,
                client_max,
            })
    }

    /// Hands the open stream to a driver that keeps several requests in flight
    /// (`pipeline.rs`): the broker's address and the stream's read and write halves.
    /// `tokio::io::split` takes any `AsyncRead + AsyncWrite` stream, so this does not depend on
    /// the stream's type. The driver settles the versions it sends (`version`) before this.
    pub(crate) fn into_split(
        self,
    ) -> (
        String,
        crate::pipeline::StreamReader,
        crate::pipeline::StreamWriter,
    ) {
        let (reader, writer) = tokio::io::split(self.stream);
        (self.address, Box::new(reader), Box::new(writer))
    }

    /// Sends `body` at `version` and returns the response body. `extra_wait` lengthens the
    /// timeout for requests the broker may hold (a fetch's long poll).
    pub(crate) async fn send(
        &mut self,
        version: i16,
        body: RequestBody,
        extra_wait: Duration,
    ) -> Result<ResponseBody, ClientError> {
        let api_key = body.api_key();
        let timeout = self.request_timeout + extra_wait;
        let payload = tokio::time::timeout(timeout, self.round_trip_raw(version, body))
            .await
            .map_err(|_| ClientError::Timeout {
                address: self.address.clone(),
                api: api_key.name(),
                timeout_ms: timeout.as_millis(),
            })??;
        let (correlation_id, body) = protocol::decode_response(api_key, version, payload)
            .map_err(|source| self.decode_error(api_key, version, source))?;
        if correlation_id != self.correlation_id {
            return Err(ClientError::Correlation {
                address: self.address.clone(),
                got: correlation_id,
                expected: self.correlation_id,
            });
        }
        Ok(body)
    }

    /// Sends `body` at `version` without waiting for an answer (Produce with acks=0).
    pub(crate) async fn send_without_response(
        &mut self,
        version: i16,
        body: RequestBody,
    ) -> Result<(), ClientError> {
        let timeout = self.request_timeout;
        let api = body.api_key().name();
        tokio::time::timeout(timeout, self.write_request(version, body))
            .await
            .map_err(|_| ClientError::Timeout {
                address: self.address.clone(),
                api,
                timeout_ms: timeout.as_millis(),
            })?
    }

    async fn round_trip_raw(
        &mut self,
        version: i16,
        body: RequestBody,
    ) -> Result<Bytes, ClientError> {
        self.write_request(version, body).await?;
        self.read_frame().await
    }

    async fn write_request(&mut self, version: i16, body: RequestBody) -> Result<(), ClientError> {
        let api_key = body.api_key();
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api_key as i16,
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let payload =
            protocol::encode_request(&header, &body).map_err(|source| ClientError::Encode {
                api: api_key.name(),
                source,
            })?;
        let size = i32::try_from(payload.len()).map_err(|_| {
            ClientError::Invalid(format!(
                "a {} request of {} bytes is too large to send",
                api_key.name(),
                payload.len()
            ))
        })?;
        // One write, so the request leaves in as few segments as possible.
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(&payload);
        self.stream
            .write_all(&frame)
            .await
            .map_err(|source| self.io_error(source))
    }

    /// Reads one response frame, its size checked before anything is buffered.
    async fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .await
            .map_err(|source| self.io_error(source))?;
        let size = i32::from_be_bytes(size);
        let length = usize::try_from(size)
            .ok()
            .filter(|&length| length <= RESPONSE_BYTES_MAX)
            .ok_or_else(|| ClientError::FrameSize {
                address: self.address.clone(),
                size: i64::from(size),
                max: RESPONSE_BYTES_MAX,
            })?;
        let mut frame = BytesMut::zeroed(length);
        self.stream
            .read_exact(&mut frame)
            .await
            .map_err(|source| self.io_error(source))?;
        Ok(frame.freeze())
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            address: self.address.clone(),
            source,
        }
    }

    fn decode_error(
        &self,
        api: ApiKey,
        version: i16,
        source: protocol::DecodeError,
    ) -> ClientError {
        ClientError::Decode {
            address: self.address.clone(),
            api: api.name(),
            version,
            source,
        }
    }
}
