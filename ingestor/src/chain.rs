//! The chain side: connecting (RPC with reconnects, or the light client from chain specs), the
//! finalized head (read or subscribed to), and each block's events decoded with the metadata of
//! the runtime that emitted them, at the cost of a few storage reads per block: the runtime is
//! asked for its version and metadata only when a new one appears.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aurras_domain::envelope::{event_id, BlockRef, Envelope, ENVELOPE_VERSION};
use aurras_domain::names::ChainName;
use subxt::backend::{Backend, CombinedBackend, LegacyBackend};
use subxt::client::{ClientAtBlock, OnlineClientAtBlockImpl};
use subxt::config::{Header, RpcConfigFor};
use subxt::events::Phase;
use subxt::ext::codec::{Compact, Decode};
use subxt::ext::futures::{Stream, StreamExt};
use subxt::lightclient::{LightClient, LightClientRpc};
use subxt::rpcs::client::reconnecting_rpc_client::ExponentialBackoff;
use subxt::rpcs::client::ReconnectingRpcClient;
use subxt::rpcs::methods::LegacyRpcMethods;
use subxt::rpcs::RpcClient;
use subxt::{OnlineClient, PolkadotConfig};

use crate::decode::Decoder;
use crate::enrich::Enrichment;

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

/// `--rpc-backend`, for every command that talks to nodes by RPC URL.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RpcBackendArg {
    /// Which JSON-RPC API to use with RPC URLs: `legacy` for nodes without a working new API.
    #[arg(
        long = "rpc-backend",
        value_enum,
        default_value = "default",
        env = "AURRAS_RPC_BACKEND"
    )]
    pub rpc_backend: RpcBackend,
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
    /// An RPC client made by the caller (tests put a slow or faulty node behind one).
    Client {
        /// The client.
        rpc: RpcClient,
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
    // The connection under both, for the legacy finalized-head subscription.
    rpc: RpcClient,
    // The same backend the client uses, for the cheap per-block reads (block hash, raw storage)
    // that need no runtime version.
    backend: Arc<dyn Backend<Config>>,
    genesis: [u8; 32],
    name: ChainName,
    ss58_prefix: u16,
    // For each runtime (spec version) seen, a client at a block whose code is that runtime: its
    // metadata decodes every block that runtime executed. One entry per runtime upgrade.
    runtimes: Mutex<BTreeMap<u32, AtBlock>>,
    // What events name beyond their fields (an asset's symbol, a referendum's track), read once.
    enrichment: Enrichment,
    // Keeps the light client's background tasks alive.
    _light_client: Option<LightClient>,
}

/// One block's events, ready to produce.
#[derive(Debug)]
pub struct BlockEvents {
    /// The block.
    pub block: BlockRef,
    /// Its events as envelopes (all of them; the caller picks the registered ones).
    pub envelopes: Vec<Envelope>,
}

/// One block's raw events with the runtime that executed the block, fetched but not decoded.
pub struct Fetched {
    number: u64,
    hash: [u8; 32],
    events: Vec<u8>,
    executed_by: AtBlock,
}

async fn rpc_client(url: &str) -> Result<RpcClient> {
    let client = ReconnectingRpcClient::builder()
        .retry_policy(ExponentialBackoff::from_millis(100).max_delay(Duration::from_secs(10)))
        .build(url)
        .await
        .map_err(|e| anyhow!("cannot connect to {url}: {e}"))?;
    Ok(RpcClient::new(client))
}

/// A client, the backend under it and the connection under both.
type Connected = (OnlineClient<Config>, Arc<dyn Backend<Config>>, RpcClient);

/// Starts the embedded light client on a chain spec (a parachain's with its relay chain's), and
/// returns it with a JSON-RPC client of the chain. The specs are checked here; syncing goes on in
/// the background.
pub fn start_light_client(
    chain_spec: &str,
    relay_chain_spec: Option<&str>,
) -> Result<(LightClient, LightClientRpc)> {
    match relay_chain_spec {
        None => {
            LightClient::relay_chain(chain_spec).context("the light client rejected the chain spec")
        }
        Some(relay) => {
            let (light_client, _relay_rpc) = LightClient::relay_chain(relay)
                .context("the light client rejected the relay chain spec")?;
            let rpc = light_client
                .parachain(chain_spec)
                .context("the light client rejected the parachain spec")?;
            Ok((light_client, rpc))
        }
    }
}

