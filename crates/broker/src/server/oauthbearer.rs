//! A listener's OAUTHBEARER validator from Kafka's settings, each looked up as Kafka's
//! `ConfigurationUtils` does: `listener.name.<l>.oauthbearer.<key>`, then
//! `listener.name.<l>.<key>`, then `<key>`.
//!
//! Without `sasl.server.callback.handler.class`, Kafka's default: the unsecured validator
//! (unsigned tokens; its options from the listener's `OAuthBearerLoginModule` JAAS entry, which
//! may be absent), logged as a warning at start since any client can then name any principal.
//! With `OAuthBearerValidatorCallbackHandler`: tokens signed by a key of the JWKS at
//! `sasl.oauthbearer.jwks.endpoint.url`, a `file:` URL or an http(s) endpoint kept fresh
//! (`jwks.rs`). As Kafka 4.4 does, a
//! JWKS needs `sasl.oauthbearer.expected.issuer` and `sasl.oauthbearer.expected.audience` unless
//! `sasl.oauthbearer.allow.unverified.issuer` / `.audience` say otherwise.

use std::sync::Arc;
use std::time::Duration;

use security::jaas::JaasEntry;
use security::sasl::oauthbearer::{JwksOptions, UnsecuredOptions, Validator};

use crate::config::{BrokerConfig, ConfigError};

/// Kafka's secured validator, by its class name.
pub const SECURED_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
/// Kafka's unsecured validator, which is also the default.
pub const UNSECURED_HANDLER: &str = "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The validator of listener `name`'s OAUTHBEARER.
pub fn validator(config: &BrokerConfig, name: &str) -> Result<Arc<Validator>, ConfigError> {
    let lower = name.to_ascii_lowercase();
    let value = |key: &str| -> Option<String> {
        config
            .value(&format!("listener.name.{lower}.oauthbearer.{key}"))
            .or_else(|| config.listener_value(name, key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let handler_key = "sasl.server.callback.handler.class";
    match value(handler_key).as_deref() {
        None | Some(UNSECURED_HANDLER) => {
            let options =
                UnsecuredOptions::from_jaas(&jaas_options(config, name)?).map_err(|e| {
                    invalid(
                        &format!("listener.name.{lower}.oauthbearer.sasl.jaas.config"),
                        "",
                        e,
                    )
                })?;
            tracing::warn!(
                listener = name,
                "OAUTHBEARER accepts unsecured (unsigned) tokens: any client can name any principal; set listener.name.{lower}.oauthbearer.{handler_key}={SECURED_HANDLER} and sasl.oauthbearer.jwks.endpoint.url outside development"
            );
            Ok(Arc::new(Validator::Unsecured(options)))
        }
        Some(SECURED_HANDLER) => secured(config, name, &value).map(Arc::new),
        Some(other) => Err(invalid(
            handler_key,
            other,
            format!("not served; use {SECURED_HANDLER} or leave it unset"),
        )),
    }
}

/// The options of listener `name`'s OAUTHBEARER JAAS entry (none when it has none).
fn jaas_options(
    config: &BrokerConfig,
    name: &str,
) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let jaas_key = format!(
        "listener.name.{}.oauthbearer.sasl.jaas.config",
        name.to_ascii_lowercase()
    );
    match config.value(&jaas_key) {
        Some(text) => Ok(JaasEntry::parse(&jaas_key, text)
            .map_err(|e| invalid(&jaas_key, "(hidden)", e))?
            .options),
        None => Ok(Default::default()),
    }
}

fn secured(
    config: &BrokerConfig,
    name: &str,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<Validator, ConfigError> {
    const URL: &str = "sasl.oauthbearer.jwks.endpoint.url";
    let url = value(URL).ok_or_else(|| {
        invalid(
            URL,
            "",
            format!("listener {name}'s OAUTHBEARER validator needs a JWKS"),
        )
    })?;
    let millis = |key: &str, default: u64| -> Result<Duration, ConfigError> {
        match value(key) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => v
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| invalid(key, &v, e)),
        }
    };
    let trusted_pem = match jaas_options(config, name)?.get("ssl.truststore.location") {
        None => None,
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            invalid(
                "ssl.truststore.location",
                path,
                format!("the OAUTHBEARER JAAS entry's trust store: {e}"),
            )
        })?),
    };
    let keys = super::jwks::load(super::jwks::Endpoint {
        url: url.clone(),
        trusted_pem,
        refresh: millis("sasl.oauthbearer.jwks.endpoint.refresh.ms", 3_600_000)?,
        backoff_max: millis(
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
            10_000,
        )?,
    })
    .map_err(|e| invalid(URL, &url, e))?;
    let flag = |key: &str| value(key).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let expected_issuer = value("sasl.oauthbearer.expected.issuer");
    if expected_issuer.is_none() && !flag("sasl.oauthbearer.allow.unverified.issuer") {
        return Err(invalid(
            "sasl.oauthbearer.expected.issuer",
            "",
            "a JWKS validator needs the expected issuer (or sasl.oauthbearer.allow.unverified.issuer=true)",
        ));
    }
    let expected_audience: Vec<String> = value("sasl.oauthbearer.expected.audience")
        .map(|v| {
            v.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if expected_audience.is_empty() && !flag("sasl.oauthbearer.allow.unverified.audience") {
        return Err(invalid(
            "sasl.oauthbearer.expected.audience",
            "",
            "a JWKS validator needs the expected audience (or sasl.oauthbearer.allow.unverified.audience=true)",
        ));
    }
    let skew_key = "sasl.oauthbearer.clock.skew.seconds";
    let skew = value(skew_key).unwrap_or_else(|| "30".into());
    Ok(Validator::Jwks(JwksOptions {
        keys,
        expected_issuer,
        expected_audience,
        clock_skew_seconds: skew.parse().map_err(|e| invalid(skew_key, &skew, e))?,
        sub_claim: value("sasl.oauthbearer.sub.claim.name").unwrap_or_else(|| "sub".into()),
        scope_claim: value("sasl.oauthbearer.scope.claim.name").unwrap_or_else(|| "scope".into()),
    }))
}
