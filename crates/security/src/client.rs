//! The client side of a secured connection, configured as a Kafka client is (the properties of
//! a tool's `--command-config` file): `security.protocol`, PEM trust and key stores by the
//! `ssl.*` names the broker reads, `ssl.endpoint.identification.algorithm`, and `sasl.mechanism`
//! with the `username`/`password` options of `sasl.jaas.config`. [`SaslClient`] makes the tokens
//! a client sends for PLAIN and SCRAM from the server's answers. No I/O: the connection's owner
//! (the `client` crate, a broker's connections to its peers) runs the exchange.
//!
//! Not here: OAUTHBEARER and GSSAPI on the client side, JKS and PKCS#12 stores, the operating
//! system's trust roots (a trust store must be given).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct};

use crate::jaas::JaasEntry;
use crate::sasl::Mechanism;
use crate::sasl::scram_client::{ScramClient, ScramClientError};
use crate::tls::{check_pem_only, enabled_protocols, key_store, trust_store};
use crate::{SecurityError, SecurityProtocol};

/// How a client connects: TLS (with its client configuration) and SASL credentials, as the
/// protocol asks.
#[derive(Clone)]
pub struct ClientSecurity {
    pub protocol: SecurityProtocol,
    pub tls: Option<Arc<ClientConfig>>,
    pub sasl: Option<SaslCredentials>,
}

/// A SASL mechanism and the user it logs in as.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

impl Default for ClientSecurity {
    fn default() -> Self {
        Self {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        }
    }
}

