//! `[[client_tls]]`: which roots and client certificate a component's outbound HTTPS requests to
//! given hosts use, with Spin 3's names, defaults and checks.
//!
//! ```toml
//! [[client_tls]]
//! component_ids = ["dispatch"]           # kebab-case component ids, not empty
//! hosts = ["push.example.com"]           # host names or IPs, no port, not empty
//! ca_roots_file = "certs/ca.pem"         # PEM, relative to the runtime config file
//! ca_use_webpki_roots = false            # default: true only when ca_roots_file is absent
//! client_cert_file = "certs/client.pem"  # mTLS: both or neither
//! client_private_key_file = "certs/client.key"
//! ```
//!
//! A request uses an entry's config when its component is listed and the URL's host equals a
//! listed host (the port is ignored); the first matching entry wins. Everything else uses the
//! default: the webpki roots, no client certificate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, ensure, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ClientConfig;
use serde::Deserialize;

/// One `[[client_tls]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientTlsToml {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

/// One `[[client_tls]]` entry, loaded.
#[derive(Clone)]
pub struct ClientTls {
    components: Vec<String>,
    hosts: Vec<String>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("components", &self.components)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Checks and loads an entry; relative files are looked up in `base`.
    pub(crate) fn load(toml: ClientTlsToml, base: &Path) -> Result<Self> {
        let ClientTlsToml {
            component_ids,
            hosts,
            ca_use_webpki_roots,
            ca_roots_file,
            client_cert_file,
            client_private_key_file,
        } = toml;
        ensure!(
            !component_ids.is_empty(),
            "'component_ids' list may not be empty"
        );
        for id in &component_ids {
            check_kebab_id(id).map_err(|e| anyhow!("component_ids: {id:?}: {e}"))?;
        }
        ensure!(!hosts.is_empty(), "'hosts' list may not be empty");
        for host in &hosts {
            check_host(host)?;
        }
        // As in Spin: giving your own roots replaces the public ones unless you ask for both.
        let use_webpki_roots = ca_use_webpki_roots.unwrap_or(ca_roots_file.is_none());
        let mut roots = rustls::RootCertStore::empty();
        if use_webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(file) = &ca_roots_file {
            for cert in load_certs(&base.join(file)).context("ca_roots_file")? {
                roots
                    .add(cert)
                    .with_context(|| format!("ca_roots_file: {}", base.join(file).display()))?;
            }
        }
        if roots.is_empty() {
            tracing::warn!(
                ?hosts,
                "[[client_tls]] has no root certificate: every HTTPS request it covers will fail"
            );
        }
        let builder = config_builder()?.with_root_certificates(roots);
        let config = match (client_cert_file, client_private_key_file) {
            (Some(cert), Some(key)) => {
                let chain = load_certs(&base.join(&cert)).context("client_cert_file")?;
                let key = load_key(&base.join(&key)).context("client_private_key_file")?;
                builder.with_client_auth_cert(chain, key).context(
                    "client_cert_file, client_private_key_file: the key does not fit the certificate",
                )?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => bail!("client_cert_file specified without client_private_key_file"),
            (None, Some(_)) => bail!("client_private_key_file specified without client_cert_file"),
        };
        Ok(Self {
            components: component_ids,
            hosts,
            config: Arc::new(config),
        })
    }
}

/// Spin checks hosts as URL authorities without a port.
fn check_host(host: &str) -> Result<()> {
    let authority: http::uri::Authority = host
        .parse()
        .map_err(|e| anyhow!("hosts: invalid TLS 'host' {host:?}: {e}"))?;
    ensure!(
        authority.port().is_none(),
        "hosts: invalid TLS 'host' {host:?}; ports not currently supported (Spin matches the \
         host alone: write {:?})",
        authority.host()
    );
    Ok(())
}

/// Spin's `KebabId`: `-`-separated words of ASCII letters and digits, each starting with a
/// letter and all lowercase or all uppercase.
fn check_kebab_id(id: &str) -> Result<()> {
    ensure!(!id.is_empty(), "empty");
    ensure!(
        !id.contains('_'),
        "words must be separated with '-', not '_'"
    );
    for word in id.split('-') {
        let mut chars = word.chars();
        let first = chars
            .next()
            .ok_or_else(|| anyhow!("'-'-separated words must not be empty"))?;
        ensure!(
            first.is_ascii_alphabetic(),
            "'-'-separated words must start with an ASCII letter; got {first:?}"
        );
        let upper = first.is_ascii_uppercase();
        for ch in chars {
            ensure!(
                ch.is_ascii_alphanumeric(),
                "'-'-separated words may only contain alphanumeric ASCII; got {ch:?}"
            );
            ensure!(
                ch.is_ascii_digit() || ch.is_ascii_uppercase() == upper,
                "'-'-separated words must be all lowercase or all UPPERCASE; got {word:?}"
            );
        }
    }
    Ok(())
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .with_context(|| format!("failed to load certificate(s) from '{}'", path.display()))
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("failed to load key from '{}'", path.display()))
}

/// Names the provider: more than one may be compiled in, and rustls then refuses to guess.
fn config_builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS provider")
}

/// The TLS configs of an app, by component and host.
#[derive(Clone)]
pub struct TlsConfigs {
    by_component: HashMap<String, Arc<HashMap<String, Arc<ClientConfig>>>>,
    default: Arc<ClientConfig>,
}

impl TlsConfigs {
    /// Indexes the entries; the first entry naming a (component, host) pair wins.
    pub fn new(entries: &[ClientTls]) -> Result<Self> {
        let mut by_component: HashMap<String, HashMap<String, Arc<ClientConfig>>> = HashMap::new();
        for entry in entries {
            for component in &entry.components {
                let hosts = by_component.entry(component.clone()).or_default();
                for host in &entry.hosts {
                    hosts
                        .entry(host.clone())
                        .or_insert_with(|| entry.config.clone());
                }
            }
        }
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let default = config_builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            by_component: by_component
                .into_iter()
                .map(|(c, h)| (c, Arc::new(h)))
                .collect(),
            default: Arc::new(default),
        })
    }

    /// What `component` uses.
    pub fn for_component(&self, component: &str) -> ComponentTls {
        ComponentTls {
            hosts: self.by_component.get(component).cloned(),
            default: self.default.clone(),
        }
    }
}

/// The TLS configs one component uses.
#[derive(Clone)]
pub struct ComponentTls {
    hosts: Option<Arc<HashMap<String, Arc<ClientConfig>>>>,
    default: Arc<ClientConfig>,
}

impl std::fmt::Debug for ComponentTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<&String> = self.hosts.iter().flat_map(|h| h.keys()).collect();
        f.debug_struct("ComponentTls")
            .field("configured_hosts", &hosts)
            .finish_non_exhaustive()
    }
}

impl ComponentTls {
    /// The config for a request to `host` (the URL's host as written, without the port; IPv6
    /// in brackets), compared exactly, as Spin does.
    pub fn for_host(&self, host: &str) -> Arc<ClientConfig> {
        self.hosts
            .as_ref()
            .and_then(|h| h.get(host))
            .unwrap_or(&self.default)
            .clone()
    }
}
