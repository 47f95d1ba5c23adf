//! Listener security end to end against a real broker: TLS (a PEM key store, mutual TLS with
//! a trust store, a plaintext client on a TLS port), SASL/PLAIN (Kafka's handshake order, its
//! error codes and messages, the pre-authentication frame bound), each listener answering
//! Metadata with its own endpoints, and settings that cannot work refused at start.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use protocol::ErrorCode;
use protocol::generated::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use common::{TestBroker, TestClient};

/// A test certificate authority, a broker certificate for 127.0.0.1/localhost and a client
/// certificate for `CN=alice,O=runnel`.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "runnel test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let broker_key = KeyPair::generate().unwrap();
        let broker = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&broker_key, &ca_cert, &ca_key)
            .unwrap();
        std::fs::write(
            dir.path().join("broker.pem"),
            format!("{}{}", broker_key.serialize_pem(), broker.pem()),
        )
        .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client
            .distinguished_name
            .push(DnType::OrganizationName, "runnel");
        client.distinguished_name.push(DnType::CommonName, "alice");
        let client = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
        Pki {
            client_chain: vec![client.der().clone()],
            client_key: PrivateKeyDer::try_from(client_key.serialize_der()).unwrap(),
            dir,
            ca: ca_cert,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn client_config(&self, with_certificate: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(security::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_certificate {
            builder
                .with_client_auth_cert(self.client_chain.clone(), self.client_key.clone_key())
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }

    /// A TLS client, or `None` when the handshake fails.
    async fn connect(&self, addr: SocketAddr, with_certificate: bool) -> Option<TestClient> {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let connector = tokio_rustls::TlsConnector::from(self.client_config(with_certificate));
        let name = ServerName::try_from("localhost").unwrap();
        let stream = connector.connect(name, tcp).await.ok()?;
        Some(TestClient::over(stream))
    }
}

fn listener_addr(broker: &TestBroker, name: &str) -> SocketAddr {
    broker
        .running
        .listener_addrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, addr)| *addr)
        .unwrap_or_else(|| panic!("listener {name}"))
}

async fn metadata_port(client: &mut TestClient) -> i32 {
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let response = expect_response!(client.send(12, request).await, Metadata);
    response.brokers[0].port
}

/// Whether the broker closes the connection instead of answering `frame`'s request.
async fn closed_after(client: &mut TestClient, payload: &[u8]) -> bool {
    client.send_raw(payload).await;
    client.read_frame().await.is_none()
}

fn metadata_payload() -> Vec<u8> {
    let header = protocol::generated::RequestHeader {
        request_api_key: protocol::ApiKey::Metadata as i16,
        request_api_version: 12,
        correlation_id: 7,
        client_id: Some("runnel-test".into()),
        ..Default::default()
    };
    let body: protocol::RequestBody = MetadataRequest {
        topics: None,
        ..Default::default()
    }
    .into();
    protocol::encode_request(&header, &body).unwrap().to_vec()
}

/// Goal: a TLS listener serves Kafka requests over TLS beside a plaintext one, and each answers
/// Metadata with its own listener's endpoint (Kafka's `listenerName` rule, which clients
/// bootstrapping on one listener rely on). A plaintext client on the TLS port is closed and
/// the broker keeps serving (reliability.md B17).
#[tokio::test]
async fn a_tls_listener_serves_beside_a_plaintext_one() {
    let pki = Pki::new();
    let broker = TestBroker::start(&[
        ("listeners", "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"),
        ("ssl.keystore.location", &pki.path("broker.pem")),
    ])
    .await;
    let plain = listener_addr(&broker, "PLAINTEXT");
    let tls = listener_addr(&broker, "SSL");
    let mut client = pki.connect(tls, false).await.expect("a TLS handshake");
    expect_response!(
        client.send(3, ApiVersionsRequest::default()).await,
        ApiVersions
    );
    assert_eq!(metadata_port(&mut client).await, i32::from(tls.port()));
    let mut cleartext = TestClient::connect(plain).await;
    assert_eq!(metadata_port(&mut cleartext).await, i32::from(plain.port()));
    // Plaintext bytes on the TLS port: at most a TLS alert, then closed.
    let mut confused = tokio::net::TcpStream::connect(tls).await.unwrap();
    let mut frame = (metadata_payload().len() as u32).to_be_bytes().to_vec();
    frame.extend(metadata_payload());
    confused.write_all(&frame).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        confused.read_to_end(&mut answer),
    );
    assert!(read.await.expect("closed within 10 s").is_ok());
    assert!(
        answer.len() < 16 && answer.first().is_none_or(|b| *b == 0x15),
        "{answer:?}"
    );
    assert_eq!(metadata_port(&mut client).await, i32::from(tls.port()));
    broker.shutdown().await;
}

