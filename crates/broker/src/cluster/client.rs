//! A minimal Kafka client connection between brokers (a follower fetching from its leader):
//! one request at a time, size-prefixed frames bounded before buffering, every call under a
//! timeout.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::generated::RequestHeader;
use protocol::{RequestBody, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
}

/// One connection to another broker.
pub struct BrokerConnection {
    stream: TcpStream,
    correlation_id: i32,
    client_id: String,
}

impl BrokerConnection {
    pub async fn connect(
        address: &str,
        client_id: String,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(|source| ClientError::Connect {
                address: address.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(BrokerConnection {
            stream,
            correlation_id: 0,
            client_id,
        })
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
