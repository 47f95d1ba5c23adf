//! A test certificate authority and certificates for 127.0.0.1/localhost signed by it, written
//! as PEM files Runnel reads (`ssl.keystore.location`, `ssl.truststore.location`).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A CA that can issue more node certificates (to rotate a key store in a test).
pub struct TestCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "runnel test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa { key, cert }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for localhost/127.0.0.1 named `name`: the PEM key store (key, then
    /// certificate) and the certificate's DER.
    pub fn issue(&self, name: &str) -> (String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (
            format!("{}{}", key.serialize_pem(), cert.pem()),
            cert.der().to_vec(),
        )
    }
}

/// Writes `ca.pem` and `node.pem` (key then certificate) into `dir`; returns their paths.
pub fn write(dir: &std::path::Path) -> (String, String) {
    let (_, ca, node) = write_with_ca(dir);
    (ca, node)
}

/// As [`write`], keeping the CA to issue more certificates.
pub fn write_with_ca(dir: &std::path::Path) -> (TestCa, String, String) {
    let ca = TestCa::new();
    let (node, _) = ca.issue("runnel-node");
    let ca_path = dir.join("ca.pem");
    let node_path = dir.join("node.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&node_path, node).unwrap();
    (
        ca,
        ca_path.to_string_lossy().into_owned(),
        node_path.to_string_lossy().into_owned(),
    )
}