impl ClientSecurity {
    /// Reads a Kafka client's security properties through `get`; PLAINTEXT when
    /// `security.protocol` is unset.
    pub fn from_properties(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SecurityError> {
        let set = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        let protocol = match set("security.protocol") {
            None => SecurityProtocol::Plaintext,
            Some(name) => SecurityProtocol::parse(name.trim()).ok_or_else(|| {
                SecurityError::config(
                    "security.protocol",
                    format!("`{name}`: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
                )
            })?,
        };
        let tls = if protocol.uses_tls() {
            Some(tls_config(get)?)
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(sasl_credentials(&set)?)
        } else {
            None
        };
        Ok(Self {
            protocol,
            tls,
            sasl,
        })
    }
}

fn sasl_credentials(
    set: &dyn Fn(&str) -> Option<String>,
) -> Result<SaslCredentials, SecurityError> {
    // Kafka's default mechanism is GSSAPI, which Runnel does not speak.
    let name = set("sasl.mechanism").unwrap_or_else(|| "GSSAPI".into());
    let mechanism = match Mechanism::parse(name.trim()) {
        Some(Mechanism::OAuthBearer) | None => {
            return Err(SecurityError::config(
                "sasl.mechanism",
                format!("`{name}`: this client speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512"),
            ));
        }
        Some(mechanism) => mechanism,
    };
    let text = set("sasl.jaas.config").ok_or_else(|| {
        SecurityError::config(
            "sasl.jaas.config",
            "SASL needs a login module with username and password",
        )
    })?;
    let entry = JaasEntry::parse("sasl.jaas.config", &text)?;
    let option =
        |name: &str| {
            entry.options.get(name).cloned().ok_or_else(|| {
                SecurityError::config("sasl.jaas.config", format!("no `{name}` option"))
            })
        };
    Ok(SaslCredentials {
        mechanism,
        username: option("username")?,
        password: option("password")?,
    })
}

/// The rustls client configuration: trusted servers from the trust store, an optional client
/// certificate from the key store, and host name checks unless
/// `ssl.endpoint.identification.algorithm` is set empty.
fn tls_config(get: &dyn Fn(&str) -> Option<String>) -> Result<Arc<ClientConfig>, SecurityError> {
    let set = |key: &str| get(key).filter(|v| !v.trim().is_empty());
    check_pem_only(&set)?;
    let (key, roots) = trust_store(&set)?
        .ok_or_else(|| {
            SecurityError::config(
                "ssl.truststore.location",
                "TLS needs a PEM trust store with the certificates that sign the brokers'",
            )
        })?
        .roots()?;
    let provider = crate::tls::crypto_provider();
    let mut verifier: Arc<dyn ServerCertVerifier> =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| SecurityError::config(key, e))?;
    match get("ssl.endpoint.identification.algorithm").map(|v| v.trim().to_ascii_lowercase()) {
        None => {}
        Some(algorithm) if algorithm == "https" => {}
        Some(algorithm) if algorithm.is_empty() => {
            verifier = Arc::new(AnyHostName(verifier));
        }
        Some(other) => {
            return Err(SecurityError::config(
                "ssl.endpoint.identification.algorithm",
                format!("`{other}`: expected https, or empty to skip the host name check"),
            ));
        }
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&enabled_protocols(set("ssl.enabled.protocols"))?)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match key_store(&set)? {
        None => builder.with_no_client_auth(),
        Some(store) => {
            let (chain, key) = store.identity()?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Arc::new(config))
}

/// The trust store's verdict on the chain, without the host name check
/// (`ssl.endpoint.identification.algorithm=`, as Kafka clients allow). rustls checks the chain
/// before the name, so a name error means the chain itself verified.
#[derive(Debug)]
struct AnyHostName(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The client's side of one SASL exchange: the first token, then the next one for each of the
/// server's answers until the exchange is complete.
pub struct SaslClient {
    stage: Stage,
}

enum Stage {
    /// PLAIN: the one token was sent; the server's (empty) answer completes it.
    Plain,
    /// SCRAM: waiting for the server-first message.
    ScramFirst(ScramClient),
    /// SCRAM: waiting for the server-final message, whose signature is checked.
    ScramFinal(ScramClient),
    Done,
}

impl SaslClient {
    /// Starts an exchange; returns the client and the token to send first. `nonce` is fresh
    /// randomness (SCRAM's client nonce).
    pub fn start(credentials: &SaslCredentials, nonce: &[u8; 24]) -> (Self, Vec<u8>) {
        match credentials.mechanism {
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
                let scram = ScramClient::new(
                    credentials.mechanism,
                    &credentials.username,
                    &credentials.password,
                    &nonce,
                );
                let first = scram.first_message();
                (
                    Self {
                        stage: Stage::ScramFirst(scram),
                    },
                    first,
                )
            }
            // OAUTHBEARER is refused when the credentials are read; PLAIN otherwise.
            Mechanism::Plain | Mechanism::OAuthBearer => (
                Self {
                    stage: Stage::Plain,
                },
                format!("\0{}\0{}", credentials.username, credentials.password).into_bytes(),
            ),
        }
    }

    /// The server answered the last token: the next token to send, or `None` when the exchange
    /// is complete (and, for SCRAM, the server proved it knows the password).
    pub fn answer(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, ScramClientError> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Plain | Stage::Done => Ok(None),
            Stage::ScramFirst(mut scram) => {
                let last = scram.final_message(server)?;
                self.stage = Stage::ScramFinal(scram);
                Ok(Some(last))
            }
            Stage::ScramFinal(scram) => scram.verify_server_final(server).map(|()| None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn security(pairs: &[(&str, &str)]) -> Result<ClientSecurity, SecurityError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClientSecurity::from_properties(&|key| map.get(key).cloned())
    }

    #[test]
    fn plaintext_by_default() {
        let s = security(&[]).unwrap();
        assert_eq!(s.protocol, SecurityProtocol::Plaintext);
        assert!(s.tls.is_none() && s.sasl.is_none());
    }

    #[test]
    fn sasl_credentials_come_from_the_jaas_entry() {
        let s = security(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="carol" password="c-secret";"#,
            ),
        ])
        .unwrap();
        let sasl = s.sasl.unwrap();
        assert_eq!(sasl.mechanism, Mechanism::ScramSha512);
        assert_eq!(
            (sasl.username.as_str(), sasl.password.as_str()),
            ("carol", "c-secret")
        );
        assert!(
            !format!("{sasl:?}").contains("c-secret"),
            "Debug hides the password"
        );
    }

    #[test]
    fn unusable_settings_name_their_key() {
        let error = |pairs: &[(&str, &str)]| match security(pairs) {
            Err(SecurityError::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(error(&[("security.protocol", "TLS")]), "security.protocol");
        assert_eq!(
            error(&[("security.protocol", "SASL_SSL")]),
            "ssl.truststore.location"
        );
        assert_eq!(
            error(&[("security.protocol", "SSL")]),
            "ssl.truststore.location"
        );
        assert_eq!(
            error(&[("security.protocol", "SSL"), ("ssl.truststore.type", "JKS")]),
            "ssl.truststore.type"
        );
        assert_eq!(
            error(&[("security.protocol", "SASL_PLAINTEXT")]),
            "sasl.mechanism"
        );
        assert_eq!(
            error(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN")
            ]),
            "sasl.jaas.config"
        );
        assert_eq!(
            error(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "OAUTHBEARER")
            ]),
            "sasl.mechanism"
        );
    }

    #[test]
    fn plain_sends_one_token() {
        let credentials = SaslCredentials {
            mechanism: Mechanism::Plain,
            username: "alice".into(),
            password: "pw".into(),
        };
        let (mut client, token) = SaslClient::start(&credentials, &[7; 24]);
        assert_eq!(token, b"\0alice\0pw");
        assert_eq!(client.answer(b"").unwrap(), None);
    }
}
