//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka's `ScramSaslServer`
//! speaks it: no channel binding (`n,,` only), ASCII user names with `=2C`/`=3D` escapes, an
//! exact nonce check, credentials stored as (salt, StoredKey, ServerKey, iterations) and never
//! the password. An unknown user fails at the first message, a wrong password at the final one,
//! both with the generic message; an authorization id other than the user is told as it is.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Mechanism, SaslFailure, Step, constant_time_eq};
use crate::KafkaPrincipal;

/// Kafka's bounds on a credential's iterations (`ScramMechanism`).
pub const ITERATIONS_MIN: i32 = 4096;
pub const ITERATIONS_MAX: i32 = 16384;

/// A user's stored SCRAM credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// From the salted password AlterUserScramCredentials carries (the client salts it).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        let client_key = hmac(mechanism, salted_password, b"Client Key");
        Self {
            salt: salt.to_vec(),
            stored_key: hash(mechanism, &client_key),
            server_key: hmac(mechanism, salted_password, b"Server Key"),
            iterations,
        }
    }

    /// From a password (`kafka-storage format --add-scram`, tests).
    pub fn from_password(
        mechanism: Mechanism,
        password: &str,
        salt: &[u8],
        iterations: i32,
    ) -> Self {
        let salted = salted_password(mechanism, password.as_bytes(), salt, iterations);
        Self::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

impl ScramCredential {
    /// The stored form, Kafka's format for user configs:
    /// `salt=<base64>,stored_key=<base64>,server_key=<base64>,iterations=<n>`.
    pub fn to_config_value(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            BASE64.encode(&self.salt),
            BASE64.encode(&self.stored_key),
            BASE64.encode(&self.server_key),
            self.iterations
        )
    }

    /// Reads [`ScramCredential::to_config_value`]'s form; `None` when it is not one.
    pub fn from_config_value(value: &str) -> Option<Self> {
        let (mut salt, mut stored_key, mut server_key, mut iterations) = (None, None, None, None);
        for field in value.split(',') {
            let (key, value) = field.split_once('=')?;
            match key {
                "salt" => salt = BASE64.decode(value).ok(),
                "stored_key" => stored_key = BASE64.decode(value).ok(),
                "server_key" => server_key = BASE64.decode(value).ok(),
                "iterations" => iterations = value.parse().ok(),
                _ => return None,
            }
        }
        Some(Self {
            salt: salt?,
            stored_key: stored_key?,
            server_key: server_key?,
            iterations: iterations?,
        })
    }
}

/// Hi(password, salt, i): PBKDF2 with the mechanism's HMAC, as long as its hash.
pub fn salted_password(
    mechanism: Mechanism,
    password: &[u8],
    salt: &[u8],
    iterations: i32,
) -> Vec<u8> {
    let rounds = u32::try_from(iterations).unwrap_or(0).max(1);
    match mechanism {
        Mechanism::ScramSha512 => {
            pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, rounds).to_vec()
        }
        _ => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, rounds).to_vec(),
    }
}

