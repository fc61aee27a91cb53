//! `runtime-config.toml`: where each key-value store lives, and outbound networking.
//!
//! ```toml
//! [key_value_store.default]
//! type = "spin"                       # sqlite, Spin's built-in backend
//! path = ".spin/sqlite_key_value.db"  # relative to this file
//!
//! [outbound_networking]
//! block_networks = ["private", "1.2.3.0/24"]  # see `blocked_networks`
//!
//! [[client_tls]]                      # see `tls`
//! component_ids = ["dispatch"]
//! hosts = ["push.example.com"]
//! ca_roots_file = "certs/ca.pem"
//! ```
//!
//! Without a runtime config, or when it does not name `default`, the `default` store is
//! `<state dir>/sqlite_key_value.db`, as under `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::blocked_networks::BlockedNetworks;
use crate::key_value::StoreLocation;
use crate::tls::{ClientTls, ClientTlsToml};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeConfigFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreConfig>,
    outbound_networking: Option<OutboundNetworkingToml>,
    #[serde(default)]
    client_tls: Vec<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum StoreConfig {
    Spin { path: Option<PathBuf> },
    Redis { url: String },
    AzureCosmos {},
    AwsDynamo {},
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundNetworkingToml {
    #[serde(default)]
    block_networks: Vec<String>,
    // Spin 3.x has no connection limits; they arrived in Spin 4.
}

/// Everything a runtime config file sets, with Spin's defaults for what it does not.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// The stores the app may use: label → where it lives.
    pub key_value: BTreeMap<String, StoreLocation>,
    /// `[outbound_networking] block_networks`, for every component.
    pub blocked_networks: BlockedNetworks,
    /// `[[client_tls]]` entries in file order.
    pub client_tls: Vec<ClientTls>,
}

impl RuntimeConfig {
    /// Reads `file` (if any); default stores live in `state_dir`.
    pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<Self> {
        let mut config = Self {
            key_value: BTreeMap::new(),
            blocked_networks: BlockedNetworks::default(),
            client_tls: Vec::new(),
        };
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the runtime config {}", file.display()))?;
            let parsed: RuntimeConfigFile = toml::from_str(&text)
                .with_context(|| format!("invalid runtime config {}", file.display()))?;
            let base = file.parent().unwrap_or(Path::new("."));
            config.key_value = store_paths(parsed.key_value_store, file, base, state_dir)?;
            if let Some(networking) = parsed.outbound_networking {
                config.blocked_networks = BlockedNetworks::parse(&networking.block_networks)
                    .with_context(|| {
                        format!("{}: [outbound_networking] block_networks", file.display())
                    })?;
            }
            for (i, entry) in parsed.client_tls.into_iter().enumerate() {
                let at = || {
                    format!(
                        "{}: [[client_tls]] entry {} (counting from 1)",
                        file.display(),
                        i + 1
                    )
                };
                let toml: ClientTlsToml = entry.try_into().map_err(|e| {
                    anyhow::Error::from(e).context(format!(
                        "{}; Spin's keys are component_ids, hosts, ca_roots_file, \
                         ca_use_webpki_roots, client_cert_file and client_private_key_file",
                        at()
                    ))
                })?;
                config
                    .client_tls
                    .push(ClientTls::load(toml, base).with_context(at)?);
            }
        }
        config
            .key_value
            .entry("default".to_owned())
            .or_insert_with(|| StoreLocation::Sqlite(state_dir.join("sqlite_key_value.db")));
        Ok(config)
    }
}

fn store_paths(
    stores: BTreeMap<String, StoreConfig>,
    file: &Path,
    base: &Path,
    state_dir: &Path,
) -> Result<BTreeMap<String, StoreLocation>> {
    let mut paths = BTreeMap::new();
    for (label, store) in stores {
        let path = match store {
            StoreConfig::Spin { path: Some(p) } => StoreLocation::Sqlite(base.join(p)),
            StoreConfig::Spin { path: None } => {
                StoreLocation::Sqlite(state_dir.join(format!("{label}.db")))
            }
            StoreConfig::Redis { url } => StoreLocation::Redis(url),
            StoreConfig::AzureCosmos {} | StoreConfig::AwsDynamo {} => bail!(
                "{}: [key_value_store.{label}] uses a cloud backend; the test host provides \
                 `type = \"spin\"` (sqlite) and `type = \"redis\"` only",
                file.display()
            ),
        };
        paths.insert(label, path);
    }
    Ok(paths)
}

