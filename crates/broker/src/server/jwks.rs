//! Where a listener's OAUTHBEARER keys come from: `sasl.oauthbearer.jwks.endpoint.url`.
//!
//! A `file:` URL is read once at start. An `https:` (or, warned about, `http:`) endpoint is
//! fetched at start (the broker does not start without its keys), then again every
//! `sasl.oauthbearer.jwks.endpoint.refresh.ms` (1 hour), and early when a token names a kid the
//! keys lack (a key rotated in at the issuer), at most once per
//! `sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms` (10 s) so random kids cannot make the
//! broker hammer its identity provider. A failed refresh keeps the keys it had. As in Kafka, the
//! endpoint's certificate is checked against `ssl.truststore.location` (a PEM file) from the
//! listener's OAUTHBEARER JAAS options when given, else against the public web roots.
//!
//! Fetching is blocking (ureq), on a thread of its own that ends when the listener's validator
//! is dropped. Documents are bounded (1 MiB) and requests time out (10 s).

use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use security::sasl::oauthbearer::{JwkSet, JwksKeys, JwksOptions};

/// The largest JWKS document read.
const DOCUMENT_BYTES_MAX: u64 = 1 << 20;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How an endpoint is fetched and refreshed.
pub struct Endpoint {
    pub url: String,
    /// PEM certificates trusted for an https endpoint (`None`: the public web roots).
    pub trusted_pem: Option<Vec<u8>>,
    pub refresh: Duration,
    pub backoff_max: Duration,
}

/// The keys at `url`: fixed for a file, fetched and kept fresh for http(s).
pub fn load(endpoint: Endpoint) -> Result<Arc<JwksKeys>, String> {
    if let Some(path) = endpoint
        .url
        .strip_prefix("file://")
        .or_else(|| endpoint.url.strip_prefix("file:"))
    {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        return Ok(Arc::new(JwksKeys::fixed(JwksOptions::parse_jwks(&text)?)));
    }
    let scheme = endpoint.url.split(':').next().unwrap_or_default();
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" => tracing::warn!(
            url = %endpoint.url,
            "the OAUTHBEARER JWKS is fetched over plain http: anyone on the path can substitute keys"
        ),
        _ => return Err("the JWKS URL must be file:, https: or http:".into()),
    }
    let agent = agent(endpoint.trusted_pem.as_deref())?;
    let first = fetch(&agent, &endpoint.url)?;
    let (ask, asked) = sync_channel::<()>(1);
    let keys = Arc::new(JwksKeys::refreshed(first, ask_for_refresh(ask)));
    let weak = Arc::downgrade(&keys);
    std::thread::Builder::new()
        .name("jwks-refresh".into())
        .spawn(move || refresh_loop(agent, endpoint, weak, asked))
        .map_err(|e| format!("starting the JWKS refresh thread: {e}"))?;
    Ok(keys)
}

fn ask_for_refresh(ask: SyncSender<()>) -> impl Fn() + Send + Sync + 'static {
    // A full channel already holds a request: dropping this one loses nothing.
    move || {
        let _ = ask.try_send(());
    }
}

fn refresh_loop(
    agent: ureq::Agent,
    endpoint: Endpoint,
    keys: Weak<JwksKeys>,
    asked: std::sync::mpsc::Receiver<()>,
) {
    let mut last = Instant::now();
    loop {
        let wait = endpoint.refresh.saturating_sub(last.elapsed());
        match asked.recv_timeout(wait) {
            Ok(()) => {
                let early = endpoint.backoff_max.saturating_sub(last.elapsed());
                if !early.is_zero() {
                    std::thread::sleep(early);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The validator is gone (the broker stopped).
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(keys) = keys.upgrade() else { return };
        last = Instant::now();
        match fetch(&agent, &endpoint.url) {
            Ok(set) => {
                tracing::debug!(url = %endpoint.url, keys = set.keys.len(), "JWKS refreshed");
                keys.replace(set);
            }
            Err(error) => {
                tracing::warn!(url = %endpoint.url, %error, "JWKS refresh failed; keeping the keys held")
            }
        }
    }
}

fn agent(trusted_pem: Option<&[u8]>) -> Result<ureq::Agent, String> {
    use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
    let roots = match trusted_pem {
        None => RootCerts::WebPki,
        Some(pem) => {
            let certificates: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e.to_string())),
                })
                .collect::<Result<_, _>>()?;
            if certificates.is_empty() {
                return Err("the JWKS trust store holds no certificate".into());
            }
            RootCerts::Specific(Arc::new(certificates))
        }
    };
    let config = ureq::config::Config::builder()
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

fn fetch(agent: &ureq::Agent, url: &str) -> Result<JwkSet, String> {
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| format!("fetching the JWKS from {url}: {e}"))?;
    let text = response
        .body_mut()
        .with_config()
        .limit(DOCUMENT_BYTES_MAX)
        .read_to_string()
        .map_err(|e| format!("reading the JWKS from {url}: {e}"))?;
    JwksOptions::parse_jwks(&text)
}
