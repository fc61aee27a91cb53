//! Reading the registered source of a chain from the management API (`--api`), so the ingestor
//! publishes exactly the events the operator registered and follows changes while running.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::chain::{Endpoint, RpcBackend};

/// What the ingestor needs of a source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredSource {
    /// The source id.
    pub id: String,
    /// The chain's name.
    pub chain: String,
    /// `Pallet.Event` names to publish.
    pub events: BTreeSet<String>,
    /// `Pallet.Event` → topic (absent from older APIs: then `<chain>.<Pallet>.<Event>`).
    #[serde(default)]
    pub topics: BTreeMap<String, String>,
    /// RPC URLs (operator view).
    #[serde(default)]
    pub rpc: Vec<String>,
    /// Whether the source runs on the light client.
    #[serde(default)]
    pub light_client: bool,
    /// Whether a relay chain spec is registered.
    #[serde(default)]
    pub has_relay_chain_spec: bool,
    /// The chain's SS58 prefix.
    pub ss58_prefix: Option<u16>,
}

impl RegisteredSource {
    /// The topics of the source's events.
    pub fn topic_names(&self) -> BTreeSet<String> {
        if self.topics.is_empty() {
            self.events
                .iter()
                .map(|e| format!("{}.{e}", self.chain))
                .collect()
        } else {
            self.topics.values().cloned().collect()
        }
    }
}

/// The API refused the operator token: a configuration error, not a passing failure.
#[derive(Debug, thiserror::Error)]
#[error("--admin-token: the API at {0} refused the operator token")]
pub struct TokenRefused(pub String);

/// A client of the management API.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct SourceList {
    sources: Vec<RegisteredSource>,
}

impl ApiClient {
    /// A client for the API at `base` with the operator token.
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `path` with the operator token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn get(&self, path: &str) -> Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("--api: cannot reach {url}"))?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            401 => Err(TokenRefused(self.base.clone()).into()),
            status => bail!(
                "--api: GET {url} answered {status}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }

    /// Every registered source.
    pub async fn sources(&self) -> Result<Vec<RegisteredSource>> {
        let list: SourceList = self
            .get("/api/sources")
            .await?
            .json()
            .await
            .context("--api: unexpected answer")?;
        Ok(list.sources)
    }

    /// The source registered for `chain`.
    pub async fn source(&self, chain: &str) -> Result<RegisteredSource> {
        self.sources()
            .await?
            .into_iter()
            .find(|s| s.chain == chain)
            .ok_or_else(|| {
                anyhow!(
                    "--chain {chain}: no source is registered for this chain at {}",
                    self.base
                )
            })
    }

    /// How to reach a source's chain: its RPC URLs, or the light client with its chain specs.
    pub async fn endpoint(
        &self,
        source: &RegisteredSource,
        backend: RpcBackend,
    ) -> Result<Endpoint> {
        if !source.light_client {
            return Ok(Endpoint::Rpc {
                urls: source.rpc.clone(),
                backend,
            });
        }
        let relay_chain_spec = if source.has_relay_chain_spec {
            Some(self.chain_spec(&source.id, true).await?)
        } else {
            None
        };
        Ok(Endpoint::LightClient {
            chain_spec: self.chain_spec(&source.id, false).await?,
            relay_chain_spec,
        })
    }

    /// A source's chain spec (`relay`: its relay chain's), as JSON text.
    pub async fn chain_spec(&self, id: &str, relay: bool) -> Result<String> {
        let path = if relay {
            "relay-chain-spec"
        } else {
            "chain-spec"
        };
        Ok(self
            .get(&format!("/api/sources/{id}/{path}"))
            .await?
            .text()
            .await?)
    }
}
