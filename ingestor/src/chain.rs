//! The chain side: connecting (RPC with reconnects, or the light client from chain specs), the
//! finalized head, and each block's events decoded with the metadata of the runtime that emitted
//! them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aurras_domain::envelope::{event_id, BlockRef, Envelope, ENVELOPE_VERSION};
use aurras_domain::names::ChainName;
use subxt::backend::LegacyBackend;
use subxt::client::{ClientAtBlock, OnlineClientAtBlockImpl};
use subxt::events::Phase;
use subxt::rpcs::client::reconnecting_rpc_client::ExponentialBackoff;
use subxt::rpcs::client::ReconnectingRpcClient;
use subxt::rpcs::RpcClient;
use subxt::{OnlineClient, PolkadotConfig};

use crate::decode::Decoder;

type Config = PolkadotConfig;
/// A client positioned at one block.
pub type AtBlock = ClientAtBlock<Config, OnlineClientAtBlockImpl<Config>>;

/// Which JSON-RPC API to speak to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RpcBackend {
    /// The new JSON-RPC API (`chainHead_v1`, `archive_v1`), falling back to the legacy methods.
    Default,
    /// The legacy methods only (`chain_*`, `state_*`): for nodes, proxies and dev tools that
    /// implement the new API partly or wrongly (chopsticks, many public RPC providers).
    Legacy,
}

/// How to reach the chain.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// WebSocket RPC endpoints, tried in order at connection time.
    Rpc {
        /// `ws://` or `wss://` URLs.
        urls: Vec<String>,
        /// Which API to use.
        backend: RpcBackend,
    },
    /// The embedded light client.
    LightClient {
        /// The chain's spec (JSON text).
        chain_spec: String,
        /// The relay chain's spec when the chain is a parachain.
        relay_chain_spec: Option<String>,
    },
}

/// A connected chain.
pub struct Chain {
    client: OnlineClient<Config>,
    genesis: [u8; 32],
    name: ChainName,
    ss58_prefix: u16,
    // Keeps the light client's background tasks alive.
    _light_client: Option<subxt::lightclient::LightClient>,
}

/// One block's events, ready to produce.
#[derive(Debug)]
pub struct BlockEvents {
    /// The block.
    pub block: BlockRef,
    /// Its events as envelopes (all of them; the caller picks the registered ones).
    pub envelopes: Vec<Envelope>,
}

async fn rpc_client(url: &str) -> Result<RpcClient> {
    let client = ReconnectingRpcClient::builder()
        .retry_policy(ExponentialBackoff::from_millis(100).max_delay(Duration::from_secs(10)))
        .build(url)
        .await
        .map_err(|e| anyhow!("cannot connect to {url}: {e}"))?;
    Ok(RpcClient::new(client))
}

impl Chain {
    /// Connects to the chain named `name`; `ss58_prefix` overrides the chain's own (the
    /// `System.SS58Prefix` constant).
    pub async fn connect(
        name: ChainName,
        endpoint: &Endpoint,
        ss58_prefix: Option<u16>,
    ) -> Result<Self> {
        let (client, light_client) = match endpoint {
            Endpoint::Rpc { urls, backend } => {
                let mut last_error = None;
                let mut connected = None;
                for url in urls {
                    match Self::connect_rpc(url, *backend).await {
                        Ok(client) => {
                            connected = Some(client);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!("{e:#}");
                            last_error = Some(e);
                        }
                    }
                }
                match connected {
                    Some(client) => (client, None),
                    None => return Err(last_error.unwrap_or_else(|| anyhow!("no RPC URL given"))),
                }
            }
            Endpoint::LightClient {
                chain_spec,
                relay_chain_spec,
            } => {
                let (light_client, rpc) = match relay_chain_spec {
                    None => {
                        let (lc, rpc) =
                            subxt::lightclient::LightClient::relay_chain(chain_spec.as_str())
                                .context("the light client rejected the chain spec")?;
                        (lc, rpc)
                    }
                    Some(relay) => {
                        let (lc, _relay_rpc) =
                            subxt::lightclient::LightClient::relay_chain(relay.as_str())
                                .context("the light client rejected the relay chain spec")?;
                        let rpc = lc
                            .parachain(chain_spec.as_str())
                            .context("the light client rejected the parachain spec")?;
                        (lc, rpc)
                    }
                };
                let client = OnlineClient::<Config>::from_rpc_client(rpc)
                    .await
                    .context("the light client could not sync the chain")?;
                (client, Some(light_client))
            }
        };
        let genesis: [u8; 32] = client.genesis_hash().0;
        let at = client
            .at_current_block()
            .await
            .context("cannot read the finalized head")?;
        let prefix = match ss58_prefix {
            Some(p) => p,
            None => at
                .constants()
                .entry(subxt::dynamic::constant::<u16>("System", "SS58Prefix"))
                .unwrap_or(aurras_domain::source::DEFAULT_SS58_PREFIX),
        };
        Ok(Self {
            client,
            genesis,
            name,
            ss58_prefix: prefix,
            _light_client: light_client,
        })
    }

