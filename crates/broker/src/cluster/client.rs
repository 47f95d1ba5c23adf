//! A minimal Kafka client connection between brokers (a follower fetching from its leader):
//! one request at a time, size-prefixed frames bounded before buffering, every call under a
//! timeout. On a secured inter-broker listener the connection does what a Kafka client does
//! ([`PeerSecurity`], from `peer_security.rs`): the TLS handshake with this broker's
//! certificate, then SaslHandshake and SaslAuthenticate with PLAIN or SCRAM.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::generated::{RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest};
use protocol::{RequestBody, ResponseBody};
use security::client::{SaslClient, SaslCredentials};
use security::sasl::Mechanism;
use security::tls::ClientTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// How a broker authenticates to the others' inter-broker listener.
#[derive(Clone, Default)]
pub struct PeerSecurity {
    /// TLS towards the peer (SSL, SASL_SSL), with this broker's certificate.
    pub tls: Option<Arc<ClientTls>>,
    /// SASL (SASL_PLAINTEXT, SASL_SSL): `sasl.mechanism.inter.broker.protocol` and the
    /// listener's JAAS `username`/`password`.
    pub sasl: Option<PeerSasl>,
}

/// The SASL credentials a broker logs in to its peers with.
pub type PeerSasl = SaslCredentials;

impl std::fmt::Debug for PeerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSecurity")
            .field("tls", &self.tls.is_some())
            .field(
                "sasl",
                &self.sasl.as_ref().map(|s| (s.mechanism, &s.username)),
            )
            .finish()
    }
}

trait PeerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerStream for T {}

/// Largest response frame a broker accepts from another (a fetch asks for far less).
pub const RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;

/// Why a call between brokers failed; the caller reconnects and retries.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("response frame of {0} bytes is out of bounds")]
    FrameSize(i64),
    #[error("encoding the request: {0}")]
    Encode(#[from] protocol::EncodeError),
    #[error("decoding the response: {0}")]
    Decode(#[from] protocol::DecodeError),
    #[error("response for correlation id {got}, expected {expected}")]
    Correlation { got: i32, expected: i32 },
    #[error("TLS to {address}: {reason}")]
    Tls { address: String, reason: String },
    #[error("SASL authentication with {address}: {reason}")]
    Sasl { address: String, reason: String },
}

/// One connection to another broker.
pub struct BrokerConnection {
    stream: Box<dyn PeerStream>,
    correlation_id: i32,
    client_id: String,
}

impl BrokerConnection {
    pub async fn connect(
        address: &str,
        client_id: String,
        timeout: Duration,
        security: &PeerSecurity,
    ) -> Result<Self, ClientError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(|source| ClientError::Connect {
                address: address.to_string(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn PeerStream> = match &security.tls {
            None => Box::new(tcp),
            Some(config) => {
                let tls_error = |reason: String| ClientError::Tls {
                    address: address.to_string(),
                    reason,
                };
                let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name =
                    ServerName::try_from(host.to_string()).map_err(|e| tls_error(e.to_string()))?;
                let connector = TlsConnector::from(config.config());
                let stream = tokio::time::timeout(timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| ClientError::Timeout)?
                    .map_err(|e| tls_error(e.to_string()))?;
                Box::new(stream)
            }
        };
        let mut connection = BrokerConnection {
            stream,
            correlation_id: 0,
            client_id,
        };
        if let Some(sasl) = &security.sasl {
            connection.authenticate(address, sasl, timeout).await?;
        }
        Ok(connection)
    }

    /// SaslHandshake v1, then SaslAuthenticate v2 with the mechanism's tokens.
    async fn authenticate(
        &mut self,
        address: &str,
        sasl: &PeerSasl,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let failed = |reason: String| ClientError::Sasl {
            address: address.to_string(),
            reason,
        };
        let handshake = SaslHandshakeRequest {
            mechanism: sasl.mechanism.name().to_string(),
            ..Default::default()
        };
        match self.send(1, handshake.into(), timeout).await? {
            ResponseBody::SaslHandshake(answer) if answer.error_code == 0 => {}
            ResponseBody::SaslHandshake(answer) => {
                return Err(failed(format!(
                    "mechanism {} refused (error {}; enabled: {:?})",
                    sasl.mechanism.name(),
                    answer.error_code,
                    answer.mechanisms
                )));
            }
            other => return Err(failed(format!("unexpected answer {:?}", other.api_key()))),
        }
        if sasl.mechanism == Mechanism::OAuthBearer {
            return Err(failed("OAUTHBEARER between brokers is not served".into()));
        }
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| failed(e.to_string()))?;
        let (mut exchange, mut token) = SaslClient::start(sasl, &nonce);
        loop {
            let answer = self.sasl_step(token, timeout, &failed).await?;
            match exchange
                .answer(&answer)
                .map_err(|e| failed(e.to_string()))?
            {
                Some(next) => token = next,
                None => break,
            }
        }
        Ok(())
    }

    async fn sasl_step(
        &mut self,
        token: Vec<u8>,
        timeout: Duration,
        failed: &(dyn Fn(String) -> ClientError + Sync),
    ) -> Result<Vec<u8>, ClientError> {
        let request = SaslAuthenticateRequest {
            auth_bytes: Bytes::from(token),
            ..Default::default()
        };
        match self.send(2, request.into(), timeout).await? {
            ResponseBody::SaslAuthenticate(answer) if answer.error_code == 0 => {
                Ok(answer.auth_bytes.to_vec())
            }
            ResponseBody::SaslAuthenticate(answer) => Err(failed(format!(
                "error {}: {}",
                answer.error_code,
                answer.error_message.unwrap_or_default()
            ))),
            other => Err(failed(format!("unexpected answer {:?}", other.api_key()))),
        }
    }

    /// Sends `body` at `version` and returns the response body, within `timeout`.
    pub async fn send(
        &mut self,
        version: i16,
        body: RequestBody,
        timeout: Duration,
    ) -> Result<ResponseBody, ClientError> {
        tokio::time::timeout(timeout, self.round_trip(version, body))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn round_trip(
        &mut self,
        version: i16,
        body: RequestBody,
    ) -> Result<ResponseBody, ClientError> {
        let api_key = body.api_key();
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api_key as i16,
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let payload = protocol::encode_request(&header, &body)?;
        let size = u32::try_from(payload.len()).map_err(|_| ClientError::FrameSize(-1))?;
        // One write: the request goes out in one segment, not a 4-byte one first.
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(&payload);
        self.stream.write_all(&frame).await?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).await?;
        let size = i32::from_be_bytes(size);
        let length = usize::try_from(size)
            .ok()
            .filter(|&n| n <= RESPONSE_BYTES_MAX)
            .ok_or(ClientError::FrameSize(i64::from(size)))?;
        let mut frame = BytesMut::zeroed(length);
        self.stream.read_exact(&mut frame).await?;
        let frame: Bytes = frame.freeze();
        let (correlation_id, body) = protocol::decode_response(api_key, version, frame)?;
        if correlation_id != self.correlation_id {
            return Err(ClientError::Correlation {
                got: correlation_id,
                expected: self.correlation_id,
            });
        }
        Ok(body)
    }
}