/// Goal: `ssl.client.auth=required` admits only clients with a certificate the trust store
/// vouches for. Method: one client without a certificate (refused during or right after the
/// handshake: nothing is answered), one with the test CA's client certificate (served).
#[tokio::test]
async fn mutual_tls_requires_a_trusted_client_certificate() {
    let pki = Pki::new();
    let broker = TestBroker::start(&[
        ("listeners", "SSL://127.0.0.1:0"),
        ("ssl.keystore.location", &pki.path("broker.pem")),
        ("ssl.truststore.location", &pki.path("ca.pem")),
        ("ssl.client.auth", "required"),
    ])
    .await;
    let addr = broker.addr();
    if let Some(mut anonymous) = pki.connect(addr, false).await {
        assert!(closed_after(&mut anonymous, &metadata_payload()).await);
    }
    let mut alice = pki.connect(addr, true).await.expect("a TLS handshake");
    assert_eq!(metadata_port(&mut alice).await, i32::from(addr.port()));
    broker.shutdown().await;
}

fn handshake(mechanism: &str) -> SaslHandshakeRequest {
    SaslHandshakeRequest {
        mechanism: mechanism.into(),
        ..Default::default()
    }
}

fn authenticate(token: &[u8]) -> SaslAuthenticateRequest {
    SaslAuthenticateRequest {
        auth_bytes: Bytes::copy_from_slice(token),
        ..Default::default()
    }
}

/// Goal: a SASL_PLAINTEXT listener serves nothing but ApiVersions and the SASL exchange until
/// the client authenticates, with Kafka's answers (SaslServerAuthenticator): an unknown
/// mechanism gets UNSUPPORTED_SASL_MECHANISM (33) and the enabled list, a wrong password
/// SASL_AUTHENTICATION_FAILED (58) with PLAIN's message, each then closed; a request before
/// authenticating is closed unanswered, as is a frame above sasl.server.max.receive.size.
/// After authenticating, requests are served and a second handshake is ILLEGAL_SASL_STATE.
#[tokio::test]
async fn sasl_plain_authenticates_before_anything_else_is_served() {
    let broker = TestBroker::start(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#,
        ),
        ("sasl.server.max.receive.size", "4096"),
        ("connection.failed.authentication.delay.ms", "10"),
    ])
    .await;
    let addr = broker.addr();

    let mut early = TestClient::connect(addr).await;
    assert!(closed_after(&mut early, &metadata_payload()).await);

    let mut oversized = TestClient::connect(addr).await;
    assert!(closed_after(&mut oversized, &vec![0u8; 8192]).await);

    let mut wrong_mechanism = TestClient::connect(addr).await;
    expect_response!(
        wrong_mechanism.send(3, ApiVersionsRequest::default()).await,
        ApiVersions
    );
    let refused = expect_response!(
        wrong_mechanism.send(1, handshake("SCRAM-SHA-256")).await,
        SaslHandshake
    );
    assert_eq!(
        refused.error_code,
        ErrorCode::UnsupportedSaslMechanism.code()
    );
    assert_eq!(refused.mechanisms, vec!["PLAIN".to_string()]);
    assert!(wrong_mechanism.read_frame().await.is_none());

    let mut wrong_password = TestClient::connect(addr).await;
    let accepted = expect_response!(
        wrong_password.send(1, handshake("PLAIN")).await,
        SaslHandshake
    );
    assert_eq!(accepted.error_code, 0);
    let failed = expect_response!(
        wrong_password
            .send(2, authenticate(b"\0alice\0guess"))
            .await,
        SaslAuthenticate
    );
    assert_eq!(
        failed.error_code,
        ErrorCode::SaslAuthenticationFailed.code()
    );
    assert_eq!(
        failed.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(wrong_password.read_frame().await.is_none());

    let mut alice = TestClient::connect(addr).await;
    expect_response!(alice.send(1, handshake("PLAIN")).await, SaslHandshake);
    let done = expect_response!(
        alice.send(2, authenticate(b"\0alice\0alice-secret")).await,
        SaslAuthenticate
    );
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);
    assert_eq!(metadata_port(&mut alice).await, i32::from(addr.port()));
    let again = expect_response!(alice.send(1, handshake("PLAIN")).await, SaslHandshake);
    assert_eq!(again.error_code, ErrorCode::IllegalSaslState.code());
    broker.shutdown().await;
}

