//! The security part of the broker's configuration registry (`config_keys.rs` holds the rest
//! and the types): listener security protocols, TLS, SASL and the authorizer, by Kafka's names
//! and defaults, and the client quota windows.
//! Keys that one listener may override as `listener.name.<listener>.<key>` are marked here
//! ([`listener_key`]); a mechanism's JAAS entry is only ever given per listener and mechanism
//! (`listener.name.<listener>.<mechanism>.sasl.jaas.config`), as Kafka's brokers read it.
//!
//! Two defaults differ from Kafka's: `ssl.keystore.type` and `ssl.truststore.type` are `PEM`,
//! the only store format Runnel reads (Kafka's default is JKS).

use crate::config_keys::Valid::{Any, AtLeast, EachOf, OneOf};
use crate::config_keys::{BOOLEAN, ConfigKey, INT, LIST, LONG, PASSWORD, STRING, key};

/// Kafka's default map: each security protocol's name stands for itself.
pub const DEFAULT_SECURITY_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

pub const SECURITY_KEYS: &[ConfigKey] = &[
    key(
        "listener.security.protocol.map",
        STRING,
        Some(DEFAULT_SECURITY_PROTOCOL_MAP),
        Any,
        "Each listener name's security protocol (NAME:PROTOCOL,...); protocols PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.",
    ),
    key(
        "ssl.keystore.type",
        STRING,
        Some("PEM"),
        OneOf(&["PEM"]),
        "Format of the key store; Runnel reads PEM (an unencrypted PKCS#8 key and its certificate chain).",
    ),
    key(
        "ssl.keystore.location",
        STRING,
        None,
        Any,
        "PEM file with this broker's private key and certificate chain (reloaded when it changes).",
    ),
    key(
        "ssl.keystore.password",
        PASSWORD,
        None,
        Any,
        "Not used with PEM stores (must stay unset).",
    ),
    key(
        "ssl.keystore.key",
        PASSWORD,
        None,
        Any,
        "This broker's private key as PEM text, instead of ssl.keystore.location.",
    ),
    key(
        "ssl.keystore.certificate.chain",
        PASSWORD,
        None,
        Any,
        "This broker's certificate chain as PEM text, with ssl.keystore.key.",
    ),
    key(
        "ssl.key.password",
        PASSWORD,
        None,
        Any,
        "Password of an encrypted private key (not supported: give an unencrypted key).",
    ),
    key(
        "ssl.truststore.type",
        STRING,
        Some("PEM"),
        OneOf(&["PEM"]),
        "Format of the trust store; Runnel reads PEM certificates.",
    ),
    key(
        "ssl.truststore.location",
        STRING,
        None,
        Any,
        "PEM file with the certificates that client certificates must chain to (reloaded when it changes).",
    ),
    key(
        "ssl.truststore.password",
        PASSWORD,
        None,
        Any,
        "Not used with PEM stores (must stay unset).",
    ),
    key(
        "ssl.truststore.certificates",
        PASSWORD,
        None,
        Any,
        "Trusted certificates as PEM text, instead of ssl.truststore.location.",
    ),
    key(
        "ssl.client.auth",
        STRING,
        Some("none"),
        OneOf(&["none", "requested", "required"]),
        "Whether TLS clients must (required) or may (requested) present a certificate; its subject becomes the principal.",
    ),
    key(
        "ssl.enabled.protocols",
        LIST,
        Some("TLSv1.2,TLSv1.3"),
        EachOf(&["TLSv1.2", "TLSv1.3"]),
        "TLS versions accepted.",
    ),
    key(
        "ssl.principal.mapping.rules",
        STRING,
        Some("DEFAULT"),
        Any,
        "Rules turning a client certificate's subject into a user name (RULE:pattern/replacement/[LU],...,DEFAULT).",
    ),
    key(
        "sasl.enabled.mechanisms",
        LIST,
        Some("GSSAPI"),
        Any,
        "SASL mechanisms SASL listeners offer: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (GSSAPI, Kafka's default, is not served).",
    ),
    key(
        "sasl.server.max.receive.size",
        INT,
        Some("524288"),
        AtLeast(1),
        "Largest frame read before a SASL connection has authenticated.",
    ),
    key(
        "connection.failed.authentication.delay.ms",
        INT,
        Some("100"),
        AtLeast(0),
        "Pause before a failed authentication is answered and the connection closed.",
    ),
    key(
        "connections.max.reauth.ms",
        LONG,
        Some("0"),
        AtLeast(0),
        "Longest a SASL session lasts before the client must re-authenticate (0: no limit).",
    ),
    key(
        "authorizer.class.name",
        STRING,
        Some(""),
        OneOf(&["", STANDARD_AUTHORIZER]),
        "Empty: no authorization, every request is allowed and the ACL APIs answer SECURITY_DISABLED. org.apache.kafka.metadata.authorizer.StandardAuthorizer: ACLs kept in the metadata decide.",
    ),
    key(
        "super.users",
        STRING,
        Some(""),
        Any,
        "Principals allowed everything whatever the ACLs say, separated by ';' (User:admin;User:broker).",
    ),
    key(
        "allow.everyone.if.no.acl.found",
        BOOLEAN,
        Some("false"),
        Any,
        "Whether a resource no ACL names is open to everyone (false: only super users).",
    ),
    key(
        "sasl.mechanism.inter.broker.protocol",
        STRING,
        Some("GSSAPI"),
        Any,
        "The SASL mechanism brokers authenticate to each other with when the inter-broker listener uses SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (GSSAPI, Kafka's default, is not served), with username and password in that listener's JAAS entry for the mechanism.",
    ),
    key(
        "sasl.server.callback.handler.class",
        STRING,
        None,
        Any,
        "OAUTHBEARER's token validator, as listener.name.<l>.oauthbearer.sasl.server.callback.handler.class: unset for Kafka's unsecured validator (unsigned tokens, development only), org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler for signed tokens checked against sasl.oauthbearer.jwks.endpoint.url.",
    ),
    key(
        "sasl.oauthbearer.jwks.endpoint.url",
        STRING,
        None,
        Any,
        "The JWKS with the keys that sign OAUTHBEARER tokens: a file: URL, read at start, or an https: endpoint fetched at start and refreshed (its certificate checked against ssl.truststore.location in the listener's OAUTHBEARER JAAS options, else the public web roots).",
    ),
    key(
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        LONG,
        Some("3600000"),
        AtLeast(1),
        "How often an http(s) JWKS is fetched again.",
    ),
    key(
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
        LONG,
        Some("100"),
        AtLeast(0),
        "Accepted for Kafka compatibility; a failed JWKS refresh is retried at the next refresh or unknown kid.",
    ),
    key(
        "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        LONG,
        Some("10000"),
        AtLeast(0),
        "The least time between two JWKS fetches asked for by tokens naming an unknown kid.",
    ),
    key(
        "sasl.oauthbearer.expected.issuer",
        STRING,
        None,
        Any,
        "The iss every OAUTHBEARER token must carry (required with a JWKS unless sasl.oauthbearer.allow.unverified.issuer).",
    ),
    key(
        "sasl.oauthbearer.expected.audience",
        LIST,
        None,
        Any,
        "Audiences an OAUTHBEARER token's aud must include one of (required with a JWKS unless sasl.oauthbearer.allow.unverified.audience).",
    ),
    key(
        "sasl.oauthbearer.allow.unverified.issuer",
        BOOLEAN,
        Some("false"),
        Any,
        "Accept signed tokens without checking their issuer.",
    ),
    key(
        "sasl.oauthbearer.allow.unverified.audience",
        BOOLEAN,
        Some("false"),
        Any,
        "Accept signed tokens without checking their audience.",
    ),
    key(
        "sasl.oauthbearer.clock.skew.seconds",
        INT,
        Some("30"),
        AtLeast(0),
        "Leeway when checking an OAUTHBEARER token's exp, nbf and iat.",
    ),
    key(
        "sasl.oauthbearer.sub.claim.name",
        STRING,
        Some("sub"),
        Any,
        "The claim naming an OAUTHBEARER token's principal.",
    ),
    key(
        "sasl.oauthbearer.scope.claim.name",
        STRING,
        Some("scope"),
        Any,
        "The claim with an OAUTHBEARER token's scopes.",
    ),
    key(
        "quota.window.num",
        INT,
        Some("11"),
        AtLeast(2),
        "Samples kept in memory for client quotas (the rate is measured over them).",
    ),
    key(
        "quota.window.size.seconds",
        INT,
        Some("1"),
        AtLeast(1),
        "Length of one client quota sample.",
    ),
];

