//! TLS on a listener, configured by Kafka's names: a PEM key store (`ssl.keystore.location`
//! holding the private key and the certificate chain, or `ssl.keystore.key` with
//! `ssl.keystore.certificate.chain` inline), a PEM trust store for client certificates
//! (`ssl.truststore.location` or `ssl.truststore.certificates`), `ssl.client.auth`
//! (none/requested/required) and `ssl.enabled.protocols`. The caller resolves each key for its
//! listener (`listener.name.<l>.ssl.*` before `ssl.*`).
//!
//! Key and trust store files are watched: [`Reloading::config`] (a listener's [`ServerTls`], a
//! node's [`ClientTls`] towards its peers) looks at their modification
//! times at most once a second and, when one changed, builds a new configuration for the next
//! handshakes (connections already open keep theirs). A file that no longer loads is logged
//! and the previous configuration kept. Kafka reloads only when told through a dynamic config
//! change; reading the files again needs no step from the operator.
//!
//! Not here: JKS and PKCS#12 stores and encrypted private keys (`ssl.key.password`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::SecurityError;

/// How often a listener looks at its certificate files for changes, at most.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

#[derive(Debug, Clone)]
pub(crate) enum KeyStore {
    File(PathBuf),
    Inline { chain: String, key: String },
}

#[derive(Debug, Clone)]
pub(crate) enum TrustStore {
    File(PathBuf),
    Inline(String),
}

/// A listener's resolved TLS settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    keystore: KeyStore,
    truststore: Option<TrustStore>,
    pub client_auth: ClientAuth,
    protocols: Vec<&'static SupportedProtocolVersion>,
}

impl TlsSettings {
    /// Reads the `ssl.*` keys through `get` (which applies the listener's overrides).
    pub fn from_config(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SecurityError> {
        let set = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        check_pem_only(&set)?;
        let keystore = key_store(&set)?.ok_or_else(|| {
            SecurityError::config(
                "ssl.keystore.location",
                "a TLS listener needs a key store (ssl.keystore.location, or ssl.keystore.key with ssl.keystore.certificate.chain)",
            )
        })?;
        let truststore = trust_store(&set)?;
        let client_auth = match set("ssl.client.auth").as_deref().unwrap_or("none") {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            other => {
                return Err(SecurityError::config(
                    "ssl.client.auth",
                    format!("`{other}`: expected none, requested or required"),
                ));
            }
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(SecurityError::config(
                "ssl.truststore.location",
                "ssl.client.auth needs a trust store for client certificates",
            ));
        }
        let protocols = enabled_protocols(set("ssl.enabled.protocols"))?;
        Ok(Self {
            keystore,
            truststore,
            client_auth,
            protocols,
        })
    }

    /// The files to watch for changes.
    fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let KeyStore::File(path) = &self.keystore {
            files.push(path.clone());
        }
        if let Some(TrustStore::File(path)) = &self.truststore {
            files.push(path.clone());
        }
        files
    }

    /// This node's certificate chain and private key, read now.
    fn identity(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SecurityError> {
        self.keystore.identity()
    }

    /// The rustls client configuration a node uses towards its peers on this listener: the
    /// trust store decides which servers are trusted, and the node's own key store is its
    /// client certificate (mutual TLS).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, SecurityError> {
        let store = self.truststore.as_ref().ok_or_else(|| {
            SecurityError::config(
                "ssl.truststore.location",
                "connecting to peers over TLS needs a trust store",
            )
        })?;
        let (_, roots) = store.roots()?;
        let (chain, key) = self.identity()?;
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(&self.protocols)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(Arc::new(config))
    }

    /// Builds the rustls server configuration from the stores as they are now.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, SecurityError> {
        let (chain, key) = self.identity()?;
        let provider = crypto_provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.protocols)?;
        let verifier = match (&self.truststore, self.client_auth) {
            (_, ClientAuth::None) | (None, _) => WebPkiClientVerifier::no_client_auth(),
            (Some(store), auth) => {
                let (key, roots) = store.roots()?;
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let builder = if auth == ClientAuth::Requested {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                builder.build().map_err(|e| SecurityError::config(key, e))?
            }
        };
        let config = builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        Ok(Arc::new(config))
    }
}

/// *ring* rather than aws-lc-rs (rustls' default): a light pure-Rust-and-assembly build
/// on our two-core machines. It lacks the post-quantum key exchange, which is why rustls marks
/// it deprecated; Kafka's Java clients do not offer one either.
#[allow(deprecated)]
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Refuses what only JKS/PKCS#12 stores or encrypted keys would need: Runnel reads PEM.
pub(crate) fn check_pem_only(set: &dyn Fn(&str) -> Option<String>) -> Result<(), SecurityError> {
    for key in ["ssl.keystore.type", "ssl.truststore.type"] {
        if let Some(kind) = set(key)
            && !kind.eq_ignore_ascii_case("PEM")
        {
            return Err(SecurityError::config(
                key,
                format!("`{kind}`: Runnel reads PEM stores only (set {key}=PEM)"),
            ));
        }
    }
    for key in ["ssl.keystore.password", "ssl.truststore.password"] {
        if set(key).is_some() {
            return Err(SecurityError::config(key, "must not be set for PEM stores"));
        }
    }
    if set("ssl.key.password").is_some() {
        return Err(SecurityError::config(
            "ssl.key.password",
            "encrypted private keys are not supported; give an unencrypted PKCS#8 key",
        ));
    }
    Ok(())
}