/// Goal: security settings that cannot work stop the start with the key to fix, instead of a
/// listener that fails every client.
#[tokio::test]
async fn unusable_listener_security_is_refused_at_start() {
    let start = |pairs: Vec<(&'static str, String)>| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut properties = std::collections::BTreeMap::new();
        properties.insert(
            "log.dirs".to_string(),
            dir.path().to_string_lossy().into_owned(),
        );
        for (k, v) in pairs {
            properties.insert(k.to_string(), v);
        }
        let config = broker::BrokerConfig::from_properties(&properties).unwrap();
        match broker::run(config).await {
            Ok(running) => {
                running.shutdown().await;
                panic!("started");
            }
            Err(error) => error.to_string(),
        }
    };
    let no_keystore = start(vec![("listeners", "SSL://127.0.0.1:0".into())]).await;
    assert!(
        no_keystore.contains("ssl.keystore.location"),
        "{no_keystore}"
    );
    let unmapped = start(vec![("listeners", "EXTERNAL://127.0.0.1:0".into())]).await;
    assert!(
        unmapped.contains("listener.security.protocol.map"),
        "{unmapped}"
    );
    let no_users = start(vec![
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0".into()),
        ("sasl.enabled.mechanisms", "PLAIN".into()),
    ])
    .await;
    assert!(no_users.contains("plain.sasl.jaas.config"), "{no_users}");
    let kerberos = start(vec![("listeners", "SASL_PLAINTEXT://127.0.0.1:0".into())]).await;
    assert!(kerberos.contains("GSSAPI"), "{kerberos}");
}

fn scram_upsertion(
    user: &str,
    password: &str,
    iterations: i32,
) -> protocol::generated::alter_user_scram_credentials_request::ScramCredentialUpsertion {
    let salt = b"a-random-salt".to_vec();
    let salted = security::sasl::scram::salted_password(
        security::sasl::Mechanism::ScramSha512,
        password.as_bytes(),
        &salt,
        iterations,
    );
    protocol::generated::alter_user_scram_credentials_request::ScramCredentialUpsertion {
        name: user.into(),
        mechanism: 2,
        iterations,
        salt: Bytes::from(salt),
        salted_password: Bytes::from(salted),
        ..Default::default()
    }
}

/// Runs a SCRAM-SHA-512 exchange; the SaslAuthenticate error code and message of the step
/// that ended it (0 when authenticated, with the server's signature checked).
async fn scram_login(client: &mut TestClient, user: &str, password: &str) -> (i16, Option<String>) {
    use security::sasl::scram_client::ScramClient;
    let mechanism = security::sasl::Mechanism::ScramSha512;
    let accepted = expect_response!(
        client.send(1, handshake("SCRAM-SHA-512")).await,
        SaslHandshake
    );
    assert_eq!(accepted.error_code, 0);
    let mut scram = ScramClient::new(mechanism, user, password, "rOprNGfwEbeRWgbNEkqO");
    let first = expect_response!(
        client.send(2, authenticate(&scram.first_message())).await,
        SaslAuthenticate
    );
    if first.error_code != 0 {
        return (first.error_code, first.error_message);
    }
    let last = scram
        .final_message(&first.auth_bytes)
        .expect("a server-first message");
    let done = expect_response!(client.send(2, authenticate(&last)).await, SaslAuthenticate);
    if done.error_code == 0 {
        scram
            .verify_server_final(&done.auth_bytes)
            .expect("the server's signature");
    }
    (done.error_code, done.error_message)
}

