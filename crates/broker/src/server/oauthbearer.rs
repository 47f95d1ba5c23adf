//! A listener's OAUTHBEARER validator from Kafka's settings, each looked up as Kafka's
//! `ConfigurationUtils` does: `listener.name.<l>.oauthbearer.<key>`, then
//! `listener.name.<l>.<key>`, then `<key>`.
//!
//! Without `sasl.server.callback.handler.class`, Kafka's default: the unsecured validator
//! (unsigned tokens; its options from the listener's `OAuthBearerLoginModule` JAAS entry, which
//! may be absent), logged as a warning at start since any client can then name any principal.
//! With `OAuthBearerValidatorCallbackHandler`: tokens signed by a key of the JWKS at
//! `sasl.oauthbearer.jwks.endpoint.url`, which must be a `file:` URL (read once at start; an
//! http(s) endpoint is refused: this broker makes no outbound requests). As Kafka 4.4 does, a
//! JWKS needs `sasl.oauthbearer.expected.issuer` and `sasl.oauthbearer.expected.audience` unless
//! `sasl.oauthbearer.allow.unverified.issuer` / `.audience` say otherwise.

use std::sync::Arc;

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
            let jaas_key = format!("listener.name.{lower}.oauthbearer.sasl.jaas.config");
            let options = match config.value(&jaas_key) {
                Some(text) => {
                    JaasEntry::parse(&jaas_key, text)
                        .map_err(|e| invalid(&jaas_key, "(hidden)", e))?
                        .options
                }
                None => Default::default(),
            };
            let options =
                UnsecuredOptions::from_jaas(&options).map_err(|e| invalid(&jaas_key, "", e))?;
            tracing::warn!(
                listener = name,
                "OAUTHBEARER accepts unsecured (unsigned) tokens: any client can name any principal; set listener.name.{lower}.oauthbearer.{handler_key}={SECURED_HANDLER} and sasl.oauthbearer.jwks.endpoint.url outside development"
            );
            Ok(Arc::new(Validator::Unsecured(options)))
        }
        Some(SECURED_HANDLER) => secured(name, &value).map(Arc::new),
        Some(other) => Err(invalid(
            handler_key,
            other,
            format!("not served; use {SECURED_HANDLER} or leave it unset"),
        )),
    }
}

fn secured(name: &str, value: &dyn Fn(&str) -> Option<String>) -> Result<Validator, ConfigError> {
    const URL: &str = "sasl.oauthbearer.jwks.endpoint.url";
    let url = value(URL).ok_or_else(|| {
        invalid(
            URL,
            "",
            format!("listener {name}'s OAUTHBEARER validator needs a JWKS"),
        )
    })?;
    let path = url
        .strip_prefix("file://")
        .or_else(|| url.strip_prefix("file:"))
        .ok_or_else(|| {
            invalid(
                URL,
                &url,
                "only file: URLs are served (the broker makes no outbound requests)",
            )
        })?;
    let text = std::fs::read_to_string(path).map_err(|e| invalid(URL, &url, e))?;
    let keys = JwksOptions::parse_jwks(&text).map_err(|e| invalid(URL, &url, e))?;
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
