//! How this broker authenticates to the other brokers' inter-broker listener
//! (`inter.broker.listener.name`), from Kafka's settings: TLS when the listener's protocol is
//! SSL or SASL_SSL (the listener's trust store decides which brokers are trusted, its key store
//! is this broker's client certificate), SASL when it is SASL_PLAINTEXT or SASL_SSL with
//! `sasl.mechanism.inter.broker.protocol` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and the
//! `username`/`password` of the listener's JAAS entry for that mechanism, as Kafka's brokers
//! read them. The principal the other brokers see must have CLUSTER_ACTION when ACLs are on
//! (usually a super user).

use security::SecurityProtocol;
use security::jaas::JaasEntry;
use security::sasl::Mechanism;
use security::tls::{ClientTls, TlsSettings};

use super::client::{PeerSasl, PeerSecurity};
use crate::config::{BrokerConfig, ConfigError};

fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The security of connections to listener `name` of the other brokers.
pub fn from_config(config: &BrokerConfig, name: &str) -> Result<PeerSecurity, ConfigError> {
    let protocol = crate::server::listener::security_protocol(config, name)?;
    let get = |key: &str| config.listener_value(name, key).map(str::to_string);
    let tls = if protocol.uses_tls() {
        let settings = TlsSettings::from_config(&get)
            .and_then(ClientTls::client)
            .map(std::sync::Arc::new);
        Some(settings.map_err(|error| match error {
            security::SecurityError::Config { key, reason } => invalid(&key, "", reason),
            other => invalid(&format!("listener {name}"), "", other),
        })?)
    } else {
        None
    };
    let sasl = if protocol.uses_sasl() {
        Some(sasl(config, name)?)
    } else {
        None
    };
    if protocol == SecurityProtocol::Plaintext {
        tracing::debug!(listener = name, "inter-broker connections are plaintext");
    }
    Ok(PeerSecurity { tls, sasl })
}

fn sasl(config: &BrokerConfig, name: &str) -> Result<PeerSasl, ConfigError> {
    const KEY: &str = "sasl.mechanism.inter.broker.protocol";
    let value = config.value(KEY).unwrap_or("").trim();
    let mechanism = Mechanism::parse(value)
        .filter(|m| *m != Mechanism::OAuthBearer)
        .ok_or_else(|| {
            invalid(
                KEY,
                value,
                format!("listener {name} uses SASL between brokers: set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            )
        })?;
    let jaas_key = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        name.to_ascii_lowercase(),
        mechanism.name().to_ascii_lowercase()
    );
    let text = config.value(&jaas_key).ok_or_else(|| {
        invalid(
            &jaas_key,
            "",
            "the brokers' own credentials (username and password) for the inter-broker listener",
        )
    })?;
    let entry = JaasEntry::parse(&jaas_key, text).map_err(|e| invalid(&jaas_key, "(hidden)", e))?;
    let option = |key: &str| {
        entry
            .options
            .get(key)
            .cloned()
            .ok_or_else(|| invalid(&jaas_key, "(hidden)", format!("no {key} option")))
    };
    Ok(PeerSasl {
        mechanism,
        username: option("username")?,
        password: option("password")?,
    })
}