pub(crate) fn hmac(mechanism: Mechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    match mechanism {
        Mechanism::ScramSha512 => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

pub(crate) fn hash(mechanism: Mechanism, data: &[u8]) -> Vec<u8> {
    match mechanism {
        Mechanism::ScramSha512 => Sha512::digest(data).to_vec(),
        _ => Sha256::digest(data).to_vec(),
    }
}

/// Finds a user's credential for a mechanism.
pub type CredentialLookup = Arc<dyn Fn(&str, Mechanism) -> Option<ScramCredential> + Send + Sync>;

enum State {
    ClientFirst,
    ClientFinal {
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        username: String,
        credential: ScramCredential,
    },
    Done,
}

pub struct ScramServer {
    mechanism: Mechanism,
    lookup: CredentialLookup,
    state: State,
}

impl ScramServer {
    pub fn new(mechanism: Mechanism, lookup: CredentialLookup) -> Self {
        Self {
            mechanism,
            lookup,
            state: State::ClientFirst,
        }
    }

    pub fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslFailure> {
        let state = std::mem::replace(&mut self.state, State::Done);
        let generic = || SaslFailure::generic(self.mechanism);
        let text = std::str::from_utf8(token).map_err(|_| generic())?;
        match state {
            State::ClientFirst => self.client_first(text),
            State::ClientFinal {
                gs2_header,
                client_first_bare,
                server_first,
                nonce,
                username,
                credential,
            } => {
                let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(generic)?;
                let mut fields = without_proof.split(',');
                let channel_binding = fields
                    .next()
                    .and_then(|f| f.strip_prefix("c="))
                    .ok_or_else(generic)?;
                let final_nonce = fields
                    .next()
                    .and_then(|f| f.strip_prefix("r="))
                    .ok_or_else(generic)?;
                if BASE64.decode(channel_binding).ok().as_deref() != Some(gs2_header.as_bytes())
                    || final_nonce != nonce
                {
                    return Err(generic());
                }
                let proof = BASE64.decode(proof).map_err(|_| generic())?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let client_signature = hmac(
                    self.mechanism,
                    &credential.stored_key,
                    auth_message.as_bytes(),
                );
                if proof.len() != client_signature.len() {
                    return Err(generic());
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(p, s)| p ^ s)
                    .collect();
                if !constant_time_eq(&hash(self.mechanism, &client_key), &credential.stored_key) {
                    return Err(generic());
                }
                let server_signature = hmac(
                    self.mechanism,
                    &credential.server_key,
                    auth_message.as_bytes(),
                );
                Ok(Step::Complete {
                    response: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
                    principal: KafkaPrincipal::user(username),
                    expires_at_ms: None,
                })
            }
            State::Done => Err(generic()),
        }
    }

    /// `n,[a=authzid],n=user,r=client-nonce[,ext=value]*`.
    fn client_first(&mut self, text: &str) -> Result<Step, SaslFailure> {
        let generic = || SaslFailure::generic(self.mechanism);
        let rest = text.strip_prefix("n,").ok_or_else(generic)?;
        let (authzid, bare) = rest.split_once(',').ok_or_else(generic)?;
        let authzid = match authzid {
            "" => None,
            a => Some(decode_name(a.strip_prefix("a=").ok_or_else(generic)?).ok_or_else(generic)?),
        };
        let gs2_header = format!("n,{},", &rest[..rest.len() - bare.len() - 1]);
        let mut fields = bare.split(',');
        let username = fields
            .next()
            .and_then(|f| f.strip_prefix("n="))
            .and_then(decode_name)
            .ok_or_else(generic)?;
        let client_nonce = fields
            .next()
            .and_then(|f| f.strip_prefix("r="))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .ok_or_else(generic)?;
        for extension in fields {
            let (key, value) = extension.split_once('=').ok_or_else(generic)?;
            // Delegation tokens (`tokenauth=true`) are not served.
            if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
                return Err(generic());
            }
        }
        let credential = (self.lookup)(&username, self.mechanism).ok_or_else(generic)?;
        if credential.iterations < ITERATIONS_MIN {
            return Err(generic());
        }
        if authzid.as_ref().is_some_and(|a| *a != username) {
            return Err(SaslFailure::verbatim(
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        let mut random = [0u8; 18];
        getrandom::fill(&mut random).map_err(|_| generic())?;
        let nonce = format!("{client_nonce}{}", BASE64.encode(random));
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        self.state = State::ClientFinal {
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
            username,
            credential,
        };
        Ok(Step::Challenge(server_first.into_bytes()))
    }
}

/// A saslname: ASCII without `,`, with `=2C` and `=3D` for `,` and `=`.
fn decode_name(name: &str) -> Option<String> {
    if name.is_empty() || !name.is_ascii() {
        return None;
    }
    let mut out = String::new();
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sasl::scram_client::ScramClient;

    fn client(mechanism: Mechanism, user: &str, password: &str) -> ScramClient {
        ScramClient::new(mechanism, user, password, "fyko+d2lbbFgONRv9qkxdawL")
    }

    fn server(mechanism: Mechanism) -> ScramServer {
        let lookup: CredentialLookup = Arc::new(|user, mechanism| {
            (user == "alice").then(|| {
                ScramCredential::from_password(mechanism, "alice-secret", b"salt-1234", 4096)
            })
        });
        ScramServer::new(mechanism, lookup)
    }

    #[test]
    fn the_right_password_completes_with_the_server_signature() {
        for mechanism in [Mechanism::ScramSha256, Mechanism::ScramSha512] {
            let mut client = client(mechanism, "alice", "alice-secret");
            let mut server = server(mechanism);
            let Step::Challenge(server_first) = server.evaluate(&client.first_message()).unwrap()
            else {
                panic!("expected server-first");
            };
            let last = client.final_message(&server_first).unwrap();
            let Step::Complete {
                response,
                principal,
                ..
            } = server.evaluate(&last).unwrap()
            else {
                panic!("expected completion");
            };
            assert_eq!(principal, KafkaPrincipal::user("alice"));
            client.verify_server_final(&response).unwrap();
            assert!(client.verify_server_final(b"v=AAAA").is_err());
        }
    }

    #[test]
    fn a_wrong_password_fails_at_the_final_message_and_an_unknown_user_at_the_first() {
        let mut wrong = client(Mechanism::ScramSha256, "alice", "wrong");
        let mut exchange = server(Mechanism::ScramSha256);
        let Step::Challenge(server_first) = exchange.evaluate(&wrong.first_message()).unwrap()
        else {
            panic!("expected server-first");
        };
        let last = wrong.final_message(&server_first).unwrap();
        let failure = exchange.evaluate(&last).unwrap_err();
        assert_eq!(failure, SaslFailure::generic(Mechanism::ScramSha256));
        // Replaying the final message on a finished exchange fails too.
        assert!(exchange.evaluate(&last).is_err());
        let stranger = client(Mechanism::ScramSha256, "mallory", "x");
        let refused = server(Mechanism::ScramSha256).evaluate(&stranger.first_message());
        assert!(refused.is_err());
    }

    #[test]
    fn malformed_and_tampered_messages_fail() {
        let mut s = server(Mechanism::ScramSha256);
        for bad in [
            &b"y,,n=alice,r=abc"[..],
            b"n,,n=alice",
            b"n,,n=al=ZZice,r=x",
            b"",
            b"\xff\xfe",
        ] {
            assert!(
                server(Mechanism::ScramSha256).evaluate(bad).is_err(),
                "{bad:?}"
            );
        }
        let Step::Challenge(first) = s.evaluate(b"n,,n=alice,r=abc").unwrap() else {
            panic!("expected server-first");
        };
        let nonce = std::str::from_utf8(&first)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        // A nonce that only ends with the server's, or a truncated message.
        let bad_nonce = format!("c=biws,r=x{},p=AAAA", &nonce[2..]);
        assert!(s.evaluate(bad_nonce.as_bytes()).is_err());
        let authz = server(Mechanism::ScramSha256)
            .evaluate(b"n,a=bob,n=alice,r=abc")
            .unwrap_err();
        assert!(authz.message.contains("authorization id"));
    }

    #[test]
    fn credentials_round_trip_through_their_stored_form() {
        let credential =
            ScramCredential::from_password(Mechanism::ScramSha512, "pw", b"salt-1234", 4096);
        let value = credential.to_config_value();
        assert!(
            value.starts_with("salt=c2FsdC0xMjM0,stored_key="),
            "{value}"
        );
        assert_eq!(ScramCredential::from_config_value(&value), Some(credential));
        assert_eq!(
            ScramCredential::from_config_value("salt=c2FsdA==,iterations=1"),
            None
        );
        assert_eq!(ScramCredential::from_config_value("nonsense"), None);
    }

    #[test]
    fn names_decode_their_escapes() {
        assert_eq!(decode_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_name("a=2"), None);
        assert_eq!(decode_name("é"), None);
    }
}
