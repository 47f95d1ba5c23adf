//! `runnel dev-certs`: a development certificate authority and certificates for nodes and
//! clients, as PEM files the brokers and Kafka's clients read directly: `ca.pem` (the trust
//! store), `node-<id>.pem` and `client-<name>.pem` (an unencrypted PKCS#8 key followed by the
//! certificate chain: `ssl.keystore.location` with `ssl.keystore.type=PEM`, for Runnel and for
//! Java clients alike). Node certificates name the given hosts; client certificates have the
//! subject `CN=<name>,O=runnel-dev`, which becomes the principal `User:CN=<name>,O=runnel-dev`
//! on a mutual-TLS listener (see `ssl.principal.mapping.rules`).
//!
//! For development and tests only: the CA's key is written next to the certificates
//! (`ca-key.pem`) so more can be signed with openssl, and nothing is password-protected.
//! Existing files are never overwritten.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Days a development certificate is valid.
const VALIDITY_DAYS: i64 = 825;

#[derive(clap::Args)]
pub struct DevCertsArgs {
    /// Where to write the files (created; must not hold them already).
    #[arg(long, default_value = "./dev-certs")]
    dir: PathBuf,
    /// How many node certificates (node-1.pem, node-2.pem, ...).
    #[arg(long, default_value_t = 1)]
    nodes: u16,
    /// Host names and addresses the node certificates are valid for; repeatable.
    #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    hosts: Vec<String>,
    /// A client certificate for this name (client-<name>.pem); repeatable.
    #[arg(long = "client")]
    clients: Vec<String>,
}

pub fn run(args: DevCertsArgs) -> ExitCode {
    match write_all(&args) {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            let dir = args.dir.display();
            println!();
            println!("A TLS listener with these (server.properties):");
            println!("  listeners=SSL://127.0.0.1:9093");
            println!("  ssl.keystore.location={dir}/node-1.pem");
            println!("  ssl.truststore.location={dir}/ca.pem");
            println!("  ssl.client.auth=required   # mutual TLS; omit for server-only TLS");
            println!(
                "Clients trust {dir}/ca.pem (ssl.truststore.location, ssl.truststore.type=PEM)."
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("runnel dev-certs: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(args: &DevCertsArgs) -> Result<Vec<PathBuf>, String> {
    if args.nodes == 0 && args.clients.is_empty() {
        return Err("nothing to make: --nodes 0 and no --client".into());
    }
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let fail = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(fail)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name = name("Runnel development CA");
    validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
    let mut files = vec![
        write_new(&args.dir.join("ca.pem"), &ca_cert.pem())?,
        write_new(&args.dir.join("ca-key.pem"), &ca_key.serialize_pem())?,
    ];
    for node in 1..=args.nodes {
        let key = KeyPair::generate().map_err(fail)?;
        let mut params = CertificateParams::new(args.hosts.clone()).map_err(fail)?;
        params.distinguished_name = name(&format!("runnel-node-{node}"));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params);
        let cert = params.signed_by(&key, &ca_cert, &ca_key).map_err(fail)?;
        let pem = format!("{}{}{}", key.serialize_pem(), cert.pem(), ca_cert.pem());
        files.push(write_new(&args.dir.join(format!("node-{node}.pem")), &pem)?);
    }
    for client in &args.clients {
        if client.is_empty()
            || !client
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "--client {client:?}: use letters, digits, '-', '_' or '.'"
            ));
        }
        let key = KeyPair::generate().map_err(fail)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        params.distinguished_name = name(client);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params);
        let cert = params.signed_by(&key, &ca_cert, &ca_key).map_err(fail)?;
        let pem = format!("{}{}{}", key.serialize_pem(), cert.pem(), ca_cert.pem());
        files.push(write_new(
            &args.dir.join(format!("client-{client}.pem")),
            &pem,
        )?);
    }
    Ok(files)
}

/// `CN=<common name>,O=runnel-dev`.
fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "runnel-dev");
    name.push(DnType::CommonName, common_name);
    name
}

/// From a day ago (clocks differ a little) to [`VALIDITY_DAYS`] ahead.
fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
}

/// Writes `contents` to a file that must not exist yet (keys readable by the owner only).
fn write_new(path: &Path, contents: &str) -> Result<PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_and_key_stores_once_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("runnel-dev-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let args = DevCertsArgs {
            dir: dir.clone(),
            nodes: 2,
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            clients: vec!["alice".into()],
        };
        let files = write_all(&args).expect("the files are written");
        assert_eq!(files.len(), 5);
        for name in ["node-1.pem", "node-2.pem", "client-alice.pem"] {
            let pem = std::fs::read_to_string(dir.join(name)).unwrap();
            // One PKCS#8 key, then the leaf and the CA: what ssl.keystore.location reads.
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{name}");
            assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{name}");
        }
        assert!(write_all(&args).is_err(), "existing files were overwritten");
        let bad = DevCertsArgs {
            dir: dir.join("other"),
            nodes: 0,
            hosts: vec![],
            clients: vec!["a b".into()],
        };
        assert!(write_all(&bad).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