/// The stores the app may use: label → where it lives.
pub fn key_value_paths(
    runtime_config: Option<&Path>,
    state_dir: &Path,
) -> Result<BTreeMap<String, StoreLocation>> {
    RuntimeConfig::load(runtime_config, state_dir).map(|c| c.key_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_store_lives_in_the_state_dir() {
        let paths = key_value_paths(None, Path::new("/app/.spin")).expect("paths");
        assert_eq!(
            paths.get("default"),
            Some(&StoreLocation::Sqlite(PathBuf::from(
                "/app/.spin/sqlite_key_value.db"
            )))
        );
    }

    #[test]
    fn configured_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rc.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n\
             [key_value_store.cache]\ntype = \"spin\"\n",
        )
        .expect("write");
        let paths = key_value_paths(Some(&file), Path::new("/state")).expect("paths");
        assert_eq!(
            paths["default"],
            StoreLocation::Sqlite(dir.path().join("data/kv.db"))
        );
        assert_eq!(
            paths["cache"],
            StoreLocation::Sqlite(PathBuf::from("/state/cache.db"))
        );
    }

    #[test]
    fn redis_stores_are_read_and_cloud_backends_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rc.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x:6379\"\n",
        )
        .expect("write");
        let paths = key_value_paths(Some(&file), Path::new("/s")).expect("redis");
        assert_eq!(
            paths["default"],
            StoreLocation::Redis("redis://x:6379".into())
        );
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"azure_cosmos\"\n",
        )
        .expect("write");
        let err = format!(
            "{:#}",
            key_value_paths(Some(&file), Path::new("/s")).expect_err("cosmos")
        );
        assert!(
            err.contains("key_value_store.default") && err.contains("rc.toml"),
            "{err}"
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    fn load_err(dir: &Path, text: &str) -> String {
        let file = write(dir, "rc.toml", text);
        format!(
            "{:#}",
            RuntimeConfig::load(Some(&file), Path::new("/s")).expect_err(text)
        )
    }

    fn ca_pem() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["client.test".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn client_tls_files_are_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = ca_pem();
        write(dir.path(), "certs/ca.pem", &cert);
        write(dir.path(), "certs/client.pem", &cert);
        write(dir.path(), "certs/client.key", &key);
        let file = write(
            dir.path(),
            "rc.toml",
            "[outbound_networking]\nblock_networks = [\"private\", \"1.2.3.4/24\"]\n\
             [[client_tls]]\ncomponent_ids = [\"dispatch\", \"api-v2\"]\n\
             hosts = [\"push.example.com\", \"127.0.0.1\"]\nca_roots_file = \"certs/ca.pem\"\n\
             client_cert_file = \"certs/client.pem\"\nclient_private_key_file = \"certs/client.key\"\n\
             [[client_tls]]\ncomponent_ids = [\"other\"]\nhosts = [\"[::1]\"]\n",
        );
        let config = RuntimeConfig::load(Some(&file), Path::new("/s")).expect("load");
        assert_eq!(config.client_tls.len(), 2);
        assert!(config
            .blocked_networks
            .is_blocked("1.2.3.200".parse().expect("ip")));
        assert!(config
            .blocked_networks
            .is_blocked("10.0.0.1".parse().expect("ip")));
        assert!(!config
            .blocked_networks
            .is_blocked("1.2.4.1".parse().expect("ip")));
        let tls = crate::tls::TlsConfigs::new(&config.client_tls).expect("configs");
        let dispatch = tls.for_component("dispatch");
        let configured = dispatch.for_host("push.example.com");
        assert!(configured.client_auth_cert_resolver.has_certs());
        assert!(!dispatch
            .for_host("other.example.com")
            .client_auth_cert_resolver
            .has_certs());
        assert!(!std::sync::Arc::ptr_eq(
            &configured,
            &tls.for_component("root").for_host("push.example.com")
        ));
    }

    #[test]
    fn bad_outbound_networking_names_the_file_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (text, expected) in [
            (
                "[outbound_networking]\nblock_networks = [\"10.0.0.1\"]\n",
                "[outbound_networking] block_networks",
            ),
            (
                "[outbound_networking]\nmax_socket_connections = 3\n",
                "max_socket_connections",
            ),
            (
                "[[client_tls]]\ncomponent_ids = []\nhosts = [\"a.com\"]\n",
                "'component_ids' list may not be empty",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = []\n",
                "'hosts' list may not be empty",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"localhost:8443\"]\n",
                "ports not currently supported",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"my_comp\"]\nhosts = [\"a.com\"]\n",
                "component_ids: \"my_comp\"",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"a.com\"]\n\
                 cert_chain_file = \"c.pem\"\n",
                "cert_chain_file",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"a.com\"]\n\
                 ca_roots_file = \"missing/ca.pem\"\n",
                "ca_roots_file",
            ),
            (
                "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"a.com\"]\n\
                 client_cert_file = \"c.pem\"\n",
                "client_cert_file specified without client_private_key_file",
            ),
        ] {
            let err = load_err(dir.path(), text);
            assert!(err.contains("rc.toml"), "{err}");
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let err = load_err(
            dir.path(),
            "[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"a.com\"]\n\
             ca_roots_file = \"missing/ca.pem\"\n",
        );
        assert!(
            err.contains(&dir.path().join("missing/ca.pem").display().to_string()),
            "{err}"
        );
        assert!(err.contains("[[client_tls]] entry 1"), "{err}");
    }
}
