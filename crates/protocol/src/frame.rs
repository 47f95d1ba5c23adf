//! Whole requests and responses: the request header (v0-2) and response header (v0-1) chosen by
//! API and version, the body, and the 4-byte size prefix of a frame on the wire.
//!
//! Reading a frame off the socket (and bounding its size) is the broker's job; this module takes
//! the frame's payload (the bytes after the size prefix) and never copies record bytes.

use bytes::{Buf, Bytes};

use crate::codec::{DecodeError, EncodeError, Encoder, FrameChunk, Message, read_i32};
use crate::generated::{ApiKey, RequestBody, RequestHeader, ResponseBody, ResponseHeader};

/// A decoded request: its header and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub header: RequestHeader,
    pub body: RequestBody,
}

impl Request {
    pub fn api_key(&self) -> ApiKey {
        self.body.api_key()
    }
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// The fixed start of every request header (v0+): enough to answer, or refuse, a request whose
/// body cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads the API key, version and correlation id at the front of a request payload.
pub fn peek_request_prefix(payload: &[u8]) -> Option<RequestPrefix> {
    let prefix = payload.get(..8)?;
    Some(RequestPrefix {
        api_key: i16::from_be_bytes([prefix[0], prefix[1]]),
        api_version: i16::from_be_bytes([prefix[2], prefix[3]]),
        correlation_id: i32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]),
    })
}

/// Decodes a request payload (a frame without its size prefix). Byte and record fields of the
/// result are slices of `payload`. Bytes left after the body are ignored, as Kafka does.
pub fn decode_request(mut payload: Bytes) -> Result<Request, DecodeError> {
    let prefix = peek_request_prefix(&payload).ok_or(DecodeError::Truncated {
        what: "request header",
        needed: 8,
        remaining: payload.len(),
    })?;
    let api_key = ApiKey::from_i16(prefix.api_key).ok_or(DecodeError::UnknownApiKey {
        api_key: prefix.api_key,
    })?;
    let (min, max) = api_key.versions();
    if prefix.api_version < min || prefix.api_version > max {
        return Err(DecodeError::UnsupportedVersion {
            what: api_key.name(),
            version: prefix.api_version,
            min,
            max,
        });
    }
    let header_version = api_key.request_header_version(prefix.api_version);
    let header = RequestHeader::decode(&mut payload, header_version)?;
    let body = RequestBody::decode(api_key, &mut payload, prefix.api_version)?;
    // Bytes after the body are ignored, as Kafka ignores them: librdkafka 2.16's Metadata v12
    // request for all topics carries three.
    Ok(Request { header, body })
}

/// Encodes a request payload (without the size prefix), as a client sends it.
pub fn encode_request(header: &RequestHeader, body: &RequestBody) -> Result<Bytes, EncodeError> {
    let api_key = body.api_key();
    let version = header.request_api_version;
    let mut encoder = Encoder::new();
    header.encode(&mut encoder, api_key.request_header_version(version))?;
    body.encode(&mut encoder, version)?;
    encoder.finish()
}

/// Encodes a response frame, size prefix included, as chunks: record data stays in its own
/// chunks (slices of received frames or log file regions) and is never copied.
pub fn encode_response_frame(
    correlation_id: i32,
    version: i16,
    body: &ResponseBody,
) -> Result<Vec<FrameChunk>, EncodeError> {
    let api_key = body.api_key();
    let mut encoder = Encoder::zero_copy();
    encoder.put_i32(0); // size, patched below
    let header = ResponseHeader {
        correlation_id,
        ..ResponseHeader::default()
    };
    header.encode(&mut encoder, api_key.response_header_version(version))?;
    body.encode(&mut encoder, version)?;
    let size = encoder.len() - 4;
    let size = i32::try_from(size).map_err(|_| EncodeError::TooLong {
        what: "response frame",
        length: size,
        max: i32::MAX as usize,
    })?;
    let mut chunks = encoder.finish_chunks();
    if let Some(FrameChunk::Bytes(first)) = chunks.first_mut() {
        let mut patched = bytes::BytesMut::from(&first[..]);
        patched[..4].copy_from_slice(&size.to_be_bytes());
        *first = patched.freeze();
    }
    Ok(chunks)
}

/// Encodes a response payload (without the size prefix) into one buffer, copying record data;
/// for tests and tools, not for the broker's fetch path.
pub fn encode_response(
    correlation_id: i32,
    version: i16,
    body: &ResponseBody,
) -> Result<Bytes, EncodeError> {
    let api_key = body.api_key();
    let mut encoder = Encoder::new();
    let header = ResponseHeader {
        correlation_id,
        ..ResponseHeader::default()
    };
    header.encode(&mut encoder, api_key.response_header_version(version))?;
    body.encode(&mut encoder, version)?;
    encoder.finish()
}

/// Decodes a response payload (without the size prefix) for `api_key` at `version`, returning
/// the correlation id and the body.
pub fn decode_response(
    api_key: ApiKey,
    version: i16,
    mut payload: Bytes,
) -> Result<(i32, ResponseBody), DecodeError> {
    let header = ResponseHeader::decode(&mut payload, api_key.response_header_version(version))?;
    let body = ResponseBody::decode(api_key, &mut payload, version)?;
    if !payload.is_empty() {
        return Err(DecodeError::TrailingBytes {
            what: api_key.name(),
            unread: payload.len(),
        });
    }
    Ok((header.correlation_id, body))
}

/// Splits one size-prefixed frame off the front of `buf`, when it is all there. A negative size
/// is an error; bounding the size is the caller's job (before it buffers that much).
pub fn split_frame(buf: &mut Bytes) -> Result<Option<Bytes>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = read_i32(&mut buf.slice(..4))?;
    if size < 0 {
        return Err(DecodeError::InvalidLength {
            what: "frame",
            length: i64::from(size),
        });
    }
    let size = size as usize;
    if buf.len() < 4 + size {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size)))
}
