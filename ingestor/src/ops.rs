//! Commands for operators: `status` (per chain: cursor, finalized head, lag) and `topics` (what
//! the broker holds, and which registered source feeds each topic). Both print a table, or JSON
//! with `--json`. `reencrypt` moves trigger records to the app's current key; `recipes` publishes
//! the events of every recipe a chain's runtime serves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aurras_domain::names::ChainName;
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::chain::{Chain, RpcBackend, RpcBackendArg};
use crate::cursor::Cursor;
use crate::sources::{ApiClient, RegisteredSource};
use crate::Failure;

mod recipes;
mod reencrypt;
pub use recipes::{recipes, RecipesArgs};
pub use reencrypt::{reencrypt, ReencryptArgs};

/// Where the chains registered at the API stand: cursor, finalized head, lag.
#[derive(Args)]
pub struct StatusArgs {
    /// The management API, for the registered sources.
    #[arg(long, env = "AURRAS_API")]
    api: String,
    /// The operator token for `--api`.
    #[arg(long, env = "AURRAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Where the cursors live (the worker's `--state-dir`; `.spin/cursors` under `up`).
    #[arg(long, default_value = ".aurras", env = "AURRAS_STATE_DIR")]
    state_dir: PathBuf,
    /// Only this chain.
    #[arg(long)]
    chain: Option<String>,
    #[command(flatten)]
    backend: RpcBackendArg,
    /// Give up asking a chain for its head after this many seconds.
    #[arg(long, default_value_t = 30)]
    connect_timeout_secs: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One chain's line of `status`.
#[derive(Debug, Serialize)]
struct ChainStatus {
    chain: String,
    /// The ingestor holding the chain's lease (`None`: nobody, or leasing is off).
    holder: Option<String>,
    /// The first block not yet fully produced (`None`: no cursor yet): the later of the local
    /// cursor and the progress the lease holder last reported (it may run on another host).
    next_block: Option<u64>,
    finalized_head: Option<u64>,
    /// Finalized blocks not yet produced.
    lag: Option<u64>,
    events: BTreeSet<String>,
    /// Why a number is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// `aurras-ingestor status`.
pub async fn status(args: StatusArgs) -> Result<(), Failure> {
    let api = ApiClient::new(&args.api, &args.admin_token);
    let mut sources = api.sources().await.map_err(Failure::Config)?;
    if let Some(chain) = &args.chain {
        sources.retain(|s| &s.chain == chain);
        if sources.is_empty() {
            return Err(Failure::Config(anyhow!(
                "--chain {chain}: no source of this chain is registered at {}",
                args.api
            )));
        }
    }
    let mut asked = JoinSet::new();
    for source in sources {
        let cursor = Cursor::new(args.state_dir.join(format!("{}.cursor", source.chain)));
        let api = api.clone();
        let timeout = Duration::from_secs(args.connect_timeout_secs);
        let backend = args.backend.rpc_backend;
        asked.spawn(async move { chain_status(&api, source, &cursor, backend, timeout).await });
    }
    let mut lines = Vec::new();
    while let Some(line) = asked.join_next().await {
        lines.push(line.map_err(|e| Failure::Runtime(anyhow!("status panicked: {e}")))?);
    }
    lines.sort_by(|a, b| a.chain.cmp(&b.chain));
    if args.json {
        print_json(&lines)?;
    } else {
        print_status_table(&lines);
    }
    Ok(())
}

async fn chain_status(
    api: &ApiClient,
    source: RegisteredSource,
    cursor: &Cursor,
    backend: RpcBackend,
    timeout: Duration,
) -> ChainStatus {
    let mut problems = Vec::new();
    let local = match cursor.read() {
        Ok(state) => state.map(|s| s.next_block),
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    };
    let lease = match crate::lease::state(api, &source.id).await {
        Ok(lease) => Some(lease),
        Err(e) => {
            problems.push(format!("lease: {e:#}"));
            None
        }
    };
    let shared = lease
        .as_ref()
        .and_then(|l| l.progress.as_ref())
        .map(|p| p.next_block);
    let next_block = local.max(shared);
    let finalized_head = match tokio::time::timeout(timeout, head(api, &source, backend)).await {
        Ok(Ok(head)) => Some(head),
        Ok(Err(e)) => {
            problems.push(format!("{e:#}"));
            None
        }
        Err(_) => {
            problems.push(format!("no head within {} s", timeout.as_secs()));
            None
        }
    };
    let lag = match (next_block, finalized_head) {
        (Some(next), Some(head)) => Some((head + 1).saturating_sub(next)),
        _ => None,
    };
    ChainStatus {
        chain: source.chain,
        holder: lease.and_then(|l| l.holder),
        next_block,
        finalized_head,
        lag,
        events: source.events,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

async fn head(api: &ApiClient, source: &RegisteredSource, backend: RpcBackend) -> Result<u64> {
    let name = ChainName::parse(&source.chain).map_err(|m| anyhow!("chain {m}"))?;
    let endpoint = api.endpoint(source, backend).await?;
    let chain = Chain::connect(name, &endpoint, source.ss58_prefix).await?;
    chain.finalized_head().await
}

fn or_dash(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn print_status_table(lines: &[ChainStatus]) {
    println!(
        "{:<16} {:>12} {:>15} {:>8}  {:<32} events",
        "chain", "next block", "finalized head", "lag", "lease holder"
    );
    for line in lines {
        let events: Vec<&str> = line.events.iter().map(String::as_str).collect();
        println!(
            "{:<16} {:>12} {:>15} {:>8}  {:<32} {}",
            line.chain,
            or_dash(line.next_block),
            or_dash(line.finalized_head),
            or_dash(line.lag),
            line.holder.as_deref().unwrap_or("-"),
            events.join(", ")
        );
        if let Some(problem) = &line.problem {
            println!("  {problem}");
        }
    }
}

fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Runtime(anyhow!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// What the broker holds, and which registered source feeds each topic.
#[derive(Args)]
pub struct TopicsArgs {
    /// Kafka-compatible brokers, `host:port,…`.
    #[arg(long, env = "AURRAS_BROKERS")]
    brokers: String,
    /// The management API: name the source feeding each topic, and list registered topics the
    /// broker lacks.
    #[arg(long, env = "AURRAS_API", requires = "admin_token")]
    api: Option<String>,
    /// The operator token for `--api`.
    #[arg(long, env = "AURRAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One topic's line of `topics`.
#[derive(Debug, Serialize)]
struct TopicLine {
    topic: String,
    /// Whether the broker has it.
    on_broker: bool,
    partitions: usize,
    /// Records the broker holds (high minus low watermark, over the partitions).
    records: i64,
    /// `<chain> <Pallet.Event>` of the source that feeds it, when one does.
    fed_by: Option<String>,
}

/// `aurras-ingestor topics`.
pub async fn topics(args: TopicsArgs) -> Result<(), Failure> {
    let fed_by = match &args.api {
        Some(api) => {
            let api = ApiClient::new(api, args.admin_token.as_deref().unwrap_or_default());
            feeders(&api.sources().await.map_err(Failure::Config)?)
        }
        None => BTreeMap::new(),
    };
    let brokers = args.brokers.clone();
    let on_broker = tokio::task::spawn_blocking(move || broker_topics(&brokers))
        .await
        .map_err(|e| Failure::Runtime(anyhow!("listing topics panicked: {e}")))?
        .map_err(|e| Failure::Config(e.context("--brokers")))?;
    let mut lines: Vec<TopicLine> = on_broker
        .into_iter()
        .map(|(topic, (partitions, records))| TopicLine {
            fed_by: fed_by.get(&topic).cloned(),
            topic,
            on_broker: true,
            partitions,
            records,
        })
        .collect();
    for (topic, feeder) in &fed_by {
        if !lines.iter().any(|l| &l.topic == topic) {
            lines.push(TopicLine {
                topic: topic.clone(),
                on_broker: false,
                partitions: 0,
                records: 0,
                fed_by: Some(feeder.clone()),
            });
        }
    }
    lines.sort_by(|a, b| a.topic.cmp(&b.topic));
    if args.json {
        return print_json(&lines);
    }
    println!(
        "{:<48} {:>10} {:>10}  fed by",
        "topic", "partitions", "records"
    );
    for line in &lines {
        let fed = match (&line.fed_by, line.on_broker) {
            (Some(feeder), true) => feeder.clone(),
            (Some(feeder), false) => format!("{feeder} (not on the broker yet)"),
            (None, _) if line.topic.starts_with("aurras.") => "the relay".to_owned(),
            (None, _) => "-".to_owned(),
        };
        println!(
            "{:<48} {:>10} {:>10}  {fed}",
            line.topic, line.partitions, line.records
        );
    }
    Ok(())
}

/// topic → `<chain> <Pallet.Event>`.
fn feeders(sources: &[RegisteredSource]) -> BTreeMap<String, String> {
    let mut fed = BTreeMap::new();
    for source in sources {
        for event in &source.events {
            let topic = source
                .topics
                .get(event)
                .cloned()
                .unwrap_or_else(|| format!("{}.{event}", source.chain));
            fed.insert(topic, format!("{} {event}", source.chain));
        }
    }
    fed
}

/// topic → (partitions, records), skipping the broker's internal topics.
fn broker_topics(brokers: &str) -> Result<BTreeMap<String, (usize, i64)>> {
    let timeout = Duration::from_secs(10);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "aurras-topics")
        .create()
        .context("cannot create a Kafka client")?;
    let metadata = consumer
        .fetch_metadata(None, timeout)
        .context("cannot list the broker's topics")?;
    let mut out = BTreeMap::new();
    for topic in metadata.topics() {
        if topic.name().starts_with("__") {
            continue;
        }
        let mut records = 0;
        for partition in topic.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic.name(), partition.id(), timeout)
                .with_context(|| format!("cannot read the offsets of {}", topic.name()))?;
            records += high - low;
        }
        out.insert(topic.name().to_owned(), (topic.partitions().len(), records));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registered_event_names_its_topic_and_source() {
        let source = RegisteredSource {
            id: "src_1".into(),
            chain: "paseo".into(),
            events: [
                "Balances.Transfer".to_owned(),
                "Staking.Rewarded".to_owned(),
            ]
            .into(),
            topics: [(
                "Staking.Rewarded".to_owned(),
                "paseo.Staking.Rewarded".to_owned(),
            )]
            .into(),
            rpc: Vec::new(),
            light_client: false,
            has_relay_chain_spec: false,
            ss58_prefix: None,
        };
        let fed = feeders(&[source]);
        assert_eq!(fed["paseo.Balances.Transfer"], "paseo Balances.Transfer");
        assert_eq!(fed["paseo.Staking.Rewarded"], "paseo Staking.Rewarded");
    }
}
