//! `runtime-config.toml`: where each key-value store lives.
//!
//! ```toml
//! [key_value_store.default]
//! type = "spin"                       # sqlite, Spin's built-in backend
//! path = ".spin/sqlite_key_value.db"  # relative to this file
//! ```
//!
//! Without a runtime config, or when it does not name `default`, the `default` store is
//! `<state dir>/sqlite_key_value.db`, as under `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeConfigFile {
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum StoreConfig {
    Spin { path: Option<PathBuf> },
    Redis { url: String },
    AzureCosmos {},
    AwsDynamo {},
}

/// The stores the app may use: label → sqlite file.
pub fn key_value_paths(
    runtime_config: Option<&Path>,
    state_dir: &Path,
) -> Result<BTreeMap<String, PathBuf>> {
    let mut paths = BTreeMap::new();
    if let Some(file) = runtime_config {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the runtime config {}", file.display()))?;
        let parsed: RuntimeConfigFile = toml::from_str(&text)
            .with_context(|| format!("invalid runtime config {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        for (label, store) in parsed.key_value_store {
            let path = match store {
                StoreConfig::Spin { path: Some(p) } => base.join(p),
                StoreConfig::Spin { path: None } => state_dir.join(format!("{label}.db")),
                StoreConfig::Redis { url } => bail!(
                    "{}: [key_value_store.{label}] is Redis at {url}; the test host provides \
                     `type = \"spin\"` (sqlite) only: use real `spin up` for Redis",
                    file.display()
                ),
                StoreConfig::AzureCosmos {} | StoreConfig::AwsDynamo {} => bail!(
                    "{}: [key_value_store.{label}] uses a cloud backend; the test host provides \
                     `type = \"spin\"` (sqlite) only",
                    file.display()
                ),
            };
            paths.insert(label, path);
        }
    }
    paths
        .entry("default".to_owned())
        .or_insert_with(|| state_dir.join("sqlite_key_value.db"));
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_store_lives_in_the_state_dir() {
        let paths = key_value_paths(None, Path::new("/app/.spin")).expect("paths");
        assert_eq!(
            paths.get("default"),
            Some(&PathBuf::from("/app/.spin/sqlite_key_value.db"))
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
        assert_eq!(paths["default"], dir.path().join("data/kv.db"));
        assert_eq!(paths["cache"], PathBuf::from("/state/cache.db"));
    }

    #[test]
    fn unsupported_backends_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rc.toml");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\n",
        )
        .expect("write");
        let err = format!(
            "{:#}",
            key_value_paths(Some(&file), Path::new("/s")).expect_err("redis")
        );
        assert!(
            err.contains("key_value_store.default") && err.contains("rc.toml"),
            "{err}"
        );
    }
}
