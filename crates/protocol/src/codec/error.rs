//! The errors of decoding and encoding Kafka messages.

/// Why bytes could not be decoded as a message. Every variant means the input is malformed or
/// of a version we do not serve; none means the decoder is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("need {needed} more bytes for {what}, {remaining} remain")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("{what} length {length} is invalid")]
    InvalidLength { what: &'static str, length: i64 },
    #[error("{what} count {count} needs at least {needed} bytes, {remaining} remain")]
    CountTooLarge {
        what: &'static str,
        count: usize,
        needed: usize,
        remaining: usize,
    },
    #[error("varint longer than {max_bytes} bytes")]
    VarintTooLong { max_bytes: usize },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("{what} is null but not nullable at version {version}")]
    NullNotAllowed { what: &'static str, version: i16 },
    #[error("tagged field {tag} of {what} has {unread} bytes left over")]
    TaggedFieldTrailingBytes {
        what: &'static str,
        tag: u32,
        unread: usize,
    },
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    #[error("{what} version {version} is not supported (supported {min}..={max})")]
    UnsupportedVersion {
        what: &'static str,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("{unread} bytes left over after {what}")]
    TrailingBytes { what: &'static str, unread: usize },
}

/// Why a message could not be encoded at the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} is null but not nullable at version {version}")]
    NullNotAllowed { what: &'static str, version: i16 },
    #[error("{what} is {length} long, more than its encoding allows ({max})")]
    TooLong {
        what: &'static str,
        length: usize,
        max: usize,
    },
    #[error("{what} version {version} is not supported (supported {min}..={max})")]
    UnsupportedVersion {
        what: &'static str,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("record data held in a file cannot be written into a contiguous buffer")]
    FileRecordsInContiguousBuffer,
}
