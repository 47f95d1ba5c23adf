//! SASL/OAUTHBEARER end to end against a real broker: Kafka's default unsecured validator
//! (what franz-go's TestOAuthAuth uses), the JWKS validator with signed tokens, the RFC 7628
//! failure exchange, the session ending at the token's expiry, and settings refused at start.

mod common;

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
};

use common::{TestBroker, TestClient};

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unsecured_token(sub: &str, exp: i64) -> String {
    let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.",
        enc(r#"{"alg":"none"}"#),
        enc(&format!(r#"{{"sub":"{sub}","exp":{exp}}}"#))
    )
}

fn initial_response(token: &str) -> Bytes {
    Bytes::from(format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes())
}

/// Handshake for OAUTHBEARER, then one SaslAuthenticate with `token`'s initial response.
async fn begin(addr: SocketAddr, token: &str) -> (TestClient, SaslAuthenticateResponse) {
    let mut client = TestClient::connect(addr).await;
    let handshake = SaslHandshakeRequest {
        mechanism: "OAUTHBEARER".into(),
        ..Default::default()
    };
    let accepted = expect_response!(client.send(1, handshake).await, SaslHandshake);
    assert_eq!(accepted.error_code, 0);
    let authenticate = SaslAuthenticateRequest {
        auth_bytes: initial_response(token),
        ..Default::default()
    };
    let answer = expect_response!(client.send(2, authenticate).await, SaslAuthenticate);
    (client, answer)
}

fn listener(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0".to_string()),
        ("sasl.enabled.mechanisms", "OAUTHBEARER".to_string()),
        (
            "connection.failed.authentication.delay.ms",
            "10".to_string(),
        ),
    ];
    settings.extend(extra.iter().cloned());
    settings
}

async fn start(settings: &[(&'static str, String)]) -> TestBroker {
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestBroker::start(&pairs).await
}

/// Goal: with Kafka's default (unsecured) validator, an unexpired unsigned token authenticates
/// and the session's lifetime is the token's remaining life (Kafka ends an OAUTHBEARER session
/// at `exp` even without connections.max.reauth.ms); an expired token gets the error JSON as a
/// challenge and, after the client's `\x01`, SASL_AUTHENTICATION_FAILED with that JSON, then
/// the connection closes.
#[tokio::test]
async fn unsecured_tokens_authenticate_until_they_expire() {
    let broker = start(&listener(&[])).await;
    let (mut client, done) = begin(broker.addr(), &unsecured_token("admin", now_s() + 3600)).await;
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);
    assert!(done.auth_bytes.is_empty());
    assert!(
        (3_500_000..=3_600_000).contains(&done.session_lifetime_ms),
        "{}",
        done.session_lifetime_ms
    );
    let metadata = client
        .send(12, protocol::generated::MetadataRequest::default())
        .await;
    assert!(matches!(metadata, protocol::ResponseBody::Metadata(_)));

    let (mut expired, challenge) =
        begin(broker.addr(), &unsecured_token("admin", now_s() - 60)).await;
    assert_eq!(challenge.error_code, 0);
    assert_eq!(&challenge.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    let ack = SaslAuthenticateRequest {
        auth_bytes: Bytes::from_static(b"\x01"),
        ..Default::default()
    };
    let failed = expect_response!(expired.send(2, ack).await, SaslAuthenticate);
    assert_eq!(
        failed.error_code,
        ErrorCode::SaslAuthenticationFailed.code()
    );
    assert_eq!(
        failed.error_message.as_deref(),
        Some(r#"{"status":"invalid_token"}"#)
    );
    assert!(expired.read_frame().await.is_none());
    broker.shutdown().await;
}

/// Goal: with `OAuthBearerValidatorCallbackHandler` and a JWKS file, a token signed by the
/// JWKS key with the expected issuer and audience authenticates its subject; an unsigned token
/// or one signed by another key is refused; a JWKS without an expected issuer stops the start.
#[tokio::test]
async fn jwks_signed_tokens_authenticate_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    let jwks = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"{}","y":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..])
    );
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks).unwrap();
    let url = format!("file://{}", jwks_path.display());
    let handler =
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
    let broker = start(&listener(&[
        (
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
            handler.to_string(),
        ),
        ("sasl.oauthbearer.jwks.endpoint.url", url.clone()),
        (
            "sasl.oauthbearer.expected.issuer",
            "https://issuer".to_string(),
        ),
        ("sasl.oauthbearer.expected.audience", "runnel".to_string()),
    ]))
    .await;
    let sign = |key: &rcgen::KeyPair| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        let claims = serde_json::json!({
            "sub": "alice", "iss": "https://issuer", "aud": "runnel",
            "iat": now_s(), "exp": now_s() + 600
        });
        let encoding = jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der());
        jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
    };
    let (_, done) = begin(broker.addr(), &sign(&pair)).await;
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);
    let other = rcgen::KeyPair::generate().unwrap();
    for token in [sign(&other), unsecured_token("alice", now_s() + 600)] {
        let (_, refused) = begin(broker.addr(), &token).await;
        assert_eq!(&refused.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    }
    broker.shutdown().await;

    let mut properties = std::collections::BTreeMap::new();
    for (key, value) in listener(&[
        ("sasl.server.callback.handler.class", handler.to_string()),
        ("sasl.oauthbearer.jwks.endpoint.url", url),
        ("sasl.oauthbearer.expected.audience", "runnel".to_string()),
    ]) {
        properties.insert(key.to_string(), value);
    }
    properties.insert(
        "log.dirs".into(),
        dir.path().join("logs").to_string_lossy().into_owned(),
    );
    let config = broker::BrokerConfig::from_properties(&properties).unwrap();
    let refused = broker::run(config)
        .await
        .err()
        .expect("no expected issuer: refused");
    assert!(refused.to_string().contains("expected.issuer"), "{refused}");
}
