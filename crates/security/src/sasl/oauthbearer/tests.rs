//! Unit tests of OAUTHBEARER: the initial response, both validators and the failure protocol.

use std::sync::Arc;

use super::*;

const NOW_MS: i64 = 1_800_000_000_000;

fn now() -> i64 {
    NOW_MS
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

fn unsecured_token(claims: &str) -> String {
    format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(claims))
}

fn initial(token: &str) -> Vec<u8> {
    format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes()
}

fn unsecured(required_scope: &str) -> Arc<Validator> {
    let options = BTreeMap::from([(
        "unsecuredValidatorRequiredScope".to_string(),
        required_scope.to_string(),
    )]);
    Arc::new(Validator::Unsecured(
        UnsecuredOptions::from_jaas(&options).unwrap(),
    ))
}

/// Goal: the client's initial response is parsed as RFC 7628 and Kafka's parser read it:
/// authzid, extensions in any order, the Bearer scheme case-insensitively; anything else is
/// refused.
#[test]
fn initial_responses_are_parsed_as_rfc_7628_says() {
    let parsed =
        parse_initial_response(b"n,a=alice,\x01k=v\x01auth=bearer abc.def.\x01\x01").unwrap();
    assert_eq!(
        parsed,
        InitialResponse {
            authzid: "alice".into(),
            token: "abc.def.".into()
        }
    );
    for bad in [
        &b"y,,\x01auth=Bearer t\x01\x01"[..],
        b"n,,\x01auth=Bearer t\x01",
        b"n,,\x01auth=Basic t\x01\x01",
        b"n,,\x01k=v\x01\x01",
        b"n,,\x01auth=Bearer t t\x01\x01",
        b"n,,\x011=v\x01auth=Bearer t\x01\x01",
    ] {
        assert_eq!(parse_initial_response(bad), None, "{bad:?}");
    }
}

