//! A certificate authority made per test run, so the local push service and webhook receiver
//! serve real HTTPS that the app trusts only through its runtime config (`[[client_tls]]
//! ca_roots_file`), as it would trust a private CA in production.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// The names the server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A CA, its PEM file on disk, and a server certificate it signed for [`SERVER_NAMES`].
pub struct TestCa {
    ca_pem: String,
    ca_file: PathBuf,
    server: Arc<ServerConfig>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestCa({})", self.ca_file.display())
    }
}

/// One crypto provider for every config made here: rustls refuses to guess when a build links
/// more than one, and other crates in the workspace may bring another.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestCa {
    /// Generates the CA and the server certificate, and writes the CA to `ca.pem` in a fresh
    /// temporary directory (removed on drop).
    pub fn new() -> Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Aurras end-to-end test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut params = CertificateParams::new(SERVER_NAMES.map(String::from).to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAMES[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;

        // The chain includes the CA so clients that want the whole path get it.
        let chain = vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("server certificate")?;
        // The servers speak HTTP/1.1 only; saying so lets an h2-capable client fall back cleanly.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];

        let dir = tempfile::tempdir()?;
        let ca_file = dir.path().join("ca.pem");
        let ca_pem = ca.pem();
        std::fs::write(&ca_file, &ca_pem)?;
        Ok(Self {
            ca_pem,
            ca_file,
            server: Arc::new(server),
            _dir: dir,
        })
    }

    /// The CA certificate's PEM file (for `ca_roots_file`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The TLS configuration of the local servers.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server)
    }

    /// A client that trusts this CA and nothing else, for tests that talk to the servers directly.
    pub fn client(&self) -> Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes())?)
            .build()?)
    }
}
