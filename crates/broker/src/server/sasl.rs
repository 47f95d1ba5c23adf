//! SASL authentication on a connection of a SASL listener, before any other request is served
//! (Kafka's `SaslServerAuthenticator`): SaslHandshake v1 picks an enabled mechanism, then
//! SaslAuthenticate carries its tokens until it completes with a principal or fails. ApiVersions
//! is answered before the handshake as usual (the connection does it). Frames are bounded by
//! `sasl.server.max.receive.size` until authenticated.
//!
//! Kafka's answers: a mechanism not enabled gets UNSUPPORTED_SASL_MECHANISM with the enabled
//! list, a failed exchange SASL_AUTHENTICATION_FAILED with its message, both sent after
//! `connection.failed.authentication.delay.ms`, then the connection closes. Any other request
//! before authenticating closes the connection without an answer (Kafka answers one during
//! the token phase with ILLEGAL_SASL_STATE first). SaslHandshake v0 (raw tokens, no
//! SaslAuthenticate) is not advertised.
//!
//! Re-authentication (KIP-368, `connections.max.reauth.ms`): the final answer tells the client
//! its session's lifetime; a SaslHandshake on an authenticated connection starts a new exchange,
//! which must use the same mechanism and end with the same principal. The connection closes a
//! session that expired on its next request (`connection.rs`).
//! SCRAM reads the credentials stored in the metadata (`scram_credentials.rs`) at each exchange.

use std::sync::Arc;

use bytes::Bytes;
use protocol::frame::peek_request_prefix;
use protocol::generated::{SaslAuthenticateResponse, SaslHandshakeResponse};
use protocol::{ApiKey, ErrorCode, FrameChunk, RequestBody, ResponseBody};
use security::KafkaPrincipal;
use security::sasl::plain::PlainServer;
use security::sasl::scram::{CredentialLookup, ScramServer};
use security::sasl::{Mechanism, SaslServer, Step};

use super::listener::SaslSettings;
use crate::broker::Broker;

/// Where a SASL connection is in authenticating (the connection drops it once authenticated).
pub enum SaslState {
    /// Waiting for SaslHandshake (ApiVersions allowed).
    Handshake,
    /// A mechanism was chosen; SaslAuthenticate carries its tokens.
    Authenticate(Mechanism, SaslServer),
}

/// What the connection does with a frame received while authenticating.
pub enum Verdict {
    /// Answer and wait for the next frame.
    Answer(Vec<FrameChunk>),
    /// Authenticated: answer, then serve requests as the principal.
    Authenticated(Vec<FrameChunk>, KafkaPrincipal, Mechanism),
    /// Failed: answer after the failed-authentication delay, then close.
    Fail(Vec<FrameChunk>, String),
    /// Close without answering.
    Close(String),
}

/// What a re-authentication must keep (KIP-368): the first exchange's mechanism and principal.
pub struct Original<'a> {
    pub mechanism: Mechanism,
    pub principal: &'a KafkaPrincipal,
}

