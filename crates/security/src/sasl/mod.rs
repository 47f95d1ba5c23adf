//! The server side of SASL mechanisms: each is a state machine fed the client's tokens (the
//! `auth_bytes` of SaslAuthenticate) that answers a challenge, completes with the
//! authenticated principal, or fails. The connection handling (SaslHandshake, framing, the
//! failed-authentication delay, re-authentication) is the broker's.
//!
//! Failure messages follow Kafka: some are shown to the client as they are (PLAIN's, an
//! authorization id that is not the user), the rest as one generic message per mechanism so a
//! client cannot tell which check failed.

pub mod oauthbearer;
pub mod plain;
pub mod scram;
pub mod scram_client;

use crate::KafkaPrincipal;

/// A SASL mechanism Runnel serves, by Kafka's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Self::Plain,
        Self::ScramSha256,
        Self::ScramSha512,
        Self::OAuthBearer,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The SCRAM mechanism of AlterUserScramCredentials' and DescribeUserScramCredentials'
    /// `mechanism` code (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
    pub fn scram_from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(Self::ScramSha256),
            2 => Some(Self::ScramSha512),
            _ => None,
        }
    }

    /// The wire code of a SCRAM mechanism (0 for the others, which have none).
    pub fn scram_code(self) -> i8 {
        match self {
            Self::ScramSha256 => 1,
            Self::ScramSha512 => 2,
            Self::Plain | Self::OAuthBearer => 0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// What a mechanism does with one client token.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes and wait for the client's next token.
    Challenge(Vec<u8>),
    /// Authenticated: send these (final) bytes. `expires_at_ms` is when the credential
    /// expires (an OAUTHBEARER token's `exp`), which ends the session then.
    Complete {
        response: Vec<u8>,
        principal: KafkaPrincipal,
        expires_at_ms: Option<i64>,
    },
}

/// Authentication failed; `message` is what the client is told (SASL_AUTHENTICATION_FAILED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SaslFailure {
    pub message: String,
}

impl SaslFailure {
    /// A message the client is shown as it is.
    pub fn verbatim(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Kafka's generic message for a failure whose detail is not told.
    pub fn generic(mechanism: Mechanism) -> Self {
        Self {
            message: format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                mechanism.name()
            ),
        }
    }
}

/// One authentication exchange in progress.
pub enum SaslServer {
    Plain(plain::PlainServer),
    Scram(Box<scram::ScramServer>),
    OAuthBearer(oauthbearer::OAuthBearerServer),
}

impl SaslServer {
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslFailure> {
        match self {
            Self::Plain(server) => server.evaluate(token),
            Self::Scram(server) => server.evaluate(token),
            Self::OAuthBearer(server) => server.evaluate(token),
        }
    }
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
