//! `ClientError`: every way a call of this client fails, each with a message a person can act
//! on. Kafka error codes keep Kafka's names (`UNKNOWN_TOPIC_OR_PARTITION`), from
//! `protocol::ErrorCode`, with the broker's own message when it sent one.

use protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("{address}: TLS: {reason}")]
    Tls { address: String, reason: String },
    /// The server's side of a SASL exchange did not check out (a SCRAM signature).
    #[error("{address}: SASL: {reason}")]
    Authentication { address: String, reason: String },
    #[error("{address}: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("{address}: no answer to {api} within {timeout_ms} ms")]
    Timeout {
        address: String,
        api: &'static str,
        timeout_ms: u128,
    },
    #[error("{address}: a response frame of {size} bytes is out of bounds (at most {max})")]
    FrameSize {
        address: String,
        size: i64,
        max: usize,
    },
    #[error("encoding {api}: {source}")]
    Encode {
        api: &'static str,
        source: protocol::EncodeError,
    },
    #[error("{address}: decoding {api} v{version}: {source}")]
    Decode {
        address: String,
        api: &'static str,
        version: i16,
        source: protocol::DecodeError,
    },
    #[error("{address}: response for correlation id {got}, expected {expected}")]
    Correlation {
        address: String,
        got: i32,
        expected: i32,
    },
    #[error(
        "UNSUPPORTED_VERSION: {address} serves {api} {broker}, this client speaks {client_min}-{client_max}"
    )]
    UnsupportedVersion {
        address: String,
        api: &'static str,
        /// The broker's range ("v3-v13"), or "not at all".
        broker: String,
        client_min: i16,
        client_max: i16,
    },
    /// A Kafka error code in a response; `context` says what was asked ("topic orders").
    #[error("{context}: {}", kafka_error_text(*.code, .message.as_deref()))]
    Kafka {
        context: String,
        code: i16,
        message: Option<String>,
    },
    #[error("{context}: {source}")]
    Records {
        context: String,
        source: protocol::records::RecordsError,
    },
    #[error("none of the brokers answered ({servers}): {last}")]
    NoBroker { servers: String, last: String },
    /// The one server there was to ask did not answer (its connection error).
    #[error("{0}")]
    Unreachable(String),
    /// A request the caller made that cannot be sent as asked (a partition the topic lacks).
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// A Kafka error from a response's code; `None` for code 0.
    pub fn from_code(context: impl Into<String>, code: i16, message: Option<String>) -> Self {
        ClientError::Kafka {
            context: context.into(),
            code,
            message: message.filter(|m| !m.is_empty()),
        }
    }

    /// The Kafka error code, when this is a Kafka error.
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka { code, .. } => ErrorCode::from_code(*code),
            ClientError::UnsupportedVersion { .. } => Some(ErrorCode::UnsupportedVersion),
            _ => None,
        }
    }

    /// Whether trying again (after refreshing metadata or finding the coordinator again) may
    /// succeed: Kafka's retriable codes, and a lost connection.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => {
                ErrorCode::from_code(*code).is_some_and(ErrorCode::is_retriable)
            }
            ClientError::Io { .. }
            | ClientError::Timeout { .. }
            | ClientError::Connect { .. }
            | ClientError::Unreachable(_)
            | ClientError::NoBroker { .. } => true,
            _ => false,
        }
    }
}

/// `Ok(())` for code 0, else the error with its context.
pub(crate) fn check(
    context: impl FnOnce() -> String,
    code: i16,
    message: Option<&String>,
) -> Result<(), ClientError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::from_code(context(), code, message.cloned()))
    }
}

/// `NAME` or `NAME (the broker's message)`; an unknown code shows its number.
fn kafka_error_text(code: i16, message: Option<&str>) -> String {
    let name = match ErrorCode::from_code(code) {
        Some(error) => error.name().to_string(),
        None => format!("error code {code}"),
    };
    match message {
        Some(message) if !message.is_empty() => format!("{name} ({message})"),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_read_with_their_names() {
        let error = ClientError::from_code("topic orders", 3, None);
        assert_eq!(
            error.to_string(),
            "topic orders: UNKNOWN_TOPIC_OR_PARTITION"
        );
        let error = ClientError::from_code("topic t", 36, Some("Topic 't' already exists.".into()));
        assert_eq!(
            error.to_string(),
            "topic t: TOPIC_ALREADY_EXISTS (Topic 't' already exists.)"
        );
        assert_eq!(
            ClientError::from_code("x", 9999, None).to_string(),
            "x: error code 9999"
        );
    }
}
