//! A test certificate authority and one certificate for 127.0.0.1/localhost signed by it,
//! written as PEM files Runnel reads (`ssl.keystore.location`, `ssl.truststore.location`).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// Writes `ca.pem` and `node.pem` (key then certificate) into `dir`; returns their paths.
pub fn write(dir: &std::path::Path) -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "runnel test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let node_key = KeyPair::generate().unwrap();
    let mut node = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    node.distinguished_name
        .push(DnType::CommonName, "runnel-node");
    let node = node.signed_by(&node_key, &ca_cert, &ca_key).unwrap();
    let ca_path = dir.join("ca.pem");
    let node_path = dir.join("node.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(
        &node_path,
        format!("{}{}", node_key.serialize_pem(), node.pem()),
    )
    .unwrap();
    (
        ca_path.to_string_lossy().into_owned(),
        node_path.to_string_lossy().into_owned(),
    )
}
