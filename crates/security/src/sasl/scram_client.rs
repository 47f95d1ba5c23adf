//! The client side of SCRAM (RFC 5802 section 3): the messages a client sends and the check
//! of the server's signature. For a broker that authenticates to another with SCRAM, and for
//! tests that drive the broker as a client would.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::Mechanism;
use super::scram::{hash, hmac, salted_password};

/// Why the server's messages cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramClientError {
    #[error("malformed server message: {0}")]
    Malformed(String),
    #[error("the server's nonce does not extend ours")]
    Nonce,
    #[error("the server's signature does not verify")]
    Signature,
}

pub struct ScramClient {
    mechanism: Mechanism,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    /// The expected server signature, once the final message is made.
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A client for `user`; `nonce` is fresh randomness in printable ASCII without `,`.
    pub fn new(mechanism: Mechanism, user: &str, password: &str, nonce: &str) -> Self {
        let name = user.replace('=', "=3D").replace(',', "=2C");
        Self {
            mechanism,
            password: password.to_string(),
            client_first_bare: format!("n={name},r={nonce}"),
            client_nonce: nonce.to_string(),
            server_signature: None,
        }
    }

    /// The client-first message (`n,,n=user,r=nonce`).
    pub fn first_message(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message with its proof, for the server-first message.
    pub fn final_message(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramClientError> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| ScramClientError::Malformed("not UTF-8".into()))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for field in text.split(',') {
            match field.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = BASE64.decode(v).ok(),
                Some(("i", v)) => iterations = v.parse::<i32>().ok(),
                _ => {}
            }
        }
        let malformed = || ScramClientError::Malformed(text.to_string());
        let (nonce, salt, iterations) = (
            nonce.ok_or_else(malformed)?,
            salt.ok_or_else(malformed)?,
            iterations.ok_or_else(malformed)?,
        );
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ScramClientError::Nonce);
        }
        let without_proof = format!("c=biws,r={nonce}");
        let salted = salted_password(self.mechanism, self.password.as_bytes(), &salt, iterations);
        let client_key = hmac(self.mechanism, &salted, b"Client Key");
        let stored_key = hash(self.mechanism, &client_key);
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = hmac(self.mechanism, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac(self.mechanism, &salted, b"Server Key");
        self.server_signature = Some(hmac(self.mechanism, &server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message (`v=signature`).
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramClientError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| ScramClientError::Malformed("not UTF-8".into()))?;
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or_else(|| ScramClientError::Malformed(text.to_string()))?;
        match &self.server_signature {
            Some(expected) if super::constant_time_eq(expected, &signature) => Ok(()),
            _ => Err(ScramClientError::Signature),
        }
    }
}
