//! `aurras-ingestor`: follows a Substrate chain's finalized blocks and streams every registered
//! event to a Kafka-compatible broker, one topic per pallet event.
//!
//! `relay` consumes the event topics and POSTs batches to the app's `dispatch` component.
//! `worker` follows every registered source and relays, in one process; `up` runs the whole
//! pipeline on one machine (a broker, the app, the worker, optionally a local dev chain).
//! `replay`, `status` and `topics` are for operators.
//!
//! Exit codes: 0 stopped on SIGINT/SIGTERM; 1 an unexpected failure; 2 bad configuration (a flag,
//! a chain spec file, an unknown event name, a cursor of another chain or held by another
//! ingestor); 3 the chain could not be reached at startup. The broker being down is never fatal: production is retried with backoff.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aurras_domain::names::{ChainName, EventName};
use clap::{Args, Parser, Subcommand};

use aurras_ingestor::bench::{self, BenchArgs};
use aurras_ingestor::chain::{Endpoint, RpcBackendArg};
use aurras_ingestor::ingest::IngestPlan;
use aurras_ingestor::launch::{self, UpArgs};
use aurras_ingestor::lease::LeaseArg;
use aurras_ingestor::ops::{self, RecipesArgs, ReencryptArgs, StatusArgs, TopicsArgs};
use aurras_ingestor::pipeline::{Selection, Start};
use aurras_ingestor::relay::{self, cli::RelayArgs};
use aurras_ingestor::sink::TopicSettings;
use aurras_ingestor::sources::ApiClient;
use aurras_ingestor::worker::{self, WorkerArgs};
use aurras_ingestor::Failure;

#[derive(Parser)]
#[command(name = "aurras-ingestor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Follow finalized blocks and produce registered events to the broker.
    Ingest(IngestArgs),
    /// Measure decoding and producing over a range of blocks.
    Bench(BenchArgs),
    /// Consume the event topics and POST batches to the app's `dispatch` component.
    Relay(RelayArgs),
    /// Follow every registered source and relay, in one process.
    Worker(WorkerArgs),
    /// Run everything on this machine: a broker, the app, the worker (and `--dev-chain`).
    Up(UpArgs),
    /// Produce a range of blocks again (`--from N --to M`), leaving the live cursor alone;
    /// downstream de-duplication by event id makes it safe.
    Replay(IngestArgs),
    /// Where each registered chain stands: cursor, finalized head, lag.
    Status(StatusArgs),
    /// The broker's topics, their records, and the source feeding each.
    Topics(TopicsArgs),
    /// Re-encrypt every trigger record under the app's current key, after a key rotation.
    Reencrypt(ReencryptArgs),
    /// Publish, in one step, the events of every recipe the chain's runtime serves.
    Recipes(RecipesArgs),
}

