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
use security::sasl::oauthbearer::OAuthBearerServer;
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
    /// Authenticated: answer, then serve requests as the principal, until the session's
    /// lifetime (ms) has passed when it has one.
    Authenticated(Vec<FrameChunk>, KafkaPrincipal, Mechanism, Option<u64>),
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
pub fn step(
    broker: &Arc<Broker>,
    settings: &SaslSettings,
    state: &mut SaslState,
    frame: Bytes,
    original: Option<Original<'_>>,
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
                expires_at_ms,
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
                let lifetime_ms = session_lifetime_ms(settings.reauth_ms_max, expires_at_ms);
                let response = SaslAuthenticateResponse {
                    auth_bytes: Bytes::from(response),
                    error_message: None,
                    session_lifetime_ms: lifetime_ms
                        .map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                    ..Default::default()
                };
                Verdict::Authenticated(
                    encode(ResponseBody::SaslAuthenticate(response)),
                    principal,
                    mechanism,
                    lifetime_ms,
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

/// Kafka's session lifetime (`ReauthInfo`): `connections.max.reauth.ms` when set, the
/// credential's remaining life (an OAUTHBEARER token's `exp`) when it has one, the shorter of
/// the two when both; none (no expiry) when neither.
fn session_lifetime_ms(reauth_ms_max: u64, expires_at_ms: Option<i64>) -> Option<u64> {
    let remaining = expires_at_ms.map(|exp| u64::try_from(exp - now_ms()).unwrap_or(0));
    let reauth = (reauth_ms_max > 0).then_some(reauth_ms_max);
    match (reauth, remaining) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn server_for(broker: &Arc<Broker>, settings: &SaslSettings, mechanism: Mechanism) -> SaslServer {
    match mechanism {
        Mechanism::OAuthBearer => {
            // Set at start whenever OAUTHBEARER is enabled on the listener; Kafka's default
            // validator otherwise.
            let validator = settings.oauthbearer.clone().unwrap_or_else(|| {
                Arc::new(security::sasl::oauthbearer::Validator::Unsecured(
                    Default::default(),
                ))
            });
            SaslServer::OAuthBearer(OAuthBearerServer::new(validator, now_ms))
        }
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
