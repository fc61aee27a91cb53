//! `aurras-ingestor worker`: the whole native side in one process. It follows **every** source
//! registered at the management API — starting a chain's ingestion when its source appears,
//! changing the published events in place, restarting it when its endpoint changes, stopping it
//! when the source is deleted — and runs the relay beside it. Ingestion and relay stay sibling
//! pipelines; the worker only supervises them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use aurras_domain::names::ChainName;
use clap::Args;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::chain::{RpcBackend, RpcBackendArg};
use crate::ingest::{self, IngestPlan};
use crate::lease::LeaseArg;
use crate::pipeline::{sleep_or_shutdown, Selection, Start};
use crate::relay::cli::RelayArgs;
use crate::relay::topics::TopicSource;
use crate::relay::{self, RelayConfig};
use crate::sources::{ApiClient, RegisteredSource, TokenRefused};
use crate::Failure;

/// Follow every registered source and relay its events to the app.
#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    relay: RelayArgs,
    /// Where the cursors live: `<state-dir>/<chain>.cursor`.
    #[arg(long, default_value = ".aurras", env = "AURRAS_STATE_DIR")]
    state_dir: PathBuf,
    #[command(flatten)]
    backend: RpcBackendArg,
    #[command(flatten)]
    lease: LeaseArg,
    /// How many blocks to fetch from a node at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024), env = "AURRAS_FETCH_AHEAD")]
    fetch_ahead: u16,
    /// How often to poll a finalized head, in milliseconds, when the node offers no subscription.
    #[arg(long, default_value_t = 1000, env = "AURRAS_POLL_MS")]
    poll_ms: u64,
    /// Give up one attempt to connect to a chain after this many seconds (and try again later).
    #[arg(long, default_value_t = 60, env = "AURRAS_CONNECT_TIMEOUT_SECS")]
    connect_timeout_secs: u64,
    /// Chains ingested from block 1 while they have no cursor (a local development chain),
    /// instead of from the finalized head; comma-separated.
    #[arg(long, value_delimiter = ',', env = "AURRAS_FROM_FIRST_BLOCK")]
    from_first_block: Vec<String>,
}

/// What the worker runs with, checked.
pub struct WorkerConfig {
    chains: ChainSettings,
    relay: RelayConfig,
}

/// What every chain's ingestion shares.
struct ChainSettings {
    api: ApiClient,
    lease: LeaseArg,
    state_dir: PathBuf,
    rpc_backend: RpcBackend,
    fetch_ahead: usize,
    poll: Duration,
    connect_timeout: Duration,
    sources_poll: Duration,
    from_first_block: BTreeSet<String>,
    brokers: String,
    topics: crate::sink::TopicSettings,
}

/// Checks the flags.
pub fn config(args: WorkerArgs) -> Result<WorkerConfig, Failure> {
    let relay = relay::cli::config(args.relay)?;
    let api = match &relay.topics {
        TopicSource::Api(api) => api.clone(),
        TopicSource::Fixed(_) => {
            return Err(Failure::Config(anyhow!(
                "--api: the worker follows the sources registered there; give --api <url> and --admin-token"
            )))
        }
    };
    for chain in &args.from_first_block {
        ChainName::parse(chain)
            .map_err(|m| Failure::Config(anyhow!("--from-first-block {chain}: {m}")))?;
    }
    if args.connect_timeout_secs == 0 {
        return Err(Failure::Config(anyhow!(
            "--connect-timeout-secs: must be at least 1"
        )));
    }
    Ok(WorkerConfig {
        chains: ChainSettings {
            api,
            lease: args.lease,
            state_dir: args.state_dir,
            rpc_backend: args.backend.rpc_backend,
            fetch_ahead: usize::from(args.fetch_ahead),
            poll: Duration::from_millis(args.poll_ms.max(1)),
            connect_timeout: Duration::from_secs(args.connect_timeout_secs),
            sources_poll: relay.poll,
            from_first_block: args.from_first_block.into_iter().collect(),
            brokers: relay.brokers.clone(),
            topics: relay.settings,
        },
        relay,
    })
}

/// Runs until `shutdown`: the relay, and one ingestion per registered source.
pub async fn run(config: WorkerConfig, shutdown: watch::Receiver<bool>) -> Result<(), Failure> {
    let relay = tokio::spawn(relay::run(config.relay, shutdown.clone()));
    let chains = follow_sources(Arc::new(config.chains), shutdown).await;
    let relayed = relay
        .await
        .map_err(|e| Failure::Runtime(anyhow!("the relay panicked: {e}")))?;
    chains.and(relayed)
}

/// One chain being ingested.
struct Running {
    source: RegisteredSource,
    selection: Arc<RwLock<Selection>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(chain = %self.source.chain, "ingestion panicked: {e}");
        }
    }
}

/// Whether a running ingestion can take `next` by changing its events alone; anything else about
/// how the chain is reached needs a reconnect.
fn same_endpoint(running: &RegisteredSource, next: &RegisteredSource) -> bool {
    running.id == next.id
        && running.rpc == next.rpc
        && running.light_client == next.light_client
        && running.has_relay_chain_spec == next.has_relay_chain_spec
        && running.ss58_prefix == next.ss58_prefix
}