/// Handles one frame (not ApiVersions before the handshake, which the caller serves).
/// `session_lifetime_ms` (when positive) is told to the client in the final answer.
pub fn step(
    broker: &Arc<Broker>,
    settings: &SaslSettings,
    state: &mut SaslState,
    frame: Bytes,
    original: Option<Original<'_>>,
    session_lifetime_ms: i64,
) -> Verdict {
    let Some(prefix) = peek_request_prefix(&frame) else {
        return Verdict::Close("a frame shorter than a request header".into());
    };
    let api = ApiKey::from_i16(prefix.api_key);
    let expected = match state {
        SaslState::Handshake => ApiKey::SaslHandshake,
        SaslState::Authenticate(..) => ApiKey::SaslAuthenticate,
    };
    if api != Some(expected) {
        return Verdict::Close(format!(
            "unexpected request (api key {}) during SASL authentication",
            prefix.api_key
        ));
    }
    let (min, max) = crate::handlers::served_versions(expected).unwrap_or((1, 1));
    if prefix.api_version < min || prefix.api_version > max {
        return Verdict::Close(format!(
            "{} version {} is not served",
            expected.name(),
            prefix.api_version
        ));
    }
    let request = match protocol::decode_request(frame) {
        Ok(request) => request,
        Err(error) => return Verdict::Close(format!("malformed SASL request: {error}")),
    };
    let encode = |body: ResponseBody| {
        protocol::encode_response_frame(prefix.correlation_id, prefix.api_version, &body)
            .unwrap_or_default()
    };
    match (request.body, std::mem::replace(state, SaslState::Handshake)) {
        (RequestBody::SaslHandshake(handshake), SaslState::Handshake) => {
            let enabled: Vec<String> = settings
                .mechanisms
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            let chosen =
                Mechanism::parse(&handshake.mechanism).filter(|m| settings.mechanisms.contains(m));
            let Some(mechanism) = chosen else {
                let response = SaslHandshakeResponse {
                    error_code: ErrorCode::UnsupportedSaslMechanism.code(),
                    mechanisms: enabled,
                    ..Default::default()
                };
                return Verdict::Fail(
                    encode(ResponseBody::SaslHandshake(response)),
                    format!("mechanism {} is not enabled", handshake.mechanism),
                );
            };
            if let Some(original) = &original
                && original.mechanism != mechanism
            {
                return Verdict::Close(format!(
                    "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{}'",
                    mechanism.name(),
                    original.mechanism.name()
                ));
            }
            *state = SaslState::Authenticate(mechanism, server_for(broker, settings, mechanism));
            let response = SaslHandshakeResponse {
                error_code: ErrorCode::None.code(),
                mechanisms: enabled,
                ..Default::default()
            };
            Verdict::Answer(encode(ResponseBody::SaslHandshake(response)))
        }
        (
            RequestBody::SaslAuthenticate(authenticate),
            SaslState::Authenticate(mechanism, mut server),
        ) => match server.evaluate(&authenticate.auth_bytes) {
            Ok(Step::Challenge(bytes)) => {
                *state = SaslState::Authenticate(mechanism, server);
                let response = SaslAuthenticateResponse {
                    auth_bytes: Bytes::from(bytes),
                    error_message: None,
                    ..Default::default()
                };
                Verdict::Answer(encode(ResponseBody::SaslAuthenticate(response)))
            }
            Ok(Step::Complete {
                response,
                principal,
            }) => {
                if let Some(original) = &original
                    && *original.principal != principal
                {
                    let message = format!(
                        "Cannot change principals during re-authentication from {}: {principal}",
                        original.principal
                    );
                    let response = SaslAuthenticateResponse {
                        error_code: ErrorCode::SaslAuthenticationFailed.code(),
                        error_message: Some(message.clone()),
                        ..Default::default()
                    };
                    return Verdict::Fail(
                        encode(ResponseBody::SaslAuthenticate(response)),
                        message,
                    );
                }
                let response = SaslAuthenticateResponse {
                    auth_bytes: Bytes::from(response),
                    error_message: None,
                    session_lifetime_ms: session_lifetime_ms.max(0),
                    ..Default::default()
                };
                Verdict::Authenticated(
                    encode(ResponseBody::SaslAuthenticate(response)),
                    principal,
                    mechanism,
                )
            }
            Err(failure) => {
                let response = SaslAuthenticateResponse {
                    error_code: ErrorCode::SaslAuthenticationFailed.code(),
                    error_message: Some(failure.message.clone()),
                    ..Default::default()
                };
                Verdict::Fail(
                    encode(ResponseBody::SaslAuthenticate(response)),
                    failure.message,
                )
            }
        },
        _ => Verdict::Close("request out of order during SASL authentication".into()),
    }
}

fn server_for(broker: &Arc<Broker>, settings: &SaslSettings, mechanism: Mechanism) -> SaslServer {
    match mechanism {
        Mechanism::Plain => SaslServer::Plain(PlainServer::new(settings.plain_users.clone())),
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
            // A weak reference: an exchange in progress does not keep a stopping broker alive.
            let broker = Arc::downgrade(broker);
            let lookup: CredentialLookup = Arc::new(move |user, mechanism| {
                let broker = broker.upgrade()?;
                crate::scram_credentials::lookup(&broker, user, mechanism)
            });
            SaslServer::Scram(Box::new(ScramServer::new(mechanism, lookup)))
        }
    }
}
