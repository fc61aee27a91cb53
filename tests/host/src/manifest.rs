//! The subset of Spin's application manifest (`spin.toml`, manifest version 2) that the test host
//! understands.
//!
//! Unknown keys are rejected rather than ignored: a key the host does not understand is a feature
//! it does not provide, and a test that silently ran without it would prove nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A parsed `spin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Must be `2`.
    pub spin_manifest_version: u32,
    /// `[application]`.
    pub application: Application,
    /// `[variables]`: the application's variables.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.<type>]]` tables.
    #[serde(default)]
    pub trigger: Triggers,
    /// `[component.<id>]` tables.
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

/// `[application]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The application name.
    pub name: String,
    /// The application version.
    pub version: Option<String>,
    /// A description, for people.
    pub description: Option<String>,
    /// Authors, for people.
    #[serde(default)]
    pub authors: Vec<String>,
    /// `[application.trigger.http]`, where `base` used to live; accepted and ignored, as Spin 3 does.
    #[serde(default)]
    pub trigger: Option<toml::Table>,
}

/// One application variable: `name = { default = "…" }`, `{ required = true }`, `{ secret = true }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// The value used when no provider has one.
    pub default: Option<String>,
    /// Startup fails when no provider has a value.
    #[serde(default)]
    pub required: bool,
    /// The value is never logged.
    #[serde(default)]
    pub secret: bool,
    /// A description, for people.
    pub description: Option<String>,
}

/// The trigger tables; only HTTP is provided.
#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    /// `[[trigger.http]]`.
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    /// Any other trigger type: reported at load time.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// An optional trigger id.
    pub id: Option<String>,
    /// `route = "/api/..."` or `route = { private = true }`.
    pub route: RouteSetting,
    /// The component id this trigger runs.
    pub component: ComponentRef,
    /// `executor = { type = "spin" }` (the default) or `{ type = "wagi" }` (not provided).
    pub executor: Option<toml::Table>,
}

/// A trigger's route.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RouteSetting {
    /// A public route.
    Route(String),
    /// `{ private = true }`: reachable only through local service chaining.
    Private {
        /// Must be `true`.
        private: bool,
    },
}

/// A trigger's component: an id, or an inline table (not provided by the test host).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ComponentRef {
    /// `component = "api"`.
    Id(String),
    /// `component = { source = … }`.
    Inline(toml::Table),
}

/// `[component.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// The compiled `.wasm`, relative to the manifest.
    pub source: ComponentSource,
    /// A description, for people.
    pub description: Option<String>,
    /// Hosts the component may send HTTP requests to.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Component variables: `name = "template with {{ app_variable }}"`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Environment variables of the guest.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Files mounted into the guest (not provided by the test host; must be empty).
    #[serde(default)]
    pub files: Vec<toml::Value>,
    /// Files excluded from `files`.
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// `spin build` settings: the host never builds, it only checks the table is well-formed.
    pub build: Option<BuildSettings>,
}

/// A component's `source`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ComponentSource {
    /// A path relative to the manifest.
    Local(String),
    /// `{ url, digest }`: a remote component (not provided by the test host).
    Remote(toml::Table),
}

/// `[component.<id>.build]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// The command `spin build` runs.
    pub command: String,
    /// Where it runs, relative to the manifest.
    pub workdir: Option<String>,
    /// Globs `spin watch` watches.
    #[serde(default)]
    pub watch: Vec<String>,
}

impl Manifest {
    /// Reads and parses `path`, naming the file in every error.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = toml::from_str(text)?;
        if manifest.spin_manifest_version != 2 {
            bail!(
                "`spin_manifest_version` is {}, the test host reads version 2 manifests only",
                manifest.spin_manifest_version
            );
        }
        if let Some(kind) = manifest.trigger.other.keys().next() {
            bail!("`[[trigger.{kind}]]`: the test host provides HTTP triggers only");
        }
        Ok(manifest)
    }
}