/// The one authorizer Runnel implements, by the class name Kafka's KRaft brokers use.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The base key behind a per-listener override's suffix (`ssl.keystore.location`,
/// `plain.sasl.jaas.config`, ...), if it may be overridden per listener.
pub fn listener_key(suffix: &str) -> Option<&'static ConfigKey> {
    if let Some((mechanism, rest)) = suffix.split_once('.')
        && rest == "sasl.jaas.config"
        && matches!(
            mechanism,
            "plain" | "scram-sha-256" | "scram-sha-512" | "oauthbearer"
        )
    {
        return Some(&JAAS_CONFIG);
    }
    // OAUTHBEARER's settings may also be given for the mechanism on one listener.
    if let Some(rest) = suffix.strip_prefix("oauthbearer.")
        && (rest.starts_with("sasl.oauthbearer.") || rest == "sasl.server.callback.handler.class")
    {
        return SECURITY_KEYS.iter().find(|k| k.name == rest);
    }
    SECURITY_KEYS
        .iter()
        .find(|k| k.name == suffix && (k.name.starts_with("ssl.") || k.name.starts_with("sasl.")))
}

/// A mechanism's login module for one listener (per-listener only, so not in the table).
static JAAS_CONFIG: ConfigKey = key(
    "sasl.jaas.config",
    PASSWORD,
    None,
    Any,
    "A SASL mechanism's JAAS login module for one listener (PLAIN users as user_<name>=\"<password>\").",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_overrides_cover_tls_and_sasl_keys_only() {
        assert!(listener_key("ssl.keystore.location").is_some());
        assert!(listener_key("sasl.enabled.mechanisms").is_some());
        assert!(listener_key("plain.sasl.jaas.config").is_some());
        assert!(listener_key("scram-sha-512.sasl.jaas.config").is_some());
        assert!(listener_key("sasl.jaas.config").is_none());
        assert!(listener_key("gssapi.sasl.jaas.config").is_none());
        assert!(listener_key("oauthbearer.sasl.jaas.config").is_some());
        assert!(listener_key("oauthbearer.sasl.server.callback.handler.class").is_some());
        assert!(listener_key("oauthbearer.sasl.oauthbearer.jwks.endpoint.url").is_some());
        assert!(listener_key("oauthbearer.ssl.keystore.location").is_none());
        assert!(listener_key("listener.security.protocol.map").is_none());
        assert!(listener_key("num.partitions").is_none());
    }
}
