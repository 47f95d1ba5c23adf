//! OAUTHBEARER (RFC 7628) as Kafka's `OAuthBearerSaslServer` serves it: the client's initial
//! response `n,[a=authzid],\x01auth=Bearer <token>\x01[key=value\x01...]\x01` carries a JWT,
//! which a validator checks; a valid token authenticates `User:<subject>` until its `exp`. A
//! refused token is not a failure yet: the server answers the RFC's error JSON
//! (`{"status":"invalid_token"}`) as a challenge, the client answers `\x01`, and only then the
//! exchange fails with that JSON as the message (franz-go and Kafka's clients show it).
//!
//! Validators, chosen as Kafka's broker chooses its callback handler:
//! - [`Validator::Unsecured`] (Kafka's default `OAuthBearerUnsecuredValidatorCallbackHandler`,
//!   for development): `{"alg":"none"}` tokens, no signature; `exp` required, the principal from
//!   `unsecuredValidatorPrincipalClaimName` (`sub`), an optional required scope.
//! - [`Validator::Jwks`] (`OAuthBearerValidatorCallbackHandler` with
//!   `sasl.oauthbearer.jwks.endpoint.url`): the signature checked against the JWKS key named by
//!   the token's `kid` (RS/PS/ES algorithms, never `none`), `exp` and `iat` required, issuer and
//!   audience checked when configured, `sasl.oauthbearer.clock.skew.seconds` of leeway.
//!
//! Extensions are accepted and ignored (both of Kafka's validators accept every extension).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{Mechanism, SaslFailure, Step};
use crate::KafkaPrincipal;

/// The unsecured validator's JAAS options (`OAuthBearerLoginModule required ...;`).
#[derive(Debug, Clone)]
pub struct UnsecuredOptions {
    pub principal_claim: String,
    pub scope_claim: String,
    pub required_scope: Vec<String>,
    pub clock_skew_ms: i64,
}

impl Default for UnsecuredOptions {
    /// Kafka's defaults: the principal from `sub`, scopes from `scope`, none required, no skew.
    fn default() -> Self {
        UnsecuredOptions {
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: Vec::new(),
            clock_skew_ms: 0,
        }
    }
}

impl UnsecuredOptions {
    /// From the listener's OAUTHBEARER JAAS options (Kafka's names and defaults).
    pub fn from_jaas(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let get = |key: &str, default: &str| {
            options
                .get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let skew = get("unsecuredValidatorAllowableClockSkewMs", "0");
        Ok(UnsecuredOptions {
            principal_claim: get("unsecuredValidatorPrincipalClaimName", "sub"),
            scope_claim: get("unsecuredValidatorScopeClaimName", "scope"),
            required_scope: get("unsecuredValidatorRequiredScope", "")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            clock_skew_ms: skew.parse::<i64>().ok().filter(|s| *s >= 0).ok_or_else(|| {
                format!("unsecuredValidatorAllowableClockSkewMs {skew:?} is not a non-negative number")
            })?,
        })
    }
}

/// A JWKS's keys. The broker replaces them when it refreshes the document; a token whose kid
/// the set lacks asks for a refresh (a key rotated in at the issuer), as Kafka's refreshing
/// resolver does, and is refused meanwhile.
pub struct JwksKeys {
    set: RwLock<Arc<JwkSet>>,
    on_unknown_kid: Option<Box<dyn Fn() + Send + Sync>>,
}

impl JwksKeys {
    /// Keys that never change (a file read once).
    pub fn fixed(set: JwkSet) -> Self {
        JwksKeys {
            set: RwLock::new(Arc::new(set)),
            on_unknown_kid: None,
        }
    }

    /// Keys refreshed by their owner, told through `on_unknown_kid` when a token names a kid
    /// the set lacks.
    pub fn refreshed(set: JwkSet, on_unknown_kid: impl Fn() + Send + Sync + 'static) -> Self {
        JwksKeys {
            set: RwLock::new(Arc::new(set)),
            on_unknown_kid: Some(Box::new(on_unknown_kid)),
        }
    }

    /// The keys now.
    pub fn current(&self) -> Arc<JwkSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the keys with a newer document's.
    pub fn replace(&self, set: JwkSet) {
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }
}

/// The secured validator: keys from a JWKS document and the claims it checks.
pub struct JwksOptions {
    pub keys: Arc<JwksKeys>,
    pub expected_issuer: Option<String>,
    pub expected_audience: Vec<String>,
    pub clock_skew_seconds: u64,
    pub sub_claim: String,
    pub scope_claim: String,
}

impl JwksOptions {
    /// Parses a JWKS document (RFC 7517 `{"keys":[...]}`).
    pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
        let set: JwkSet =
            serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
        if set.keys.is_empty() {
            return Err("the JWKS document has no keys".into());
        }
        Ok(set)
    }
}

