//! The Kafka wire codec: request and response types generated from Kafka's message specs,
//! bounded decoding of every length and count, and record batch views that keep record bytes
//! as opaque `Bytes` slices of the received frame. This crate does no I/O.
//!
//! Layers, bottom up: [`codec`] (primitive readers and writers, the chunked encoder),
//! [`generated`] (one module per message, written by `cargo xtask codegen` from the JSON specs),
//! [`frame`] (headers and whole frames), [`records`] (record batches), [`ErrorCode`], [`topic`]
//! (Kafka's topic-name rules and the per-topic partition limit).

pub mod codec;
mod error_code;
pub mod frame;
#[allow(
    clippy::all,
    unused_variables,
    unused_mut,
    unused_parens,
    unused_imports,
    missing_docs
)]
pub mod generated;
pub mod records;
pub mod topic;

pub use codec::{DecodeError, EncodeError, Encoder, FrameChunk, Message, Records, Uuid};
pub use error_code::ErrorCode;
pub use frame::{Request, decode_request, decode_response, encode_request, encode_response_frame};
pub use generated::{ApiKey, RequestBody, ResponseBody};
