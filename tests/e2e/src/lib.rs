//! Support for the end-to-end tests: Aurras' own `spin.toml`, served by the test host from the
//! compiled components, with fresh state per test and a small JSON client; and the peers the app
//! delivers to: a push service and a webhook receiver over HTTPS from a test CA.

pub mod app_host;
pub mod app_process;
pub mod channels;
mod https;
pub mod platforms;
pub mod processes;
pub mod push_crypto;
pub mod push_service;
mod spin_up;
pub mod tls;
pub mod webhook_receiver;
pub mod world;

pub use https::{Attempt, Rejection, DEFAULT_BACKLOG};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use app_host::Host;
pub use aurras_testhost::AppOptions;
use serde_json::Value;

/// The operator token the tests run with (the app refuses tokens under 32 characters).
pub const ADMIN_TOKEN: &str = "test-admin-token-4f1c9a2e7b3d5f60a8c1e9b2";
/// The relay's signing secret the tests run with.
pub const RELAY_SECRET: &str = "whsec_dGVzdC1yZWxheS1zZWNyZXQtMzItYnl0ZXMtbG9uZyE=";

/// The keyring the tests run with (`encryption_keys`): one key, id `t1`.
pub const ENCRYPTION_KEYS: &str = "t1:YXVycmFzLXRlc3QtZW5jcnlwdGlvbi1rZXktMzJieXQ=";

/// The anonymous creation rate the tests run with, unless one sets another.
pub const TEST_CREATE_RATE_LIMIT: &str = "100000/60s";

/// A source registration for Paseo on a local node, with its balance transfers.
pub fn paseo_transfers_source() -> Value {
    serde_json::json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
                       "events": ["Balances.Transfer"], "token": {"symbol": "PAS", "decimals": 10}})
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Aurras served by the test host (or real Spin, see [`app_host`]), with its state in a
/// temporary directory.
pub struct App {
    host: Option<Host>,
    paused_at: Option<std::net::SocketAddr>,
    options: AppOptions,
    _state: tempfile::TempDir,
    client: reqwest::Client,
}

/// An answer: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl App {
    /// Starts the app on a free port.
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts the app on a free port after `configure` adjusted its options (variables as
    /// `SPIN_VARIABLE_<NAME>`, a runtime config).
    pub async fn start_with(configure: impl FnOnce(&mut AppOptions)) -> Result<Self> {
        for wasm in ["aurras_api.wasm", "aurras_dispatch.wasm", "aurras_ui.wasm"] {
            let path = repo_root().join("target/wasm32-wasip2/release").join(wasm);
            anyhow::ensure!(
                path.is_file(),
                "{} is missing: run scripts/build-components first",
                path.display()
            );
        }
        let state = tempfile::tempdir()?;
        let mut options = AppOptions::new(repo_root().join("spin.toml"));
        options.state_dir = Some(state.path().to_owned());
        options
            .variables
            .insert("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
        options
            .variables
            .insert("SPIN_VARIABLE_RELAY_SECRET".into(), RELAY_SECRET.into());
        options.variables.insert(
            "SPIN_VARIABLE_ENCRYPTION_KEYS".into(),
            ENCRYPTION_KEYS.into(),
        );
        // The tests create triggers from one address far faster than people do; limits.rs tests
        // the limit itself (and its default) by setting it again.
        options.variables.insert(
            "SPIN_VARIABLE_CREATE_RATE_LIMIT".into(),
            TEST_CREATE_RATE_LIMIT.into(),
        );
        configure(&mut options);
        let host = Host::start(&options, "127.0.0.1:0".parse()?).await?;
        Ok(Self {
            host: Some(host),
            paused_at: None,
            options,
            _state: state,
            client: reqwest::Client::new(),
        })
    }

    fn host(&self) -> &Host {
        self.host.as_ref().expect("the host is running")
    }

    /// Stops the host and starts a new one on the same state (a new port).
    pub async fn restart(&mut self) -> Result<()> {
        self.restart_with(|_| {}).await
    }

    /// [`App::restart`] with changed options, as an operator changing variables would.
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut AppOptions)) -> Result<()> {
        if let Some(host) = self.host.take() {
            host.stop().await?;
        }
        change(&mut self.options);
        self.host = Some(Host::start(&self.options, "127.0.0.1:0".parse()?).await?);
        Ok(())
    }

    /// Stops the host, as an app that went down; [`App::resume`] brings it back on the same
    /// address and state.
    pub async fn pause(&mut self) -> Result<()> {
        if let Some(host) = self.host.take() {
            self.paused_at = Some(host.addr());
            host.stop().await?;
        }
        Ok(())
    }

    /// Starts the host again where it was before [`App::pause`].
    pub async fn resume(&mut self) -> Result<()> {
        let addr = self.paused_at.take().context("the app was not paused")?;
        self.host = Some(Host::start(&self.options, addr).await?);
        Ok(())
    }

    /// Where the app was when [`App::pause`] stopped it.
    pub fn paused_at(&self) -> Option<std::net::SocketAddr> {
        self.paused_at
    }

    /// What the host runs with (manifest, runtime config, state, variables).
    pub fn options(&self) -> &AppOptions {
        &self.options
    }

    /// The directory holding the app's state (`sqlite_key_value.db`).
    pub fn state_dir(&self) -> &Path {
        self._state.path()
    }

    /// The key-value store's sqlite file.
    pub fn store_file(&self) -> PathBuf {
        self.state_dir().join("sqlite_key_value.db")
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.host().url()
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let mut req = self.client.request(
            method.parse().context("method")?,
            format!("{}{path}", self.url()),
        );
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Self::answer(req.send().await?).await
    }

    /// Registers [`paseo_transfers_source`] as the operator; the new source's id.
    pub async fn register_paseo(&self) -> Result<String> {
        let a = self
            .call(
                "POST",
                "/api/sources",
                Some(ADMIN_TOKEN),
                Some(&paseo_transfers_source()),
            )
            .await?;
        anyhow::ensure!(a.status == 201, "source: {} {}", a.status, a.body);
        Ok(a.body["id"].as_str().context("source id")?.to_owned())
    }

    /// The ids of the triggers the operator's lookup finds on `topic` for `account` (its list
    /// and the any-account lists), sorted.
    pub async fn lookup_ids(&self, topic: &str, account: &str) -> Result<Vec<String>> {
        let path = format!("/api/topics/{topic}/triggers?account={account}");
        let a = self.call("GET", &path, Some(ADMIN_TOKEN), None).await?;
        anyhow::ensure!(a.status == 200, "lookup: {} {}", a.status, a.body);
        let mut ids = a.body["triggers"]
            .as_array()
            .context("lookup: no triggers list")?
            .iter()
            .map(|t| {
                t["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("lookup: trigger id")
            })
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }

    /// Sends raw bytes with a content type.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Answer> {
        let mut req = self
            .client
            .request(
                method.parse().context("method")?,
                format!("{}{path}", self.url()),
            )
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::answer(req.send().await?).await
    }

    async fn answer(resp: reqwest::Response) -> Result<Answer> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).with_context(|| {
                format!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes))
            })?
        };
        Ok(Answer {
            status,
            body,
            headers,
        })
    }

    /// Stops the host.
    pub async fn stop(mut self) -> Result<()> {
        match self.host.take() {
            Some(host) => host.stop().await,
            None => Ok(()),
        }
    }
}
