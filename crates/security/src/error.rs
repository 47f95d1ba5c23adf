//! The security crate's errors: configuration that cannot be used (a bad key file, a rule
//! that does not parse), reported at start or on a reload with the key it came from.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("`{key}`: {reason}")]
    Config { key: String, reason: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the client certificate: {0}")]
    Certificate(String),
    #[error("no ssl.principal.mapping.rules rule applies to `{0}`")]
    NoMatchingRule(String),
}

impl SecurityError {
    pub fn config(key: &str, reason: impl std::fmt::Display) -> Self {
        Self::Config {
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }
}
