//! Runnel's security building blocks, free of socket I/O: listener security protocols,
//! principals (`principal.rs`: `User:alice`, the TLS certificate's distinguished name and
//! `ssl.principal.mapping.rules`), TLS server settings by Kafka's config names with reloading
//! of changed certificate files (`tls.rs`), JAAS option parsing (`jaas.rs`), and the server side
//! of the SASL mechanisms (`sasl/`: PLAIN and SCRAM-SHA-256/512), each a state machine fed the
//! client's tokens, ACL decisions with Kafka's StandardAuthorizer semantics (`acl.rs`), and
//! client quotas: entities, resolution and the windowed rate that sets a throttle (`quota/`),
//! and a client's side (`client.rs`: a Kafka client's security properties, the PLAIN and SCRAM
//! tokens it sends).
//!
//! Not here: sockets and the SaslHandshake/SaslAuthenticate flow on a connection (the broker's
//! server), where credentials, ACLs and quotas are stored, which operation each API checks and
//! the sensors and muting of throttled connections (the broker's).
//!
//! Dependencies point one way: security ← broker.

pub mod acl;
pub mod client;
pub mod error;
pub mod jaas;
pub mod principal;
pub mod quota;
pub mod sasl;
pub mod tls;

pub use error::SecurityError;
pub use principal::KafkaPrincipal;

/// A listener's security protocol (Kafka's `SecurityProtocol`), named in
/// `listener.security.protocol.map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections are encrypted with TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether a connection must authenticate with SASL before anything else.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
