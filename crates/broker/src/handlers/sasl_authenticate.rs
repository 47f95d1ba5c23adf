//! SaslAuthenticate (v0-2) reaching the handlers: the connection is already authenticated, or
//! its listener does not use SASL. Kafka answers ILLEGAL_SASL_STATE; the exchange itself is the
//! connection's (`server/sasl.rs`).

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    _broker: &Arc<Broker>,
    _context: &RequestContext,
    _request: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse {
        error_code: ErrorCode::IllegalSaslState.code(),
        error_message: Some(
            "SaslAuthenticate request received after successful authentication".to_string(),
        ),
        ..Default::default()
    }
}