async fn combined(rpc: RpcClient) -> Result<Connected> {
    let backend = Arc::new(
        CombinedBackend::<Config>::builder()
            .build_with_background_driver(rpc.clone())
            .await?,
    );
    let client = OnlineClient::<Config>::from_backend(backend.clone()).await?;
    Ok((client, backend, rpc))
}

/// The key of a plain storage value (`twox128(pallet) ++ twox128(entry)`).
fn plain_key(pallet: &str, entry: &str) -> Vec<u8> {
    subxt::ext::frame_decode::storage::encode_storage_key_prefix(pallet, entry).to_vec()
}

impl Chain {
    /// Connects to the chain named `name`; `ss58_prefix` overrides the chain's own (the
    /// `System.SS58Prefix` constant).
    pub async fn connect(
        name: ChainName,
        endpoint: &Endpoint,
        ss58_prefix: Option<u16>,
    ) -> Result<Self> {
        let ((client, backend, rpc), light_client) = match endpoint {
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
            Endpoint::Client { rpc, backend } => (Self::over(rpc.clone(), *backend).await?, None),
            Endpoint::LightClient {
                chain_spec,
                relay_chain_spec,
            } => {
                let (light_client, rpc) =
                    start_light_client(chain_spec, relay_chain_spec.as_deref())?;
                let connected = combined(rpc.into())
                    .await
                    .context("the light client could not sync the chain")?;
                (connected, Some(light_client))
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
        // The head's runtime is known now; blocks it executed need no runtime call at all.
        let runtimes = BTreeMap::from([(at.spec_version(), at)]);
        Ok(Self {
            client,
            rpc,
            backend,
            genesis,
            name,
            ss58_prefix: prefix,
            runtimes: Mutex::new(runtimes),
            enrichment: Enrichment::default(),
            _light_client: light_client,
        })
    }

    async fn connect_rpc(url: &str, backend: RpcBackend) -> Result<Connected> {
        let rpc = rpc_client(url).await?;
        Self::over(rpc, backend)
            .await
            .with_context(|| format!("{url} does not answer as a Substrate node"))
    }

    async fn over(rpc: RpcClient, backend: RpcBackend) -> Result<Connected> {
        match backend {
            RpcBackend::Legacy => {
                let backend = Arc::new(LegacyBackend::<Config>::builder().build(rpc.clone()));
                OnlineClient::<Config>::from_backend(backend.clone())
                    .await
                    .map(|client| (client, backend as Arc<dyn Backend<Config>>, rpc))
                    .map_err(anyhow::Error::from)
            }
            RpcBackend::Default => combined(rpc).await,
        }
    }

    /// The genesis hash.
    pub fn genesis(&self) -> [u8; 32] {
        self.genesis
    }

    /// The SS58 prefix addresses are written with.
    pub fn ss58_prefix(&self) -> u16 {
        self.ss58_prefix
    }

    /// The latest finalized block number (two reads, no runtime call).
    pub async fn finalized_head(&self) -> Result<u64> {
        let head = self
            .backend
            .latest_finalized_block_ref()
            .await
            .context("cannot read the finalized head")?;
        let header = self
            .backend
            .block_header(head.hash())
            .await
            .context("cannot read the finalized head's header")?
            .ok_or_else(|| anyhow!("the node does not know its own finalized head"))?;
        Ok(header.number())
    }

    /// The numbers of newly finalized blocks, as the node announces them
    /// (`chain_subscribeFinalizedHeads`, which full nodes, smoldot and chopsticks serve; it needs
    /// no runtime call, unlike following `chainHead_v1`). Fails when the node offers no such
    /// subscription; the stream ends when the connection does.
    pub async fn finalized_heads(&self) -> Result<impl Stream<Item = Result<u64>> + Send + Unpin> {
        let heads = LegacyRpcMethods::<RpcConfigFor<Config>>::new(self.rpc.clone())
            .chain_subscribe_finalized_heads()
            .await
            .context("cannot subscribe to finalized heads")?;
        Ok(heads.map(|header| {
            header
                .map(|h| h.number())
                .map_err(|e| anyhow!("finalized heads: {e}"))
        }))
    }

    /// The hash of block `number`, if the node knows that block (one read).
    pub async fn block_hash(&self, number: u64) -> Result<Option<[u8; 32]>> {
        Ok(self
            .backend
            .block_number_to_hash(number)
            .await
            .with_context(|| format!("cannot read the hash of block {number}"))?
            .map(|h| h.hash().0))
    }

    /// A client at block `number`, with the version and metadata of the code in its state (a
    /// runtime call: `Core_version`).
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

    /// The events of block `number`, decoded with the metadata of the runtime that executed it.
    /// Events carry what they name beyond their fields ([`crate::enrich`]).
    pub async fn block_events(&self, number: u64) -> Result<BlockEvents> {
        let fetched = self.fetch(number).await?;
        let mut events = self.decode(fetched)?;
        self.enrichment
            .enrich(self, number, &mut events.envelopes)
            .await?;
        Ok(events)
    }

    /// Fetches block `number`'s hash, its raw events (`System.Events`) and the runtime that
    /// executed it. Three cheap reads; a runtime call only when a runtime is seen for the first
    /// time (or on chains without `System.LastRuntimeUpgrade`).
    pub async fn fetch(&self, number: u64) -> Result<Fetched> {
        let hash = self
            .backend
            .block_number_to_hash(number)
            .await
            .with_context(|| format!("cannot read the hash of block {number}"))?
            .ok_or_else(|| anyhow!("the node does not know block {number}"))?
            .hash();
        let (upgrade, events) = tokio::try_join!(
            self.storage(plain_key("System", "LastRuntimeUpgrade"), hash),
            self.storage(plain_key("System", "Events"), hash),
        )
        .with_context(|| format!("cannot read the state of block {number}"))?;
        let executed_by = self.runtime_of(number, upgrade.as_deref()).await?;
        Ok(Fetched {
            number,
            hash: hash.0,
            events: events.unwrap_or_default(),
            executed_by,
        })
    }

    async fn storage(&self, key: Vec<u8>, at: subxt::utils::H256) -> Result<Option<Vec<u8>>> {
        let mut values = self.backend.storage_fetch_values(vec![key], at).await?;
        match values.next().await {
            Some(value) => Ok(Some(value?.value)),
            None => Ok(None),
        }
    }

    /// A client whose metadata is that of the runtime that executed block `number`.
    ///
    /// That runtime is the code in the parent's state: it differs from the block's own in the
    /// block that upgrades the runtime. FRAME's executive records it in `System.LastRuntimeUpgrade`
    /// (`spec_version` first, compact) in the first block each runtime executes, so the block's
    /// own state names it and a known runtime costs nothing more. A new one is asked of the parent
    /// (`Core_version`, then the metadata), once.
    async fn runtime_of(&self, number: u64, last_upgrade: Option<&[u8]>) -> Result<AtBlock> {
        let spec = last_upgrade
            .and_then(|mut bytes| Compact::<u32>::decode(&mut bytes).ok())
            .map(|c| c.0);
        if let Some(spec) = spec {
            let runtimes = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = runtimes.get(&spec) {
                return Ok(at.clone());
            }
        }
        // The genesis block has no parent; its own code executed nothing, it only holds events of
        // the genesis build, decoded with the genesis runtime.
        let parent = self.at(number.saturating_sub(1)).await?;
        match spec {
            Some(spec) if spec == parent.spec_version() => {
                tracing::info!(block = number, spec, "runtime version seen");
                let mut runtimes = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
                runtimes.insert(spec, parent.clone());
            }
            Some(spec) => tracing::warn!(
                block = number,
                recorded = spec,
                parent = parent.spec_version(),
                "System.LastRuntimeUpgrade disagrees with the parent's runtime; using the parent's"
            ),
            None => {}
        }
        Ok(parent)
    }

    /// Decodes a fetched block's events into envelopes.
    pub fn decode(&self, fetched: Fetched) -> Result<BlockEvents> {
        let number = fetched.number;
        let executed_by = &fetched.executed_by;
        let events = executed_by.events().from_bytes(fetched.events);
        let metadata = executed_by.metadata_ref();
        let decoder = Decoder::new(metadata.types(), self.ss58_prefix);
        let block = BlockRef {
            number,
            hash: format!("0x{}", hex::encode(fetched.hash)),
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
                id: event_id(&self.genesis, &fetched.hash, event.index()),
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
                asset: None,
                track: None,
            });
        }
        Ok(BlockEvents { block, envelopes })
    }
}