#[derive(Args)]
struct IngestArgs {
    /// The chain's name; topics are `<chain>.<Pallet>.<Event>`.
    #[arg(long, env = "AURRAS_CHAIN")]
    chain: String,
    /// WebSocket RPC endpoints (`ws://`, `wss://`), tried in order; repeat or comma-separate.
    #[arg(long, env = "AURRAS_RPC", value_delimiter = ',')]
    rpc: Vec<String>,
    #[command(flatten)]
    backend: RpcBackendArg,
    #[command(flatten)]
    lease: LeaseArg,
    /// A chain spec file: follow the chain with the embedded light client.
    #[arg(long, env = "AURRAS_CHAIN_SPEC", conflicts_with = "rpc")]
    chain_spec: Option<PathBuf>,
    /// The relay chain's spec file, when `--chain-spec` is a parachain's.
    #[arg(long, env = "AURRAS_RELAY_CHAIN_SPEC", requires = "chain_spec")]
    relay_chain_spec: Option<PathBuf>,
    /// A well-known chain (polkadot, kusama, westend, paseo, or one's `_asset_hub`): follow it
    /// with the embedded light client from the chain specs compiled into Aurras.
    #[arg(long, env = "AURRAS_KNOWN_CHAIN", conflicts_with_all = ["rpc", "chain_spec"])]
    known_chain: Option<String>,
    /// Kafka-compatible brokers, `host:port,…`.
    #[arg(long, env = "AURRAS_BROKERS")]
    brokers: String,
    /// `Pallet.Event` names to publish; comma-separated.
    #[arg(long, env = "AURRAS_EVENTS", value_delimiter = ',', required_unless_present_any = ["api", "all"])]
    events: Vec<String>,
    /// The management API: publish the events registered for `--chain` there, and follow changes.
    #[arg(
        long,
        env = "AURRAS_API",
        conflicts_with = "events",
        requires = "admin_token"
    )]
    api: Option<String>,
    /// The operator token for `--api`.
    #[arg(long, env = "AURRAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Publish every event, registered or not.
    #[arg(long, env = "AURRAS_ALL")]
    all: bool,
    /// Start (or restart) at this block and backfill up to the head before following it.
    #[arg(long, visible_alias = "from", env = "AURRAS_FROM_BLOCK")]
    from_block: Option<u64>,
    /// The cursor file (default: `.aurras/<chain>.cursor`).
    #[arg(long, env = "AURRAS_CURSOR_FILE")]
    cursor_file: Option<PathBuf>,
    /// Serve `/status` and `/metrics` here.
    #[arg(long, env = "AURRAS_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Write addresses with this SS58 prefix (default: the chain's `System.SS58Prefix`).
    #[arg(long, env = "AURRAS_SS58_PREFIX")]
    ss58_prefix: Option<u16>,
    /// Partitions of topics the ingestor creates.
    #[arg(long, default_value_t = 1, env = "AURRAS_PARTITIONS")]
    partitions: i32,
    /// Replication factor of topics the ingestor creates.
    #[arg(long, default_value_t = 1, env = "AURRAS_REPLICATION")]
    replication: i32,
    /// Stop after producing this block (a bounded backfill) instead of following the head.
    #[arg(long, visible_alias = "to", env = "AURRAS_TO_BLOCK")]
    to_block: Option<u64>,
    /// How many blocks to fetch from the node at once; they are still produced in block order.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024), env = "AURRAS_FETCH_AHEAD")]
    fetch_ahead: u16,
    /// How often to poll the finalized head, in milliseconds, when the node offers no
    /// subscription to it.
    #[arg(long, default_value_t = 1000, env = "AURRAS_POLL_MS")]
    poll_ms: u64,
    /// How often to re-read the registered events from `--api`, in seconds.
    #[arg(long, default_value_t = 30, env = "AURRAS_API_POLL_SECS")]
    api_poll_secs: u64,
    /// Give up connecting to the chain at startup after this many seconds.
    #[arg(long, default_value_t = 60, env = "AURRAS_CONNECT_TIMEOUT_SECS")]
    connect_timeout_secs: u64,
}

fn config_error(e: anyhow::Error) -> Failure {
    Failure::Config(e)
}

fn read_spec(flag: &str, path: &PathBuf) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Config(anyhow!("{flag} {}: {e}", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::Config(anyhow!("{flag} {}: not JSON: {e}", path.display())))?;
    if json.get("genesis").is_none() {
        return Err(Failure::Config(anyhow!(
            "{flag} {}: not a chain spec (no `genesis`)",
            path.display()
        )));
    }
    Ok(text)
}

fn known_chain_endpoint(name: &str) -> Result<Endpoint, Failure> {
    let known = aurras_known_chains::find(name).ok_or_else(|| {
        Failure::Config(anyhow!(
            "--known-chain {name}: not a known chain; known: {}",
            aurras_known_chains::names()
        ))
    })?;
    Ok(Endpoint::LightClient {
        chain_spec: known.spec.to_owned(),
        relay_chain_spec: known.relay_chain().map(|relay| relay.spec.to_owned()),
    })
}

fn parse_events(names: &[String]) -> Result<BTreeSet<String>, Failure> {
    names
        .iter()
        .map(|n| {
            EventName::parse(n.trim())
                .map(|e| e.to_string())
                .map_err(|m| Failure::Config(anyhow!("--events: {m}")))
        })
        .collect()
}

