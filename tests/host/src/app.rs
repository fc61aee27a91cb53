//! Loading an application: manifest, runtime config, variables, stores and compiled components,
//! validated together so that every mistake stops the host at startup with the file, key and fix.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::key_value::{KeyValueStores, StoreLocation};
use crate::manifest::{ComponentRef, ComponentSource, Manifest, RouteSetting};
use crate::outbound::OutboundPolicy;
use crate::routes::Router;
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentContext, RequestState};
use crate::tls::TlsConfigs;
use crate::variables::{AppVariables, EnvProvider, Provider};

/// What to load.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The `spin.toml`.
    pub manifest: PathBuf,
    /// An optional `runtime-config.toml`.
    pub runtime_config: Option<PathBuf>,
    /// Where default stores live; `.spin` beside the manifest when `None`, as under `spin up`.
    pub state_dir: Option<PathBuf>,
    /// Extra variable values (as `SPIN_VARIABLE_<NAME>` → value), consulted before the process
    /// environment; lets tests set variables without touching global state.
    pub variables: BTreeMap<String, String>,
    /// Test only, and not a Spin setting: host names (lowercase) that outbound requests resolve
    /// to the given address instead of asking the system resolver, like `curl --resolve`. Lets a
    /// test point a public-looking name at a local server, as DNS under an attacker's control
    /// would. `block_networks` applies to these addresses like to any other.
    pub resolve: BTreeMap<String, IpAddr>,
}

impl AppOptions {
    /// Options for `manifest` with nothing else set.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            runtime_config: None,
            state_dir: None,
            variables: BTreeMap::new(),
            resolve: BTreeMap::new(),
        }
    }
}

/// A component ready to serve.
pub(crate) struct LoadedComponent {
    pub context: Arc<ComponentContext>,
    pub pre: ProxyPre<RequestState>,
}

/// An application ready to serve.
pub struct LoadedApp {
    /// `[application] name`.
    pub name: String,
    /// `[application] version`.
    pub version: Option<String>,
    pub(crate) router: Router,
    pub(crate) components: BTreeMap<String, LoadedComponent>,
    pub(crate) stores: KeyValueStores,
    /// Public routes and their components, for the startup banner.
    pub routes: Vec<(String, String)>,
}

struct Layered<'a> {
    overrides: &'a BTreeMap<String, String>,
}

impl Provider for Layered<'_> {
    fn get(&self, env_name: &str) -> Option<String> {
        self.overrides
            .get(env_name)
            .cloned()
            .or_else(|| EnvProvider.get(env_name))
    }
}

/// `[application.trigger.http] base` is deprecated in Spin: `/` is tolerated, anything else is an error.
fn check_base(manifest: &Manifest, path: &Path) -> Result<()> {
    let base = manifest
        .application
        .trigger
        .as_ref()
        .and_then(|t| t.get("http"))
        .and_then(|h| h.get("base"))
        .and_then(|b| b.as_str());
    match base {
        None | Some("/") => Ok(()),
        Some(other) => bail!(
            "{}: [application.trigger.http] base = {other:?} is deprecated and unsupported; \
             prepend it to each [[trigger.http]] route instead",
            path.display()
        ),
    }
}

/// The engine every host shares: compiled components are cached on disk between runs.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
        Ok(cache) => {
            config.cache(Some(cache));
        }
        Err(e) => tracing::debug!("compilation cache unavailable: {e:#}"),
    }
    Ok(Engine::new(&config)?)
}

impl LoadedApp {
    /// Loads and validates everything `options` names.
    pub fn load(engine: &Engine, options: &AppOptions) -> Result<Self> {
        let manifest_path = &options.manifest;
        let manifest = Manifest::from_file(manifest_path)?;
        let app_dir = manifest_path.parent().unwrap_or(Path::new("."));
        let in_manifest = |e: anyhow::Error| e.context(format!("in {}", manifest_path.display()));

        let provider = Layered {
            overrides: &options.variables,
        };
        let variables =
            AppVariables::resolve(&manifest.variables, &provider).map_err(in_manifest)?;

        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| app_dir.join(".spin"));
        let runtime_config = RuntimeConfig::load(options.runtime_config.as_deref(), &state_dir)?;
        let tls_configs = TlsConfigs::new(&runtime_config.client_tls)?;
        let store_paths = runtime_config.key_value;

