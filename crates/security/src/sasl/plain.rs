//! SASL/PLAIN (RFC 4616) against the users of the listener's `PlainLoginModule`
//! (`user_<name>="<password>"`), with Kafka's `PlainSaslServer` checks and messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{SaslFailure, Step, constant_time_eq};
use crate::KafkaPrincipal;

pub struct PlainServer {
    users: Arc<BTreeMap<String, String>>,
    done: bool,
}

impl PlainServer {
    pub fn new(users: Arc<BTreeMap<String, String>>) -> Self {
        Self { users, done: false }
    }

    /// The one client message: `authzid NUL authcid NUL password`.
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Step, SaslFailure> {
        if self.done {
            return Err(SaslFailure::verbatim(
                "Authentication failed: PLAIN takes one message",
            ));
        }
        self.done = true;
        let text = String::from_utf8_lossy(token);
        let parts: Vec<&str> = text.splitn(4, '\0').collect();
        let [authzid, username, password] = parts[..] else {
            return Err(SaslFailure::verbatim(format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                parts.len()
            )));
        };
        if username.is_empty() {
            return Err(SaslFailure::verbatim(
                "Authentication failed: username not specified",
            ));
        }
        if password.is_empty() {
            return Err(SaslFailure::verbatim(
                "Authentication failed: password not specified",
            ));
        }
        let known = self.users.get(username);
        // Compared even for an unknown user, so the time taken does not tell which it was.
        let expected = known.map_or("\u{0}unknown", String::as_str);
        if !constant_time_eq(expected.as_bytes(), password.as_bytes()) || known.is_none() {
            return Err(SaslFailure::verbatim(
                "Authentication failed: Invalid username or password",
            ));
        }
        if !authzid.is_empty() && authzid != username {
            return Err(SaslFailure::verbatim(
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        Ok(Step::Complete {
            response: Vec::new(),
            principal: KafkaPrincipal::user(username),
            expires_at_ms: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> PlainServer {
        PlainServer::new(Arc::new(BTreeMap::from([(
            "alice".to_string(),
            "alice-secret".to_string(),
        )])))
    }

    #[test]
    fn the_right_password_authenticates_the_user() {
        let step = server().evaluate(b"\0alice\0alice-secret").unwrap();
        assert_eq!(
            step,
            Step::Complete {
                response: vec![],
                principal: KafkaPrincipal::user("alice"),
                expires_at_ms: None,
            }
        );
        assert!(server().evaluate(b"alice\0alice\0alice-secret").is_ok());
    }

    #[test]
    fn failures_carry_kafkas_messages() {
        let fail = |token: &[u8]| server().evaluate(token).unwrap_err().message;
        assert_eq!(
            fail(b"\0alice\0wrong"),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            fail(b"\0bob\0alice-secret"),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            fail(b"\0\0x"),
            "Authentication failed: username not specified"
        );
        assert_eq!(
            fail(b"\0alice\0"),
            "Authentication failed: password not specified"
        );
        assert_eq!(
            fail(b"alice-secret"),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
        );
        assert!(fail(b"mallory\0alice\0alice-secret").contains("authorization id"));
        let mut twice = server();
        twice.evaluate(b"\0alice\0alice-secret").unwrap();
        assert!(twice.evaluate(b"\0alice\0alice-secret").is_err());
    }
}