/// Re-reads the sources every `sources_poll` and makes the running ingestions match them.
async fn follow_sources(
    settings: Arc<ChainSettings>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Failure> {
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let result = loop {
        match settings.api.sources().await {
            Ok(sources) => reconcile(&settings, &mut running, sources).await,
            Err(e) if e.is::<TokenRefused>() => break Err(Failure::Config(e)),
            Err(e) => tracing::warn!("reading the registered sources: {e:#}"),
        }
        if sleep_or_shutdown(settings.sources_poll, &mut shutdown).await {
            break Ok(());
        }
    };
    for (_, chain) in std::mem::take(&mut running) {
        chain.stop().await;
    }
    result
}

async fn reconcile(
    settings: &Arc<ChainSettings>,
    running: &mut BTreeMap<String, Running>,
    sources: Vec<RegisteredSource>,
) {
    let wanted: BTreeMap<String, RegisteredSource> =
        sources.into_iter().map(|s| (s.chain.clone(), s)).collect();
    let gone: Vec<String> = running
        .keys()
        .filter(|chain| !wanted.contains_key(*chain))
        .cloned()
        .collect();
    for chain in gone {
        if let Some(stopped) = running.remove(&chain) {
            tracing::info!(%chain, "the source was deleted: stopping its ingestion");
            stopped.stop().await;
        }
    }
    for (chain, source) in wanted {
        if let Some(current) = running.get_mut(&chain) {
            if same_endpoint(&current.source, &source) {
                if current.source.events != source.events {
                    tracing::info!(%chain, events = ?source.events, "registered events changed");
                    *current.selection.write().unwrap_or_else(|p| p.into_inner()) =
                        Selection::Events(source.events.clone());
                    current.source = source;
                }
                continue;
            }
            tracing::info!(%chain, "the source's endpoint changed: reconnecting");
            if let Some(stopped) = running.remove(&chain) {
                stopped.stop().await;
            }
        } else {
            tracing::info!(%chain, events = ?source.events, "following a registered source");
        }
        running.insert(chain, start(settings.clone(), source));
    }
}

fn start(settings: Arc<ChainSettings>, source: RegisteredSource) -> Running {
    let selection = Arc::new(RwLock::new(Selection::Events(source.events.clone())));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(follow_chain(
        settings,
        source.clone(),
        selection.clone(),
        stopped,
    ));
    Running {
        source,
        selection,
        stop,
        task,
    }
}

/// Ingests one chain until stopped, starting over after a failure with a growing pause: a chain
/// that is down, or a source whose events the runtime lacks, must not stop the others.
async fn follow_chain(
    settings: Arc<ChainSettings>,
    source: RegisteredSource,
    selection: Arc<RwLock<Selection>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        match ingest_once(&settings, &source, selection.clone(), stop.clone()).await {
            Ok(()) => return,
            Err(failure) => {
                // A run that went well for a while starts the pauses over.
                if started.elapsed() > Duration::from_secs(300) {
                    failures = 0;
                }
                let pause = retry_pause(failures);
                failures = failures.saturating_add(1);
                tracing::warn!(
                    chain = %source.chain,
                    "ingestion stopped: {:#}; trying again in {pause:?}",
                    failure.error()
                );
                if sleep_or_shutdown(pause, &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// 1 s, 2 s, 4 s, … up to a minute.
fn retry_pause(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(Duration::from_secs(60))
}

async fn ingest_once(
    settings: &ChainSettings,
    source: &RegisteredSource,
    selection: Arc<RwLock<Selection>>,
    stop: watch::Receiver<bool>,
) -> Result<(), Failure> {
    let chain = ChainName::parse(&source.chain)
        .map_err(|m| Failure::Config(anyhow!("source {}: chain {m}", source.id)))?;
    let endpoint = settings
        .api
        .endpoint(source, settings.rpc_backend)
        .await
        .map_err(Failure::Unreachable)?;
    let start = if settings.from_first_block.contains(chain.as_str()) {
        Start::FirstBlock
    } else {
        Start::Head
    };
    let plan = IngestPlan {
        cursor: settings.state_dir.join(format!("{chain}.cursor")),
        chain,
        endpoint,
        selection,
        ss58_prefix: source.ss58_prefix,
        brokers: settings.brokers.clone(),
        topics: settings.topics,
        start,
        poll: settings.poll,
        fetch_ahead: settings.fetch_ahead,
        stop_after: None,
        connect_timeout: settings.connect_timeout,
        metrics_listen: None,
        lease: settings.lease.config(&settings.api, &source.id),
    };
    ingest::run(plan, stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(rpc: &str, events: &[&str]) -> RegisteredSource {
        RegisteredSource {
            id: "src_1".into(),
            chain: "dev".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            topics: BTreeMap::new(),
            rpc: vec![rpc.into()],
            light_client: false,
            has_relay_chain_spec: false,
            ss58_prefix: Some(0),
        }
    }

    #[test]
    fn only_a_change_of_endpoint_reconnects() {
        let a = source("ws://a", &["Balances.Transfer"]);
        assert!(same_endpoint(
            &a,
            &source("ws://a", &["Balances.Transfer", "Staking.Rewarded"])
        ));
        assert!(!same_endpoint(
            &a,
            &source("ws://b", &["Balances.Transfer"])
        ));
        let mut other_prefix = a.clone();
        other_prefix.ss58_prefix = Some(42);
        assert!(!same_endpoint(&a, &other_prefix));
    }

    #[test]
    fn pauses_grow_to_a_minute() {
        assert_eq!(retry_pause(0), Duration::from_secs(1));
        assert_eq!(retry_pause(3), Duration::from_secs(8));
        assert_eq!(retry_pause(40), Duration::from_secs(60));
    }
}