/// How tokens are checked.
pub enum Validator {
    Unsecured(UnsecuredOptions),
    Jwks(JwksOptions),
}

/// A valid token's principal name and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    pub principal: String,
    pub expires_at_ms: i64,
}

/// Why a token is refused: RFC 7628's status, and the scope that was missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: &'static str,
    pub scope: Option<String>,
    /// For the broker's log only; the client sees the status.
    pub reason: String,
}

impl Refusal {
    fn invalid(reason: impl Into<String>) -> Self {
        Refusal {
            status: "invalid_token",
            scope: None,
            reason: reason.into(),
        }
    }

    /// The error JSON of RFC 7628 §3.2.2, as Kafka writes it.
    pub fn json(&self) -> String {
        match &self.scope {
            Some(scope) => format!(r#"{{"status":"{}", "scope":"{scope}"}}"#, self.status),
            None => format!(r#"{{"status":"{}"}}"#, self.status),
        }
    }
}

impl Validator {
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<ValidToken, Refusal> {
        match self {
            Validator::Unsecured(options) => validate_unsecured(options, token, now_ms),
            Validator::Jwks(options) => validate_jwks(options, token, now_ms),
        }
    }
}

fn decode_part(part: &str, what: &str) -> Result<Value, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| Refusal::invalid(format!("the token's {what} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Refusal::invalid(format!("the token's {what} is not JSON: {e}")))
}

/// A claim holding seconds since the epoch (Kafka reads it as a number, possibly fractional).
fn seconds_claim(claims: &Value, name: &str) -> Result<Option<f64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| Refusal::invalid(format!("the {name} claim is not a number"))),
    }
}

/// The scope claim: a space-separated string or an array of strings.
fn scopes(claims: &Value, name: &str, split_string: bool) -> Result<Vec<String>, Refusal> {
    match claims.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) if split_string => {
            Ok(s.split_whitespace().map(str::to_string).collect())
        }
        Some(Value::String(s)) => Ok(vec![s.trim().to_string()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| Refusal::invalid(format!("the {name} claim has a bad entry")))
            })
            .collect(),
        Some(_) => Err(Refusal::invalid(format!(
            "the {name} claim is not a string or array"
        ))),
    }
}

fn validate_unsecured(
    options: &UnsecuredOptions,
    token: &str,
    now_ms: i64,
) -> Result<ValidToken, Refusal> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(Refusal::invalid("an unsecured token has three parts"));
    }
    let header = decode_part(parts[0], "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err(Refusal::invalid("an unsecured token's alg must be none"));
    }
    let claims = decode_part(parts[1], "claims")?;
    let principal = claims
        .get(&options.principal_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Refusal::invalid(format!("no string {} claim", options.principal_claim)))?
        .to_string();
    let exp = seconds_claim(&claims, "exp")?.ok_or_else(|| Refusal::invalid("no exp claim"))?;
    let expires_at_ms = (exp * 1000.0) as i64;
    if now_ms.saturating_sub(options.clock_skew_ms) >= expires_at_ms {
        return Err(Refusal::invalid("the token has expired"));
    }
    if let Some(iat) = seconds_claim(&claims, "iat")?
        && iat > exp
    {
        return Err(Refusal::invalid("iat is after exp"));
    }
    let granted = scopes(&claims, &options.scope_claim, true)?;
    if let Some(missing) = options.required_scope.iter().find(|s| !granted.contains(s)) {
        return Err(Refusal {
            status: "insufficient_scope",
            scope: Some(options.required_scope.join(" ")),
            reason: format!("the token lacks scope {missing}"),
        });
    }
    Ok(ValidToken {
        principal,
        expires_at_ms,
    })
}

/// Algorithms a JWKS key may sign with (never `none`, never HMAC: a JWKS holds public keys).
const ASYMMETRIC: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