async fn ingest(
    args: IngestArgs,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Failure> {
    let chain_name =
        ChainName::parse(&args.chain).map_err(|m| Failure::Config(anyhow!("--chain: {m}")))?;
    for url in &args.rpc {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(Failure::Config(anyhow!(
                "--rpc {url}: use a ws:// or wss:// URL"
            )));
        }
    }
    let api = args
        .api
        .as_deref()
        .map(|base| ApiClient::new(base, args.admin_token.as_deref().unwrap_or_default()));
    let registered = match &api {
        Some(api) => Some(
            api.source(chain_name.as_str())
                .await
                .map_err(config_error)?,
        ),
        None => None,
    };
    let selection = if args.all {
        Selection::All
    } else if let Some(source) = &registered {
        Selection::Events(source.events.clone())
    } else {
        Selection::Events(parse_events(&args.events)?)
    };

    let endpoint = if let Some(spec) = &args.chain_spec {
        Endpoint::LightClient {
            chain_spec: read_spec("--chain-spec", spec)?,
            relay_chain_spec: args
                .relay_chain_spec
                .as_ref()
                .map(|p| read_spec("--relay-chain-spec", p))
                .transpose()?,
        }
    } else if let Some(name) = &args.known_chain {
        known_chain_endpoint(name)?
    } else if !args.rpc.is_empty() {
        Endpoint::Rpc {
            urls: args.rpc.clone(),
            backend: args.backend.rpc_backend,
        }
    } else if let (Some(api), Some(source)) = (&api, &registered) {
        api.endpoint(source, args.backend.rpc_backend)
            .await
            .map_err(config_error)?
    } else {
        return Err(Failure::Config(anyhow!("give --rpc <url>, --chain-spec <file> or --known-chain <name> (or --api to read them from the registered source)")));
    };

    let lease = match (&api, &registered) {
        (Some(api), Some(source)) => args.lease.config(api, &source.id),
        _ => None,
    };
    let selection = Arc::new(RwLock::new(selection));
    if let Some(api) = api {
        if !args.all {
            tokio::spawn(follow_registration(
                api,
                chain_name.to_string(),
                selection.clone(),
                Duration::from_secs(args.api_poll_secs),
            ));
        }
    }
    let plan = IngestPlan {
        cursor: args
            .cursor_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!(".aurras/{chain_name}.cursor"))),
        ss58_prefix: args
            .ss58_prefix
            .or(registered.as_ref().and_then(|s| s.ss58_prefix)),
        chain: chain_name,
        endpoint,
        selection,
        brokers: args.brokers,
        topics: TopicSettings {
            partitions: args.partitions,
            replication: args.replication,
        },
        start: args.from_block.map(Start::Block).unwrap_or(Start::Head),
        poll: Duration::from_millis(args.poll_ms),
        fetch_ahead: usize::from(args.fetch_ahead),
        stop_after: args.to_block,
        connect_timeout: Duration::from_secs(args.connect_timeout_secs),
        metrics_listen: args.metrics_listen,
        lease,
    };
    aurras_ingestor::ingest::run(plan, shutdown).await
}

/// Ingests `--from`..=`--to` with a cursor of its own, so a live ingestor of the chain (and its
/// cursor) is neither blocked nor moved.
async fn replay(
    mut args: IngestArgs,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Failure> {
    match (args.from_block, args.to_block) {
        (Some(from), Some(to)) if from <= to => {}
        _ => {
            return Err(Failure::Config(anyhow!(
                "--from and --to: give the range to replay, --from N --to M with N ≤ M"
            )))
        }
    }
    if args.cursor_file.is_some() {
        return Err(Failure::Config(anyhow!(
            "--cursor-file: a replay keeps its own cursor and leaves the chain's alone"
        )));
    }
    let scratch = std::env::temp_dir().join(format!(
        "aurras-replay-{}-{}.cursor",
        args.chain,
        std::process::id()
    ));
    args.cursor_file = Some(scratch.clone());
    // A replay runs beside the chain's live ingestor: it must not wait for that one's lease.
    args.lease.lease_ttl_secs = 0;
    let result = ingest(args, shutdown).await;
    for file in [scratch.clone(), scratch.with_extension("lock")] {
        let _ = std::fs::remove_file(file);
    }
    result
}

/// Re-reads the registered events now and then; new events start being published at the next
/// block.
async fn follow_registration(
    api: ApiClient,
    chain: String,
    selection: Arc<RwLock<Selection>>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        match api.source(&chain).await {
            Ok(source) => {
                let next = Selection::Events(source.events);
                let mut current = selection.write().unwrap_or_else(|p| p.into_inner());
                if *current != next {
                    tracing::info!(?next, "registered events changed");
                    *current = next;
                }
            }
            Err(e) => tracing::warn!("re-reading the registered events: {e:#}"),
        }
    }
}

fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    let _ = tx.send(true);
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "aurras_ingestor=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest(args, shutdown_on_signals()).await,
        Command::Relay(args) => match relay::cli::config(args) {
            Ok(config) => relay::run(config, shutdown_on_signals()).await,
            Err(failure) => Err(failure),
        },
        Command::Worker(args) => match worker::config(args) {
            Ok(config) => worker::run(config, shutdown_on_signals()).await,
            Err(failure) => Err(failure),
        },
        Command::Up(args) => launch::run(args, shutdown_on_signals()).await,
        Command::Replay(args) => replay(args, shutdown_on_signals()).await,
        Command::Status(args) => ops::status(args).await,
        Command::Topics(args) => ops::topics(args).await,
        Command::Reencrypt(args) => ops::reencrypt(args).await,
        Command::Recipes(args) => ops::recipes(args).await,
        Command::Bench(args) => bench::run(args)
            .await
            .map(|_| ())
            .context("bench")
            .map_err(Failure::Runtime),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("Error: {:#}", failure.error());
            ExitCode::from(failure.exit_code())
        }
    }
}
