//! A listener as the server runs it: its name, its security protocol (from
//! `listener.security.protocol.map`), its TLS configuration (`ssl.*`, per listener as
//! `listener.name.<l>.ssl.*`) and its SASL settings (`sasl.enabled.mechanisms` and each
//! mechanism's JAAS entry, `listener.name.<l>.<mechanism>.sasl.jaas.config`). Resolved once
//! at start; a setting that cannot be used stops the start naming its key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use security::jaas::JaasEntry;
use security::principal::SslPrincipalMapper;
use security::sasl::Mechanism;
use security::tls::{ServerTls, TlsSettings};
use security::{KafkaPrincipal, SecurityProtocol};

use crate::config::{BrokerConfig, ConfigError, Listener};

/// What a listener needs to accept and authenticate connections.
pub struct ServedListener {
    /// Shared with every request's context (Metadata answers this listener's endpoints).
    pub name: Arc<str>,
    pub protocol: SecurityProtocol,
    /// Present for SSL and SASL_SSL.
    pub tls: Option<ServerTls>,
    /// Turns a client certificate's subject into a user name (SSL).
    pub principal_mapper: SslPrincipalMapper,
    /// Present for SASL_PLAINTEXT and SASL_SSL.
    pub sasl: Option<SaslSettings>,
}

/// A SASL listener's settings.
pub struct SaslSettings {
    /// In the order `sasl.enabled.mechanisms` lists them (SaslHandshake answers this list).
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users: `user_<name>="<password>"` of the listener's PlainLoginModule.
    pub plain_users: Arc<BTreeMap<String, String>>,
    /// `sasl.server.max.receive.size`: the largest frame before authentication.
    pub receive_bytes_max: usize,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_authentication_delay: Duration,
    /// `connections.max.reauth.ms`: a session's lifetime (0: no limit, no re-authentication).
    pub reauth_ms_max: u64,
    /// OAUTHBEARER's token validator, when enabled (`oauthbearer.rs`).
    pub oauthbearer: Option<Arc<security::sasl::oauthbearer::Validator>>,
}

fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The security protocol of listener `name` by `listener.security.protocol.map`.
pub fn security_protocol(
    config: &BrokerConfig,
    name: &str,
) -> Result<SecurityProtocol, ConfigError> {
    const KEY: &str = "listener.security.protocol.map";
    let map = config.value(KEY).unwrap_or("");
    for entry in map.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (listener, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(KEY, map, format!("`{entry}` is not NAME:PROTOCOL")))?;
        if listener.trim().eq_ignore_ascii_case(name) {
            return SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
                invalid(KEY, map, format!("`{protocol}` is not a security protocol"))
            });
        }
    }
    Err(invalid(
        KEY,
        map,
        format!("no security protocol for listener {name}"),
    ))
}

impl ServedListener {
    pub fn from_config(config: &BrokerConfig, listener: &Listener) -> Result<Self, ConfigError> {
        let name: Arc<str> = Arc::from(listener.name.as_str());
        let protocol = security_protocol(config, &name)?;
        let get = |key: &str| config.listener_value(&name, key).map(str::to_string);
        let security_error = |error: security::SecurityError| match error {
            security::SecurityError::Config { key, reason } => ConfigError::InvalidValue {
                value: get(&key).unwrap_or_default(),
                key,
                reason,
            },
            other => invalid(&format!("listener {name}"), "", other),
        };
        let tls = if protocol.uses_tls() {
            let settings = TlsSettings::from_config(&|key| get(key)).map_err(security_error)?;
            Some(ServerTls::new(settings).map_err(security_error)?)
        } else {
            None
        };
        let principal_mapper =
            SslPrincipalMapper::parse(&get("ssl.principal.mapping.rules").unwrap_or_default())
                .map_err(security_error)?;
        let sasl = if protocol.uses_sasl() {
            Some(sasl_settings(config, &name)?)
        } else {
            None
        };
        Ok(Self {
            name,
            protocol,
            tls,
            principal_mapper,
            sasl,
        })
    }

    /// A connection's principal before SASL: its certificate's mapped subject on SSL with a
    /// client certificate, else ANONYMOUS.
    pub fn certificate_principal(
        &self,
        certificate_der: Option<&[u8]>,
    ) -> Result<KafkaPrincipal, security::SecurityError> {
        match certificate_der {
            Some(der) if self.protocol == SecurityProtocol::Ssl => {
                let dn = security::principal::subject_dn(der)?;
                Ok(KafkaPrincipal::user(self.principal_mapper.map(&dn)?))
            }
            _ => Ok(KafkaPrincipal::anonymous()),
        }
    }
}

fn sasl_settings(config: &BrokerConfig, name: &str) -> Result<SaslSettings, ConfigError> {
    const KEY: &str = "sasl.enabled.mechanisms";
    let enabled = config.listener_value(name, KEY).unwrap_or("");
    let mut mechanisms = Vec::new();
    for mechanism in enabled.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let parsed = Mechanism::parse(mechanism).ok_or_else(|| {
            invalid(
                KEY,
                enabled,
                format!(
                    "{mechanism} is not served (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER are)"
                ),
            )
        })?;
        if !mechanisms.contains(&parsed) {
            mechanisms.push(parsed);
        }
    }
    if mechanisms.is_empty() {
        return Err(invalid(
            KEY,
            enabled,
            format!("listener {name} uses SASL but enables no mechanism"),
        ));
    }
    let mut plain_users = BTreeMap::new();
    if mechanisms.contains(&Mechanism::Plain) {
        let key = format!(
            "listener.name.{}.plain.sasl.jaas.config",
            name.to_ascii_lowercase()
        );
        let text = config.value(&key).ok_or_else(|| {
            invalid(
                &key,
                "",
                "PLAIN needs the listener's PlainLoginModule with its users",
            )
        })?;
        let entry = JaasEntry::parse(&key, text).map_err(|e| invalid(&key, "(hidden)", e))?;
        plain_users = entry.plain_users();
    }
    let oauthbearer = if mechanisms.contains(&Mechanism::OAuthBearer) {
        Some(super::oauthbearer::validator(config, name)?)
    } else {
        None
    };
    let number = |key: &str| -> Result<u64, ConfigError> {
        let value = config.listener_value(name, key).unwrap_or("");
        value.parse::<u64>().map_err(|e| invalid(key, value, e))
    };
    Ok(SaslSettings {
        mechanisms,
        plain_users: Arc::new(plain_users),
        receive_bytes_max: number("sasl.server.max.receive.size")? as usize,
        failed_authentication_delay: Duration::from_millis(number(
            "connection.failed.authentication.delay.ms",
        )?),
        reauth_ms_max: number("connections.max.reauth.ms")?,
        oauthbearer,
    })
}
