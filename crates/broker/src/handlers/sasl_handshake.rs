//! SaslHandshake (v1) reaching the handlers: the connection is already authenticated, or its
//! listener does not use SASL. Kafka answers ILLEGAL_SASL_STATE with no mechanisms; the
//! handshake itself is the connection's (`server/sasl.rs`).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    _broker: &Arc<Broker>,
    _context: &RequestContext,
    _request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        mechanisms: Vec::new(),
        ..Default::default()
    }
}