        let mut routes = Vec::new();
        for trigger in &manifest.trigger.http {
            let component = match &trigger.component {
                ComponentRef::Id(id) => id,
                ComponentRef::Inline(_) => bail!(
                    "{}: a [[trigger.http]] with an inline component is not provided by the test host; \
                     declare it as [component.<id>] and write `component = \"<id>\"`",
                    manifest_path.display()
                ),
            };
            if !manifest.component.contains_key(component) {
                bail!(
                    "{}: [[trigger.http]] names component {component:?}, but there is no [component.{component}]",
                    manifest_path.display()
                );
            }
            if let Some(executor) = &trigger.executor {
                let kind = executor.get("type").and_then(|t| t.as_str()).unwrap_or("");
                if kind != "spin" {
                    bail!(
                        "{}: [[trigger.http]] for {component:?} uses executor {kind:?}; the test host runs `spin` only",
                        manifest_path.display()
                    );
                }
            }
            match &trigger.route {
                RouteSetting::Route(route) => routes.push((route.clone(), component.clone())),
                // Private routes answer only through service chaining, which the host does not do.
                RouteSetting::Private { private: true } => {}
                RouteSetting::Private { private: false } => bail!(
                    "{}: [[trigger.http]] for {component:?}: `route = {{ private = false }}` is not a route; \
                     give a path or `{{ private = true }}`",
                    manifest_path.display()
                ),
            }
        }
        let (router, duplicates) =
            Router::new(routes.iter().map(|(r, c)| (r.as_str(), c.as_str())))
                .map_err(in_manifest)?;
        for d in &duplicates {
            tracing::error!(
                "route {} of component {:?} duplicates the one of {:?} and will never be used",
                d.route,
                d.unused_component,
                d.effective_component
            );
        }
        check_base(&manifest, manifest_path)?;

        let mut linker = Linker::<RequestState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::bindings::add_to_linker(&mut linker)?;

        let mut components = BTreeMap::new();
        for (id, component) in &manifest.component {
            let at = |key: &str| format!("{}: [component.{id}] {key}", manifest_path.display());
            for label in &component.key_value_stores {
                if !store_paths.contains_key(label) {
                    bail!(
                        "{}: unknown key-value store label {label:?}; configure it in the runtime config \
                         as [key_value_store.{label}] (only \"default\" exists without one)",
                        at("key_value_stores")
                    );
                }
            }
            if !component.files.is_empty() {
                bail!(
                    "{}: mounting files is not provided by the test host",
                    at("files")
                );
            }
            let component_variables = variables
                .component_values(&component.variables)
                .with_context(|| at("variables"))?;
            let outbound = OutboundPolicy::parse(&component.allowed_outbound_hosts)
                .with_context(|| at("allowed_outbound_hosts"))?;
            let wasm = match &component.source {
                ComponentSource::Local(path) => app_dir.join(path),
                ComponentSource::Remote(_) => bail!(
                    "{}: remote sources are not provided by the test host; build the component and \
                     point `source` at the .wasm",
                    at("source")
                ),
            };
            if !wasm.is_file() {
                let hint = component
                    .build
                    .as_ref()
                    .map(|b| format!("build it first: `{}`", b.command))
                    .unwrap_or_else(|| "build it first".to_owned());
                bail!(
                    "{}: {} does not exist; {hint}",
                    at("source"),
                    wasm.display()
                );
            }
            let compiled = Component::from_file(engine, &wasm)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("{}: cannot compile {}", at("source"), wasm.display()))?;
            let pre = linker
                .instantiate_pre(&compiled)
                .and_then(ProxyPre::new)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "{}: {} imports something the test host does not provide, or is not an HTTP component",
                        at("source"),
                        wasm.display()
                    )
                })?;
            let context = Arc::new(ComponentContext {
                id: id.clone(),
                key_value_stores: component.key_value_stores.clone(),
                variables: component_variables,
                environment: component.environment.clone(),
                outbound,
                blocked_networks: runtime_config.blocked_networks.clone(),
                resolve: Arc::new(options.resolve.clone()),
                tls: tls_configs.for_component(id),
                pool: Arc::default(),
            });
            components.insert(id.clone(), LoadedComponent { context, pre });
        }

        // Open only the stores some component uses, so an unused default does not create files.
        let used: BTreeMap<String, StoreLocation> = store_paths
            .into_iter()
            .filter(|(label, _)| {
                manifest
                    .component
                    .values()
                    .any(|c| c.key_value_stores.contains(label))
            })
            .collect();
        let stores = KeyValueStores::open(&used)?;

        Ok(Self {
            name: manifest.application.name,
            version: manifest.application.version,
            router,
            components,
            stores,
            routes,
        })
    }
}