/// Goal: SCRAM credentials set with AlterUserScramCredentials (the client salts the password;
/// Kafka's per-user errors), described without secrets, authenticate SCRAM-SHA-512 on a SASL
/// listener (a wrong password fails at the final message with the generic message, an unknown
/// user at the first), and survive a restart.
#[tokio::test]
async fn scram_credentials_are_managed_with_the_admin_api_and_authenticate() {
    use protocol::generated::alter_user_scram_credentials_request::ScramCredentialDeletion;
    use protocol::generated::describe_user_scram_credentials_request::UserName;
    use protocol::generated::{
        AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
    };
    let overrides = [
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        ),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512"),
        ("connection.failed.authentication.delay.ms", "0"),
    ];
    let broker = TestBroker::start(&overrides).await;
    let mut admin = broker.client().await;
    let request = AlterUserScramCredentialsRequest {
        upsertions: vec![
            scram_upsertion("alice", "alice-secret", 4096),
            scram_upsertion("carol", "x", 100),
            scram_upsertion("dave", "x", 4096),
        ],
        deletions: vec![
            ScramCredentialDeletion {
                name: "bob".into(),
                mechanism: 2,
                ..Default::default()
            },
            ScramCredentialDeletion {
                name: "dave".into(),
                mechanism: 1,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let altered = expect_response!(admin.send(0, request).await, AlterUserScramCredentials);
    let code = |user: &str| {
        altered
            .results
            .iter()
            .find(|r| r.user == user)
            .map(|r| r.error_code)
            .unwrap_or_else(|| panic!("no result for {user}"))
    };
    assert_eq!(code("alice"), 0);
    assert_eq!(code("carol"), ErrorCode::UnacceptableCredential.code());
    assert_eq!(code("bob"), ErrorCode::ResourceNotFound.code());
    assert_eq!(code("dave"), ErrorCode::DuplicateResource.code());
    let described = expect_response!(
        admin
            .send(
                0,
                DescribeUserScramCredentialsRequest {
                    users: Some(vec![
                        UserName {
                            name: "alice".into(),
                            ..Default::default()
                        },
                        UserName {
                            name: "dave".into(),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }
            )
            .await,
        DescribeUserScramCredentials
    );
    let alice = described
        .results
        .iter()
        .find(|r| r.user == "alice")
        .unwrap();
    assert_eq!(alice.error_code, 0);
    assert_eq!(
        alice
            .credential_infos
            .iter()
            .map(|c| (c.mechanism, c.iterations))
            .collect::<Vec<_>>(),
        vec![(2, 4096)]
    );
    let dave = described.results.iter().find(|r| r.user == "dave").unwrap();
    assert_eq!(dave.error_code, ErrorCode::ResourceNotFound.code());

    let sasl = listener_addr(&broker, "SASL_PLAINTEXT");
    let mut good = TestClient::connect(sasl).await;
    assert_eq!(
        scram_login(&mut good, "alice", "alice-secret").await,
        (0, None)
    );
    assert_eq!(metadata_port(&mut good).await, i32::from(sasl.port()));
    let generic = Some(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
            .to_string(),
    );
    let mut wrong = TestClient::connect(sasl).await;
    assert_eq!(
        scram_login(&mut wrong, "alice", "guess").await,
        (ErrorCode::SaslAuthenticationFailed.code(), generic.clone())
    );
    let mut stranger = TestClient::connect(sasl).await;
    assert_eq!(
        scram_login(&mut stranger, "mallory", "x").await,
        (ErrorCode::SaslAuthenticationFailed.code(), generic)
    );

    let broker = broker.restart_with(&overrides).await;
    let sasl = listener_addr(&broker, "SASL_PLAINTEXT");
    let mut again = TestClient::connect(sasl).await;
    assert_eq!(
        scram_login(&mut again, "alice", "alice-secret").await,
        (0, None)
    );
    broker.shutdown().await;
}

/// Goal: KIP-368 re-authentication with `connections.max.reauth.ms`: the final SaslAuthenticate
/// tells the session's lifetime; a SaslHandshake on the authenticated connection re-runs the
/// exchange (same mechanism, same principal, else refused and closed); a request after the
/// session ended without re-authenticating closes the connection unanswered.
#[tokio::test]
async fn sasl_sessions_expire_unless_the_client_re_authenticates() {
    let broker = TestBroker::start(&[
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a" user_bob="b";"#,
        ),
        ("connections.max.reauth.ms", "1500"),
        ("connection.failed.authentication.delay.ms", "0"),
    ])
    .await;
    let addr = broker.addr();
    let mut alice = TestClient::connect(addr).await;
    let first = plain_login(&mut alice, b"\0alice\0a").await;
    assert_eq!((first.error_code, first.session_lifetime_ms), (0, 1500));
    let again = plain_login(&mut alice, b"\0alice\0a").await;
    assert_eq!((again.error_code, again.session_lifetime_ms), (0, 1500));
    assert_eq!(metadata_port(&mut alice).await, i32::from(addr.port()));

    let mut switcher = TestClient::connect(addr).await;
    assert_eq!(
        plain_login(&mut switcher, b"\0alice\0a").await.error_code,
        0
    );
    let switched = plain_login(&mut switcher, b"\0bob\0b").await;
    assert_eq!(
        switched.error_code,
        ErrorCode::SaslAuthenticationFailed.code()
    );
    assert!(
        switched
            .error_message
            .unwrap()
            .contains("Cannot change principals")
    );
    assert!(switcher.read_frame().await.is_none());

    let mut idle = TestClient::connect(addr).await;
    assert_eq!(plain_login(&mut idle, b"\0alice\0a").await.error_code, 0);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    assert!(closed_after(&mut idle, &metadata_payload()).await);
    broker.shutdown().await;
}

async fn plain_login(
    client: &mut TestClient,
    token: &[u8],
) -> protocol::generated::SaslAuthenticateResponse {
    expect_response!(client.send(1, handshake("PLAIN")).await, SaslHandshake);
    expect_response!(client.send(2, authenticate(token)).await, SaslAuthenticate)
}