/// Goal: the unsecured validator (Kafka's default): an `alg: none` token with a subject and an
/// unexpired `exp` authenticates `User:<sub>` until `exp`; an expired token, a missing subject,
/// a signed header or a missing required scope is refused (invalid_token, insufficient_scope).
#[test]
fn the_unsecured_validator_checks_expiry_subject_and_scope() {
    let exp = NOW_MS / 1000 + 3600;
    let validator = unsecured("");
    let token = unsecured_token(&format!(r#"{{"sub":"admin","exp":{exp}}}"#));
    assert_eq!(
        validator.validate(&token, NOW_MS),
        Ok(ValidToken {
            principal: "admin".into(),
            expires_at_ms: exp * 1000
        })
    );
    let expired = unsecured_token(&format!(
        r#"{{"sub":"admin","exp":{}}}"#,
        NOW_MS / 1000 - 60
    ));
    assert_eq!(
        validator.validate(&expired, NOW_MS).unwrap_err().status,
        "invalid_token"
    );
    let no_sub = unsecured_token(&format!(r#"{{"exp":{exp}}}"#));
    assert!(validator.validate(&no_sub, NOW_MS).is_err());
    let signed = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64(r#"{"sub":"a"}"#));
    assert!(validator.validate(&signed, NOW_MS).is_err());
    let scoped = unsecured("write");
    let refusal = scoped.validate(&token, NOW_MS).unwrap_err();
    assert_eq!(
        refusal.json(),
        r#"{"status":"insufficient_scope", "scope":"write"}"#
    );
    let with_scope = unsecured_token(&format!(
        r#"{{"sub":"admin","exp":{exp},"scope":"read write"}}"#
    ));
    assert!(scoped.validate(&with_scope, NOW_MS).is_ok());
}

/// Goal: Kafka's failure protocol: a refused token is answered with the error JSON as a
/// challenge; the client's `\x01` then fails the exchange with that JSON as the message (what
/// franz-go's TestOAuthAuth looks for); an authorization id that is not the subject fails.
#[test]
fn a_refused_token_is_answered_with_the_error_json_then_fails() {
    let mut server = OAuthBearerServer::new(unsecured(""), now);
    let expired = unsecured_token(&format!(
        r#"{{"sub":"admin","exp":{}}}"#,
        NOW_MS / 1000 - 60
    ));
    assert_eq!(
        server.evaluate(&initial(&expired)),
        Ok(Step::Challenge(br#"{"status":"invalid_token"}"#.to_vec()))
    );
    assert_eq!(
        server.evaluate(b"\x01").unwrap_err().message,
        r#"{"status":"invalid_token"}"#
    );

    let exp = NOW_MS / 1000 + 60;
    let good = unsecured_token(&format!(r#"{{"sub":"admin","exp":{exp}}}"#));
    let mut server = OAuthBearerServer::new(unsecured(""), now);
    assert_eq!(
        server.evaluate(&initial(&good)),
        Ok(Step::Complete {
            response: Vec::new(),
            principal: KafkaPrincipal::user("admin"),
            expires_at_ms: Some(exp * 1000),
        })
    );
    let mut server = OAuthBearerServer::new(unsecured(""), now);
    let other = format!("n,a=bob,\u{1}auth=Bearer {good}\u{1}\u{1}");
    assert!(
        server
            .evaluate(other.as_bytes())
            .unwrap_err()
            .message
            .contains("(bob)")
    );
    let mut server = OAuthBearerServer::new(unsecured(""), now);
    assert!(server.evaluate(b"garbage").is_err());
}

/// An ES256 key pair: the PKCS#8 private key and its public JWK (kid `k1`).
fn es256_key() -> (Vec<u8>, String) {
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    assert_eq!(point.len(), 65, "an uncompressed P-256 point");
    let jwk = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"{}","y":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..])
    );
    (pair.serialize_der(), jwk)
}

fn signed(private_der: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    let key = jsonwebtoken::EncodingKey::from_ec_der(private_der);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Goal: the secured validator accepts a token signed by the JWKS key its kid names, with the
/// expected issuer and audience, and refuses a wrong signature, an unknown kid, a wrong issuer
/// or audience, a missing iat, an expired token and `alg: none`.
#[test]
fn the_jwks_validator_checks_signature_issuer_audience_and_expiry() {
    let (private_der, jwks) = es256_key();
    let (other_der, _) = es256_key();
    let options = JwksOptions {
        keys: Arc::new(JwksKeys::fixed(JwksOptions::parse_jwks(&jwks).unwrap())),
        expected_issuer: Some("https://issuer".into()),
        expected_audience: vec!["runnel".into()],
        clock_skew_seconds: 30,
        sub_claim: "sub".into(),
        scope_claim: "scope".into(),
    };
    let validator = Validator::Jwks(options);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let now_ms = now_s * 1000;
    let claims = |iss: &str, aud: &str, exp: i64| serde_json::json!({"sub": "alice", "iss": iss, "aud": aud, "iat": now_s, "exp": exp});
    let good = signed(
        &private_der,
        "k1",
        &claims("https://issuer", "runnel", now_s + 600),
    );
    assert_eq!(
        validator.validate(&good, now_ms).map(|t| t.principal),
        Ok("alice".to_string())
    );
    let forged = signed(
        &other_der,
        "k1",
        &claims("https://issuer", "runnel", now_s + 600),
    );
    let unknown_kid = signed(
        &private_der,
        "k2",
        &claims("https://issuer", "runnel", now_s + 600),
    );
    let wrong_issuer = signed(
        &private_der,
        "k1",
        &claims("https://evil", "runnel", now_s + 600),
    );
    let wrong_audience = signed(
        &private_der,
        "k1",
        &claims("https://issuer", "other", now_s + 600),
    );
    let expired = signed(
        &private_der,
        "k1",
        &claims("https://issuer", "runnel", now_s - 120),
    );
    let no_iat = signed(
        &private_der,
        "k1",
        &serde_json::json!({"sub": "alice", "iss": "https://issuer", "aud": "runnel", "exp": now_s + 600}),
    );
    let unsigned = unsecured_token(&format!(r#"{{"sub":"alice","exp":{}}}"#, now_s + 600));
    for (what, token) in [
        ("forged", forged),
        ("unknown kid", unknown_kid),
        ("wrong issuer", wrong_issuer),
        ("wrong audience", wrong_audience),
        ("expired", expired),
        ("no iat", no_iat),
        ("alg none", unsigned),
    ] {
        assert!(
            validator.validate(&token, now_ms).is_err(),
            "{what} accepted"
        );
    }
}

/// Goal: a token naming a kid the JWKS lacks asks the owner for a refresh and is refused; once
/// the keys are replaced by a document holding that kid, the same token is accepted.
#[test]
fn an_unknown_kid_asks_for_a_refresh_and_a_rotated_key_is_accepted() {
    let (first_der, first_jwks) = es256_key();
    let (rotated_der, rotated_jwks) = es256_key();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let options = JwksOptions {
        keys: Arc::new(JwksKeys::refreshed(
            JwksOptions::parse_jwks(&first_jwks).unwrap(),
            move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
        )),
        expected_issuer: None,
        expected_audience: Vec::new(),
        clock_skew_seconds: 30,
        sub_claim: "sub".into(),
        scope_claim: "scope".into(),
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({"sub": "bob", "iat": now_s, "exp": now_s + 600});
    let old = signed(&first_der, "k1", &claims);
    let rotated = signed(&rotated_der, "k2", &claims);
    let validator = Validator::Jwks(options);
    assert!(validator.validate(&old, now_s * 1000).is_ok());
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(validator.validate(&rotated, now_s * 1000).is_err());
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    let Validator::Jwks(options) = &validator else {
        unreachable!()
    };
    options
        .keys
        .replace(JwksOptions::parse_jwks(&rotated_jwks.replace("\"k1\"", "\"k2\"")).unwrap());
    assert_eq!(
        validator
            .validate(&rotated, now_s * 1000)
            .map(|t| t.principal),
        Ok("bob".to_string())
    );
}