/// The key store `ssl.keystore.location` or `ssl.keystore.key` with
/// `ssl.keystore.certificate.chain` name; `None` when neither is given.
pub(crate) fn key_store(
    set: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<KeyStore>, SecurityError> {
    match (
        set("ssl.keystore.location"),
        set("ssl.keystore.key"),
        set("ssl.keystore.certificate.chain"),
    ) {
        (Some(path), None, None) => Ok(Some(KeyStore::File(PathBuf::from(path)))),
        (None, Some(key), Some(chain)) => Ok(Some(KeyStore::Inline { chain, key })),
        (None, None, None) => Ok(None),
        _ => Err(SecurityError::config(
            "ssl.keystore.location",
            "give either ssl.keystore.location or both ssl.keystore.key and ssl.keystore.certificate.chain",
        )),
    }
}

/// The trust store `ssl.truststore.location` or `ssl.truststore.certificates` names, if any.
pub(crate) fn trust_store(
    set: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TrustStore>, SecurityError> {
    match (
        set("ssl.truststore.location"),
        set("ssl.truststore.certificates"),
    ) {
        (Some(path), None) => Ok(Some(TrustStore::File(PathBuf::from(path)))),
        (None, Some(certificates)) => Ok(Some(TrustStore::Inline(certificates))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(SecurityError::config(
            "ssl.truststore.location",
            "give either ssl.truststore.location or ssl.truststore.certificates",
        )),
    }
}

impl KeyStore {
    /// The certificate chain and private key, read now.
    pub(crate) fn identity(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), SecurityError> {
        Ok(match self {
            KeyStore::File(path) => {
                let pem = read(path)?;
                (
                    certificates("ssl.keystore.location", &pem)?,
                    private_key("ssl.keystore.location", &pem)?,
                )
            }
            KeyStore::Inline { chain, key } => (
                certificates("ssl.keystore.certificate.chain", chain.as_bytes())?,
                private_key("ssl.keystore.key", key.as_bytes())?,
            ),
        })
    }
}

impl TrustStore {
    /// The certificates, read now, with the key they came from.
    pub(crate) fn roots(&self) -> Result<(&'static str, RootCertStore), SecurityError> {
        let (key, pem) = match self {
            TrustStore::File(path) => ("ssl.truststore.location", read(path)?),
            TrustStore::Inline(text) => ("ssl.truststore.certificates", text.as_bytes().to_vec()),
        };
        let mut roots = RootCertStore::empty();
        for certificate in certificates(key, &pem)? {
            roots
                .add(certificate)
                .map_err(|e| SecurityError::config(key, e))?;
        }
        Ok((key, roots))
    }
}

/// `ssl.enabled.protocols` (default TLSv1.2 and TLSv1.3), as rustls versions.
pub(crate) fn enabled_protocols(
    value: Option<String>,
) -> Result<Vec<&'static SupportedProtocolVersion>, SecurityError> {
    let enabled = value.unwrap_or_else(|| "TLSv1.2,TLSv1.3".into());
    let protocols: Vec<&'static SupportedProtocolVersion> = enabled
        .split(',')
        .filter_map(|p| match p.trim() {
            "TLSv1.3" => Some(&rustls::version::TLS13),
            "TLSv1.2" => Some(&rustls::version::TLS12),
            _ => None,
        })
        .collect();
    if protocols.is_empty() {
        return Err(SecurityError::config(
            "ssl.enabled.protocols",
            format!("`{enabled}`: TLSv1.2 and TLSv1.3 are supported"),
        ));
    }
    Ok(protocols)
}

fn read(path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SecurityError::config(key, format!("reading PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(SecurityError::config(key, "no CERTIFICATE block"));
    }
    Ok(certificates)
}

fn private_key(key: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, SecurityError> {
    if std::str::from_utf8(pem).is_ok_and(|t| t.contains("ENCRYPTED PRIVATE KEY")) {
        return Err(SecurityError::config(
            key,
            "encrypted private keys are not supported; give an unencrypted PKCS#8 key",
        ));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| SecurityError::config(key, format!("reading the PEM private key: {e}")))
}

/// A TLS configuration (a listener's server side, or the client side a node connects to its
/// peers with) rebuilt when its key or trust store files change.
pub struct Reloading<T> {
    settings: TlsSettings,
    build: fn(&TlsSettings) -> Result<Arc<T>, SecurityError>,
    state: Mutex<Loaded<T>>,
}

/// A listener's TLS server configuration, rebuilt when its files change.
pub type ServerTls = Reloading<ServerConfig>;
/// The client configuration (with this node's certificate) for connections to peers, rebuilt
/// when its files change.
pub type ClientTls = Reloading<ClientConfig>;

struct Loaded<T> {
    config: Arc<T>,
    modified: Vec<Option<SystemTime>>,
    checked: Instant,
}

fn modified(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

impl Reloading<ServerConfig> {
    /// Loads the stores once; an error here stops the start.
    pub fn new(settings: TlsSettings) -> Result<Self, SecurityError> {
        Self::with(settings, TlsSettings::server_config)
    }

    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }
}

impl Reloading<ClientConfig> {
    /// Loads the stores once; an error here stops the start.
    pub fn client(settings: TlsSettings) -> Result<Self, SecurityError> {
        Self::with(settings, TlsSettings::client_config)
    }
}

impl<T> Reloading<T> {
    fn with(
        settings: TlsSettings,
        build: fn(&TlsSettings) -> Result<Arc<T>, SecurityError>,
    ) -> Result<Self, SecurityError> {
        let files = settings.files();
        let modified = modified(&files);
        let config = build(&settings)?;
        Ok(Self {
            settings,
            build,
            state: Mutex::new(Loaded {
                config,
                modified,
                checked: Instant::now(),
            }),
        })
    }

    /// The configuration for a new connection's handshake.
    pub fn config(&self) -> Arc<T> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK_INTERVAL {
            state.checked = Instant::now();
            let files = self.settings.files();
            let now = modified(&files);
            if now != state.modified {
                // Recorded either way: a broken file is reported once, not every second.
                state.modified = now;
                match (self.build)(&self.settings) {
                    Ok(config) => {
                        tracing::info!(?files, "TLS key or trust store changed: reloaded");
                        state.config = config;
                    }
                    Err(error) => {
                        tracing::warn!(?files, %error, "TLS store changed but does not load; keeping the previous one");
                    }
                }
            }
        }
        state.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::new(vec![name.into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    fn settings(values: &[(&str, &str)]) -> Result<TlsSettings, SecurityError> {
        let map: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TlsSettings::from_config(&|key| map.get(key).cloned())
    }

    #[test]
    fn a_pem_key_store_in_one_file_or_inline_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = self_signed("localhost");
        let path = dir.path().join("broker.pem");
        std::fs::write(&path, format!("{key}{certificate}")).unwrap();
        let from_file = settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", path.to_str().unwrap()),
        ])
        .unwrap();
        assert!(from_file.server_config().is_ok());
        let inline = settings(&[
            ("ssl.keystore.key", &key),
            ("ssl.keystore.certificate.chain", &certificate),
        ])
        .unwrap();
        assert!(inline.server_config().is_ok());
    }

    #[test]
    fn unusable_settings_name_their_key() {
        let refused = |values: &[(&str, &str)]| match settings(values) {
            Err(SecurityError::Config { key, .. }) => key,
            other => panic!("accepted or wrong error: {other:?}"),
        };
        assert_eq!(refused(&[]), "ssl.keystore.location");
        assert_eq!(
            refused(&[("ssl.keystore.type", "JKS"), ("ssl.keystore.location", "x")]),
            "ssl.keystore.type"
        );
        assert_eq!(
            refused(&[
                ("ssl.keystore.location", "x"),
                ("ssl.keystore.password", "p")
            ]),
            "ssl.keystore.password"
        );
        assert_eq!(
            refused(&[
                ("ssl.keystore.location", "x"),
                ("ssl.client.auth", "required")
            ]),
            "ssl.truststore.location"
        );
        assert_eq!(
            refused(&[
                ("ssl.keystore.location", "x"),
                ("ssl.enabled.protocols", "TLSv1.1")
            ]),
            "ssl.enabled.protocols"
        );
        let missing = settings(&[("ssl.keystore.location", "/nonexistent/broker.pem")]).unwrap();
        assert!(matches!(
            missing.server_config(),
            Err(SecurityError::Io { .. })
        ));
    }

    #[test]
    fn a_changed_key_store_file_is_reloaded_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.pem");
        let (certificate, key) = self_signed("one.example");
        std::fs::write(&path, format!("{key}{certificate}")).unwrap();
        let tls =
            ServerTls::new(settings(&[("ssl.keystore.location", path.to_str().unwrap())]).unwrap())
                .unwrap();
        let first = tls.config();
        // A broken file: the previous configuration stays.
        std::fs::write(&path, "not a key").unwrap();
        set_modified(&path, 10);
        tls.state.lock().unwrap().checked -= RELOAD_CHECK_INTERVAL;
        assert!(Arc::ptr_eq(&first, &tls.config()));
        // A new certificate: the next handshake gets a new configuration.
        let (certificate, key) = self_signed("two.example");
        std::fs::write(&path, format!("{key}{certificate}")).unwrap();
        set_modified(&path, 20);
        tls.state.lock().unwrap().checked -= RELOAD_CHECK_INTERVAL;
        assert!(!Arc::ptr_eq(&first, &tls.config()));
    }

    fn set_modified(path: &Path, seconds_ahead: u64) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(seconds_ahead))
            .unwrap();
    }
}
