//! The runtime of the generated codec: bounded readers and writers for Kafka's primitive types
//! (fixed-width integers, varints, strings, bytes, arrays, UUIDs, tagged fields), the encoder
//! that keeps record bytes out of its buffer, and the codec's errors.
//!
//! Generated message code (`crate::generated`) calls only what this module exports. Every length
//! or count read here is checked against the bytes that remain before anything is allocated.

mod decode;
mod encode;
mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod types;

pub use decode::*;
pub use encode::*;
pub use error::{DecodeError, EncodeError};
pub use types::{FileRegion, RawTaggedField, Records, UnknownTaggedFields, Uuid};

/// A message type with a range of versions that it can be decoded from and encoded at.
pub trait Message: Sized {
    /// The versions this message is defined for.
    const VERSIONS: (i16, i16);

    /// Decodes the message at `version` from the front of `buf`, advancing it.
    fn decode(buf: &mut bytes::Bytes, version: i16) -> Result<Self, DecodeError>;

    /// Encodes the message at `version`.
    fn encode(&self, encoder: &mut Encoder, version: i16) -> Result<(), EncodeError>;

    /// The fewest bytes an encoding of this message at `version` can take; bounds array counts.
    fn min_encoded_len(version: i16) -> usize;
}