fn validate_jwks(options: &JwksOptions, token: &str, now_ms: i64) -> Result<ValidToken, Refusal> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Refusal::invalid(format!("the token's header: {e}")))?;
    if !ASYMMETRIC.contains(&header.alg) {
        return Err(Refusal::invalid(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let keys = options.keys.current();
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a kid, a JWKS of one key names it.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    };
    let Some(jwk) = jwk else {
        if let (Some(_), Some(ask)) = (&header.kid, &options.keys.on_unknown_kid) {
            ask();
        }
        return Err(Refusal::invalid(format!(
            "no JWKS key for kid {:?}",
            header.kid
        )));
    };
    let key =
        DecodingKey::from_jwk(jwk).map_err(|e| Refusal::invalid(format!("the JWKS key: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = options.clock_skew_seconds;
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    if let Some(issuer) = &options.expected_issuer {
        validation.set_issuer(&[issuer]);
    }
    if options.expected_audience.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&options.expected_audience);
    }
    // jsonwebtoken checks exp against the system clock; `now_ms` is checked again below so a
    // caller's clock decides.
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| Refusal::invalid(format!("the token: {e}")))?;
    let claims = data.claims;
    let exp = seconds_claim(&claims, "exp")?.ok_or_else(|| Refusal::invalid("no exp claim"))?;
    // Kafka's broker validator requires iat too (jsonwebtoken does not check it).
    seconds_claim(&claims, "iat")?.ok_or_else(|| Refusal::invalid("no iat claim"))?;
    let expires_at_ms = (exp * 1000.0) as i64;
    let skew_ms =
        i64::try_from(options.clock_skew_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    if now_ms.saturating_sub(skew_ms) >= expires_at_ms {
        return Err(Refusal::invalid("the token has expired"));
    }
    let principal = claims
        .get(&options.sub_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Refusal::invalid(format!("no string {} claim", options.sub_claim)))?
        .to_string();
    scopes(&claims, &options.scope_claim, false)?;
    Ok(ValidToken {
        principal,
        expires_at_ms,
    })
}

/// The parts of a client's initial response.
#[derive(Debug, PartialEq, Eq)]
struct InitialResponse {
    authzid: String,
    token: String,
}

fn parse_initial_response(bytes: &[u8]) -> Option<InitialResponse> {
    let text = std::str::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("n,")?;
    let (authzid, rest) = rest.split_once(',')?;
    let authzid = match authzid {
        "" => String::new(),
        a => a.strip_prefix("a=")?.to_string(),
    };
    let body = rest.strip_prefix('\u{1}')?.strip_suffix("\u{1}\u{1}")?;
    let mut token = None;
    for pair in body.split('\u{1}') {
        let (key, value) = pair.split_once('=')?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        if key == "auth" {
            let (scheme, value) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_some() {
                return None;
            }
            let valid = |b: u8| b.is_ascii_alphanumeric() || b"-_~+/.=".contains(&b);
            if value.is_empty() || !value.bytes().all(valid) {
                return None;
            }
            token = Some(value.to_string());
        }
    }
    Some(InitialResponse {
        authzid,
        token: token?,
    })
}

/// One OAUTHBEARER exchange.
pub struct OAuthBearerServer {
    validator: std::sync::Arc<Validator>,
    /// The error JSON sent as a challenge, awaiting the client's `\x01`.
    pending_error: Option<String>,
    now_ms: fn() -> i64,
}

impl OAuthBearerServer {
    pub fn new(validator: std::sync::Arc<Validator>, now_ms: fn() -> i64) -> Self {
        OAuthBearerServer {
            validator,
            pending_error: None,
            now_ms,
        }
    }

    pub fn evaluate(&mut self, bytes: &[u8]) -> Result<Step, SaslFailure> {
        if let Some(error) = self.pending_error.take()
            && bytes == [1]
        {
            return Err(SaslFailure::verbatim(error));
        }
        let response = parse_initial_response(bytes)
            .ok_or_else(|| SaslFailure::generic(Mechanism::OAuthBearer))?;
        match self.validator.validate(&response.token, (self.now_ms)()) {
            Ok(token) => {
                if !response.authzid.is_empty() && response.authzid != token.principal {
                    return Err(SaslFailure::verbatim(format!(
                        "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                        response.authzid, token.principal
                    )));
                }
                Ok(Step::Complete {
                    response: Vec::new(),
                    principal: KafkaPrincipal::user(token.principal),
                    expires_at_ms: Some(token.expires_at_ms),
                })
            }
            Err(refusal) => {
                tracing::info!(reason = %refusal.reason, "OAUTHBEARER token refused");
                let json = refusal.json();
                self.pending_error = Some(json.clone());
                Ok(Step::Challenge(json.into_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