    async fn connect_rpc(url: &str, backend: RpcBackend) -> Result<OnlineClient<Config>> {
        let rpc = rpc_client(url).await?;
        let client = match backend {
            RpcBackend::Legacy => {
                let backend = LegacyBackend::<Config>::builder().build(rpc);
                OnlineClient::<Config>::from_backend(Arc::new(backend)).await
            }
            RpcBackend::Default => OnlineClient::<Config>::from_rpc_client(rpc).await,
        };
        client.with_context(|| format!("{url} does not answer as a Substrate node"))
    }

    /// The genesis hash.
    pub fn genesis(&self) -> [u8; 32] {
        self.genesis
    }

    /// The SS58 prefix addresses are written with.
    pub fn ss58_prefix(&self) -> u16 {
        self.ss58_prefix
    }

    /// The latest finalized block number.
    pub async fn finalized_head(&self) -> Result<u64> {
        let at = self
            .client
            .at_current_block()
            .await
            .context("cannot read the finalized head")?;
        Ok(at.block_number())
    }

    /// A client at block `number`.
    pub async fn at(&self, number: u64) -> Result<AtBlock> {
        self.client
            .at_block(number)
            .await
            .with_context(|| format!("cannot read block {number}"))
    }

    /// Every `Pallet.Event` the runtime at `at` can emit.
    pub fn known_events(at: &AtBlock) -> Vec<String> {
        let md = at.metadata_ref();
        md.pallets()
            .flat_map(|p| {
                let pallet = p.name().to_owned();
                p.event_variants()
                    .unwrap_or_default()
                    .iter()
                    .map(move |v| format!("{pallet}.{}", v.name))
            })
            .collect()
    }

    /// The events of block `at`, decoded with the metadata of the runtime that executed it: the
    /// parent's (`parent`), which differs from the block's own in the block that upgrades the
    /// runtime.
    pub async fn block_events(
        &self,
        at: &AtBlock,
        parent: Option<&AtBlock>,
    ) -> Result<BlockEvents> {
        let raw = self.fetch_events(at).await?;
        self.decode_events(at, parent, raw)
    }

    /// The SCALE-encoded events of block `at` (`System.Events`), fetched.
    pub async fn fetch_events(&self, at: &AtBlock) -> Result<Vec<u8>> {
        let events =
            at.events().fetch().await.with_context(|| {
                format!("cannot read the events of block {}", at.block_number())
            })?;
        Ok(events.bytes().to_vec())
    }

    /// Decodes the raw events of block `at` into envelopes (see [`Chain::block_events`]).
    pub fn decode_events(
        &self,
        at: &AtBlock,
        parent: Option<&AtBlock>,
        raw: Vec<u8>,
    ) -> Result<BlockEvents> {
        let number = at.block_number();
        let hash = at.block_hash();
        let executed_by = match parent {
            Some(p) if p.spec_version() != at.spec_version() => p,
            _ => at,
        };
        let events = executed_by.events().from_bytes(raw);
        let metadata = executed_by.metadata_ref();
        let decoder = Decoder::new(metadata.types(), self.ss58_prefix);
        let block = BlockRef {
            number,
            hash: format!("0x{}", hex::encode(hash.0)),
        };
        let mut envelopes = Vec::with_capacity(events.len() as usize);
        for event in events.iter() {
            let event =
                event.with_context(|| format!("cannot decode the events of block {number}"))?;
            let variant = metadata
                .pallet_by_event_index(event.pallet_index())
                .and_then(|p| p.event_variant_by_index(event.event_index()))
                .ok_or_else(|| {
                    anyhow!(
                        "block {number}: event {}.{} is not in the metadata",
                        event.pallet_name(),
                        event.event_name()
                    )
                })?;
            let decoded = decoder
                .event_fields(variant, event.field_bytes())
                .with_context(|| {
                    format!(
                        "block {number}: {}.{}",
                        event.pallet_name(),
                        event.event_name()
                    )
                })?;
            let (phase, extrinsic_index) = match event.phase() {
                Phase::ApplyExtrinsic(i) => ("apply_extrinsic", Some(i)),
                Phase::Initialization => ("initialization", None),
                Phase::Finalization => ("finalization", None),
            };
            envelopes.push(Envelope {
                id: event_id(&self.genesis, &hash.0, event.index()),
                version: ENVELOPE_VERSION,
                chain: self.name.clone(),
                genesis_hash: format!("0x{}", hex::encode(self.genesis)),
                block: block.clone(),
                event_index: event.index(),
                extrinsic_index,
                phase: phase.to_owned(),
                pallet: event.pallet_name().to_owned(),
                event: event.event_name().to_owned(),
                spec_version: executed_by.spec_version(),
                fields: decoded.fields,
                accounts: decoded.accounts,
            });
        }
        Ok(BlockEvents { block, envelopes })
    }
}
