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
    let sign = |key: &rcgen::KeyPair| signed_by(key, "k1", "alice");
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

/// An https server on 127.0.0.1 answering every request with the current `document`, with a
/// certificate of the test CA (`ca.pem` in `dir`); counts the requests it answered.
struct JwksServer {
    url: String,
    ca: String,
    document: std::sync::Arc<std::sync::Mutex<String>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn jwks_server(dir: &std::path::Path, document: String) -> JwksServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (ca, node) = common::pki::write(dir);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&node)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&node).unwrap();
    let config =
        tokio_rustls::rustls::ServerConfig::builder_with_provider(security::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/jwks",
        listener.local_addr().unwrap().port()
    );
    let document = std::sync::Arc::new(std::sync::Mutex::new(document));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (served, counted) = (document.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                continue;
            };
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let body = served.lock().unwrap().clone();
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(answer.as_bytes()).await;
            let _ = tls.shutdown().await;
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    JwksServer {
        url,
        ca,
        document,
        hits,
    }
}

/// A JWKS of one P-256 key named `kid`.
fn jwks_of(pair: &rcgen::KeyPair, kid: &str) -> String {
    let point = pair.public_key_raw();
    format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"{kid}","alg":"ES256","use":"sig","x":"{}","y":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..])
    )
}

fn signed_by(pair: &rcgen::KeyPair, kid: &str, sub: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.into());
    let claims = serde_json::json!({
        "sub": sub, "iss": "https://issuer", "aud": "runnel", "iat": now_s(), "exp": now_s() + 600
    });
    let encoding = jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der());
    jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
}

/// Goal: a JWKS at an https endpoint (trusted through `ssl.truststore.location` in the
/// listener's OAUTHBEARER JAAS options, as Kafka reads it) is fetched at start; when the issuer
/// rotates to a new key, a token naming the new kid makes the broker fetch the document again
/// and is then accepted. The same endpoint without the trust store stops the start (its
/// certificate is not one of the public roots). Multi-threaded: the broker's start fetches
/// the document blocking, while this runtime also serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_jwks_is_fetched_and_refreshed_for_a_rotated_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = rcgen::KeyPair::generate().unwrap();
    let server = jwks_server(dir.path(), jwks_of(&first, "k1")).await;
    let handler =
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
    let jaas = format!(
        r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.location="{}" ssl.truststore.type="PEM";"#,
        server.ca
    );
    let secured = |jaas: Option<String>| {
        let mut settings = listener(&[
            (
                "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
                handler.to_string(),
            ),
            ("sasl.oauthbearer.jwks.endpoint.url", server.url.clone()),
            (
                "sasl.oauthbearer.expected.issuer",
                "https://issuer".to_string(),
            ),
            ("sasl.oauthbearer.expected.audience", "runnel".to_string()),
            (
                "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
                "200".to_string(),
            ),
        ]);
        if let Some(jaas) = jaas {
            settings.push((
                "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                jaas,
            ));
        }
        settings
    };
    let broker = start(&secured(Some(jaas))).await;
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (_, done) = begin(broker.addr(), &signed_by(&first, "k1", "alice")).await;
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);

    let rotated = rcgen::KeyPair::generate().unwrap();
    *server.document.lock().unwrap() = jwks_of(&rotated, "k2");
    let token = signed_by(&rotated, "k2", "bob");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, answer) = begin(broker.addr(), &token).await;
        if answer.error_code == 0 && answer.auth_bytes.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated key was never fetched ({} fetches)",
            server.hits.load(std::sync::atomic::Ordering::SeqCst)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(server.hits.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    broker.shutdown().await;

    let mut properties = std::collections::BTreeMap::new();
    for (key, value) in secured(None) {
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
        .expect("an untrusted JWKS endpoint: refused");
    assert!(
        refused.to_string().contains("jwks.endpoint.url"),
        "{refused}"
    );
}
