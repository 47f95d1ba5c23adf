//! SASL/PLAIN logins for tests against a `SASL_PLAINTEXT` listener.

use std::net::SocketAddr;

use bytes::Bytes;
use protocol::generated::{SaslAuthenticateRequest, SaslHandshakeRequest};

use super::TestClient;

/// A connection authenticated with PLAIN as `user`; panics when the login fails.
pub async fn login(addr: SocketAddr, user: &str, password: &str) -> TestClient {
    let mut client = TestClient::connect(addr).await;
    let handshake = SaslHandshakeRequest {
        mechanism: "PLAIN".into(),
        ..Default::default()
    };
    crate::expect_response!(client.send(1, handshake).await, SaslHandshake);
    let token = format!("\0{user}\0{password}");
    let authenticate = SaslAuthenticateRequest {
        auth_bytes: Bytes::from(token.into_bytes()),
        ..Default::default()
    };
    let done = crate::expect_response!(client.send(2, authenticate).await, SaslAuthenticate);
    assert_eq!(done.error_code, 0, "{user}: {:?}", done.error_message);
    client
}
